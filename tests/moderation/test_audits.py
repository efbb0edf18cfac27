"""Audits of prefilter-allowed messages: sampled deterministically, run only when the pipeline is idle,
dropped and counted when they cannot run, and handled like any verdict when they find a violation."""

from __future__ import annotations

import asyncio

from modbot.commands.presenters import case_fields
from modbot.config import PipelineSettings
from modbot.domain import ActionKind, Decision, MessageEvent, ServerRef, Stage
from modbot.moderation.audits import audit_draw, is_sampled
from tests.conftest import event
from tests.moderation.audit_support import SERVER, ScriptedPrefilter, audited_services
from tests.support.scripted import ScriptedReasoner, by_keyword


def _risky_or_fine(text: str) -> float:
    return 0.5 if "risky" in text else 0.05  # 0.5: sent to the reasoner; 0.05: allowed


def test_sampling_is_deterministic_and_close_to_the_share() -> None:
    events = [MessageEvent(SERVER, "c1", f"m{i}", "u1", f"gg {i % 41}") for i in range(20_000)]
    draws = [audit_draw(e) for e in events]
    assert draws == [audit_draw(MessageEvent(SERVER, "c9", e.message_id, "u9", e.text)) for e in events]
    assert all(0.0 <= d < 1.0 for d in draws)
    for share in (0.02, 0.5):
        sampled = sum(is_sampled(e, share) for e in events) / len(events)
        assert abs(sampled - share) < 4 * (share * (1 - share) / len(events)) ** 0.5 + 1e-9, (share, sampled)
    assert not any(is_sampled(e, 0.0) for e in events) and all(is_sampled(e, 1.0) for e in events)
    # An edit is a new revision and draws again; so does the same id in another server.
    first = events[0]
    assert audit_draw(first) != audit_draw(MessageEvent(SERVER, "c1", first.message_id, "u1", first.text + "!"))
    assert audit_draw(first) != audit_draw(MessageEvent(ServerRef("test", "g2"), "c1", first.message_id, "u1", first.text))


async def test_audits_never_run_ahead_of_queued_messages(tmp_path) -> None:
    seen: list[tuple[str, int, int]] = []  # (text, intake queue size, messages in flight) at each reasoner call
    holder: dict[str, object] = {}

    def script(request):
        pipeline = holder["pipeline"]
        seen.append((request.event.text, pipeline._queue.qsize(), len(pipeline._in_flight)))
        return by_keyword({"risky": "CH1"})(request)

    reasoner = ScriptedReasoner(script, delay_s=0.005)
    pipeline_settings = PipelineSettings(queue_size=200, workers=2, sweep_interval_s=0.05, audit_idle_below=1)
    services, _ = await audited_services(
        tmp_path, reasoner, prefilter=ScriptedPrefilter(_risky_or_fine), pipeline=pipeline_settings
    )
    holder["pipeline"] = services.pipeline
    # Queued before the workers start: 20 escalations and 20 allowed messages, interleaved.
    for i in range(20):
        await services.pipeline.submit(event(f"risky {i}"))
        await services.pipeline.submit(event(f"fine {i}"))
    await services.start()
    await services.pipeline.drain(30)

    texts = [text for text, _, _ in seen]
    audits = [i for i, text in enumerate(texts) if text.startswith("fine")]
    escalations = [i for i, text in enumerate(texts) if text.startswith("risky")]
    assert len(audits) == 20 and len(escalations) == 20
    assert max(escalations) < min(audits), texts  # every escalation was judged before any audit ran
    assert all(queued == 0 and in_flight == 0 for text, queued, in_flight in seen if text.startswith("fine"))
    assert services.pipeline.counters.audits_done == 20 and services.pipeline.counters.audits_dropped == 0
    await services.close()


async def test_a_busy_reasoner_drops_audits_and_counts_them(tmp_path) -> None:
    reasoner = ScriptedReasoner()
    reasoner.busy = True  # ReasonerUnavailable for every request
    services, _ = await audited_services(tmp_path, reasoner)
    await services.start()
    rows = [(await services.pipeline.submit(event(f"hello {i}"))).row_id for i in range(5)]
    await services.pipeline.drain(10)

    counters = services.pipeline.counters
    assert (counters.audits_done, counters.audits_dropped) == (0, 5)
    for row_id in rows:  # the allow verdicts stand; no audit verdict was stored
        (verdict,) = await services.storage.verdicts.verdicts_for(SERVER, row_id)
        assert verdict.stage is Stage.PREFILTER and verdict.decision is Decision.ALLOW
    figures = await services.figures.audit_figures(SERVER)
    assert figures.enabled and (figures.done, figures.dropped, figures.queued) == (0, 5, 0)
    await services.close()


