"""Fixtures: a started callback receiver, and the API serving on the real core."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapters.http_api.harness import Api, Receiver, start_api


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def api(tmp_path, receiver: Receiver) -> AsyncIterator[Api]:
    running = await start_api(tmp_path, receiver)
    try:
        yield running
    finally:
        await running.close()
