"""``modbot policy replay`` (and the registration of ``policy test``): what a candidate policy would change.

``replay CANDIDATE --server S [--last N]`` re-judges the server's last N stored messages with the
candidate (a file, or a policy id/version stored for that server) through the core that
``build_services`` builds (``Pipeline.classify``: the server's settings, keyword lists and routing, the
reasoner when there is one) and diffs against the verdicts stored for them, or against ``--against``
judged in the same run. ``--data DATA.jsonl`` replays a labelled file instead (against ``--against``,
else the configured default policy). It never acts and never writes a verdict. Ctrl-C stops it: the
diff so far is printed and the exit code is 130.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from modbot.cli.policy_common import (
    ModelOpt,
    NoPrefilterOpt,
    PrefilterOpt,
    build_stages,
    load_labelled_or_fail,
    load_settings_or_fail,
)
from modbot.cli.policy_test import policy_test_command
from modbot.cli.prefilter_common import err, fail, progress_bars
from modbot.domain import MessageEvent, ServerRef, Verdict
from modbot.domain.policy import Policy, PolicyError
from modbot.domain.replay import ReplayDiff, ReplayItem
from modbot.policy_files import load_policy

if TYPE_CHECKING:
    from modbot.app import Services
    from modbot.config import AppSettings
    from modbot.ports import Prefilter, Reasoner

__all__ = ["EXIT_INTERRUPTED", "ReplayRequest", "register", "run_replay"]

#: What a shell reports for a command ended by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
DEFAULT_LAST = 500


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """What to replay: a candidate (file, or stored id/version), and a server's stored messages or a data file."""

    candidate: str
    server: ServerRef | None = None
    last: int = DEFAULT_LAST
    data: Path | None = None
    #: A second policy judged in the same run (None: the stored live verdicts, or for data the default policy).
    against: str | None = None

    def __post_init__(self) -> None:
        if (self.server is None) == (self.data is None):
            raise ValueError("give either --server or --data")


def _policy_file(ref: str) -> Policy | None:
    path = Path(ref)
    if not path.is_file():
        return None
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise fail(str(exc)) from None


async def _stored(services: Services, server: ServerRef, ref: str) -> Policy:
    policy = _policy_file(ref)
    if policy is not None:
        return policy
    found = await services.storage.policies.find_policy(server, ref)
    if found is not None:
        return found.policy
    builtin = services.policies.builtin.get(ref)
    if builtin is None:
        raise fail(f"{ref!r} is neither a policy file nor a policy stored for {server}")
    return builtin


async def run_replay(
    settings: AppSettings,
    request: ReplayRequest,
    *,
    reasoner: Reasoner | None,
    prefilter: Prefilter | None,
    stop: asyncio.Event | None = None,
    show_progress: bool = True,
) -> tuple[ReplayDiff, dict[str, Any]]:
    """Replay and diff; returns the diff and what was compared (closes the backends)."""
    from modbot.app import build_services
    from modbot.moderation.replay import replay

    services = await build_services(settings, reasoner=reasoner, prefilter=prefilter)
    try:
        server = request.server or ServerRef("cli", "replay")
        if request.server is not None:
            server_settings = await services.server_settings.get(server)
            candidate = await _stored(services, server, request.candidate)
            against = await _stored(services, server, request.against) if request.against else None
            stored = await services.storage.verdicts.judged_messages(server, request.last)
            items = [ReplayItem(row.event.message_id, row.event, row.live, row.reviewed) for row in stored]
            baseline = f"{against.id} {against.version}" if against else "the live verdicts"
        else:
            server_settings = settings.server_defaults
            candidate = await _stored(services, server, request.candidate)
            against = await _stored(services, server, request.against or server_settings.policy_id)
            assert request.data is not None
            items = [
                ReplayItem(row.id, _event(server, row.id, row.text), None, row.unsafe, row.category)
                for row in load_labelled_or_fail(request.data)
            ]
            baseline = f"{against.id} {against.version}"

        def judging(policy: Policy) -> Callable[[MessageEvent], Awaitable[Verdict]]:
            return lambda event: services.pipeline.classify(event, policy, settings=server_settings)

        meta = {"candidate": f"{candidate.id} {candidate.version}", "baseline": baseline, "rows": len(items)}
        err.print(f"replaying {len(items)} messages with {meta['candidate']} against {baseline} (Ctrl-C stops)")
        diff = ReplayDiff()
        every = max(1, len(items) // 20)
        with progress_bars() as bars:
            task = bars.add_task("replaying", total=len(items), visible=show_progress)

            def progress(current: ReplayDiff) -> None:
                bars.advance(task)
                done = current.compared + current.failed
                if not err.is_terminal and done % every == 0:
                    err.print(f"judged {done}/{len(items)}")  # a log line where no bar is drawn

            await replay(
                items,
                judging(candidate),
                against=judging(against) if against is not None else None,
                diff=diff,
                progress=progress,
                stop=stop,
            )
        return diff, meta
    finally:
        await services.close()


def _event(server: ServerRef, ident: str, text: str) -> MessageEvent:
    return MessageEvent(server=server, channel_id="replay", message_id=ident, author_id="replay", text=text)


def policy_replay_command(
    candidate: Annotated[str, typer.Argument(help="The candidate: a policy file, or a stored policy id or version.")],
    server: Annotated[
        Optional[str], typer.Option("--server", help="The server whose stored messages are replayed (platform:id).")
    ] = None,
    last: Annotated[int, typer.Option("--last", help="How many of its newest messages.", min=1)] = DEFAULT_LAST,
    data: Annotated[Optional[Path], typer.Option("--data", help="A labelled JSON-lines file instead.")] = None,
    against: Annotated[
        Optional[str], typer.Option("--against", help="Diff against this policy, judged in the same run.")
    ] = None,
    model: ModelOpt = None,
    prefilter: PrefilterOpt = None,
    no_prefilter: NoPrefilterOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Settings file (TOML).")] = None,
) -> None:
    """Re-judge stored messages (or a data file) with a candidate policy and show what would change."""
    if (server is None) == (data is None):
        raise fail("give either --server S or --data DATA.jsonl")
    try:
        ref = ServerRef.parse(server) if server is not None else None
    except ValueError as exc:
        raise fail(f"--server: {exc}") from None
    request = ReplayRequest(candidate, server=ref, last=last, data=data, against=against)
    settings = load_settings_or_fail(config)
    reasoner, built_prefilter = build_stages(settings, model, prefilter, no_prefilter)
    diff, meta = asyncio.run(_interruptible(settings, request, reasoner, built_prefilter))
    if as_json:
        typer.echo(json.dumps({**diff.to_dict(), **meta}, ensure_ascii=False))
    else:
        typer.echo(f"{meta['candidate']} against {meta['baseline']}")
        for line in diff.lines():
            typer.echo(line)
    if diff.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


async def _interruptible(
    settings: AppSettings, request: ReplayRequest, reasoner: Reasoner | None, prefilter: Prefilter | None
) -> tuple[ReplayDiff, dict[str, Any]]:
    """Run the replay with Ctrl-C (and SIGTERM) setting its stop event instead of raising."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await run_replay(settings, request, reasoner=reasoner, prefilter=prefilter, stop=stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        sys.stderr.flush()


def register(policy_app: typer.Typer) -> None:
    """Mount ``policy test`` and ``policy replay`` on the ``modbot policy`` group."""
    policy_app.command("test")(policy_test_command)
    policy_app.command("replay")(policy_replay_command)
