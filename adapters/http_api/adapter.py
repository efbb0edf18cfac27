"""The running HTTP API: ``HttpApiAdapter`` (what ``create(core, settings)`` makes) serves ``server.build_app``."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import httpx
from aiohttp import web

from modbot.config import AppSettings
from modbot_adapters.connection import Unwatched
from modbot.ports import ActionSink, ConnectionWatcher, Core, PlatformUnavailable

from .auth import Authenticator, RateLimiter
from .clients import ClientStore
from . import PLATFORM
from .server import build_app
from .sink import CallbackRoutes, CallbackSink

__all__ = ["HttpApiAdapter"]

log = logging.getLogger(__name__)

def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpApiAdapter:
    """The API server and its callback sink. ``started`` is set, and ``port`` known, once it listens."""

    platform = PLATFORM

    def __init__(
        self,
        core: Core,
        settings: AppSettings,
        *,
        store: ClientStore | None = None,
        http_client: httpx.AsyncClient | None = None,
    ):
        self.core = core
        self.config = settings.http_api
        self.clients = store or ClientStore(settings.database_url)
        operator = self.config.token.get_secret_value() if self.config.token else None
        self.authenticator = Authenticator(operator, self.clients.find_token)
        self.limiter = RateLimiter(self.config.rate_per_s, self.config.burst)
        self._sink = CallbackSink(self.config, CallbackRoutes(self.config, self.clients), client=http_client)
        self.started = asyncio.Event()
        #: The bound port once listening (the configured one, or the one picked for port 0).
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._closed = False
        self._watcher: ConnectionWatcher = Unwatched()
        self._warn_about_settings(operator)

    def _warn_about_settings(self, operator: str | None) -> None:
        if not operator:
            log.info("HTTP API: no operator token (MODBOT_HTTP_API__TOKEN); only servers' own tokens are accepted")
        if not (self.config.callback_secret and self.config.callback_secret.get_secret_value()):
            log.warning("HTTP API: MODBOT_HTTP_API__CALLBACK_SECRET is not set, so no action can be delivered (unsigned)")
        if not _is_loopback(self.config.host):
            log.warning(
                "HTTP API listens on %s: bearer tokens travel in clear text unless a TLS proxy is in front", self.config.host
            )

    @property
    def sink(self) -> ActionSink:
        """Where the core's actions for ``http`` servers go: signed POSTs to their callback URLs."""
        return self._sink

    def web_app(self) -> web.Application:
        """The aiohttp application (the routes of ``server.py`` on this adapter's core, tokens and limits)."""
        return build_app(self.core, self.config, self.authenticator, self.limiter)

    def watch(self, watcher: ConnectionWatcher) -> None:
        """Tell ``watcher`` (the supervisor) once the API listens."""
        self._watcher = watcher

    async def run(self) -> None:
        """Listen on ``[http_api] host:port`` and serve until cancelled (``PlatformUnavailable``: cannot listen)."""
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        self._runner = runner
        try:
            site = web.TCPSite(runner, host=self.config.host, port=self.config.port)
            try:
                await site.start()
            except OSError as exc:
                # One line for the operator; the supervisor tries again (the port may be freed: an old
                # process still exiting).
                raise PlatformUnavailable(
                    f"the HTTP API cannot listen on {self.config.host}:{self.config.port} ({exc.strerror or exc}); "
                    "choose another [http_api] port or host"
                ) from None
            self.port = runner.addresses[0][1]
            log.info("HTTP event API listening on http://%s:%s/v1/", self.config.host, self.port)
            self.started.set()
            self._watcher.connected()
            await asyncio.Event().wait()
        finally:
            self.started.clear()
            await self._stop_serving()

    async def _stop_serving(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def close(self) -> None:
        """Stop serving, close the callback client and the token store's connections."""
        await self._stop_serving()
        if self._closed:
            return
        self._closed = True
        await self._sink.aclose()
        await self.clients.aclose()

