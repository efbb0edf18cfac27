"""The aiohttp routes of the HTTP event API (``build_app``); each handler only translates to the ``Core``.

Every ``/v1/servers/{server_id}/...`` request is authenticated (401 without a valid bearer token),
scoped (403 when the token belongs to another server), then validated (400 naming the field) before
the core sees it. Every error is JSON ``{"error": ..., "field": ...}``, aiohttp's own 404/405 included.
Bodies are read here with the configured limit (413), not by aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from modbot.commands.parser import CommandSyntaxError, parse_mod_command
from modbot.config import HttpApiSettings
from modbot.domain import MessageStatus, ReviewOutcome, ServerRef
from modbot.domain.commands import CaseAction, Invoker, ModCommand, Review
from modbot.domain.records import IntakeStatus
from modbot.ports import Core

from .auth import Authenticator, Principal, RateLimiter, bearer_token
from .openapi import openapi_document
from .responses import reply_json
from . import PLATFORM
from .schemas import BadRequest, CaseActionIn, CommandIn, MessageIn, ReviewIn, check_id, parse_body, to_event

__all__ = ["REVISION_HEADER", "STATUS_HEADER", "build_app"]

log = logging.getLogger(__name__)

#: On every verdict answer: the status of the message's newest revision (pending/judged/skipped/failed).
STATUS_HEADER = "X-Modbot-Message-Status"
#: On every verdict answer: the row id of that revision (what POST .../messages answered as ``id``).
REVISION_HEADER = "X-Modbot-Revision-Id"
_MAX_CASE_ID = 2**63 - 1
_MOD_PREFIX = re.compile(r"^\s*/mod(?:\s+|$)", re.IGNORECASE)

_dumps = partial(json.dumps, separators=(",", ":"))


def json_error(status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    """The one error shape of the API."""
    return web.json_response({"error": message, "field": field}, status=status, headers=headers, dumps=_dumps)


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


class _Refused(Exception):
    """Answer with this response instead (401, 403, 413, 429)."""

    def __init__(self, response: web.Response):
        self.response = response


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Refused as refused:
        return refused.response
    except BadRequest as exc:
        return json_error(400, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own answers (no such route, wrong method) in the API's error shape.
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_error(exc.status, (exc.reason or "error").lower(), headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the HTTP API failed on %s %s", request.method, request.path)
        return json_error(500, "internal error; the details are in the bot's log")


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    try:
        return check_id(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}", name) from None


def _case_id(request: web.Request) -> int:
    raw = request.match_info["case_id"]
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= _MAX_CASE_ID:
        raise BadRequest("case_id: must be a positive integer", "case_id")
    return int(raw)


class _Handlers:
    def __init__(self, core: Core, config: HttpApiSettings, authenticator: Authenticator, limiter: RateLimiter):
        self.core = core
        self.config = config
        self.auth = authenticator
        self.limiter = limiter
        self._openapi = _dumps(openapi_document())

    async def authorize(self, request: web.Request) -> tuple[str, Principal]:
        """The path's server id and the caller, once the caller may use that server."""
        principal = await self.auth.principal(bearer_token(request.headers.get("Authorization")))
        if principal is None:
            raise _Refused(
                json_error(401, "a valid bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="modbot"'})
            )
        server_id = _path_id(request, "server_id")
        if not principal.may_access(server_id):
            raise _Refused(json_error(403, f"this token is not valid for server {server_id}"))
        return server_id, principal

    async def read_body(self, request: web.Request) -> bytes:
        """The whole body, or 413 as soon as it is over ``max_body_bytes`` (declared or actually sent)."""
        limit = self.config.max_body_bytes
        too_large = f"the body is larger than {limit} bytes"
        if request.content_length is not None and request.content_length > limit:
            raise _Refused(json_error(413, too_large))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise _Refused(json_error(413, too_large))
            chunks.append(chunk)
        return b"".join(chunks)

    # -- routes --------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return _json({"ok": True})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(text=self._openapi, content_type="application/json")

    async def post_message(self, request: web.Request) -> web.Response:
        server_id, _ = await self.authorize(request)
        wait = self.limiter.take(server_id)
        if wait > 0:
            seconds = RateLimiter.retry_after(wait)
            return json_error(429, f"too many messages for server {server_id}; retry in {seconds}s", headers={"Retry-After": str(seconds)})
        body = parse_body(MessageIn, await self.read_body(request))
        intake = await self.core.submit(to_event(server_id, body))
        if intake.status is IntakeStatus.REJECTED:
            return json_error(400, intake.detail or "the core rejected the message")
        # OVERFLOW is recorded as pending and judged later: for the client it is queued like any other.
        status = "duplicate" if intake.status is IntakeStatus.DUPLICATE else "queued"
        return _json({"status": status, "id": intake.row_id}, status=202)

    async def get_verdict(self, request: web.Request) -> web.Response:
        server_id, _ = await self.authorize(request)
        message_id = _path_id(request, "message_id")
        found = await self.core.message_verdict(ServerRef(PLATFORM, server_id), message_id)
        if found is None:
            return json_error(404, f"server {server_id} has no message {message_id}")
        headers = {STATUS_HEADER: found.status.value, REVISION_HEADER: str(found.row_id)}
        if found.status is MessageStatus.PENDING:
            return _json({"status": "pending"}, status=202, headers=headers)
        if found.status is MessageStatus.JUDGED and found.verdict is not None:
            return _json(found.verdict.to_public_dict(), headers=headers)
        return _json({"status": found.status.value, "detail": found.detail}, headers=headers)

    async def post_command(self, request: web.Request) -> web.Response:
        server_id, _ = await self.authorize(request)
        body = parse_body(CommandIn, await self.read_body(request))
        try:
            command = parse_mod_command(_MOD_PREFIX.sub("", body.text, count=1))
        except CommandSyntaxError as exc:
            raise BadRequest(str(exc), "text") from None
        return await self.execute(server_id, body.invoker_id, body.invoker_roles, command)

    async def post_review(self, request: web.Request) -> web.Response:
        server_id, _ = await self.authorize(request)
        case_id = _case_id(request)
        body = parse_body(ReviewIn, await self.read_body(request))
        return await self.execute(server_id, body.invoker_id, body.invoker_roles, Review(case_id, ReviewOutcome(body.outcome)))

    async def post_case_action(self, request: web.Request) -> web.Response:
        server_id, _ = await self.authorize(request)
        case_id = _case_id(request)
        body = parse_body(CaseActionIn, await self.read_body(request))
        command = CaseAction(case_id, body.action, body.duration_s if body.action == "timeout" else None)
        return await self.execute(server_id, body.invoker_id, body.invoker_roles, command)

    async def execute(self, server_id: str, invoker_id: str, roles: list[str], command: ModCommand) -> web.Response:
        # The API has no platform permissions of its own: moderators are the server's moderator roles.
        invoker = Invoker(ServerRef(PLATFORM, server_id), invoker_id, tuple(roles), platform_moderator=False)
        allowed = await self.core.is_moderator(invoker)
        reply = await self.core.execute(invoker, command)  # a refusal too: the core audits it
        return _json(reply_json(reply), status=403 if not allowed and not reply.ok else 200)


def build_app(
    core: Core, config: HttpApiSettings, authenticator: Authenticator, limiter: RateLimiter | None = None
) -> web.Application:
    """The API's aiohttp application (``HttpApiAdapter.run`` serves it; tests may serve it themselves)."""
    handlers = _Handlers(core, config, authenticator, limiter or RateLimiter(config.rate_per_s, config.burst))
    app = web.Application(middlewares=[_errors], client_max_size=config.max_body_bytes)
    server = "/v1/servers/{server_id}"
    app.router.add_get("/v1/healthz", handlers.health)
    app.router.add_get("/v1/openapi.json", handlers.openapi)
    app.router.add_post(f"{server}/messages", handlers.post_message)
    app.router.add_get(f"{server}/messages/{{message_id}}/verdict", handlers.get_verdict)
    app.router.add_post(f"{server}/commands", handlers.post_command)
    app.router.add_post(f"{server}/cases/{{case_id}}/review", handlers.post_review)
    app.router.add_post(f"{server}/cases/{{case_id}}/actions", handlers.post_case_action)
    return app
