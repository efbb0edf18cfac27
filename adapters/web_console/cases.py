"""The queue and case pages: open cases with filters and bulk review, one case with its verdict, the
member's history and what was done, and the Uphold / Overturn / Timeout / Ban buttons.

Every change goes through ``Core.execute`` (permission-checked and audited in the core, like the same
button in chat); after a review the case's chat post is redrawn (``Core.refresh_case_post``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modbot.domain import Case, CaseStatus, ReviewOutcome, utcnow
from modbot.domain.commands import CaseAction, MemberHistory, MemberNoteCommand, Reply, Review, ShowCase, ShowReasoning
from modbot.ports import Core

from .web import Page, check_csrf, flash, redirect

__all__ = ["AGES", "CasePages", "QueueFilter", "QUEUE_LIMIT"]

#: The queue page shows at most this many open cases (newest first) after filtering.
QUEUE_LIMIT = 200
QUEUE_PAGE = 25


#: The queue's age filter: name -> (opened at least, at most) this many hours ago.
AGES: dict[str, tuple[float, float | None]] = {
    "": (0.0, None),
    "24h": (0.0, 24.0),
    "older-24h": (24.0, None),
    "older-7d": (168.0, None),
}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The queue's filters (empty: any)."""

    category: str = ""
    decision: str = ""
    stage: str = ""
    age: str = ""
    #: Only cases found by an audit (the reasoner's second look at a prefilter allow).
    audit: bool = False

    @classmethod
    def of(cls, request: Request) -> QueueFilter:
        q = request.query_params
        age = q.get("age", "")
        return cls(
            q.get("category", "")[:64], q.get("decision", "")[:32], q.get("stage", "")[:32],
            age if age in AGES else "", q.get("audit") == "1",
        )

    def keeps(self, case: Case, now: datetime) -> bool:
        verdict = case.verdict
        least, most = AGES[self.age]
        opened = case.created_at or case.event.timestamp
        if opened.tzinfo is None:  # stored times are UTC
            opened = opened.replace(tzinfo=timezone.utc)
        hours = (now - opened).total_seconds() / 3600
        return (
            (not self.category or self.category in verdict.categories)
            and (not self.decision or verdict.decision.value == self.decision)
            and (not self.stage or verdict.stage.value == self.stage)
            and (not self.audit or verdict.found_by_audit)
            and hours >= least
            and (most is None or hours < most)
        )

    def query(self, page: int) -> str:
        """The query string of another page with the same filters."""
        values = {"category": self.category, "decision": self.decision, "stage": self.stage, "age": self.age}
        values["audit"] = "1" if self.audit else ""
        return urlencode({**{k: v for k, v in values.items() if v}, "page": page})


