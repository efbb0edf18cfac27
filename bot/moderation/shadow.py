"""A shadow policy: a candidate judging live traffic beside the active policy, never acted on.

``/mod policy shadow <id> [7d]`` stores a ``ShadowPolicy`` in the server's settings. After the pipeline
has stored (and acted on) a message's live verdict, :meth:`ShadowRunner.judge_beside` judges the message
again with the candidate through the same stages and stores that verdict marked ``candidate`` (and
``shadow``): no case, no actions, and left out of the bot's own figures and labels. The candidate's
version differs from the live one, so the verdict identity (revision, policy version, stage) keeps both.
``/mod policy diff`` compares the two (``modbot.moderation.replay``).

A failure here never touches the live verdict: it is logged and the candidate's verdict is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from cachetools import LRUCache

from modbot.domain import MessageEvent, ServerRef, Verdict
from modbot.domain.policy import Policy
from modbot.domain.records import VerdictToSave
from modbot.domain.settings import ServerSettings
from modbot.moderation.judge import Judge, Routing
from modbot.ports import PolicyLibrary, ReasonerUnavailable, VerdictLog
from modbot.stages.keywords import KeywordMatcher

__all__ = ["ShadowRunner", "find_candidate"]

log = logging.getLogger(__name__)


async def find_candidate(library: PolicyLibrary, server: ServerRef, ref: str) -> Policy:
    """A policy visible to ``server`` by id or version, active or not; LookupError when there is none."""
    found = await library.find_policy(server, ref)
    if found is None:
        raise LookupError(f"no policy {ref!r} is stored for this server (upload it first, or give its version)")
    return found.policy


class ShadowRunner:
    """Judges a message with the server's shadow policy, if it has one running, and stores the verdict."""

    def __init__(
        self,
        *,
        judge: Judge,
        library: PolicyLibrary,
        verdicts: VerdictLog,
        matcher: Callable[[Policy, ServerSettings], KeywordMatcher],
    ):
        self.judge = judge
        self.library = library
        self.verdicts = verdicts
        self.matcher = matcher
        self.judged = 0
        self.skipped = 0
        # Stored versions never change (a version is the hash of its text): cached without invalidation.
        self._policies: LRUCache[tuple[str, str], Policy] = LRUCache(1000)

    async def judge_beside(
        self, row_id: int, event: MessageEvent, live: Policy, settings: ServerSettings
    ) -> Verdict | None:
        """The candidate's verdict on a message already judged live (stored), or None when none runs."""
        shadow = settings.shadow_policy
        if shadow is None or not shadow.active_at(datetime.now(timezone.utc)) or shadow.version == live.version:
            return None
        try:
            policy = await self._policy(event.server, shadow.version)
            verdict = await self.judge.judge(event, policy, self.matcher(policy, settings), Routing.from_settings(settings))
            # Its own transaction, not the pipeline's group commit: a failure here cannot fail live verdicts.
            await self.verdicts.save_verdicts(
                [VerdictToSave(row_id, event.server, verdict, shadow=True, open_case=False, candidate=True)]
            )
        except ReasonerUnavailable:
            self.skipped += 1  # live traffic first: a busy reasoner skips the candidate's look
            return None
        except Exception:
            self.skipped += 1
            log.exception("the shadow policy's verdict on message row %s failed", row_id)
            return None
        self.judged += 1
        return verdict

    async def _policy(self, server: ServerRef, version: str) -> Policy:
        key = (server.key, version)
        policy = self._policies.get(key)
        if policy is None:
            policy = await find_candidate(self.library, server, version)
            self._policies[key] = policy
        return policy
