"""Test harness: the real core (``modbot.app.build_services``) on a SQLite file, the real bolt app on its
``Core`` facade, the loopback Slack, signed payloads.

Payloads have the shapes Slack sends (Events API envelopes, slash-command forms, block_actions);
they are signed with the v0 scheme and dispatched into the bolt app, or POSTed to its web app.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from modbot_adapters.slack_app import SlackAdapter, create
from modbot.app import Services, build_services
from modbot.domain import ServerRef
from modbot.domain.settings import ServerSettings
from modbot.config import SlackSettings
from tests.conftest import make_settings
from tests.support.scripted import ScriptedReasoner

from .slack_mock import MockSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T1"
SERVER = ServerRef("slack", TEAM)
BOT_TOKEN = "xoxb-1-bot"
ADMIN_TOKEN = "xoxp-1-admin"
MOD_CHANNEL = "CMOD"
GENERAL = "CGENERAL"
ADMIN = "UADMIN"  # workspace admin (users.info is_admin)
GROUP_MOD = "UGROUPMOD"  # member of the moderator user group SMODS
PLAYER = "UPLAYER"  # a plain member

_event_ids = itertools.count(1)
_ts = itertools.count(1)


def next_ts() -> str:
    return f"1700000000.{next(_ts):06d}"


def signed_headers(body: str, *, content_type: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"content-type": content_type, "x-slack-request-timestamp": stamp, "x-slack-signature": signature}


def slack_escape(text: str) -> str:
    """What Slack does to typed text: escape & < >, turn bare URLs into <url> links."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"https?://[^\s&<>\"']+", lambda m: f"<{m.group(0)}>", escaped)


def message_payload(text: str, *, user: str = PLAYER, channel: str = GENERAL, ts: str | None = None, **extra: Any) -> dict:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts or next_ts(),
        "client_msg_id": "9a1f0c3e-1111-2222-3333-444455556666",
        "team": TEAM,
        "channel_type": "channel",
        "blocks": [{"type": "rich_text", "block_id": "b1", "elements": []}],
        **extra,
    }


def event_envelope(event: dict, *, event_id: str | None = None, team: str = TEAM) -> dict:
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "context_team_id": team,
        "api_app_id": "A1",
        "event": {**event, "event_ts": event.get("ts", next_ts())},
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": 1700000000,
        "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
    }


