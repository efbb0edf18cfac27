"""Load and fairness: a burst across many servers, and a raid on one server beside quiet ones.

Run: ``.venv/bin/python bench/load.py`` (about two minutes here; ``--quick`` for a smaller run).

The reasoner is simulated (a fixed delay per request, ``--slots`` requests at once, like a
llama-server with parallel slots), because the model is not what this measures: the pipeline's
queueing is. Everything else is real: the keyword stage, the SQLite store, the group commits.

1. **Burst**: ``--messages`` messages spread over ``--servers`` servers, submitted as fast as the
   platforms would deliver them. Prints messages/s, peak resident memory, and the submit-to-verdict
   time (median, p95) over all servers.
2. **Fairness**: ``--quiet`` quiet servers each send two messages a second for ``--seconds``; first
   alone (the unloaded figure), then while one raided server floods ``--flood-rate`` messages a second
   that all need the reasoner. Prints the quiet servers' time-to-verdict percentiles in both runs and
   their ratio (goal: the raid raises the quiet servers' median by at most 2x), and the same raid with
   first-come-first-served queues (``--no-fifo-reference`` skips it) for comparison.

Submit-to-verdict is measured from the store: a message's ``received_at`` (written at intake) to its
first verdict's ``created_at``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Hashable
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modbot.app import Services, build_services  # noqa: E402
from modbot.config import AppSettings, PipelineSettings  # noqa: E402
from modbot.domain import MessageEvent, MessageStatus, ServerRef, TokenCounts  # noqa: E402
from modbot.domain.settings import ServerSettings  # noqa: E402
from modbot.moderation.fairness import FairQueue, FairReasoner  # noqa: E402
from modbot.ports import Judgement, JudgeRequest  # noqa: E402

CHAT = ["gg ez", "nice shot", "anyone up for ranked?", "lag is insane today", "who wants to duo", "brb", "push mid"]
#: Texts the keyword stage escalates to the reasoner (matched, not acted on at once).
RISKY = ["selling aimbot and wallhack, dm me", "cheap boosting service, paypal only", "wts account lvl 80 cheap"]


class SimulatedReasoner:
    """``slots`` requests at once, each taking ``delay_s``: a stand-in for a reasoner server."""

    model_name = "simulated"

    def __init__(self, delay_s: float, slots: int):
        self.delay_s = delay_s
        self.parallel_slots = slots  # the composition root shares these fairly between servers
        self._semaphore = asyncio.Semaphore(slots)
        self.requests = 0

    async def judge(self, request: JudgeRequest) -> Judgement:
        async with self._semaphore:
            self.requests += 1
            await asyncio.sleep(self.delay_s)
        violation = any(text in request.event.text for text in RISKY)
        return Judgement(violation=violation, confidence=0.9, model=self.model_name, tokens=TokenCounts(200, 20, 30))

    async def aclose(self) -> None:
        pass


class _OneLane(FairQueue[int]):
    """First come, first served (every server in one lane): the reference without fairness."""

    def put_nowait(self, key: Hashable, item: int) -> int | None:
        return super().put_nowait("all", item)


def _first_come_first_served(services: Services) -> None:
    pipeline = services.pipeline
    pipeline._queue = _OneLane(pipeline._queue.maxsize)
    gate = pipeline.judge.reasoner
    if isinstance(gate, FairReasoner):
        inner = gate.reasoner
        pipeline.judge.reasoner = inner  # its own semaphore queues in arrival order


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _services(folder: Path, name: str, reasoner: SimulatedReasoner, workers: int) -> tuple[Services, Path]:
    path = folder / f"{name}.sqlite3"
    settings = AppSettings(
        database_url=f"sqlite+aiosqlite:///{path}",
        policy_dir=REPO / "policies",
        prefilter_enabled=False,
        reasoner={"backend": "none"},
        server_defaults=ServerSettings(mode="shadow"),
        pipeline=PipelineSettings(queue_size=1000, workers=workers, sweep_interval_s=0.5),
        learning={"enabled": False},
    )
    services = await build_services(settings, reasoner=reasoner, prefilter=None)
    await services.start()
    return services, path


def _event(server: str, index: int, text: str) -> MessageEvent:
    return MessageEvent(
        server=ServerRef("bench", server), channel_id="c", message_id=f"m{index}", author_id=f"u{index % 97}",
        text=f"{text} {index}",
    )


def latencies(path: Path) -> dict[str, list[float]]:
    """Seconds from intake to first verdict, per server key."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT m.server_key, m.received_at, MIN(v.created_at) FROM messages m "
            "JOIN verdicts v ON v.message_row_id = m.id GROUP BY m.id"
        ).fetchall()
    result: dict[str, list[float]] = {}
    for server, received, judged in rows:
        seconds = (datetime.fromisoformat(judged) - datetime.fromisoformat(received)).total_seconds()
        result.setdefault(server, []).append(seconds)
    return result


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return float("nan"), float("nan"), float("nan")
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered), pick(0.95), ordered[-1]