async def test_a_full_audit_queue_drops_the_newest_audits(tmp_path) -> None:
    reasoner = ScriptedReasoner()
    pipeline_settings = PipelineSettings(queue_size=100, workers=2, sweep_interval_s=60, audit_queue_size=2)
    services, _ = await audited_services(tmp_path, reasoner, pipeline=pipeline_settings)
    # Judged one by one with no audit worker running: two audits fit the queue, three are dropped.
    rows = [(await services.pipeline.submit(event(f"hello {i}"))).row_id for i in range(5)]
    for row_id in rows:
        await services.pipeline.process(row_id)
    assert services.pipeline.counters.audits_dropped == 3
    assert (await services.figures.audit_figures(SERVER)).queued == 2

    await services.start()
    await services.pipeline.drain(10)
    assert services.pipeline.counters.audits_done == 2
    assert [r.event.text for r in reasoner.calls] == ["hello 0", "hello 1"]
    await services.close()


async def test_an_audit_that_finds_a_violation_acts_in_enforce_mode(tmp_path) -> None:
    reasoner = ScriptedReasoner(by_keyword({"cheat engine": "CH1"}))
    services, sink = await audited_services(tmp_path, reasoner, mode="enforce")
    await services.start()
    intake = await services.pipeline.submit(event("anyone got cheat engine tables, cheap"))
    await services.pipeline.drain(10)

    allow, audit = await services.storage.verdicts.verdicts_for(SERVER, intake.row_id)
    assert (allow.stage, allow.decision, allow.found_by_audit) == (Stage.PREFILTER, Decision.ALLOW, False)
    assert (audit.stage, audit.decision, audit.found_by_audit) == (Stage.REASONER, Decision.REMOVE, True)
    assert sink.kinds() == [ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE]
    case = sink.actions[-1].case
    assert case.verdict.found_by_audit
    assert dict(case_fields(case))["Found by"].startswith("audit")
    # The message's verdict is now the audit's.
    assert (await services.core.message_verdict(SERVER, case.event.message_id)).verdict == audit
    await services.close()


async def test_an_audit_that_finds_a_violation_in_shadow_mode_opens_a_case_and_acts_on_nothing(tmp_path) -> None:
    reasoner = ScriptedReasoner(by_keyword({"cheat engine": "CH1"}))
    services, sink = await audited_services(tmp_path, reasoner, mode="shadow")
    await services.start()
    await services.pipeline.submit(event("anyone got cheat engine tables, cheap"))
    await services.pipeline.submit(event("good game all"))
    await services.pipeline.drain(10)

    assert sink.actions == []
    (case,) = (await services.storage.cases.list_cases(SERVER)).cases
    assert case.verdict.found_by_audit and case.verdict.decision is Decision.REMOVE
    assert services.pipeline.counters.audits_done == 2  # the fine one was audited too, and found fine
    await services.close()


async def test_no_audits_without_a_reasoner_or_a_prefilter(tmp_path) -> None:
    services, _ = await audited_services(tmp_path, None)
    await services.start()
    await services.pipeline.submit(event("hello there"))
    await services.pipeline.drain(10)
    figures = await services.figures.audit_figures(SERVER)
    assert not figures.enabled and figures.reason == "no reasoner configured"
    assert services.pipeline.counters.audits_done == services.pipeline.counters.audits_dropped == 0
    await services.close()

    from modbot.app import build_services
    from tests.conftest import make_settings

    reasoner = ScriptedReasoner()
    (tmp_path / "b").mkdir()
    services = await build_services(make_settings(tmp_path / "b"), reasoner=reasoner, prefilter=None)
    await services.start()
    await services.pipeline.submit(event("hello there"))
    await services.pipeline.drain(10)
    assert reasoner.calls == []  # keyword-stage allows are not audited
    assert "no prefilter" in (await services.figures.audit_figures(SERVER)).reason
    await services.close()


async def test_drain_waits_for_audits_and_stop_lets_queued_ones_go(tmp_path) -> None:
    reasoner = ScriptedReasoner(delay_s=0.05)
    services, _ = await audited_services(tmp_path, reasoner)
    await services.start()
    for i in range(3):
        await services.pipeline.submit(event(f"fine {i}"))
    await services.pipeline.drain(10)
    assert services.pipeline.counters.audits_done == 3
    await services.pipeline.submit(event("fine again"))
    await asyncio.sleep(0)
    await services.close()  # a queued or running audit is let go, nothing hangs
