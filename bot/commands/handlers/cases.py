"""Cases: the review queue, one case, a member's history, reviews, and the timeout/ban buttons.

A review (uphold or overturn) is the only thing that decides a case and teaches the prefilter; a
moderator's timeout or ban is an enforcement action, recorded as an action and never as a review.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from modbot.commands.presenters import case_fields
from modbot.domain import ActionKind, Case, CaseStatus, ReviewOutcome
from modbot.domain.commands import CaseAction, Invoker, MemberHistory, Reply, Review, ShowCase, ShowQueue, ShowReasoning
from modbot.ports import CaseBook, Enforcer, Prefilter

__all__ = ["QUEUE_PAGE_SIZE", "CaseCommands"]

log = logging.getLogger(__name__)

QUEUE_PAGE_SIZE = 5


@dataclass(frozen=True, slots=True)
class CaseCommands:
    """Case commands over the case book, the enforcer and (optionally) the learning prefilter."""

    cases: CaseBook
    enforcer: Enforcer
    feedback: Prefilter | None = None

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {
            ShowQueue: self.queue,
            ShowCase: self.case,
            MemberHistory: self.history,
            Review: self.review,
            CaseAction: self.case_action,
            ShowReasoning: self.reasoning,
        }

    async def _get_case(self, invoker: Invoker, case_id: int) -> Case:
        case = await self.cases.get_case(invoker.server, case_id)
        if case is None:
            # Same answer for "does not exist" and "belongs to another server": no cross-server probing.
            raise LookupError("no such case in this server")
        return case

    async def queue(self, invoker: Invoker, command: ShowQueue) -> Reply:
        """One page of the open cases, newest first."""
        found = await self.cases.list_cases(
            invoker.server, status=CaseStatus.OPEN, page=command.page, per_page=QUEUE_PAGE_SIZE
        )
        pages = max(1, math.ceil(found.total / QUEUE_PAGE_SIZE))
        if not found.cases:
            text = "No open cases." if found.total == 0 else "No cases on this page."
            return Reply(True, "Review queue", text, page=command.page, pages=pages)
        return Reply(True, f"Review queue ({found.total} open)", cases=found.cases, page=command.page, pages=pages)

    async def case(self, invoker: Invoker, command: ShowCase) -> Reply:
        """One case with its verdict, by its number in this server."""
        case = await self.cases.get_case_by_number(invoker.server, command.number)
        if case is None:
            raise LookupError(f"no case #{command.number} in this server")
        return Reply(True, f"Case #{case.display_number}", case.event.text[:1000], fields=case_fields(case), case=case)

    async def history(self, invoker: Invoker, command: MemberHistory) -> Reply:
        """Every case of one member, whatever its status."""
        found = await self.cases.list_cases(
            invoker.server, status=None, author_id=command.member_id, page=command.page, per_page=QUEUE_PAGE_SIZE
        )
        pages = max(1, math.ceil(found.total / QUEUE_PAGE_SIZE))
        text = "" if found.cases else "No cases for this member."
        return Reply(
            True,
            f"History of {command.member_id} ({found.total} cases)",
            text,
            cases=found.cases,
            page=command.page,
            pages=pages,
        )

    async def review(self, invoker: Invoker, command: Review) -> Reply:
        """Uphold or overturn: records the review, decides the case, and teaches the prefilter."""
        case = await self._get_case(invoker, command.case_id)
        status = command.outcome.case_status
        await self.cases.add_review(invoker.server, case.id, invoker.user_id, command.outcome)
        await self.cases.set_case_status(invoker.server, case.id, status)
        if self.feedback is not None and case.event.text:
            try:
                await self.feedback.add_feedback(invoker.server, case.event.text, command.outcome is ReviewOutcome.UPHOLD)
            except Exception:  # learning is best effort; the review itself is recorded
                log.exception("could not feed the review of case %s to the prefilter", case.id)
        updated = await self.cases.get_case(invoker.server, case.id)
        return Reply(
            True,
            f"Case #{case.display_number} {status.value}",
            "Overturned: recorded; the prefilter learns from it. Nothing is restored automatically."
            if status is CaseStatus.OVERTURNED
            else "Upheld: recorded.",
            fields=case_fields(updated) if updated else (),
            case=updated,
            ephemeral=False,
        )

    async def case_action(self, invoker: Invoker, command: CaseAction) -> Reply:
        """Time out or ban the author; the case's status (and what the prefilter learns) stays as reviewed."""
        case = await self._get_case(invoker, command.case_id)
        kind = ActionKind.TIMEOUT if command.kind == "timeout" else ActionKind.BAN
        outcome = await self.enforcer.moderator_action(
            case, kind, moderator_id=invoker.user_id, duration_s=command.duration_s
        )
        done = "done" if outcome.ok else "failed"
        return Reply(outcome.ok, f"{command.kind.capitalize()} {done} for case #{case.display_number}", outcome.detail)

    async def reasoning(self, invoker: Invoker, command: ShowReasoning) -> Reply:
        """The model's raw reasoning (moderators only: it is not written for members)."""
        case = await self._get_case(invoker, command.case_id)
        verdict = case.verdict
        body = verdict.reasoning or "(no reasoning recorded: this verdict came from a fast stage)"
        if verdict.error:
            body += f"\n\nError: {verdict.error}"
            if verdict.raw_output:
                body += f"\nRaw model output: {verdict.raw_output[:1500]}"
        return Reply(True, f"Reasoning for case #{case.display_number} (moderators only)", body[:3900])
