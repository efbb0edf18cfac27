"""``/metrics`` and ``/healthz`` of the real core: messages pushed through the real pipeline (keyword
stage, the scripted reasoner at the model edge), scraped over real HTTP on a loopback port."""

from __future__ import annotations

import math
from pathlib import Path

from modbot.app import build_services
from modbot.config import MetricsSettings
from modbot.domain import ActionOutcome, ServerRef
from modbot.ports import JudgeRequest
from tests.conftest import event, make_settings
from tests.metrics.support import healthz, scrape
from tests.support.scripted import ScriptedReasoner, garbage, safe, violation

SERVER = ServerRef("test", "g1")

#: What each text makes the keyword stage and the scripted reasoner decide, and how often it is sent.
MESSAGES = [
    ("good game everyone", 3),  # no keyword: allowed at the keyword stage
    ("claim at free-nitro.example now", 1),  # act-on-match rule (high): remove_and_timeout at once
    ("selling aimbot, dm me", 2),  # a keyword, not act-on-match: the reasoner says CH1 (medium): remove
    ("wallhack anyone?", 1),  # a keyword; the reasoner's answer is unusable: escalate, with an error
    ("i could kill myself laughing", 1),  # a keyword; the reasoner says it is fine: allow
]
EXPECTED = {
    ("keyword", "allow"): 3,
    ("keyword", "remove_and_timeout"): 1,
    ("reasoner", "remove"): 2,
    ("reasoner", "escalate"): 1,
    ("reasoner", "allow"): 1,
}


def _script(request: JudgeRequest):
    text = request.event.text
    if "aimbot" in text:
        return violation("CH1")
    if "wallhack" in text:
        return garbage()
    return safe()


class RetryLaterSink:
    """A platform that answers every action with a transient failure: they stay in the outbox."""

    def __init__(self) -> None:
        self.tried = 0

    async def execute(self, action) -> ActionOutcome:
        self.tried += 1
        return ActionOutcome(False, "503 Service Unavailable", retry_after_s=3600)


async def _judged(tmp_path: Path, *, sink=None):
    services = await build_services(
        make_settings(tmp_path, metrics=MetricsSettings(port=0)),
        reasoner=ScriptedReasoner(_script),
        prefilter=None,
        sinks={"test": sink} if sink else None,
    )
    if sink is not None:
        await services.server_settings.update(SERVER, mode="enforce")
    await services.start()
    for text, times in MESSAGES:
        for _ in range(times):
            await services.pipeline.submit(event(text))
    await services.pipeline.drain(10)
    return services


async def test_metrics_count_messages_by_stage_and_decision_latency_and_tokens(tmp_path):
    services = await _judged(tmp_path)
    try:
        assert services.metrics is not None and services.metrics.port
        scraped = await scrape(services.metrics.url)
        assert scraped.content_type.startswith("text/plain; version=0.0.4")
        judged = {
            (dict(k)["stage"], dict(k)["decision"]): v for k, v in scraped.matching("modbot_messages_judged_total").items()
        }
        assert judged == EXPECTED
        assert scraped.value("modbot_pipeline_events_total", event="judged") == 8
        assert scraped.value("modbot_pipeline_events_total", event="accepted") == 8
        assert scraped.value("modbot_escalation_share") == 4 / 8

        # The latency histogram holds one observation per message, at the stage that decided it, and
        # its sums are the latencies stored with the verdicts.
        assert scraped.types["modbot_stage_latency_seconds"] == "histogram"
        stored: dict[str, list[float]] = {"keyword": [], "prefilter": [], "reasoner": []}
        for row_id in range(1, 9):
            (verdict,) = await services.storage.verdicts.verdicts_for(SERVER, row_id)
            stored[verdict.stage.value].append(verdict.latency_ms / 1000)
        for stage, latencies in stored.items():
            assert scraped.value("modbot_stage_latency_seconds_count", stage=stage) == len(latencies)
            assert math.isclose(scraped.value("modbot_stage_latency_seconds_sum", stage=stage), sum(latencies), rel_tol=1e-6)
            assert scraped.value("modbot_stage_latency_seconds_bucket", stage=stage, le="+Inf") == len(latencies)

        # Four reasoner calls; three scripted answers carry tokens (100 prompt, 10 evaluated, 20 generated).
        assert scraped.value("modbot_reasoner_calls_total", model="scripted") == 4
        assert scraped.value("modbot_reasoner_tokens_total", model="scripted", kind="prompt") == 300
        assert scraped.value("modbot_reasoner_tokens_total", model="scripted", kind="evaluated") == 30
        assert scraped.value("modbot_reasoner_tokens_total", model="scripted", kind="generated") == 60
        assert scraped.value("modbot_errors_total", kind="reasoner_error") == 1
        assert scraped.value("modbot_errors_total", kind="queue_full") == 0

        assert scraped.value("modbot_queue_depth") == 0
        assert scraped.value("modbot_queue_capacity") == 100
        assert scraped.value("modbot_backlog_messages") == 0
        assert scraped.value("modbot_outbox_backlog") == 0  # shadow mode: nothing planned
        assert scraped.value("modbot_database_up") == 1
    finally:
        await services.close()


