"""The API's OpenAPI 3.1 document (``GET /v1/openapi.json``), built from the request and response models.

The action deliveries are described as the ``webhooks.action`` operation (what the bot POSTs to a
callback URL, with its signature headers), and their payload as ``components.schemas.CallbackPayload``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .responses import CallbackPayload, ErrorOut, IntakeOut, PendingOut, ReplyOut, StatusOut, VerdictOut
from .schemas import MAX_ID_CHARS, CaseActionIn, CommandIn, MessageIn, ReviewIn
from .signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

__all__ = ["API_VERSION", "openapi_document"]

API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"

_REQUESTS: tuple[type[BaseModel], ...] = (MessageIn, CommandIn, ReviewIn, CaseActionIn)
_RESPONSES: tuple[type[BaseModel], ...] = (IntakeOut, PendingOut, StatusOut, VerdictOut, ReplyOut, ErrorOut, CallbackPayload)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(_ref(ErrorOut), description, headers)


def _path_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS}
_SERVER = _path_parameter("server_id", "The game server or community (platform `http`).", _ID)
_AUTH_ERRORS = {
    "401": _error(
        "No valid bearer token.", {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}}
    ),
    "403": _error("The token belongs to another server."),
}
_STATUS_HEADERS = {
    "X-Modbot-Message-Status": {
        "description": "The newest revision's status: pending, judged, skipped or failed.",
        "schema": {"type": "string", "enum": ["pending", "judged", "skipped", "failed"]},
    },
    "X-Modbot-Revision-Id": {"description": "The row id of that revision.", "schema": {"type": "integer"}},
}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _command_responses() -> dict[str, Any]:
    return {
        "200": _json(_ref(ReplyOut), "The core's reply (`ok` false: the command could not be done)."),
        "400": _error("Bad body, or a command that does not parse (field `text`)."),
        "401": _AUTH_ERRORS["401"],
        "403": _json(
            {"oneOf": [_ref(ReplyOut), _ref(ErrorOut)]},
            "The invoker holds no moderator role of the server (the core's refusal, a reply), "
            "or the token belongs to another server (an error).",
        ),
        "413": _error("The body is over the size limit."),
    }


def _paths() -> dict[str, Any]:
    server = "/v1/servers/{server_id}"
    return {
        "/v1/healthz": {
            "get": {"operationId": "health", "security": [], "responses": {"200": {"description": '`{"ok": true}`'}}}
        },
        "/v1/openapi.json": {
            "get": {"operationId": "openapi", "security": [], "responses": {"200": {"description": "This document."}}}
        },
        f"{server}/messages": {
            "post": {
                "operationId": "postMessage",
                "summary": "Submit a member's message (or an edit: the same message_id with new text).",
                "parameters": [_SERVER],
                "requestBody": _body(MessageIn),
                "responses": {
                    "202": _json(_ref(IntakeOut), "Recorded: queued for judging, or the same content again."),
                    "400": _error("Bad body; `field` names the field (null: not JSON, or rejected by the core)."),
                    **_AUTH_ERRORS,
                    "413": _error("The body is over the size limit."),
                    "429": _error(
                        "Too many messages for this server.",
                        {"Retry-After": {"description": "Whole seconds (at least 1).", "schema": {"type": "integer"}}},
                    ),
                },
            }
        },
        f"{server}/messages/{{message_id}}/verdict": {
            "get": {
                "operationId": "getVerdict",
                "summary": "Where the newest revision of a message stands.",
                "parameters": [_SERVER, _path_parameter("message_id", "The message id as posted.", _ID)],
                "responses": {
                    "200": _json(
                        {"oneOf": [_ref(VerdictOut), _ref(StatusOut)]},
                        "Judged (the verdict, as `modbot classify` prints it), or skipped/failed with a detail.",
                        _STATUS_HEADERS,
                    ),
                    "202": _json(_ref(PendingOut), "Not judged yet.", _STATUS_HEADERS),
                    "400": _error("A bad id in the path."),
                    **_AUTH_ERRORS,
                    "404": _error("No such message in this server."),
                },
            }
        },
        f"{server}/commands": {
            "post": {
                "operationId": "postCommand",
                "summary": "Run a moderator command (`/mod ...` text).",
                "parameters": [_SERVER],
                "requestBody": _body(CommandIn),
                "responses": _command_responses(),
            }
        },
        f"{server}/cases/{{case_id}}/review": {
            "post": {
                "operationId": "postReview",
                "summary": "Uphold or overturn a case.",
                "parameters": [_SERVER, _path_parameter("case_id", "The case number.", {"type": "integer", "minimum": 1})],
                "requestBody": _body(ReviewIn),
                "responses": _command_responses(),
            }
        },
        f"{server}/cases/{{case_id}}/actions": {
            "post": {
                "operationId": "postCaseAction",
                "summary": "Time out or ban a case's author (delivered to the callback URL like the bot's own actions).",
                "parameters": [_SERVER, _path_parameter("case_id", "The case number.", {"type": "integer", "minimum": 1})],
                "requestBody": _body(CaseActionIn),
                "responses": _command_responses(),
            }
        },
    }


def _webhooks() -> dict[str, Any]:
    def header(name: str, description: str) -> dict[str, Any]:
        return {"name": name, "in": "header", "required": True, "description": description, "schema": {"type": "string"}}

    return {
        "action": {
            "post": {
                "operationId": "deliverAction",
                "summary": "An action for the server to carry out, POSTed to its callback URL.",
                "description": (
                    "Verify the signature over the raw body before parsing it: `v1=` + hex HMAC-SHA256(secret, "
                    '"v1:" + timestamp + ":" + body), and reject timestamps more than 300 s off. The same action '
                    "is retried with the same Idempotency-Key until a 2xx or a 4xx answer."
                ),
                "parameters": [
                    header(TIMESTAMP_HEADER, "Unix seconds when this attempt was signed."),
                    header(SIGNATURE_HEADER, "`v1=<hex HMAC-SHA256>`"),
                    header(IDEMPOTENCY_HEADER, "The same on every retry of one action."),
                ],
                "requestBody": _body(CallbackPayload),
                "responses": {
                    "200": {"description": 'Done. An optional JSON `{"ref": "..."}` is stored as the action\'s reference.'},
                    "429": {"description": "Busy: retried after Retry-After seconds."},
                    "4XX": {"description": "Refused: recorded as such, not retried."},
                    "5XX": {"description": "Failed: retried with backoff."},
                },
            }
        }
    }


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    models = [(model, "validation") for model in _REQUESTS] + [(model, "serialization") for model in _RESPONSES]
    _, top = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    return top.get("$defs", {})


def openapi_document() -> dict[str, Any]:
    """The whole document, as served."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modbot HTTP event API",
            "version": API_VERSION,
            "description": (
                "Submit members' messages for moderation, read verdicts, run moderator commands; actions come "
                "back as signed callbacks (see `webhooks`). Platform name: `http`."
            ),
        },
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "schemas": dict(_components()),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The operator token (every server) or a server's own token (that server only).",
                }
            },
        },
    }