def _int(value: object, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise HTTPException(400, f"{what} must be a number") from None


@dataclass
class CasePages:
    """The routes of the queue and case pages on one core."""

    core: Core

    async def queue(self, request: Request) -> Response:
        """``GET /servers/{platform}/{id}/queue?category=&decision=&stage=&page=``."""
        page = Page.of(request, self.core)
        await page.require_moderator()
        found = await self.core.list_cases(page.server, status=CaseStatus.OPEN, page=1, per_page=QUEUE_LIMIT)
        chosen = QueueFilter.of(request)
        now = utcnow()
        kept = [case for case in found.cases if chosen.keeps(case, now)]
        number = max(1, _int(request.query_params.get("page", "1"), "page"))
        pages = max(1, -(-len(kept) // QUEUE_PAGE))
        shown = kept[(number - 1) * QUEUE_PAGE : number * QUEUE_PAGE]
        return page.render(
            "queue.html",
            cases=shown,
            total=found.total,
            matching=len(kept),
            filter=chosen,
            categories=sorted({c for case in found.cases for c in case.verdict.categories}),
            decisions=sorted({case.verdict.decision.value for case in found.cases}),
            stages=sorted({case.verdict.stage.value for case in found.cases}),
            number=number,
            pages=pages,
        )

    async def bulk(self, request: Request) -> Response:
        """``POST .../queue/bulk``: uphold or overturn the ticked cases, each as its own audited review."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        outcome = _outcome(form.get("outcome"))
        numbers = [_int(n, "case number") for n in form.get("case[]") or []]
        done, failed = 0, []
        for number in numbers[:QUEUE_LIMIT]:
            case = await self._case(page, number)
            reply = await self._review(page, case, outcome)
            if reply.ok:
                done += 1
            else:
                failed.append(f"#{number}: {reply.text}")
        text = "; ".join(failed)
        flash(request, Reply(not failed, f"{done} case{'s' if done != 1 else ''} {outcome.case_status.value}", text))
        return redirect(f"{page.prefix}/queue")

    async def case(self, request: Request) -> Response:
        """``GET .../cases/{number}[?reasoning=1]``: the case, its actions and the member's history."""
        page = Page.of(request, self.core)
        number = _int(request.path_params["number"], "case number")
        reply = await page.execute(ShowCase(number))
        if reply.case is None:
            raise HTTPException(404, reply.text or "No such case in this server.")
        case = reply.case
        actions = await self.core.case_actions(page.server, case.id)
        history = await page.execute(MemberHistory(case.event.author_id))
        # Moderators' notes about the member (/mod note), newest first: one line each.
        notes = await page.execute(MemberNoteCommand(case.event.author_id))
        reasoning = None
        if request.query_params.get("reasoning"):
            reasoning = await page.execute(ShowReasoning(case.id))
        return page.render(
            "case.html",
            case=case,
            fields=reply.fields,
            actions=actions,
            history=[c for c in history.cases if c.id != case.id],
            history_total=history.title,
            notes=notes.text.splitlines() if notes.ok and notes.text != "No notes yet." else [],
            reasoning=reasoning,
        )

    async def review(self, request: Request) -> Response:
        """``POST .../cases/{number}/review`` (``outcome`` uphold|overturn)."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        case = await self._case(page, _int(request.path_params["number"], "case number"))
        reply = await self._review(page, case, _outcome(form.get("outcome")))
        flash(request, reply)
        return redirect(f"{page.prefix}/cases/{case.display_number}")

    async def note(self, request: Request) -> Response:
        """``POST .../cases/{number}/note`` (``text``): a note about the case's author (``/mod note``)."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        case = await self._case(page, _int(request.path_params["number"], "case number"))
        # Checked in the core (length, empty); a longer text than any note is cut here, and refused there.
        flash(request, await page.execute(MemberNoteCommand(case.event.author_id, str(form.get("text") or "")[:1000])))
        return redirect(f"{page.prefix}/cases/{case.display_number}")

    async def action(self, request: Request) -> Response:
        """``POST .../cases/{number}/action`` (``kind`` timeout|ban, ``minutes`` for a timeout)."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        case = await self._case(page, _int(request.path_params["number"], "case number"))
        kind = form.get("kind")
        if kind not in ("timeout", "ban"):
            raise HTTPException(400, "kind must be timeout or ban")
        minutes = form.get("minutes")
        duration = _int(minutes, "minutes") * 60 if kind == "timeout" and minutes else None
        reply = await page.execute(CaseAction(case.id, kind, duration_s=duration))
        flash(request, reply)
        return redirect(f"{page.prefix}/cases/{case.display_number}")

    async def _case(self, page: Page, number: int) -> Case:
        reply = await page.execute(ShowCase(number))
        if reply.case is None:
            raise HTTPException(404, reply.text or "No such case in this server.")
        return reply.case

    async def _review(self, page: Page, case: Case, outcome: ReviewOutcome) -> Reply:
        reply = await page.execute(Review(case.id, outcome))
        if reply.ok:
            # The chat-side case shows the new status too (an outbox action to the platform's sink).
            refreshed = await self.core.refresh_case_post(page.server, case.id)
            if refreshed is not None and not refreshed.ok:
                return Reply(True, reply.title, f"{reply.text} The chat post could not be updated: {refreshed.detail}")
        return reply


def _outcome(value: object) -> ReviewOutcome:
    try:
        return ReviewOutcome(str(value))
    except ValueError:
        raise HTTPException(400, "outcome must be uphold or overturn") from None
