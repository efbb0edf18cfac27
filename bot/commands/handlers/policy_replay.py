"""``/mod policy replay <id or version> [last]``: what a stored candidate policy would change on the
server's newest stored messages, before switching to it.

The same comparison as ``modbot policy replay --server``: each message is judged again now with the
candidate (the pipeline's ``classify``: the server's settings, keyword lists and routing) and diffed
against the verdict the bot acted on. Nothing is stored and nothing is acted on; a replay that runs
longer than ``REPLAY_TIMEOUT_S`` stops and reports the partial diff.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from modbot.domain.commands import Invoker, PolicyReplay, Reply
from modbot.domain.replay import ReplayItem
from modbot.ports import Classifier, EffectiveSettings, PolicyLibrary, VerdictLog
from modbot.ports.replay import ReplayRunner

__all__ = ["MAX_REPLAY", "REPLAY_TIMEOUT_S", "PolicyReplayCommands"]

#: The most stored messages one replay re-judges (each may go to the reasoner).
MAX_REPLAY = 1000
#: A replay stops after this long (a moderator waits on the answer); the diff so far is shown.
REPLAY_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class PolicyReplayCommands:
    """Replays a stored candidate over the server's stored messages through the replay runner port."""

    library: PolicyLibrary
    settings: EffectiveSettings
    verdicts: VerdictLog
    classifier: Classifier
    runner: ReplayRunner
    timeout_s: float = REPLAY_TIMEOUT_S

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {PolicyReplay: self.replay}

    async def replay(self, invoker: Invoker, command: PolicyReplay) -> Reply:
        """Re-judge the newest ``last`` stored messages with the candidate; the diff's counts and examples."""
        if not 1 <= command.last <= MAX_REPLAY:
            raise ValueError(f"last must be from 1 to {MAX_REPLAY} messages")
        found = await self.library.find_policy(invoker.server, command.ref)
        if found is None:
            raise LookupError(f"no policy {command.ref!r} is stored for this server (upload it first)")
        candidate = found.policy
        settings = await self.settings.get(invoker.server)
        stored = await self.verdicts.judged_messages(invoker.server, command.last)
        items = [ReplayItem(row.event.message_id, row.event, row.live, row.reviewed) for row in stored if row.live]
        stop = asyncio.Event()
        # The timer only sets the runner's stop event: the runner ends between (or during) messages itself.
        timer = asyncio.get_running_loop().call_later(self.timeout_s, stop.set)
        try:
            diff = await self.runner(
                items, lambda event: self.classifier.classify(event, candidate, settings=settings), stop=stop
            )
        finally:
            timer.cancel()
        return Reply(
            True,
            f"Replay of {candidate.id} {candidate.version[:19]} on {diff.compared} messages",
            "\n".join(diff.lines()),
            fields=(
                ("Candidate", f"{candidate.id} {candidate.version}"),
                ("Messages", str(len(items))),
                ("Compared", str(diff.compared)),
                ("Newly removed", str(diff.newly_removed)),
                ("No longer removed", str(diff.no_longer_removed)),
                ("Changed", str(diff.changed)),
                ("Could not be judged", str(diff.failed)),
            ),
        )
