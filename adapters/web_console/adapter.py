"""The running console: ``ConsoleAdapter`` (what ``create(core, settings)`` makes) serves ``app.build_app``
with uvicorn on ``[console] host:port``."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator

import uvicorn

from modbot_adapters.connection import Unwatched
from modbot.config import AppSettings
from modbot.domain import Action, ActionOutcome
from modbot.ports import ActionSink, ConnectionWatcher, Core, PlatformUnavailable

from . import PLATFORM
from .app import ConsoleConfig, build_app

__all__ = ["ConsoleAdapter", "NoActions", "is_loopback"]

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class NoActions:
    """The console's ``ActionSink``: no server lives on platform ``console``, so nothing is ever owed here."""

    async def execute(self, action: Action) -> ActionOutcome:
        """Refuse (final): actions go to the platform the server is on."""
        return ActionOutcome(False, "the web console carries out no platform actions")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: ``modbot serve`` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ConsoleAdapter:
    """The web console. ``started`` is set, and ``port``/``base_url`` known, once it listens."""

    platform = PLATFORM

    def __init__(self, core: Core, settings: AppSettings):
        self.core = core
        self.settings = settings
        self.config = settings.console
        self._sink = NoActions()
        self.started = asyncio.Event()
        self.port: int | None = None
        self.base_url: str | None = None
        self._server: _Server | None = None
        self._watcher: ConnectionWatcher = Unwatched()

    @property
    def sink(self) -> ActionSink:
        """Registered for platform ``console``; refuses everything (see ``NoActions``)."""
        return self._sink

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Tell ``watcher`` (the supervisor) once the console listens."""
        self._watcher = watcher

    def _bind(self) -> socket.socket:
        host, port = self.config.host, self.config.port or 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise PlatformUnavailable(
                f"the web console cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "choose another [console] port or host"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        return sock

    def console_config(self, port: int) -> ConsoleConfig:
        """Where the console is reached (``public_url`` or ``http://host:port``) and whether cookies are Secure."""
        base = (self.config.public_url or f"http://{self.config.host}:{port}").rstrip("/")
        secure = self.config.secure_cookies
        if secure is None:
            # Secure always, except plain http on loopback (a local test, or an SSH tunnel): there a
            # Secure cookie would never come back and nobody could log in.
            host = base.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
            secure = not (base.startswith("http://") and is_loopback(host))
        return ConsoleConfig.from_settings(self.settings, base_url=base, secure_cookies=secure)

    async def run(self) -> None:
        """Listen and serve until cancelled (``PlatformUnavailable``: the port cannot be bound)."""
        sock = self._bind()
        self.port = sock.getsockname()[1]
        config = self.console_config(self.port)
        self.base_url = config.base_url
        app = build_app(self.core, config)
        server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self._server = server
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="web-console")
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.01)
            if serving.done():
                serving.result()
                raise PlatformUnavailable("the web console stopped at start-up")
            log.info("web console on %s (listening on %s:%s)", config.base_url, self.config.host, self.port)
            self.started.set()
            self._watcher.connected()
            # Shielded: a cancelled run() stops uvicorn by should_exit (graceful), not by cancelling it.
            await asyncio.shield(serving)
        finally:
            self.started.clear()
            server.should_exit = True
            if not serving.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(serving), 5)
            sock.close()
            self._server = None

    async def close(self) -> None:
        """Stop serving (``run`` returns)."""
        if self._server is not None:
            self._server.should_exit = True
