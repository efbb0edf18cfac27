"""The platform supervisor with small real ``PlatformAdapter`` implementations and tiny real waits.

Each adapter below is a complete platform as far as the supervisor can tell (``platform``, ``sink``,
``watch``, ``run``, ``close``): it fails the way its script says (unreachable, refused credentials, a bug),
reports itself connected, and serves until cancelled. Nothing of the supervisor is mocked: the waits are
real ``asyncio`` sleeps, measured from the outside by when ``run()`` was called again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import pytest

from modbot.domain import Action, ActionOutcome
from modbot.ports import ConnectionWatcher, PlatformAuthError, PlatformUnavailable
from modbot.runtime import CONNECTED, PLATFORM_STATES, RECONNECTING, STOPPED, Backoff, PlatformSupervisor, StoppedPlatform

UNREACHABLE = "cannot reach chat.example (DNS lookup failed)"


class _NoSink:
    async def execute(self, action: Action) -> ActionOutcome:  # pragma: no cover - never called here
        raise AssertionError("no action is sent in these tests")


Step = Callable[[], BaseException | None]


def unreachable() -> BaseException:
    return PlatformUnavailable(UNREACHABLE)


class ScriptedPlatform:
    """Fails once per step of ``script`` (each step gives the error of one attempt), then connects and
    serves until cancelled. ``drop_after_connect`` makes a connected session end with that error, once."""

    def __init__(self, name: str, script: Sequence[Step] = (), drop_after_connect: BaseException | None = None):
        self.platform = name
        self.script = list(script)
        self.drop_after_connect = drop_after_connect
        self.calls: list[float] = []
        self.cancelled = 0
        self.up = asyncio.Event()
        self.watcher: ConnectionWatcher | None = None

    @property
    def sink(self) -> _NoSink:
        return _NoSink()

    def watch(self, watcher: ConnectionWatcher) -> None:
        self.watcher = watcher

    async def run(self) -> None:
        self.calls.append(time.monotonic())
        if self.script:
            error = self.script.pop(0)()
            if error is not None:
                raise error
        assert self.watcher is not None, "the supervisor watches before it runs"
        self.watcher.connected()
        self.up.set()
        if self.drop_after_connect is not None:
            error, self.drop_after_connect = self.drop_after_connect, None
            await asyncio.sleep(0.01)
            raise error
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def close(self) -> None:
        pass

    def gaps(self) -> list[float]:
        return [later - earlier for earlier, later in zip(self.calls, self.calls[1:])]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _supervision_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "modbot.platforms" and r.levelno >= logging.WARNING]


def test_the_backoff_doubles_up_to_its_cap_and_jitter_only_shortens() -> None:
    backoff = Backoff(base_s=1.0, max_s=300.0, jitter=0.25)
    assert [backoff.full(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert backoff.full(10_000) == 300.0  # a week of failures does not overflow
    draws = [backoff.delay(3) for _ in range(500)]
    assert all(3.0 <= d <= 4.0 for d in draws)
    assert max(draws) - min(draws) > 0.5, "jitter spreads the waits"
    assert Backoff(1.0, 300.0, jitter=0.0).delay(20) == 300.0
    with pytest.raises(ValueError):
        Backoff(base_s=5.0, max_s=1.0)


async def test_a_failing_platform_is_retried_with_growing_waits_while_a_healthy_one_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = ScriptedPlatform("discord", [unreachable] * 4)
    healthy = ScriptedPlatform("slack")
    state: dict[str, str] = {}
    errors: dict[str, str] = {}
    supervisor = PlatformSupervisor([flaky, healthy], backoff=Backoff(0.08, 5.0, jitter=0.1), state=state, errors=errors)
    caplog.set_level(logging.INFO)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(healthy.up.wait(), 5)
        assert state["slack"] == CONNECTED and state["discord"] in (RECONNECTING, "starting")
        await asyncio.wait_for(flaky.up.wait(), 10)
        assert state == {"discord": CONNECTED, "slack": CONNECTED}
        assert set(state.values()) <= set(PLATFORM_STATES)
        assert errors["discord"] == UNREACHABLE and "slack" not in errors
        # Four failures, four waits: each within [0.9, 1] of 0.08 * 2**n, so each longer than the last.
        gaps = flaky.gaps()
        assert len(gaps) == 4
        for n, gap in enumerate(gaps):
            assert 0.08 * 2**n * 0.9 - 0.005 <= gap <= 0.08 * 2**n + 0.25, gaps
        assert gaps == sorted(gaps)
        assert len(healthy.calls) == 1 and not task.done(), "the healthy platform was never restarted"
    finally:
        await _stop(task)
    assert healthy.cancelled == 1 and flaky.cancelled == 1, "cancelling the supervisor stops every adapter"
    records = _supervision_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING] * 4
    for record in records:
        line = record.getMessage()
        assert line.startswith(f"discord: {UNREACHABLE}; retrying in 0.")
        assert "\n" not in line and record.exc_info is None


async def test_the_waits_are_capped() -> None:
    flaky = ScriptedPlatform("discord", [unreachable] * 6)
    task = asyncio.create_task(PlatformSupervisor([flaky], backoff=Backoff(0.02, 0.06, jitter=0.0)).run())
    try:
        await asyncio.wait_for(flaky.up.wait(), 10)
    finally:
        await _stop(task)
    gaps = flaky.gaps()
    assert len(gaps) == 6
    assert all(0.055 <= gap <= 0.06 + 0.2 for gap in gaps[2:]), gaps  # 0.02, 0.04, then 0.06 each time


async def test_the_backoff_starts_again_after_the_platform_was_connected() -> None:
    flaky = ScriptedPlatform("slack", [unreachable] * 3, drop_after_connect=PlatformUnavailable("the socket closed"))
    state: dict[str, str] = {}
    task = asyncio.create_task(PlatformSupervisor([flaky], backoff=Backoff(0.05, 5.0, jitter=0.0), state=state).run())
    try:
        await _until(lambda: len(flaky.calls) == 5 and state.get("slack") == CONNECTED)
    finally:
        await _stop(task)
    gaps = flaky.gaps()
    # 0.05, 0.1, 0.2 before the first connection; after a connected session the first wait is 0.05 again
    # (the 0.01 is how long the session lasted).
    assert gaps[2] >= 0.2 and gaps[3] < 0.15, gaps


async def test_refused_credentials_stop_only_that_platform(caplog: pytest.LogCaptureFixture) -> None:
    refused = ScriptedPlatform(
        "discord", [lambda: PlatformAuthError("Discord rejected DISCORD_TOKEN (401 Unauthorized)", setting="DISCORD_TOKEN")]
    )
    healthy = ScriptedPlatform("http")
    state: dict[str, str] = {}
    errors: dict[str, str] = {}
    task = asyncio.create_task(
        PlatformSupervisor([refused, healthy], backoff=Backoff(0.01, 0.02), state=state, errors=errors).run()
    )
    try:
        await asyncio.wait_for(healthy.up.wait(), 5)
        await _until(lambda: state.get("discord") == STOPPED)
        await asyncio.sleep(0.1)  # several backoff periods: no second attempt comes
        assert len(refused.calls) == 1
        assert state == {"discord": STOPPED, "http": CONNECTED}
        assert errors["discord"] == "Discord rejected DISCORD_TOKEN (401 Unauthorized)"
        assert not task.done(), "the other platform and the core go on"
    finally:
        await _stop(task)
    (record,) = _supervision_records(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert record.getMessage() == (
        "discord: stopped, not retried: Discord rejected DISCORD_TOKEN (401 Unauthorized); still serving http"
    )


async def test_when_every_platform_is_refused_run_returns_the_reasons() -> None:
    discord = ScriptedPlatform("discord", [lambda: PlatformAuthError("Discord rejected DISCORD_TOKEN", setting="DISCORD_TOKEN")])
    slack = ScriptedPlatform(
        "slack", [unreachable, lambda: PlatformAuthError("Slack rejected SLACK_BOT_TOKEN (invalid_auth)", setting="SLACK_BOT_TOKEN")]
    )
    state: dict[str, str] = {}
    stopped = await asyncio.wait_for(PlatformSupervisor([discord, slack], backoff=Backoff(0.01, 0.02), state=state).run(), 5)
    assert stopped == [
        StoppedPlatform("discord", "Discord rejected DISCORD_TOKEN", "DISCORD_TOKEN"),
        StoppedPlatform("slack", "Slack rejected SLACK_BOT_TOKEN (invalid_auth)", "SLACK_BOT_TOKEN"),
    ]
    assert state == {"discord": STOPPED, "slack": STOPPED}
    assert len(slack.calls) == 2, "an unreachable platform is retried until it answers, then judged"


async def test_an_unexpected_error_shows_its_traceback_once_then_one_line(caplog: pytest.LogCaptureFixture) -> None:
    buggy = ScriptedPlatform("http", [lambda: KeyError("guild")] * 3)
    task = asyncio.create_task(PlatformSupervisor([buggy], backoff=Backoff(0.01, 0.02)).run())
    try:
        await asyncio.wait_for(buggy.up.wait(), 5)
    finally:
        await _stop(task)
    first, *rest = _supervision_records(caplog)
    assert first.levelno == logging.ERROR and first.exc_info is not None
    assert first.getMessage().startswith("http: failed (KeyError: 'guild'); retrying in ")
    assert len(rest) == 2 and all(r.exc_info is None and r.levelno == logging.WARNING for r in rest)


async def test_an_sdk_reconnecting_by_itself_shows_as_reconnecting() -> None:
    platform = ScriptedPlatform("discord")
    state: dict[str, str] = {}
    errors: dict[str, str] = {}
    task = asyncio.create_task(PlatformSupervisor([platform], state=state, errors=errors).run())
    try:
        await asyncio.wait_for(platform.up.wait(), 5)
        assert platform.watcher is not None
        platform.watcher.disconnected("the gateway connection was lost;\n discord.py is reconnecting")
        assert state["discord"] == RECONNECTING
        assert errors["discord"] == "the gateway connection was lost; discord.py is reconnecting"
        platform.watcher.connected()
        assert state["discord"] == CONNECTED
    finally:
        await _stop(task)


async def test_cancel_and_wait_ends_a_task_that_swallows_one_cancellation():
    """A loop that loses a cancellation (as discord.py's reconnect loop can on Python 3.11) is cancelled
    again until it ends; a single cancel() would leave it running."""
    from modbot.runtime import cancel_and_wait

    swallowed = 0

    async def reconnecting_for_ever() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # the lost cancellation

    once = asyncio.create_task(reconnecting_for_ever())
    await asyncio.sleep(0.02)
    once.cancel()
    done, _ = await asyncio.wait({once}, timeout=0.3)
    assert not done and swallowed == 1  # one cancel() was not enough
    await asyncio.wait_for(cancel_and_wait(once, every_s=0.05), 5)
    assert once.cancelled()

    async def failing_on_the_way_out() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            raise RuntimeError("cleanup failed")

    failing = asyncio.create_task(failing_on_the_way_out())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait(failing), 5)  # its exception is retrieved, not raised here
    assert isinstance(failing.exception(), RuntimeError)
