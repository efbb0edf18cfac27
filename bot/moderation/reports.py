"""Moderators' reports of messages the bot allowed (``modbot.ports.MissReports``).

A report is a moderator's own label: the message broke the rules and the bot missed it. It is stored
as a verdict of stage ``report`` (decision ``flag``) that opens a case, and the case is posted to the
mod channel through the outbox like any other action, in shadow mode too (a post in the mod channel
does nothing to the member). Nothing is deleted automatically: the moderator acts with the case's
buttons. The case stays open, so another moderator can still overturn the report. Reporting the same
message revision again answers with the case it already has.
"""

from __future__ import annotations

from dataclasses import replace

from modbot.domain import Action, ActionKind, Decision, MessageEvent, Stage, Verdict
from modbot.domain.records import ReportedCase
from modbot.moderation.dispatch import ActionDispatcher
from modbot.moderation.pipeline import sanitize_text
from modbot.ports import ActivePolicies, CaseBook, EffectiveSettings, VerdictLog

__all__ = ["ReportDesk"]


class ReportDesk:
    """Records reports, opens their cases and posts them."""

    def __init__(
        self,
        *,
        verdicts: VerdictLog,
        cases: CaseBook,
        policies: ActivePolicies,
        settings: EffectiveSettings,
        dispatcher: ActionDispatcher,
        max_text_chars: int,
    ):
        self.verdicts = verdicts
        self.cases = cases
        self.policies = policies
        self.settings = settings
        self.dispatcher = dispatcher
        self.max_text_chars = max_text_chars

    async def report(self, event: MessageEvent, *, moderator_id: str, note: str = "") -> ReportedCase:
        """Open (or find) the case of ``event``; a new one is posted to the mod channel."""
        # Stored as the pipeline stores what it receives; context is not part of a report.
        event = replace(event, text=sanitize_text(event.text, self.max_text_chars), context=())
        policy = await self.policies.get(event.server)
        settings = await self.settings.get(event.server)
        rationale = f"Reported by moderator {moderator_id} as a violation the bot missed" + (
            f": {note.strip()}" if note.strip() else "."
        )
        verdict = Verdict(Decision.FLAG, Stage.REPORT, policy.version, confidence=1.0, rationale=rationale)
        post = Action(
            ActionKind.POST_CASE,
            server=event.server,
            channel_id=event.channel_id,
            thread_id=event.thread_id,
            message_id=event.message_id,
            user_id=event.author_id,
            mod_channel_id=settings.mod_channel_id,
            reason=f"reported by moderator {moderator_id}",
        )
        saved = await self.verdicts.save_report(
            event, verdict, shadow=settings.mode == "shadow", actions=(post,), requested_by=moderator_id
        )
        case = await self.cases.get_case(event.server, saved.case_id)
        if case is None:  # pragma: no cover - the case was just read back in the same server
            raise LookupError(f"case #{saved.case_id} vanished")
        if saved.planned:
            await self.dispatcher.run_planned(saved.planned, case)
            case = await self.cases.get_case(event.server, saved.case_id) or case
        return ReportedCase(case, saved.created)
