"""Reasoner prefix reuse: prompt tokens evaluated per verdict, and verdicts/s, with and without reuse.

Run: ``.venv/bin/python bench/reasoner.py [--verdicts 30] [--threads 1]``.

Uses the tiny random-weight gpt-oss GGUF of the test suite (real llama.cpp, real o200k_harmony vocabulary)
and the ~600-token Pixel Arena policy (922-token system+developer prefix), judging short chat messages
through :class:`bot.reasoner.LlamaReasoner` in its worker process. Every verdict generates the same scripted
~55-token answer (forced through llama.cpp's sampler), so both modes do identical generation work and the
difference is the prompt evaluation. Modes, from one run:

* ``reuse``       — ``prefix_cache = true`` (the default): the policy prefix is evaluated once;
* ``no-reuse``    — ``prefix_cache = false``: every verdict evaluates the whole prompt;
* ``two-policies``— reuse on, alternating two policies: each switch restores a saved KV snapshot;
* ``*/prompt``    — the same with a one-token answer, so the verdict time is prompt processing only.

Goal: at least 10x fewer prompt tokens evaluated per verdict with reuse. Absolute speeds on the tiny
model are dominated by the 201k-token output layer, not by the 64-wide transformer; read the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.domain import MessageEvent, ServerRef  # noqa: E402
from bot.policy import Policy, parse_policy  # noqa: E402
from bot.ports import Judgement, JudgeRequest  # noqa: E402
from bot.reasoner import HarmonyCodec, LlamaReasoner, ReasonerSettings  # noqa: E402
from bot.reasoner.testing import ForcedOutput, scripted_answer  # noqa: E402
from tests.reasoner.policies import GAMING_POLICY, SHORT_POLICY  # noqa: E402
from tests.support.tiny_gguf import ensure_tiny_gguf  # noqa: E402

CHAT = [
    "gg ez", "nice shot", "anyone up for ranked?", "lag is insane today", "who wants to duo tonight",
    "that boss fight was brutal", "selling aimbot and wallhack, dm me", "check the patch notes",
    "ty for the carry", "where do i get the season pass", "you are trash, uninstall", "push mid",
    "free skins at pixel-arena-gifts.example/login", "need heals", "can someone explain the new ranked rules?",
]


def _event(i: int) -> MessageEvent:
    return MessageEvent(
        server=ServerRef("bench", "g1"), channel_id="c1", message_id=f"m{i}", author_id=f"u{i % 7}", text=CHAT[i % len(CHAT)]
    )


async def _run(
    name: str,
    settings: ReasonerSettings,
    codec: HarmonyCodec,
    policies: list[Policy],
    verdicts: int,
    *,
    prompt_only: bool = False,
) -> dict[str, float | str]:
    forced = scripted_answer(codec, violation=False, confidence=0.9, rationale="Ordinary chat.")
    if prompt_only:  # answer with <|return|> at once: the verdict is then all prompt processing
        forced = ForcedOutput(tokens=())
    reasoner = LlamaReasoner(settings, codec=codec, output_script=lambda request: forced)
    try:
        await reasoner.start()
        # One warm-up verdict per policy (its prefix evaluation is a one-off per policy version).
        for policy in policies:
            await reasoner.judge(JudgeRequest(policy, _event(0)))
        results: list[Judgement] = []
        started = time.perf_counter()
        for i in range(verdicts):
            results.append(await reasoner.judge(JudgeRequest(policies[i % len(policies)], _event(i + 1))))
        elapsed = time.perf_counter() - started
    finally:
        await reasoner.aclose()
    bad = [j for j in results if j.violation is None]
    if bad and not prompt_only:
        raise SystemExit(f"{name}: {len(bad)} verdicts failed: {bad[0].error}")
    return {
        "mode": name,
        "prompt": statistics.mean(j.tokens.prompt for j in results),
        "evaluated": statistics.mean(j.tokens.prompt_evaluated for j in results),
        "completion": statistics.mean(j.tokens.completion for j in results),
        "verdicts_s": verdicts / elapsed,
        "p50_ms": statistics.median(j.latency_ms for j in results),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verdicts", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    model = ensure_tiny_gguf()
    codec = HarmonyCodec.load()
    gaming, short = parse_policy(GAMING_POLICY), parse_policy(SHORT_POLICY)
    base = ReasonerSettings(
        backend="llama", model_path=model, n_ctx=2048, n_threads=args.threads, n_gpu_layers=0, max_tokens=128, timeout_s=60
    )
    runs = [
        await _run("reuse", base, codec, [gaming], args.verdicts),
        await _run("no-reuse", base.model_copy(update={"prefix_cache": False}), codec, [gaming], args.verdicts),
        await _run("two-policies", base, codec, [gaming, short], args.verdicts),
        await _run("reuse/prompt", base, codec, [gaming], args.verdicts, prompt_only=True),
        await _run("no-reuse/prompt", base.model_copy(update={"prefix_cache": False}), codec, [gaming], args.verdicts, prompt_only=True),
    ]
    print(f"tiny gpt-oss GGUF {model.name}, {args.verdicts} verdicts per mode, {args.threads} thread(s)")
    print(f"{'mode':<14}{'prompt tok':>11}{'evaluated':>11}{'completion':>11}{'verdicts/s':>12}{'p50 ms':>9}")
    for r in runs:
        print(
            f"{r['mode']:<14}{r['prompt']:>11.1f}{r['evaluated']:>11.1f}{r['completion']:>11.1f}"
            f"{r['verdicts_s']:>12.2f}{r['p50_ms']:>9.1f}"
        )
    reuse, no_reuse = runs[0], runs[1]
    ratio = float(no_reuse["evaluated"]) / float(reuse["evaluated"])
    speedup = float(reuse["verdicts_s"]) / float(no_reuse["verdicts_s"])
    print(f"prompt tokens evaluated per verdict: {ratio:.1f}x fewer with prefix reuse (goal >= 10x)")
    print(f"verdicts/s: {speedup:.2f}x with prefix reuse (~55-token answers; generation dominates on the tiny model)")
    prompt_speedup = float(runs[3]["verdicts_s"]) / float(runs[4]["verdicts_s"])
    print(f"prompt processing alone (1-token answers): {prompt_speedup:.2f}x more verdicts/s with prefix reuse")


if __name__ == "__main__":
    asyncio.run(main())