@dataclass
class Harness:
    mock: MockSlack
    services: Services
    adapter: SlackAdapter
    reasoner: ScriptedReasoner | None

    async def dispatch(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> BoltResponse:
        all_headers = {**signed_headers(body, content_type=content_type), **(headers or {})}
        return await self.adapter.app.async_dispatch(AsyncBoltRequest(body=body, headers=all_headers))

    async def send_event(self, event: dict, *, event_id: str | None = None, retry_num: int | None = None, team: str = TEAM) -> BoltResponse:
        headers = {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"} if retry_num else None
        body = json.dumps(event_envelope(event, event_id=event_id, team=team))
        return await self.dispatch(body, "application/json", headers)

    async def message(self, text: str, **fields: Any) -> BoltResponse:
        """A member's message event; waits until the adapter has handled it and the core has acted."""
        before = self.adapter.counters.handled
        response = await self.send_event(message_payload(text, **fields))
        await self.settle(before + 1)
        return response

    async def settle(self, handled: int) -> None:
        await self.mock.wait_for(lambda: self.adapter.counters.handled >= handled)
        await self.services.pipeline.drain(5)

    async def command(self, text: str, *, user: str = ADMIN, team: str = TEAM, escape: bool = True) -> dict:
        """``/mod <text>``; returns the JSON the bot sent to the response_url."""
        name = f"cmd{len(self.mock.responses)}-{next(_event_ids)}"
        form = {
            "token": "legacy-verification-token",
            "team_id": team,
            "team_domain": "test",
            "channel_id": MOD_CHANNEL,
            "channel_name": "mods",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/mod",
            "text": slack_escape(text) if escape else text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": self.mock.response_url(name),
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
        response = await self.dispatch(urlencode(form), "application/x-www-form-urlencoded")
        assert response.status == 200, response.body
        return await self.response(name)

    async def click(self, action_id: str, *, user: str = ADMIN, message_ts: str = "1700001000.000001", team: str = TEAM) -> dict:
        """A block_actions click on one of the bot's buttons; returns what the bot sent to the response_url."""
        name = f"click{len(self.mock.responses)}-{next(_event_ids)}"
        parts = action_id.split(":")
        verb, number = (parts + ["", "", ""])[1:3]
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
            "api_app_id": "A1",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": MOD_CHANNEL, "is_ephemeral": False},
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "team": {"id": team, "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": MOD_CHANNEL, "name": "mods"},
            "message": {"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": message_ts, "text": "case"},
            "state": {"values": {}},
            "response_url": self.mock.response_url(name),
            "actions": [
                {"action_id": action_id, "block_id": "modbot-case", "text": {"type": "plain_text", "text": verb},
                 "value": number, "type": "button", "action_ts": "1700001234.000001"}
            ],
        }
        response = await self.dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        assert response.status == 200, response.body
        return await self.response(name)

    async def message_shortcut(
        self, message: dict, *, user: str = ADMIN, channel: str = GENERAL, callback_id: str = "modbot_report", team: str = TEAM
    ) -> dict:
        """A message shortcut (``message_action``) on ``message``; returns what the bot sent to the response_url."""
        name = f"shortcut{len(self.mock.responses)}-{next(_event_ids)}"
        payload = {
            "type": "message_action",
            "token": "legacy-verification-token",
            "action_ts": "1700001234.000001",
            "team": {"id": team, "domain": "test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
            "channel": {"id": channel, "name": "general"},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
            "response_url": self.mock.response_url(name),
            "message_ts": message["ts"],
            # Slack sends the message as it shows it, without its channel (that is the payload's own).
            "message": {key: value for key, value in message.items() if key not in ("channel", "channel_type", "event_ts")},
        }
        response = await self.dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        assert response.status == 200, response.body
        return await self.response(name)

    async def response(self, name: str) -> dict:
        await self.mock.wait_for(lambda: any(n == name for n, _ in self.mock.responses))
        return next(body for n, body in self.mock.responses if n == name)


async def start_harness(
    tmp_path: Path,
    *,
    reasoner: ScriptedReasoner | None = None,
    admin_token: str | None = ADMIN_TOKEN,
    server_defaults: ServerSettings | None = None,
    **slack: Any,
) -> Harness:
    mock = await MockSlack().start()
    mock.tokens.update({BOT_TOKEN: TEAM, ADMIN_TOKEN: TEAM})
    mock.admin_tokens.add(ADMIN_TOKEN)
    mock.users.update({ADMIN: {"is_admin": True}, GROUP_MOD: {}, PLAYER: {}})
    mock.usergroups["SMODS"] = [GROUP_MOD]
    slack_settings = dict(
        bot_token=BOT_TOKEN, signing_secret=SECRET, admin_user_token=admin_token, mode="http", moderator_usergroup_ids=("SMODS",)
    )
    slack_settings.update(slack)
    settings = make_settings(
        tmp_path,
        slack=SlackSettings(**slack_settings),
        server_defaults=server_defaults or ServerSettings(policy_id="test-policy", mod_channel_id=MOD_CHANNEL, mode="enforce"),
    )
    services = await build_services(settings, reasoner=reasoner, prefilter=None)
    adapter = create(services.core, settings, api_base_url=mock.base_url)
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    await services.start()
    return Harness(mock, services, adapter, reasoner)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    built = await start_harness(tmp_path)
    try:
        yield built
    finally:
        await built.services.close()
        await built.mock.stop()
