"""What the adapters share about connecting: a network error as one line, and SDK logs without tracebacks.

``modbot serve`` supervises every adapter (``modbot.runtime.supervisor``): an adapter's ``run()`` raises
``PlatformUnavailable`` for what may pass (no network, DNS, a refused connection, a timeout) and
``PlatformAuthError`` for refused credentials. This module turns aiohttp's and the OS's network errors
into the one-line reason the operator reads (``cannot reach discord.com (DNS lookup failed)``), and
keeps the SDKs' own reconnect loops (discord.py's, slack-sdk's Socket Mode) from printing a traceback
for every dropped connection. It is shared by the adapters and imports none of them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import aiohttp

from modbot.ports import PlatformUnavailable

__all__ = ["OneLineReconnects", "Unwatched", "describe", "one_line", "unreachable"]

#: Default ports, left out of the host shown to the operator.
_DEFAULT_PORTS = (None, 80, 443)


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line (whitespace folded), cut at ``limit`` characters: what a log line may carry."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def _why(error: BaseException | None) -> str:
    if isinstance(error, socket.gaierror):
        return "DNS lookup failed"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return one_line(error) if error is not None else "network error"


def unreachable(exc: BaseException, what: str) -> PlatformUnavailable | None:
    """A ``PlatformUnavailable`` with a one-line reason when ``exc`` is a network error, else None.

    ``what`` names the far end when the error does not (``"discord.com"``, ``"Slack"``).
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        where = exc.host if exc.port in _DEFAULT_PORTS else f"{exc.host}:{exc.port}"
        return PlatformUnavailable(f"cannot reach {where} ({_why(exc.os_error)})")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | aiohttp.ServerTimeoutError):
        return PlatformUnavailable(f"cannot reach {what} (timed out)")
    if isinstance(exc, aiohttp.ClientError):
        return PlatformUnavailable(f"the connection to {what} failed ({one_line(exc) or type(exc).__name__})")
    if isinstance(exc, OSError):
        return PlatformUnavailable(f"cannot reach {what} ({_why(exc)})")
    return None


def describe(exc: BaseException, what: str) -> str:
    """One line for any error: the network reason when it is one, else the error's type and message."""
    network = unreachable(exc, what)
    if network is not None:
        return str(network)
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Unwatched:
    """The ``modbot.ports.ConnectionWatcher`` of an adapter no supervisor watches (tests calling ``run()``)."""

    def connected(self) -> None:
        pass

    def disconnected(self, reason: str) -> None:
        pass


class OneLineReconnects(logging.Filter):
    """A filter for an SDK's logger: its "reconnecting" records lose their traceback and gain the reason.

    discord.py logs ``Attempting a reconnect in 1.25s`` with the whole traceback of a network error each
    time the gateway drops; the SDK retries by itself, so the operator needs one line saying why. Other
    records pass unchanged, and so do errors that are not network errors (those may be bugs).
    """

    def __init__(self, platform: str, what: str, prefixes: tuple[str, ...], expected: tuple[str, ...] = ()):
        """``prefixes``: how the SDK's reconnect messages start; ``expected``: the names of the SDK's own
        error types that are part of reconnecting too (a gateway close, an API error), besides network errors."""
        super().__init__()
        self.key = f"modbot-{platform}-reconnects"
        self.platform = platform
        self.what = what
        self.prefixes = prefixes
        self.expected = expected

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        message = record.getMessage()
        if not message.startswith(self.prefixes):
            return True
        error = record.exc_info[1]
        # Matched by name, so that this module needs no platform SDK besides aiohttp.
        if unreachable(error, self.what) is None and type(error).__name__ not in self.expected:
            return True
        reason = describe(error, self.what)
        record.msg, record.args = "%s: connection lost (%s); %s", (self.platform, reason, message)
        record.exc_info = record.exc_text = None
        # The SDK reconnects by itself: a warning, like the supervisor's own retries.
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True

    def install(self, *loggers: str) -> None:
        """Add this filter to the named loggers (once per platform, however often ``run()`` is called)."""
        for name in loggers:
            target = logging.getLogger(name)
            if not any(getattr(f, "key", None) == self.key for f in target.filters):
                target.addFilter(self)
