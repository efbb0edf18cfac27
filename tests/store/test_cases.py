"""CaseBook: cases read back and paged, reviews, and the labelled examples reviews yield."""

from __future__ import annotations

import pytest

from modbot.domain import CaseStatus, ReviewOutcome
from modbot.domain.records import LabelledText
from tests.store.factories import A, B, message, open_case


async def test_cases_are_listed_newest_first_by_status_and_author(storage):
    ids = [
        await open_case(storage.messages, storage.verdicts, message(f"selling aimbot {i}", author_id=f"u{i % 2}"))
        for i in range(5)
    ]
    page = await storage.cases.list_cases(A, per_page=2)
    assert page.total == 5 and [c.id for c in page.cases] == [ids[4], ids[3]]
    assert [c.id for c in (await storage.cases.list_cases(A, page=3, per_page=2)).cases] == [ids[0]]

    assert await storage.cases.set_case_status(A, ids[0], CaseStatus.UPHELD)
    assert (await storage.cases.list_cases(A)).total == 4
    assert [c.id for c in (await storage.cases.list_cases(A, status=CaseStatus.UPHELD)).cases] == [ids[0]]
    everyone = await storage.cases.list_cases(A, status=None, author_id="u0")
    assert everyone.total == 3 and {c.event.author_id for c in everyone.cases} == {"u0"}
    assert (await storage.cases.get_case(A, ids[0])).status is CaseStatus.UPHELD


async def test_a_case_keeps_where_it_was_posted(storage):
    case_id = await open_case(storage.messages, storage.verdicts, message("selling aimbot"))
    case = await storage.cases.get_case(A, case_id)
    assert case.posted_ref is None and case.status is CaseStatus.OPEN and case.created_at.tzinfo is not None
    await storage.cases.set_case_posted_ref(A, case_id, "c-mod/m-42")
    assert (await storage.cases.get_case(A, case_id)).posted_ref == "c-mod/m-42"
    assert not await storage.cases.set_case_status(A, case_id + 1, CaseStatus.UPHELD)


async def test_only_review_outcomes_are_reviews(storage):
    case_id = await open_case(storage.messages, storage.verdicts, message("selling aimbot"))
    first = await storage.cases.add_review(A, case_id, "mod", ReviewOutcome.UPHOLD, "clear sale")
    assert await storage.cases.add_review(A, case_id, "mod", ReviewOutcome.OVERTURN) > first
    with pytest.raises(ValueError):
        await storage.cases.add_review(A, case_id, "mod", "ban")  # type: ignore[arg-type]  # an action, not a review


async def test_reviewed_examples_label_decided_cases_and_skip_erased_texts(storage):
    upheld = await open_case(storage.messages, storage.verdicts, message("selling aimbot"))
    overturned = await open_case(storage.messages, storage.verdicts, message("aimbot is a word in my essay"))
    await open_case(storage.messages, storage.verdicts, message("still open"))
    erased = await open_case(storage.messages, storage.verdicts, message("private text", author_id="victim"))
    await storage.cases.set_case_status(A, upheld, CaseStatus.UPHELD)
    await storage.cases.set_case_status(A, overturned, CaseStatus.OVERTURNED)
    await storage.cases.set_case_status(A, erased, CaseStatus.UPHELD)
    await storage.messages.forget_member(A, "victim")

    newest_first = [LabelledText("aimbot is a word in my essay", False), LabelledText("selling aimbot", True)]
    assert await storage.cases.reviewed_examples(A) == newest_first
    assert await storage.cases.reviewed_examples(A, limit=1) == newest_first[:1]
    assert await storage.cases.reviewed_examples_by_server() == {A: list(reversed(newest_first))}


async def test_reviewed_examples_by_server_keeps_each_server_apart(storage):
    in_a = await open_case(storage.messages, storage.verdicts, message("a's cheat", server=A))
    in_b = await open_case(storage.messages, storage.verdicts, message("b's cheat", server=B))
    await storage.cases.set_case_status(A, in_a, CaseStatus.UPHELD)
    await storage.cases.set_case_status(B, in_b, CaseStatus.OVERTURNED)
    assert await storage.cases.reviewed_examples_by_server(limit_per_server=10) == {
        A: [LabelledText("a's cheat", True)],
        B: [LabelledText("b's cheat", False)],
    }
