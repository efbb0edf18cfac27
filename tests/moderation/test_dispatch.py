"""Carrying actions out from the outbox: recorded outcomes, retries with the same key, resumption after a crash.

The real core on a SQLite file and on PostgreSQL (``tests.support.pg_fixtures``); only the platform
edge (the sink) is a test double.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from modbot.app import build_services
from modbot.domain import Action, ActionKind, ActionOutcome, Decision, ServerRef, Stage, Verdict
from modbot.domain.records import VerdictToSave
from modbot.domain.settings import ServerSettings
from modbot.config import PipelineSettings
from modbot.moderation.dispatch import ModeratorActions
from modbot.moderation.enforcement import plan_actions
from tests.conftest import event, make_settings
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
#: An act-now keyword of the test policy (SC1, "high"): removed, timed out, warned and posted without a reasoner.
SCAM = "claim at free-nitro.example now"
ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")


class FlakySink(RecordingSink):
    """Fails the first ``failures`` attempts of every action transiently (like a 503), then succeeds."""

    def __init__(self, failures: int, *, raise_instead: bool = False):
        super().__init__()
        self.failures = failures
        self.raise_instead = raise_instead
        self.attempts: dict[str, int] = {}

    async def execute(self, action: Action) -> ActionOutcome:
        seen = self.attempts.get(action.idempotency_key, 0)
        self.attempts[action.idempotency_key] = seen + 1
        if seen < self.failures:
            self.actions.append(action)
            if self.raise_instead:
                raise ConnectionError("network is down")
            return ActionOutcome(False, "HTTP 503", retry_after_s=0.0)
        return await super().execute(action)


#: The database of the running test (``on_each_database``); None: make_settings' SQLite file.
_database_url: str | None = None


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def on_each_database(request, monkeypatch):
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgresql" else None
    monkeypatch.setattr(sys.modules[__name__], "_database_url", url)


async def build(tmp_path, sink, **pipeline):
    database = {"database_url": _database_url} if _database_url else {}
    settings = make_settings(
        tmp_path,
        **database,
        server_defaults=ENFORCE,
        pipeline=PipelineSettings(queue_size=100, workers=2, sweep_interval_s=0.02, action_retry_base_s=0.01, **pipeline),
    )
    return await build_services(settings, reasoner=None, prefilter=None, sinks={"test": sink})


async def settled(services) -> bool:
    return await services.dispatcher.unsettled() == 0


async def wait_until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_verdicts_actions_run_in_order_and_are_settled_with_the_platforms_references(tmp_path):
    sink = RecordingSink()
    services = await build(tmp_path, sink)
    await services.start()
    await services.pipeline.submit(event(SCAM))
    await services.pipeline.drain(5)
    assert sink.kinds() == [ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN, ActionKind.POST_CASE]
    keys = [a.idempotency_key for a in sink.actions]
    assert all(keys) and len(set(keys)) == 4
    case = sink.actions[-1].case
    assert case is not None
    assert [t.kind for t in sink.actions[-1].taken] == [ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN]
    records = await services.storage.actions.actions_for_case(SERVER, case.id)
    assert [(r.kind, r.ok, r.platform_ref) for r in records] == [
        (ActionKind.DELETE, True, "ref-1"),
        (ActionKind.TIMEOUT, True, "ref-2"),
        (ActionKind.WARN, True, "ref-3"),
        (ActionKind.POST_CASE, True, "ref-4"),
    ]
    assert (await services.storage.cases.get_case(SERVER, case.id)).posted_ref == "ref-4"
    assert await services.dispatcher.unsettled() == 0
    await services.close()


async def test_a_transient_failure_is_retried_with_the_same_key_until_it_succeeds(tmp_path):
    sink = FlakySink(failures=2)
    services = await build(tmp_path, sink)
    await services.start()
    await services.pipeline.submit(event(SCAM))
    await services.pipeline.drain(5)
    await wait_until(lambda: settled(services))
    # Three attempts per action, each with its own key repeated on every attempt.
    assert sorted(sink.attempts.values()) == [3, 3, 3, 3]
    assert {a.idempotency_key for a in sink.actions} == set(sink.attempts)
    (case,) = (await services.storage.cases.list_cases(SERVER)).cases
    records = await services.storage.actions.actions_for_case(SERVER, case.id)
    assert len(records) == 4 and all(r.ok for r in records)  # one record per action, not per attempt
    await services.close()


async def test_an_adapter_that_raises_is_retried_rather_than_losing_the_action(tmp_path):
    sink = FlakySink(failures=1, raise_instead=True)
    services = await build(tmp_path, sink)
    await services.start()
    await services.pipeline.submit(event(SCAM))
    await services.pipeline.drain(5)
    await wait_until(lambda: settled(services))
    assert sorted(sink.attempts.values()) == [2, 2, 2, 2]
    await services.close()


async def test_an_action_that_keeps_failing_is_given_up_and_recorded_as_failed(tmp_path):
    sink = FlakySink(failures=10**6)
    services = await build(tmp_path, sink, action_give_up_after_s=0.2)
    await services.start()
    await services.pipeline.submit(event(SCAM))
    await services.pipeline.drain(5)
    await wait_until(lambda: settled(services))
    (case,) = (await services.storage.cases.list_cases(SERVER)).cases
    records = await services.storage.actions.actions_for_case(SERVER, case.id)
    assert records and all(not r.ok and r.detail.startswith("gave up after") for r in records)
    await services.close()


async def test_actions_planned_before_a_crash_run_at_the_next_start_with_their_keys(tmp_path):
    sink = RecordingSink()
    first = await build(tmp_path, sink)
    # What a crash leaves: the verdict committed with its planned actions, none of them carried out.
    recorded = (await first.storage.messages.record_messages([event("selling aimbot", message_id="m-crash")]))[0]
    policy = await first.policies.get(SERVER)
    verdict = Verdict(Decision.REMOVE, Stage.KEYWORD, policy.version, rule_ids=("CH1",))
    planned_event = (await first.storage.messages.load_message(recorded.row_id)).event
    actions = tuple(plan_actions(planned_event, verdict, policy, ENFORCE, opens_case=True))
    (saved,) = await first.storage.verdicts.save_verdicts([VerdictToSave(recorded.row_id, SERVER, verdict, False, True, actions)])
    keys = [p.action.idempotency_key for p in saved.planned]
    assert len(saved.planned) == 3 and all(keys)
    await first.close()
    assert sink.actions == []

    second = await build(tmp_path, sink)
    await second.start()  # start-up breaks the dead run's leases and resumes at once
    assert [a.idempotency_key for a in sink.actions] == keys
    assert [a.kind for a in sink.actions] == [ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE]
    assert sink.actions[-1].case is not None and sink.actions[-1].case.id == saved.case_id
    assert [t.kind for t in sink.actions[-1].taken] == [ActionKind.DELETE, ActionKind.WARN]
    assert await second.dispatcher.unsettled() == 0
    await second.close()


async def test_a_permission_problem_is_told_once_and_a_missing_sink_is_a_final_outcome(tmp_path):
    sink = RecordingSink(refuse={ActionKind.DELETE})
    services = await build(tmp_path, sink)
    await services.start()
    for text in (SCAM, SCAM + " again"):
        await services.pipeline.submit(event(text))
    await services.pipeline.drain(5)
    notices = [a for a in sink.actions if a.kind is ActionKind.NOTIFY_MODS]
    assert len(notices) == 1 and notices[0].mod_channel_id == "mods" and "delete" in notices[0].reason
    elsewhere = ServerRef("nowhere", "1")
    outcome = await services.dispatcher.execute(Action(ActionKind.DELETE, server=elsewhere, channel_id="c", message_id="m"))
    assert not outcome.ok and "no action executor" in outcome.detail and outcome.retry_after_s is None
    assert (await services.storage.actions.recent_actions(elsewhere))[-1].detail == outcome.detail
    assert await services.dispatcher.unsettled() == 0
    await services.close()


async def test_a_moderators_action_goes_through_the_outbox_and_is_recorded_as_theirs(tmp_path):
    sink = RecordingSink()
    services = await build(tmp_path, sink)
    await services.start()
    await services.pipeline.submit(event("selling aimbot"))
    await services.pipeline.drain(5)
    (case,) = (await services.storage.cases.list_cases(SERVER)).cases
    outcome = await ModeratorActions(services.dispatcher, services.server_settings).moderator_action(
        case, ActionKind.TIMEOUT, moderator_id="mod-1"
    )
    assert outcome.ok and sink.actions[-1].kind is ActionKind.TIMEOUT and sink.actions[-1].idempotency_key
    records = await services.storage.actions.actions_for_case(SERVER, case.id)
    assert (records[-1].kind, records[-1].requested_by) == (ActionKind.TIMEOUT, "mod-1")
    await services.close()
