"""The HTTP event API (platform ``http``): game servers, bridges and bots of other platforms submit
messages over signed HTTP and carry out the bot's actions from signed callbacks.

The composition root (``modbot.app``) uses ``missing_settings(settings)`` and ``create(core, settings)``;
``modbot http-api ...`` is ``cli.app``. The adapter imports only ``modbot.domain``, ``modbot.ports`` (the
``Core`` facade), ``modbot.config`` and the core's command parser. The modules:

* ``schemas``   request bodies (pydantic, strict) and their conversion to ``MessageEvent``
* ``responses`` response and callback payload models, a ``Reply`` as JSON
* ``auth``      bearer tokens (operator and per-server), scoping, the per-server rate limit
* ``server``    the aiohttp routes (``build_app``)
* ``openapi``   the OpenAPI 3.1 document served at ``/v1/openapi.json``
* ``signing``   ``sign`` / ``verify`` of callbacks, per-server secrets (receivers may import it)
* ``sink``      the ``ActionSink``: one signed POST per attempt, outcomes the core's outbox retries
* ``clients``   the adapter's own ``http_api_clients`` table (hashed tokens, callback URLs)
* ``adapter``   ``HttpApiAdapter``: serving, ``run`` and ``close``
* ``cli``       ``modbot http-api token create|list|revoke`` and ``secret``

The heavy modules (aiohttp, httpx) load on first use, so the ``modbot`` command line starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modbot.config import AppSettings
    from modbot.ports import Core

    from .adapter import HttpApiAdapter

__all__ = ["HttpApiAdapter", "PLATFORM", "build_app", "create", "missing_settings"]

PLATFORM = "http"
PORT_SETTING = "MODBOT_HTTP_API__PORT (or [http_api] port)"

_LAZY = {"HttpApiAdapter": ".adapter", "build_app": ".server"}


def missing_settings(settings: AppSettings) -> list[str]:
    """What the API still needs to run: a port (``[http_api] port``; 0 = any free port)."""
    return [PORT_SETTING] if settings.http_api.port is None else []


def create(core: Core, settings: AppSettings) -> HttpApiAdapter:
    """The adapter ``modbot.app.create_adapters`` registers for platform ``http``."""
    from .adapter import HttpApiAdapter

    return HttpApiAdapter(core, settings)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
