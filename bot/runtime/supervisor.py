"""The platform supervisor: every adapter runs, fails and reconnects on its own.

``modbot serve`` used to run each adapter's ``run()`` as a task and stop at the first one that ended, so
a Discord that could not be reached took a healthy Slack (and the whole process) down with it. Here each
platform gets its own retry loop (tenacity's ``AsyncRetrying``) with exponential backoff and jitter:

* ``PlatformUnavailable`` (no network, DNS, refused, timed out, 5xx: the adapter classified it) is logged
  as ONE line, ``discord: cannot reach discord.com (DNS lookup failed); retrying in 4 s``, and retried;
* any other error is retried the same way (its traceback is logged once, on the first failure in a row:
  it is likely a bug, and a bug does not get clearer by being printed every five minutes);
* ``PlatformAuthError`` (refused credentials) stops that platform only, with one line naming the setting.

The backoff counts failures since the platform was last connected (adapters report it through
``modbot.ports.ConnectionWatcher``), so a platform that was up for a day and drops starts again from the
first short wait. Each platform's state ("starting", "connected", "reconnecting", "stopped") and its last
failure's reason are kept in the dicts handed in (``Services.platform_state`` / ``platform_error``, which
metrics read). ``run()`` returns only when every platform has stopped for good, with the reasons.

Platform-free: it knows adapters only as ``modbot.ports.PlatformAdapter``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never

from modbot.ports import PlatformAdapter, PlatformAuthError, PlatformUnavailable

__all__ = [
    "CONNECTED",
    "PLATFORM_STATES",
    "RECONNECTING",
    "STARTING",
    "STOPPED",
    "Backoff",
    "PlatformSupervisor",
    "StoppedPlatform",
    "cancel_and_wait",
]

log = logging.getLogger("modbot.platforms")

#: The values of ``Services.platform_state`` (metrics read exactly these).
STARTING, CONNECTED, RECONNECTING, STOPPED = "starting", "connected", "reconnecting", "stopped"
PLATFORM_STATES = (STARTING, CONNECTED, RECONNECTING, STOPPED)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before the n-th retry since the platform was last connected.

    ``base_s`` doubles with each failure up to ``max_s``; each wait is then shortened by up to ``jitter``
    of itself at random, so platforms (and bots) that failed together do not retry in lockstep, and the
    cap is never exceeded.
    """

    base_s: float = 1.0
    max_s: float = 300.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s or not 0 <= self.jitter < 1:
            raise ValueError("Backoff needs 0 < base_s <= max_s and 0 <= jitter < 1")

    def full(self, failures: int) -> float:
        """The wait before jitter: ``base_s * 2 ** (failures - 1)``, at most ``max_s``."""
        # Capping the exponent first: 2 ** 2000 would overflow a float after a long outage.
        return min(self.max_s, self.base_s * 2 ** min(max(failures, 1) - 1, 64))

    def delay(self, failures: int) -> float:
        """The wait before the retry that follows ``failures`` failures in a row (>= 1)."""
        return self.full(failures) * (1 - self.jitter * random.random())


@dataclass(frozen=True, slots=True)
class StoppedPlatform:
    """A platform that will not be retried: why (one line), and the setting to fix when it is known."""

    platform: str
    reason: str
    setting: str | None = None


