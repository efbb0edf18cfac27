"""The HTTP API's ``ActionSink``: each action is one signed POST to the server's callback URL.

One attempt per call; the outcome tells the core's outbox what to do next:

* 2xx: delivered (``platform_ref`` = the receiver's JSON ``"ref"``, else the idempotency key);
* 429: try again after the receiver's ``Retry-After`` (else 1 s);
* 5xx, a timeout, no connection: try again (the outbox backs off);
* any other status (4xx, a redirect): refused by the receiver, final.

The callback URL is the server's own (its newest active ``http_api_clients`` row that has one), else
``[http_api] callback_url``. The signing secret of a server with an active token of its own is derived
from ``callback_secret`` (``signing.server_secret``), else it is ``callback_secret`` itself. Neither a
secret nor the URL (which may carry credentials) appears in an outcome's detail or a log line.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from cachetools import TTLCache

from modbot.config import HttpApiSettings
from modbot.domain import Action, ActionKind, ActionOutcome

from .clients import ClientStore
from .responses import CallbackPayload
from .signing import server_secret, signed_headers

__all__ = ["CallbackRoute", "CallbackRoutes", "CallbackSink", "callback_body", "callback_payload"]

log = logging.getLogger(__name__)

#: How long a server's callback URL and secret are cached (a new ``token create`` applies within this).
ROUTE_CACHE_TTL_S = 30.0
_MAX_REF_CHARS = 200


@dataclass(frozen=True, slots=True)
class CallbackRoute:
    """Where one server's actions go and what signs them (None: not configured)."""

    url: str | None
    secret: str | None
    own_client: bool = False


class CallbackRoutes:
    """Each server's callback URL and signing secret, from its client rows and the settings (cached)."""

    def __init__(self, config: HttpApiSettings, store: ClientStore | None, *, ttl_s: float = ROUTE_CACHE_TTL_S):
        self.config = config
        self.store = store
        self._cache: TTLCache[str, CallbackRoute] = TTLCache(maxsize=4096, ttl=ttl_s)

    async def route(self, server_id: str) -> CallbackRoute:
        cached = self._cache.get(server_id)
        if cached is not None:
            return cached
        clients = await self.store.clients(server_id, include_revoked=False) if self.store is not None else []
        own_url = next((c.callback_url for c in reversed(clients) if c.callback_url), None)
        # An empty secret (an empty environment variable) is no secret: nothing is sent unsigned.
        secret = self.config.callback_secret.get_secret_value() if self.config.callback_secret is not None else ""
        if secret and clients:
            secret = server_secret(secret, server_id)
        route = CallbackRoute(own_url or self.config.callback_url, secret or None, own_client=bool(clients))
        self._cache[server_id] = route
        return route


def callback_payload(action: Action, idempotency_key: str) -> CallbackPayload:
    """The JSON document delivered for ``action``."""
    case = action.case
    verdict = case.verdict if case is not None else None
    return CallbackPayload(
        action=action.kind.value,  # type: ignore[arg-type]
        server_id=action.server.id,
        channel_id=action.channel_id,
        message_id=action.message_id,
        author_id=action.user_id,
        case_id=case.id if case is not None else None,
        decision=verdict.decision.value if verdict is not None else None,
        rule_ids=list(verdict.rule_ids) if verdict is not None else [],
        rationale=verdict.rationale if verdict is not None else action.reason,
        duration_s=action.duration_s,
        idempotency_key=idempotency_key,
        reason=action.reason,
        member_notice=action.member_notice if action.kind is ActionKind.WARN else None,
    )


def callback_body(payload: CallbackPayload) -> bytes:
    """The exact bytes that are signed and sent: compact JSON."""
    return json.dumps(payload.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _retry_after(value: str | None) -> float:
    if not value:
        return 1.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _receiver_json(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class CallbackSink:
    """Delivers actions by signed POST; never raises. ``aclose`` closes its HTTP client."""

    def __init__(self, config: HttpApiSettings, routes: CallbackRoutes, *, client: httpx.AsyncClient | None = None):
        self.config = config
        self.routes = routes
        self._client = client or httpx.AsyncClient(timeout=config.callback_timeout_s, follow_redirects=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def execute(self, action: Action) -> ActionOutcome:
        """One delivery attempt of ``action``."""
        if action.kind is ActionKind.POST_CASE and action.case is not None and action.case.posted_ref:
            # Already delivered once (the core stored the receiver's ref): a case is not posted twice.
            return ActionOutcome(True, "case already delivered", platform_ref=action.case.posted_ref)
        server_id = action.server.id
        try:
            route = await self.routes.route(server_id)
        except Exception as exc:  # the database may be busy or briefly gone: worth another try
            log.warning("looking up the callback of server %s failed: %s", server_id, type(exc).__name__)
            return ActionOutcome(False, f"could not look up the callback URL ({type(exc).__name__})", retry_after_s=0.0)
        if not route.url:
            return ActionOutcome(
                False,
                f"no callback URL for server {server_id}: set [http_api] callback_url, or give the server its own "
                "with `modbot http-api token create --server ... --callback-url ...`",
            )
        if not route.secret:
            return ActionOutcome(False, "not delivered: MODBOT_HTTP_API__CALLBACK_SECRET is not set, so callbacks cannot be signed")
        # Without the outbox's key a one-off key still lets the receiver tell deliveries apart.
        key = action.idempotency_key or uuid.uuid4().hex
        body = callback_body(callback_payload(action, key))
        host = urlsplit(route.url).hostname or "?"
        try:
            response = await self._client.post(route.url, content=body, headers=signed_headers(route.secret, body, key))
        except httpx.TimeoutException:
            log.warning("%s callback of server %s to %s timed out", action.kind.value, server_id, host)
            return ActionOutcome(False, f"callback timed out after {self.config.callback_timeout_s:g}s", retry_after_s=0.0)
        except httpx.HTTPError as exc:
            log.warning("%s callback of server %s to %s failed: %s", action.kind.value, server_id, host, type(exc).__name__)
            return ActionOutcome(False, f"could not reach the callback receiver ({type(exc).__name__})", retry_after_s=0.0)
        except Exception as exc:  # never raise into the dispatcher
            log.exception("%s callback of server %s failed unexpectedly", action.kind.value, server_id)
            return ActionOutcome(False, f"callback failed ({type(exc).__name__})", retry_after_s=0.0)
        return self._outcome(response, key, action, host)

    def _outcome(self, response: httpx.Response, key: str, action: Action, host: str) -> ActionOutcome:
        status = response.status_code
        if 200 <= status < 300:
            ref = _receiver_json(response).get("ref")
            platform_ref = ref[:_MAX_REF_CHARS] if isinstance(ref, str) and ref else key
            return ActionOutcome(True, f"delivered (HTTP {status})", platform_ref=platform_ref)
        log.warning("%s callback of server %s to %s: HTTP %s", action.kind.value, action.server.id, host, status)
        if status == 429:
            wait = _retry_after(response.headers.get("Retry-After"))
            return ActionOutcome(False, f"callback receiver busy (HTTP 429); retry after {wait:g}s", retry_after_s=wait)
        if status >= 500:
            return ActionOutcome(False, f"callback receiver error (HTTP {status})", retry_after_s=0.0)
        error = _receiver_json(response).get("error")
        said = f": {error[:200]}" if isinstance(error, str) and error else ""
        return ActionOutcome(False, f"refused by the callback receiver: HTTP {status}{said}")
