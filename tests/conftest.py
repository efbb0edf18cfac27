"""Shared fixtures: real SQLite files under tmp_path, the real core built by the composition root."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modbot.app import Services, build_services
from modbot.domain import MessageEvent, ServerRef
from modbot.config import AppSettings, LearningSettings, PipelineSettings
from modbot.domain.settings import ServerSettings
from tests.support.pg_fixtures import fresh_postgres_url, postgres_server  # noqa: F401 - fixtures for every package

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

TEST_POLICY = """\
+++
id = "test-policy"
title = "Test policy"
[actions]
low = "flag"
medium = "remove"
high = "remove_and_timeout"
support = "escalate"
[timeouts]
high = "1h"
[[categories]]
id = "cheats"
title = "Cheat selling"
[[categories.rules]]
id = "CH1"
description = "Selling or sharing cheats"
severity = "medium"
keywords = ["aimbot", "wallhack"]
[[categories]]
id = "scams"
title = "Scams"
[[categories.rules]]
id = "SC1"
description = "Known scam links"
severity = "high"
keywords = ["free-nitro.example"]
act_on_match = true
[[categories]]
id = "self_harm"
title = "Self-harm"
[[categories.rules]]
id = "SH1"
description = "Self-harm: support, do not punish"
severity = "support"
keywords = ["kill myself"]
+++
# Instruction
Judge the message against the rules above.
"""


def make_settings(tmp_path: Path, **overrides) -> AppSettings:
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir(exist_ok=True)
    (policy_dir / "test-policy.md").write_text(TEST_POLICY, encoding="utf-8")
    values = dict(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'modbot.sqlite3'}",
        policy_dir=policy_dir,
        prefilter_enabled=False,
        reasoner={"backend": "none"},
        server_defaults=ServerSettings(policy_id="test-policy"),
        pipeline=PipelineSettings(queue_size=100, workers=2, sweep_interval_s=0.05),
        # Retraining is off unless a test turns it on (tests/training/test_learning.py).
        learning=LearningSettings(enabled=False),
    )
    values.update(overrides)
    return AppSettings(**values)


_ids = itertools.count(1)


def event(text: str, *, server: ServerRef = ServerRef("test", "g1"), message_id: str | None = None, **fields) -> MessageEvent:
    return MessageEvent(
        server=server,
        channel_id=fields.pop("channel_id", "c1"),
        message_id=message_id or f"m{next(_ids)}",
        author_id=fields.pop("author_id", "u1"),
        text=text,
        **fields,
    )


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return make_settings(tmp_path)


@pytest.fixture
async def services(settings: AppSettings) -> AsyncIterator[Services]:
    built = await build_services(settings, reasoner=None, prefilter=None)
    try:
        yield built
    finally:
        await built.close()