async def _wait_judged(services: Services, total: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        judged = await services.storage.messages.count_messages(MessageStatus.JUDGED)
        if judged >= total:
            return
        await asyncio.sleep(0.2)


async def burst(folder: Path, args: argparse.Namespace) -> None:
    reasoner = SimulatedReasoner(args.delay, args.slots)
    services, path = await _services(folder, "burst", reasoner, args.workers)
    rng = random.Random(11)
    started = time.perf_counter()
    window = 500
    for start in range(0, args.messages, window):
        events = [
            _event(f"s{rng.randrange(args.servers)}", i, rng.choice(RISKY) if rng.random() < args.risky_share else rng.choice(CHAT))
            for i in range(start, min(start + window, args.messages))
        ]
        await asyncio.gather(*(services.pipeline.submit(e) for e in events))
        await asyncio.sleep(0)
    await _wait_judged(services, args.messages, timeout_s=600)
    elapsed = time.perf_counter() - started
    judged = await services.storage.messages.count_messages(MessageStatus.JUDGED)
    pending = await services.storage.messages.count_messages(MessageStatus.PENDING)
    evicted, overflowed = services.pipeline.counters.evicted, services.pipeline.counters.overflowed
    await services.close()
    all_latencies = [s for values in latencies(path).values() for s in values]
    median, p95, worst = percentiles(all_latencies)
    print(f"burst: {args.messages} messages over {args.servers} servers, {args.risky_share:.0%} to a {args.delay * 1000:.0f} ms "
          f"reasoner with {args.slots} slots, {args.workers} workers")
    print(f"  throughput:          {args.messages / elapsed:8.0f} messages/s ({elapsed:.1f} s)")
    print(f"  judged / pending:    {judged} / {pending} (lost: {args.messages - judged - pending}); "
          f"queue overflows {overflowed}, evictions {evicted} (both stay pending and are swept back)")
    print(f"  submit-to-verdict:   median {median:.2f} s, p95 {p95:.2f} s, max {worst:.2f} s")
    print(f"  peak resident memory {peak_rss_mb():8.0f} MB")


async def fairness_run(folder: Path, args: argparse.Namespace, name: str, *, flood: bool, fifo: bool = False) -> dict[str, float]:
    reasoner = SimulatedReasoner(args.delay, args.slots)
    services, path = await _services(folder, name, reasoner, args.workers)
    if fifo:
        _first_come_first_served(services)
    rng = random.Random(5)
    quiet_sent = 0
    index = 0
    tick = 0.1
    ticks = int(args.seconds / tick)
    quiet_per_tick = args.quiet * 2 * tick  # two messages a second per quiet server
    flood_per_tick = args.flood_rate * tick
    owed_quiet = owed_flood = 0.0
    next_tick = time.perf_counter()
    for _ in range(ticks):
        owed_quiet += quiet_per_tick
        owed_flood += flood_per_tick if flood else 0.0
        events = []
        while owed_quiet >= 1:
            owed_quiet -= 1
            text = rng.choice(RISKY) if rng.random() < args.risky_share else rng.choice(CHAT)
            events.append(_event(f"quiet{rng.randrange(args.quiet)}", index, text))
            quiet_sent += 1
            index += 1
        while owed_flood >= 1:
            owed_flood -= 1
            events.append(_event("raid", index, rng.choice(RISKY)))
            index += 1
        await asyncio.gather(*(services.pipeline.submit(e) for e in events))
        next_tick += tick
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    # Wait for the quiet servers' messages only: the raid's backlog may take much longer to clear.
    deadline = time.monotonic() + (30 if fifo else 120)
    while time.monotonic() < deadline:
        quiet_done = sum(len(v) for k, v in latencies(path).items() if "quiet" in k)
        if quiet_done >= quiet_sent:
            break
        await asyncio.sleep(0.5)
    await services.close()
    by_server = latencies(path)
    quiet = [s for key, values in by_server.items() if "quiet" in key for s in values]
    raid = by_server.get("bench:raid", [])
    median, p95, worst = percentiles(quiet)
    return {"median": median, "p95": p95, "max": worst, "quiet": len(quiet), "quiet_sent": quiet_sent,
            "raid_judged": len(raid), "raid_median": percentiles(raid)[0]}


def _print_fairness(label: str, figures: dict[str, float]) -> None:
    if not figures["quiet"]:
        print(f"  {label:<34} no quiet server's message judged within 30 s of the end (0/{figures['quiet_sent']:.0f})")
        return
    line = (f"  {label:<34} quiet servers' time to verdict: median {figures['median']:.3f} s, p95 {figures['p95']:.3f} s, "
            f"max {figures['max']:.3f} s ({figures['quiet']:.0f}/{figures['quiet_sent']:.0f} judged)")
    if figures["raid_judged"]:
        line += f"; raid: {figures['raid_judged']:.0f} judged, median {figures['raid_median']:.2f} s"
    print(line)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--risky-share", type=float, default=0.1)
    parser.add_argument("--delay", type=float, default=0.2, help="simulated reasoner seconds per request")
    parser.add_argument("--slots", type=int, default=16, help="reasoner requests at once")
    parser.add_argument("--workers", type=int, default=256)
    parser.add_argument("--quiet", type=int, default=20, help="quiet servers in the fairness runs")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each fairness run")
    parser.add_argument("--flood-rate", type=float, default=300.0, help="the raided server's messages/s")
    parser.add_argument("--no-fifo-reference", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2,000 messages and 6-second fairness runs")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.seconds = 2_000, 6.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        await burst(folder, args)
        print(f"fairness: {args.quiet} quiet servers at 2 messages/s each ({args.risky_share:.0%} to the reasoner) for "
              f"{args.seconds:.0f} s; the raid sends {args.flood_rate:.0f} messages/s, all to the reasoner")
        unloaded = await fairness_run(folder, args, "unloaded", flood=False)
        loaded = await fairness_run(folder, args, "loaded", flood=True)
        _print_fairness("unloaded (reference, same run):", unloaded)
        _print_fairness("during the raid, fair queues:", loaded)
        ratio = loaded["median"] / unloaded["median"]
        print(f"  ratio raid / unloaded (median):   {ratio:.2f}  (goal <= 2.00); p95 {loaded['p95'] / unloaded['p95']:.2f}")
        if not args.no_fifo_reference:
            fifo = await fairness_run(folder, args, "fifo", flood=True, fifo=True)
            _print_fairness("during the raid, first come first served:", fifo)
            if fifo["quiet"]:
                print(f"  ratio without fairness (median):  {fifo['median'] / unloaded['median']:.2f}")
        print(f"peak resident memory of the whole run: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
