"""deploy/grafana/modbot-dashboard.json: valid JSON whose queries use only metrics the bot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from modbot.app import build_services
from modbot.config import MetricsSettings
from tests.conftest import event, make_settings
from tests.metrics.support import scrape
from tests.support.scripted import ScriptedReasoner, by_keyword

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "modbot-dashboard.json"


def _queries(dashboard: dict) -> list[str]:
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    return exprs


async def test_every_metric_the_dashboard_queries_is_exported(tmp_path):
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "modbot" and len(dashboard["panels"]) >= 7
    wanted = {name for expr in _queries(dashboard) for name in re.findall(r"\bmodbot_[a-z_]+", expr)}
    assert {"modbot_messages_judged_total", "modbot_stage_latency_seconds_bucket", "modbot_platform_up"} <= wanted

    services = await build_services(
        make_settings(tmp_path, metrics=MetricsSettings(port=0)),
        reasoner=ScriptedReasoner(by_keyword({"aimbot": "CH1"})),
        prefilter=None,
    )
    services.platform_state = {"http": "connected"}
    await services.start()
    try:
        await services.pipeline.submit(event("selling aimbot"))
        await services.pipeline.drain(10)
        exported = {name for name, _ in (await scrape(services.metrics.url)).samples}
    finally:
        await services.close()
    assert wanted <= exported, f"the dashboard queries metrics nobody exports: {sorted(wanted - exported)}"


def test_panels_are_laid_out_on_the_grid_and_use_the_chosen_datasource():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"]
