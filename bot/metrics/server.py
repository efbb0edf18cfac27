"""``/metrics`` (Prometheus text format) and ``/healthz`` (JSON) on ``[metrics] host:port``, with aiohttp.

``Services.start()`` starts it when ``[metrics] port`` is set, whatever platforms are up, and
``Services.close()`` stops it. Each server has its own ``CollectorRegistry``, so a process (or a test)
can run several bots side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from modbot.metrics.collector import ServiceCollector
from modbot.metrics.health import HealthProbe, PlatformStates
from modbot.metrics.tally import VerdictTally
from modbot.moderation.dispatch import ActionDispatcher
from modbot.moderation.pipeline import Pipeline
from modbot.ports import MessageLog

if TYPE_CHECKING:
    from modbot.config import AppSettings

__all__ = ["MetricsServer", "start_metrics"]

log = logging.getLogger(__name__)


class MetricsServer:
    """Counts verdicts through the pipeline's and the judge's hooks while started, and serves them."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        messages: MessageLog,
        dispatcher: ActionDispatcher,
        platforms: PlatformStates = dict,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.pipeline = pipeline
        self.host = host
        self.requested_port = port
        self.registry = CollectorRegistry()
        self.tally = VerdictTally(self.registry)
        self.health = HealthProbe(messages, dispatcher, platforms)
        self.registry.register(ServiceCollector(pipeline, self.tally, self.health))
        #: The bound port once listening (the configured one, or the one picked for port 0).
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where it listens, e.g. ``http://127.0.0.1:9464``."""
        return f"http://{self.host}:{self.port}"

    def web_app(self) -> web.Application:
        """The two routes."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self) -> None:
        """Hook into the pipeline and the judge, then listen; raises ``RuntimeError`` when it cannot."""
        runner = web.AppRunner(self.web_app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host=self.host, port=self.requested_port).start()
        except OSError as exc:
            await runner.cleanup()
            raise RuntimeError(
                f"metrics cannot listen on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                "choose another [metrics] port or host"
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        self.pipeline.on_judged.add(self.tally.on_message)
        self.pipeline.judge.observers.add(self.tally.on_verdict)
        log.info("metrics on %s/metrics, health on %s/healthz", self.url, self.url)

    async def close(self) -> None:
        """Stop listening and counting."""
        self.pipeline.on_judged.remove(self.tally.on_message)
        self.pipeline.judge.observers.remove(self.tally.on_verdict)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def scrape(self) -> bytes:
        """The Prometheus text exposition, after a fresh look at the database."""
        await self.health.check()
        return generate_latest(self.registry)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.scrape()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.health.check()
        return web.json_response(health.to_json(), status=health.http_status)


class _Storage(Protocol):
    @property
    def messages(self) -> MessageLog: ...


class ServedServices(Protocol):
    """What ``start_metrics`` reads of ``modbot.app.Services``."""

    @property
    def settings(self) -> AppSettings: ...

    @property
    def storage(self) -> _Storage: ...

    @property
    def pipeline(self) -> Pipeline: ...

    @property
    def dispatcher(self) -> ActionDispatcher: ...


async def start_metrics(services: ServedServices) -> MetricsServer | None:
    """A started ``MetricsServer`` for ``services`` when ``[metrics] port`` is set, else None."""
    config = services.settings.metrics
    if config.port is None:
        return None

    def platforms() -> Mapping[str, str]:
        # Read at every scrape: the composition root replaces or fills it as platforms connect.
        return getattr(services, "platform_state", None) or {}

    server = MetricsServer(
        pipeline=services.pipeline,
        messages=services.storage.messages,
        dispatcher=services.dispatcher,
        platforms=platforms,
        host=config.host,
        port=config.port,
    )
    await server.start()
    return server
