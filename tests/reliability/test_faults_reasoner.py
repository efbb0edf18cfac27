"""Faults of the reasoner: the HTTP backend against a loopback server that is down, fails, drops or hangs.

The reasoner is the one the composition root builds from ``[reasoner] backend = "http"`` (harmony, httpx,
stamina retries); only the model behind the loopback server is scripted. A server that cannot answer
(refused, 5xx, dropped connection) leaves the messages pending, and they are judged once it is back; a
server that answers too slowly is a verdict escalated to a human (as documented: ``timeout_s``). What the
operator sees is checked too: a line that names the cause, no traceback, never the API key.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import ActionKind, Decision, MessageStatus, ServerRef, Stage
from modbot.domain.settings import ServerSettings
from modbot.stages.reasoner import HarmonyCodec
from tests.conftest import event, make_settings
from tests.reliability.loopback_reasoner import LoopbackReasoner
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")
SECRET = "sk-reliability-test-never-logged-7Q2"
#: Keyword hits that are not acted on at once: they need the reasoner.
RISKY = ("selling aimbot {i}", "is wallhack detection good {i}")


@pytest.fixture(scope="module")
def codec() -> HarmonyCodec:
    return HarmonyCodec.load()


async def _wait(condition, timeout: float = 20.0) -> None:
    async def loop() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), timeout)


async def _build(tmp_path, server: LoopbackReasoner, sink: RecordingSink, **reasoner):
    values = dict(backend="http", base_url=server.base_url, retries=1, timeout_s=1.0, connect_timeout_s=0.5, api_key=SECRET)
    values.update(reasoner)
    settings = make_settings(
        tmp_path,
        server_defaults=ENFORCE,
        reasoner=values,
        pipeline=PipelineSettings(queue_size=100, workers=2, sweep_interval_s=0.05, action_retry_base_s=0.02),
    )
    services = await build_services(settings, prefilter=None, sinks={"test": sink})
    assert services.reasoner is not None and type(services.reasoner).__name__ == "HarmonyReasoner"
    return services


async def _submit(services, count: int) -> tuple[list[int], list[int]]:
    """``count`` risky messages and two plain ones; returns (risky row ids, plain row ids)."""
    risky = [(await services.core.submit(event(RISKY[i % 2].format(i=i)))).row_id for i in range(count)]
    plain = [(await services.core.submit(event(f"good morning {i}"))).row_id for i in range(2)]
    return risky, plain


async def _status(services, row_id: int) -> MessageStatus:
    return (await services.storage.messages.load_message(row_id)).status


def _assert_operator_log(caplog: pytest.LogCaptureFixture, *causes: str) -> None:
    ours = [r for r in caplog.records if r.name.startswith("modbot.")]
    assert not [r for r in ours if r.exc_info], "no traceback for an outage the core expects"
    assert SECRET not in caplog.text
    lines = [r.getMessage() for r in ours if "pending" in r.getMessage()]
    assert lines and any(all(c in line for c in causes) for line in lines), lines


@pytest.mark.parametrize(
    "mode, cause",
    [("down", "ConnectError"), ("500", "HTTP 500"), ("close", "RemoteProtocolError")],
    ids=["unreachable-at-start", "http-500", "connection-dropped"],
)
async def test_an_unavailable_reasoner_leaves_messages_pending_until_it_is_back(
    tmp_path, codec, caplog, monkeypatch, mode, cause
):
    caplog.set_level(logging.INFO)
    # After its retries the backend fails fast for a while (10 s in production): shortened here.
    monkeypatch.setattr("modbot.stages.reasoner.http.DOWN_COOLDOWN_S", 0.2)
    server = LoopbackReasoner(codec)
    if mode != "down":
        await server.start()
        server.mode = mode
    sink = RecordingSink()
    services = await _build(tmp_path, server, sink)
    await services.start()
    try:
        risky, plain = await _submit(services, 4)
        counters = services.pipeline.counters

        async def deferred_twice() -> bool:  # every risky message tried, and tried again by a sweep
            return counters.deferred >= 2 * len(risky)

        await _wait(deferred_twice)
        assert [await _status(services, r) for r in plain] == [MessageStatus.JUDGED] * 2
        assert {await _status(services, r) for r in risky} == {MessageStatus.PENDING}
        for row_id in risky:
            assert await services.storage.verdicts.verdicts_for(SERVER, row_id) == []
        assert counters.failed == 0 and sink.actions == []
        if mode != "down":
            assert server.requests >= 2  # the first request and its retry (then it fails fast a while)
        _assert_operator_log(caplog, cause, "pending")

        # The server comes back: the sweeper's next pass judges everything, nothing by hand.
        server.mode = "ok"
        if mode == "down":
            await server.start()

        async def all_judged() -> bool:
            return {await _status(services, r) for r in risky} == {MessageStatus.JUDGED}

        await _wait(all_judged)
        await services.pipeline.drain(10)
        for i, row_id in enumerate(risky):
            (verdict,) = await services.storage.verdicts.verdicts_for(SERVER, row_id)
            assert verdict.stage is Stage.REASONER and verdict.error is None
            assert verdict.decision is (Decision.REMOVE if i % 2 == 0 else Decision.ALLOW)
        assert sink.kinds().count(ActionKind.POST_CASE) == 2  # the two aimbot messages, once each
        assert await services.storage.messages.count_messages(MessageStatus.PENDING) == 0
    finally:
        await services.close()
        await server.stop()


async def test_a_reasoner_that_hangs_escalates_to_a_human_and_recovers(tmp_path, codec, caplog):
    caplog.set_level(logging.INFO)
    server = LoopbackReasoner(codec)
    await server.start()
    server.mode = "hang"
    sink = RecordingSink()
    services = await _build(tmp_path, server, sink, timeout_s=0.5)
    await services.start()
    try:
        stuck = [(await services.core.submit(event(f"selling aimbot {i}"))).row_id for i in range(3)]
        await services.pipeline.drain(20)
        for row_id in stuck:
            assert await _status(services, row_id) is MessageStatus.JUDGED
            (verdict,) = await services.storage.verdicts.verdicts_for(SERVER, row_id)
            # Not lost and not guessed: a moderator gets the case, with why the model did not decide.
            assert verdict.decision is Decision.ESCALATE and "did not answer within" in verdict.error
        assert sink.kinds() == [ActionKind.POST_CASE] * 3
        assert server.requests == 3  # a slow server is not hammered with retries
        assert SECRET not in caplog.text and not [r for r in caplog.records if r.exc_info]

        server.mode = "ok"
        fine = (await services.core.submit(event("selling aimbot again"))).row_id
        await services.pipeline.drain(10)
        (verdict,) = await services.storage.verdicts.verdicts_for(SERVER, fine)
        assert verdict.decision is Decision.REMOVE and verdict.stage is Stage.REASONER
    finally:
        await services.close()
        await server.stop()
