"""Fixtures for the Discord adapter tests (the harness itself is in ``harness.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.discord.fake_discord import FakeDiscord, aimed_fake
from tests.adapters.discord.harness import Harness, make_harness


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with aimed_fake(monkeypatch) as server:
        yield server


@pytest.fixture
async def harness(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Harness]:
    built = await make_harness(fake, tmp_path)
    try:
        yield built
    finally:
        await built.services.close()  # closes the adapter (and its client) too
