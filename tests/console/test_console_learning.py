"""The Stats page draws the prefilter's learning curve: the real core with learning on (the shipped
default prefilter, a SQLite file), two stored prefilter versions, and the console over loopback HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modbot_adapters.web_console.learning_chart import learning_points
from modbot.app import build_services
from modbot.config import LearningSettings
from modbot.domain.commands import Reply
from modbot.domain.settings import ServerSettings
from modbot.stages.prefilter import load_prefilter
from tests.conftest import make_settings
from tests.console.fake_oauth import MANAGE_MESSAGES, FakeOAuth, OAuthUser, guild
from tests.console.harness import GUILD_A, SERVER_A, Console, cheat_reasoner, console_settings, start_console

MOD = OAuthUser("920", "lin", [guild(GUILD_A, "Raid Night", MANAGE_MESSAGES)])


def _metrics(recall: float, escalated: float, accepted: bool) -> dict[str, object]:
    """What the learner stores with a version (``modbot.training.scheduler``): the held-back evaluation."""
    candidate = {"n": 400, "unsafe": 80, "recall": recall, "escalated_share": escalated, "allow_below": 0.3, "slice": "all"}
    return {"candidate": candidate, "accepted": accepted, "decision": "" if accepted else "escalates more"}


@pytest.fixture
async def learning_console(tmp_path: Path, oauth: FakeOAuth) -> AsyncIterator[Console]:
    settings = make_settings(
        tmp_path,
        console=console_settings(oauth),
        server_defaults=ServerSettings(policy_id="test-policy"),
        learning=LearningSettings(enabled=True, model_dir=tmp_path / "models", check_every_s=3600),
    )
    services = await build_services(settings, reasoner=cheat_reasoner(), prefilter=load_prefilter().load())
    try:
        assert services.learner is not None
        await services.start()
        await services.core.server_joined(SERVER_A, "Raid Night")
        adapter, task = await start_console(services)
    except BaseException:
        await services.close()
        raise
    running = Console(services, oauth, adapter, task)
    try:
        yield running
    finally:
        await running.close()


async def test_stats_page_draws_both_prefilter_versions(learning_console: Console) -> None:
    versions = learning_console.services.storage.prefilter_versions
    await versions.add_version(SERVER_A.key, "models/v1", _metrics(0.912, 0.3125, True), active=False)
    await versions.add_version(SERVER_A.key, "models/v2", _metrics(0.947, 0.1875, True), active=True)
    async with learning_console.client() as client:
        await learning_console.login(client, MOD)
        page = await client.get(f"/servers/discord/{GUILD_A}/stats")
    assert page.status_code == 200
    text = page.text
    assert "Learning curve" in text and 'aria-label="Prefilter learning: held-back recall' in text
    chart = text[text.index('<svg role="img" aria-label="Prefilter learning') :]
    chart = chart[: chart.index("</svg>")]
    # Both versions are points on both lines, with their figures.
    assert chart.count("<circle") == 4 and chart.count("<polyline") == 2
    assert "v1 recall 0.912" in chart and "v2 recall 0.947" in chart
    assert "v1 escalated 0.312" in chart and "v2 escalated 0.188" in chart  # 0.3125 and 0.1875, rounded
    # A higher recall sits higher on the chart (smaller y).
    y = {v: float(cy) for cy, v in re.findall(r'cy="([0-9.]+)" r="3" class="chart-line"><title>(v\d) recall', chart)}
    assert y["v2"] < y["v1"]
    # The table says the same for screen readers.
    rows = re.findall(r"<tr><td>(v\d)</td><td>[^<]+</td><td>([0-9.]+)</td><td>([0-9.]+)</td><td>(\w[\w ]*)</td></tr>", text)
    assert rows == [("v1", "0.912", "0.312", "earlier"), ("v2", "0.947", "0.188", "active")]


def test_learning_points_read_the_status_lines_and_skip_the_rest() -> None:
    reply = Reply(
        True,
        "Prefilter",
        "v1 2026-11-30 09:00: recall -, escalated 0.2 on 10 held-back all labels - kept aside: too few\n"
        "v2 (active) 2026-12-01 10:30: recall 0.950, escalated 0.1 on 400 held-back all labels\n"
        "something else",
    )
    first, second = learning_points(reply)
    assert (first.version, first.recall, first.escalated_share, first.kept_aside) == (1, None, 0.2, True)
    assert (second.version, second.recall, second.active, second.created) == (2, 0.95, True, "2026-12-01 10:30")
    assert learning_points(Reply(False, "Prefilter", "v1 2026-11-30 09:00: recall 0.9, escalated 0.2")) == []