def one_line(text: object, limit: int = 300) -> str:
    """``text`` with its whitespace folded into one line, cut at ``limit`` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def seconds(value: float) -> str:
    """A wait as people read it: ``4 s``, ``2.5 s``, ``0.05 s``."""
    if value >= 10:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".") + " s"
    return f"{value:.2f} s"


def _reason(exc: BaseException) -> str:
    # The adapters' own classes carry a ready one-line message; anything else shows its type too.
    if isinstance(exc, PlatformUnavailable | PlatformAuthError):
        return one_line(exc)
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    # Exception only: cancellation (shutdown) and KeyboardInterrupt go through.
    return isinstance(exc, Exception) and not isinstance(exc, PlatformAuthError)


class _Platform:
    """One supervised adapter: its failures since it was last connected (the backoff's count).

    It is the adapter's ``ConnectionWatcher``: the adapter calls ``connected()`` once it is up (logged
    in, listening) and ``disconnected(reason)`` when its SDK lost the connection and reconnects by itself.
    """

    def __init__(self, supervisor: PlatformSupervisor, adapter: PlatformAdapter):
        self.supervisor = supervisor
        self.adapter = adapter
        self.name = adapter.platform
        self.failures = 0

    def connected(self) -> None:
        if self.supervisor.state.get(self.name) != CONNECTED:
            log.info("%s: connected", self.name)
        self.failures = 0
        self.supervisor.state[self.name] = CONNECTED

    def disconnected(self, reason: str) -> None:
        self.supervisor.state[self.name] = RECONNECTING
        self.supervisor.errors[self.name] = one_line(reason)


class PlatformSupervisor:
    """Runs adapters side by side, each retried on its own (see the module's docstring).

    ``state`` and ``errors`` are updated in place (pass ``Services.platform_state`` and
    ``Services.platform_error``).
    """

    def __init__(
        self,
        adapters: Sequence[PlatformAdapter],
        *,
        backoff: Backoff = Backoff(),
        state: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
    ):
        self.adapters = list(adapters)
        self.backoff = backoff
        self.state: dict[str, str] = state if state is not None else {}
        self.errors: dict[str, str] = errors if errors is not None else {}

    async def run(self) -> list[StoppedPlatform]:
        """Supervise every adapter until cancelled; returns once all have stopped for good, with why."""
        platforms = [_Platform(self, adapter) for adapter in self.adapters]
        for platform in platforms:
            self.state[platform.name] = STARTING
            platform.adapter.watch(platform)
        # gather: cancelling run() (SIGTERM) cancels every platform's loop, and so its adapter's run().
        return list(await asyncio.gather(*(self._supervise(platform) for platform in platforms)))

    async def _supervise(self, platform: _Platform) -> StoppedPlatform:
        attempts = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=lambda _state: self.backoff.delay(platform.failures),
            stop=stop_never,
            before_sleep=lambda state: self._failed(platform, state),
            reraise=True,
        )
        try:
            async for attempt in attempts:
                with attempt:
                    await self._run_once(platform)
        except PlatformAuthError as exc:
            return self._stop(platform, _reason(exc), exc.setting)
        # run() returned: the adapter was closed (or its platform ended the session cleanly).
        return self._stop(platform, "its connection was closed", None, quiet=True)

    async def _run_once(self, platform: _Platform) -> None:
        try:
            await platform.adapter.run()
        except Exception:
            platform.failures += 1
            raise

    def _failed(self, platform: _Platform, state: RetryCallState) -> None:
        """tenacity's ``before_sleep``: one line saying why and for how long."""
        assert state.outcome is not None and state.next_action is not None
        exc = state.outcome.exception()
        assert exc is not None
        reason = _reason(exc)
        self.state[platform.name] = RECONNECTING
        self.errors[platform.name] = reason
        wait = seconds(state.next_action.sleep)
        expected = isinstance(exc, PlatformUnavailable | OSError | TimeoutError)
        if not expected and platform.failures == 1:
            # Not classified by the adapter: probably a bug, so its traceback is worth one look.
            log.error("%s: failed (%s); retrying in %s", platform.name, reason, wait, exc_info=exc)
        else:
            log.warning("%s: %s; retrying in %s", platform.name, reason, wait)

    def _stop(self, platform: _Platform, reason: str, setting: str | None, *, quiet: bool = False) -> StoppedPlatform:
        self.state[platform.name] = STOPPED
        self.errors[platform.name] = reason
        if quiet:
            log.info("%s: stopped (%s)", platform.name, reason)
        else:
            others = [name for name, value in self.state.items() if value != STOPPED]
            going_on = f"; still serving {', '.join(others)}" if others else ""
            log.error("%s: stopped, not retried: %s%s", platform.name, reason, going_on)
        return StoppedPlatform(platform.name, reason, setting)


async def cancel_and_wait(task: asyncio.Future[object], *, every_s: float = 0.2) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs on.

    One cancellation can be lost: on Python 3.11 ``asyncio.wait_for`` swallows a cancellation that
    arrives just as the call it waits on completes (CPython gh-86296), and discord.py's reconnect loop
    wraps every gateway connection in one, so a single ``cancel()`` then leaves it reconnecting for
    ever and whoever awaits the task (``modbot serve`` stopping) with it. The task's own result or
    exception is not raised here.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled():
        task.exception()  # retrieved: a failure on the way out is not reported as "never retrieved"
