"""Labels from the bot's own work, reports, and the recall counts: on real SQLite, both write paths."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from modbot.domain import Action, ActionKind, CaseStatus, Decision, MessageStatus, ReviewOutcome, Stage, utcnow
from modbot.domain.figures import estimate_recall
from modbot.domain.records import LabelSource, VerdictToSave
from tests.store.factories import A, B, message, record, verdict


async def _judge(storage, text, *verdicts, server=A, open_case=False, share=None, author="u1"):
    """Record ``text`` and store ``verdicts`` on it (the last one opens a case with ``open_case``)."""
    event = message(text, server=server, author_id=author)
    row_id = await record(storage.messages, event)
    case_id = None
    for index, item in enumerate(verdicts):
        last = index == len(verdicts) - 1
        (saved,) = await storage.verdicts.save_verdicts(
            [VerdictToSave(row_id, server, item, False, open_case and last, audit_share=share if item.found_by_audit else None)]
        )
        case_id = saved.case_id if saved.case_id is not None else case_id
    return row_id, case_id, event


def _report():
    return verdict(Decision.FLAG, stage=Stage.REPORT, latency_ms=0.0)


async def test_labels_one_per_message_with_reviews_overriding(storage):
    allow = verdict(Decision.ALLOW, stage=Stage.PREFILTER)
    await _judge(storage, "sells cheats", verdict(Decision.REMOVE))
    await _judge(storage, "just asking", verdict(Decision.ALLOW))
    _, overturned, _ = await _judge(storage, "a joke", verdict(Decision.REMOVE), open_case=True)
    await storage.cases.set_case_status(A, overturned, CaseStatus.OVERTURNED)
    await _judge(storage, "missed one", allow, verdict(Decision.REMOVE, found_by_audit=True), share=0.25)
    await _judge(storage, "fine, audited", allow, verdict(Decision.ALLOW, found_by_audit=True), share=0.25)
    _, upheld, _ = await _judge(
        storage, "missed, upheld", allow, verdict(Decision.REMOVE, found_by_audit=True), share=0.5, open_case=True
    )
    await storage.cases.set_case_status(A, upheld, CaseStatus.UPHELD)
    await _judge(storage, "keyword only", verdict(Decision.FLAG, stage=Stage.KEYWORD))
    await _judge(storage, "garbled answer", verdict(Decision.ESCALATE, error="no final channel"))
    reported = message("reported miss")
    await storage.verdicts.save_report(reported, _report(), shadow=False)
    await _judge(storage, "other server", verdict(Decision.REMOVE), server=B)
    await _judge(storage, "erased", verdict(Decision.REMOVE), author="gone")
    await storage.messages.forget_member(A, "gone")

    labels = await storage.verdicts.labels([A])
    got = {label.text: (label.unsafe, label.category, label.source, label.weight) for label in labels}
    assert got == {
        "sells cheats": (True, "cheats", LabelSource.REASONER, 1.0),
        "just asking": (False, None, LabelSource.REASONER, 1.0),
        "a joke": (False, None, LabelSource.REVIEW, 1.0),
        "missed one": (True, "cheats", LabelSource.AUDIT, 4.0),
        "fine, audited": (False, None, LabelSource.AUDIT, 4.0),
        "missed, upheld": (True, "cheats", LabelSource.REVIEW, 2.0),
        "reported miss": (True, "cheats", LabelSource.REPORT, 1.0),
    }
    assert all(label.server == A for label in labels)
    assert [label.created_at for label in labels] == sorted(label.created_at for label in labels)
    assert next(l for l in labels if l.text == "sells cheats").confidence == 0.9
    assert labels[0].as_labelled_text().violation is labels[0].unsafe
    every = await storage.verdicts.labels()
    assert {label.text for label in every} == set(got) | {"other server"}
    newest = await storage.verdicts.labels([A], limit=2)
    assert [label.text for label in newest] == [label.text for label in labels[-2:]]
    assert await storage.verdicts.labels([A], since=utcnow() + timedelta(minutes=1)) == []


async def test_a_report_outranks_the_reasoner_verdict_it_corrects(storage):
    row_id, _, event = await _judge(storage, "sneaky scam", verdict(Decision.ALLOW))
    saved = await storage.verdicts.save_report(event, _report(), shadow=True)
    assert saved.created
    (label,) = await storage.verdicts.labels([A])
    assert (label.source, label.unsafe, label.row_id) == (LabelSource.REPORT, True, row_id)


async def test_save_report_records_opens_plans_and_is_idempotent(storage):
    event = message("never seen before")
    post = Action(ActionKind.POST_CASE, A, event.channel_id, event.message_id, event.author_id, mod_channel_id="mods")
    first = await storage.verdicts.save_report(event, _report(), shadow=False, actions=(post,), requested_by="mod")
    assert first.created and [p.action.kind for p in first.planned] == [ActionKind.POST_CASE]
    assert first.planned[0].case_id == first.case_id and first.planned[0].requested_by == "mod"
    case = await storage.cases.get_case(A, first.case_id)
    assert case.status is CaseStatus.OPEN and case.verdict.stage is Stage.REPORT and case.event.text == event.text
    stored, _ = await storage.messages.latest_revision(A, event.message_id)
    assert stored.status is MessageStatus.JUDGED  # a moderator labelled it: the pipeline leaves it alone

    again = await storage.verdicts.save_report(event, _report(), shadow=False, actions=(post,))
    assert (again.case_id, again.created, again.planned) == (first.case_id, False, ())
    assert await storage.outbox.count_unsettled(A) == 1

    # A message whose revision already has a case keeps that case.
    _, flagged, flagged_event = await _judge(storage, "flagged already", verdict(Decision.FLAG), open_case=True)
    assert (await storage.verdicts.save_report(flagged_event, _report(), shadow=False)).case_id == flagged
    # A pending revision becomes judged.
    pending = message("waiting to be judged")
    await record(storage.messages, pending)
    await storage.verdicts.save_report(pending, _report(), shadow=False)
    assert (await storage.messages.latest_revision(A, pending.message_id))[0].status is MessageStatus.JUDGED
    stats = await storage.verdicts.stats(A, utcnow() - timedelta(days=1), 1)
    assert stats.reported == 2 and stats.decisions == {"flag": 1}  # reports are not the bot's decisions


async def test_recall_counts_caught_allowed_and_audits(storage):
    allow = verdict(Decision.ALLOW, stage=Stage.PREFILTER)
    await _judge(storage, "caught", verdict(Decision.REMOVE))
    await _judge(storage, "caught twice", verdict(Decision.FLAG, stage=Stage.KEYWORD), verdict(Decision.REMOVE))
    _, overturned, _ = await _judge(storage, "wrongly caught", verdict(Decision.REMOVE), open_case=True)
    await storage.cases.set_case_status(A, overturned, CaseStatus.OVERTURNED)
    _, garbled, _ = await _judge(storage, "garbled, upheld", verdict(Decision.ESCALATE, error="x"), open_case=True)
    await storage.cases.set_case_status(A, garbled, CaseStatus.UPHELD)
    await _judge(storage, "garbled, open", verdict(Decision.ESCALATE, error="x"), open_case=True)
    await _judge(storage, "allowed", allow)
    await _judge(storage, "allowed, audited fine", allow, verdict(Decision.ALLOW, found_by_audit=True), share=0.1)
    await _judge(storage, "allowed, audit found", allow, verdict(Decision.REMOVE, found_by_audit=True), share=0.1)
    _, wrong_audit, _ = await _judge(
        storage, "allowed, audit overturned", allow, verdict(Decision.REMOVE, found_by_audit=True), share=0.2, open_case=True
    )
    await storage.cases.set_case_status(A, wrong_audit, CaseStatus.OVERTURNED)
    await storage.verdicts.save_report(message("reported"), _report(), shadow=False)
    await _judge(storage, "other server", verdict(Decision.REMOVE), server=B)

    since = utcnow() - timedelta(minutes=1)
    counts = await storage.verdicts.recall_counts([A], since)
    assert counts.caught == 3  # caught, caught twice (one message), garbled but upheld
    assert counts.allowed == 4
    assert [(t.share, t.audited, t.violations) for t in counts.audits] == [(0.1, 2, 1), (0.2, 1, 0)]
    both = await storage.verdicts.recall_counts([A, B], since)
    assert both.caught == 4 and both.allowed == 4
    assert (await storage.verdicts.recall_counts([], since)).caught == 0
    assert await storage.verdicts.judged_count(A, since) == 9  # messages the bot judged (not the report)
    stats = await storage.verdicts.stats(A, since, 1)
    assert stats.escalated == 5  # the reasoner's own verdicts and the escalations; audits left out


def _sure(decision, confidence, **fields):
    return replace(verdict(decision, **fields), confidence=confidence)


async def test_recall_counts_carry_the_reasoner_error_rates_and_what_moderators_decided(storage):
    allow = verdict(Decision.ALLOW, stage=Stage.PREFILTER)
    await _judge(storage, "caught, fairly sure", _sure(Decision.REMOVE, 0.8))
    await _judge(storage, "caught, unsure", _sure(Decision.FLAG, 0.6))
    await _judge(storage, "caught, below any use", _sure(Decision.REMOVE, 0.3))  # eps is at most 0.4
    await _judge(storage, "let through", _sure(Decision.ALLOW, 0.7))
    await _judge(storage, "let through, certain", _sure(Decision.ALLOW, 1.0))
    _, _, let_through = await _judge(storage, "let through, reported", _sure(Decision.ALLOW, 0.7))
    await storage.verdicts.save_report(let_through, _report(), shadow=False)  # escalated: the prefilter's catch
    _, overturned, _ = await _judge(storage, "caught, overturned", _sure(Decision.REMOVE, 0.9), open_case=True)
    await storage.cases.set_case_status(A, overturned, CaseStatus.OVERTURNED)
    await _judge(storage, "keyword act", verdict(Decision.FLAG, stage=Stage.KEYWORD))  # certain: not a reasoner answer
    await _judge(storage, "audited fine", allow, _sure(Decision.ALLOW, 0.9, found_by_audit=True), share=0.1)
    await _judge(storage, "audit found", allow, _sure(Decision.REMOVE, 0.75, found_by_audit=True), share=0.1)
    _, wrong, _ = await _judge(
        storage, "audit overturned", allow, _sure(Decision.REMOVE, 0.9, found_by_audit=True), share=0.1, open_case=True
    )
    await storage.cases.set_case_status(A, wrong, CaseStatus.OVERTURNED)
    _, _, missed = await _judge(storage, "audited fine, reported", allow, _sure(Decision.ALLOW, 0.9, found_by_audit=True), share=0.1)
    await storage.verdicts.save_report(missed, _report(), shadow=False)  # a moderator says it was a violation

    counts = await storage.verdicts.recall_counts([A], utcnow() - timedelta(minutes=1))
    assert counts.caught == 5 and counts.allowed == 4
    judged = counts.escalated
    assert (judged.judged, judged.violations, judged.reviewed, judged.reviewed_violations) == (7, 4, 2, 1)
    assert judged.violation_eps == pytest.approx((0.2 + 0.4 + 0.4) / 3)
    assert judged.allow_eps == pytest.approx((0.3 + 0.0) / 2)
    (audits,) = counts.audits
    assert (audits.share, audits.audited, audits.violations, audits.reviewed, audits.reviewed_violations) == (0.1, 4, 2, 2, 1)
    assert (audits.violation_eps, audits.allow_eps) == (pytest.approx(0.25), pytest.approx(0.1))
    estimate = estimate_recall(counts)
    # Two catches are certain (the keyword stage, the report); the reasoner's three are worth less than three.
    assert 2.0 <= estimate.caught_estimate < counts.caught and "error rates" in estimate.method
    assert estimate.low <= estimate.recall <= estimate.high


async def test_prefilter_versions_keep_aware_times_comparable_with_labels(storage):
    # The learner compares a version's time with labels' (the labels since it became active) and with
    # now: every stored time comes back timezone-aware, SQLite's too.
    await _judge(storage, "you absolute idiot", verdict(Decision.FLAG))
    version = await storage.prefilter_versions.add_version("c", "/models/c/1", {}, active=True)
    (stored,) = await storage.prefilter_versions.versions("c")
    assert version.created_at.tzinfo is not None and stored.created_at.tzinfo is not None
    assert utcnow() - stored.created_at >= timedelta(0)
    (label,) = await storage.verdicts.labels([A])
    assert abs(label.created_at - stored.created_at) < timedelta(minutes=5)