async def test_the_reasoner_being_busy_is_an_error_kind_and_leaves_a_backlog(tmp_path):
    services = await _judged(tmp_path)
    try:
        services.reasoner.busy = True
        await services.pipeline.submit(event("selling aimbot again"))
        await services.pipeline.drain(10)
        scraped = await scrape(services.metrics.url)
        assert scraped.value("modbot_errors_total", kind="reasoner_busy") >= 1
        assert scraped.value("modbot_backlog_messages") == 1  # recorded as pending, judged later
        assert sum(scraped.matching("modbot_messages_judged_total").values()) == 8
    finally:
        await services.close()


async def test_planned_actions_a_platform_keeps_refusing_for_now_are_the_outbox_backlog(tmp_path):
    sink = RetryLaterSink()
    services = await _judged(tmp_path, sink=sink)
    try:
        scraped = await scrape(services.metrics.url)
        assert sink.tried > 0
        assert scraped.value("modbot_outbox_backlog") == sink.tried
    finally:
        await services.close()


async def test_healthz_is_ok_then_degraded_by_a_platform_then_503_without_the_database(tmp_path):
    services = await _judged(tmp_path)
    try:
        url = services.metrics.url
        assert await healthz(url) == (200, {"status": "ok", "database": "ok", "platforms": {}, "backlog": 0, "outbox": 0})

        # What the composition root keeps as platforms connect (``Services.platform_state``).
        services.platform_state = {"discord": "connected", "slack": "reconnecting"}
        status, body = await healthz(url)
        assert status == 200 and body["status"] == "degraded"
        assert body["platforms"] == {"discord": "connected", "slack": "reconnecting"}
        scraped = await scrape(url)
        assert scraped.value("modbot_platform_up", platform="discord") == 1
        assert scraped.value("modbot_platform_up", platform="slack") == 0
        assert scraped.value("modbot_platform_state", platform="slack", modbot_platform_state="reconnecting") == 1
        assert scraped.value("modbot_platform_state", platform="slack", modbot_platform_state="connected") == 0

        # The database goes away: its connections closed and its file removed.
        await services.storage.close()
        database = tmp_path / "modbot.sqlite3"
        for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
            path.unlink(missing_ok=True)
        status, body = await healthz(url)
        assert status == 503
        assert body["status"] == "degraded" and body["database"] == "unavailable" and body["backlog"] is None
        scraped = await scrape(url)
        assert scraped.value("modbot_database_up") == 0
        assert scraped.value("modbot_backlog_messages") is None
        assert sum(scraped.matching("modbot_messages_judged_total").values()) == 8  # the counts stay
    finally:
        await services.close()


async def test_two_bots_in_one_process_have_their_own_registries(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = await _judged(tmp_path / "a")
    second = await build_services(make_settings(tmp_path / "b", metrics=MetricsSettings(port=0)), reasoner=None, prefilter=None)
    await second.start()
    try:
        await second.pipeline.submit(event("hello there"))
        await second.pipeline.drain(10)
        assert first.metrics.port != second.metrics.port
        assert sum((await scrape(first.metrics.url)).matching("modbot_messages_judged_total").values()) == 8
        assert (await scrape(second.metrics.url)).matching("modbot_messages_judged_total") == {
            frozenset({("stage", "keyword"), ("decision", "allow")}): 1
        }
    finally:
        await first.close()
        await second.close()


async def test_without_a_metrics_port_nothing_listens_and_nothing_is_hooked(tmp_path):
    services = await build_services(make_settings(tmp_path), reasoner=None, prefilter=None)
    await services.start()
    try:
        assert services.metrics is None
        assert services.pipeline.on_judged._callbacks == []
    finally:
        await services.close()
