"""Serving a test's fake of a platform's HTTP API on loopback: one aiohttp app at a free port."""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["LoopbackSite"]


class LoopbackSite:
    """``port = await site.serve(app)`` serves ``app`` on 127.0.0.1 at a free port; ``close()`` stops it."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def serve(self, app: web.Application, **runner_options: Any) -> int:
        """Serve ``app`` (``runner_options`` go to :class:`aiohttp.web.AppRunner`); returns the port."""
        self._runner = web.AppRunner(app, handle_signals=False, **runner_options)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
