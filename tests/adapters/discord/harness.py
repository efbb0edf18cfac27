"""The Discord test harness: the real discord.py client aimed at a loopback fake.

``make_harness`` builds the real core through ``modbot.app.build_services`` on a SQLite file under tmp_path
(with a scripted reasoner at the model edge), creates the real ``DiscordAdapter`` on its ``Core`` facade, logs in over REST against ``FakeDiscord`` (which
also runs the command sync), and feeds GUILD_CREATE through discord.py's own parser. Tests then feed
more gateway payloads with ``harness.feed(...)`` and assert on the requests the fake recorded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modbot_adapters.discord_bot import DiscordAdapter, RetryPolicy
from modbot.app import Services, build_services
from modbot.config import AppSettings, DiscordSettings, PipelineSettings
from modbot.domain import MessageEvent, MessageStatus, ServerRef
from modbot.domain.settings import ServerSettings
from tests.adapters.discord import payloads as p
from tests.conftest import make_settings
from tests.support.scripted import ScriptedReasoner, by_keyword
from tests.adapters.discord.fake_discord import FakeDiscord, Recorded

SERVER = ServerRef("discord", p.GUILD_ID)
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02)

# discord.py's own background tasks that run our handlers: gateway events, slash commands, buttons.
_EVENT_TASK_PREFIXES = ("discord.py: on_", "CommandTree-invoker", "discord-ui-dynamic-item-")


def _event_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and t.get_name().startswith(_EVENT_TASK_PREFIXES)
    ]


class Harness:
    """The bot under test and the fake it talks to."""

    def __init__(self, fake: FakeDiscord, services: Services, adapter: DiscordAdapter):
        self.fake = fake
        self.services = services
        self.adapter = adapter
        self.client = adapter.client

    def feed(self, event: str, data: dict[str, Any]) -> None:
        """Hand a gateway DISPATCH payload to discord.py's own parser (as the gateway reader does)."""
        self.client._connection.parsers[event](data)

    async def settle(self) -> None:
        """Wait until discord.py's event tasks and the pipeline (judging and actions) are done."""
        for _ in range(50):
            tasks = _event_tasks()
            if tasks:
                await asyncio.wait(tasks, timeout=10)
                continue
            await self.services.pipeline.drain(timeout=10)
            if not _event_tasks():
                return
        raise AssertionError("the bot did not settle")

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.feed(event, data)
        await self.settle()

    async def stored_events(self) -> list[MessageEvent]:
        """Every message revision the core recorded in the test guild, oldest first."""
        return [stored.event for stored in await self.services.storage.messages.recent_messages(SERVER, 1000)]

    async def statuses(self) -> list[MessageStatus]:
        return [stored.status for stored in await self.services.storage.messages.recent_messages(SERVER, 1000)]


def discord_settings(tmp_path: Path, *, server_defaults: ServerSettings | None = None, **discord_options: Any) -> AppSettings:
    # The shared test policy is the default; the game-community policy arrives by /mod policy upload.
    return make_settings(
        tmp_path,
        discord=DiscordSettings(token="fake-token", **discord_options),
        pipeline=PipelineSettings(queue_size=100, workers=2, sweep_interval_s=60),
        server_defaults=server_defaults or ServerSettings(policy_id="test-policy"),
    )


def _repo() -> Path:
    return Path(__file__).resolve().parents[3]


def _game_policy_exists() -> bool:
    return (_repo() / "policies" / "game-community.md").is_file()


def game_policy_text() -> str:
    """The game-community policy a moderator uploads (the shipped file; the shared test policy if absent)."""
    if _game_policy_exists():
        return (_repo() / "policies" / "game-community.md").read_text(encoding="utf-8")
    from tests.conftest import TEST_POLICY

    return TEST_POLICY


def cheat_reasoner() -> ScriptedReasoner:
    """gpt-oss-safeguard's stand-in: anything about cheats violates CH1, the rest is fine."""
    return ScriptedReasoner(by_keyword({"cheat": "CH1", "aimbot": "CH1"}))


async def make_harness(
    fake: FakeDiscord,
    tmp_path: Path,
    *,
    reasoner: ScriptedReasoner | None = None,
    server_defaults: ServerSettings | None = None,
    **discord_options: Any,
) -> Harness:
    settings = discord_settings(tmp_path, server_defaults=server_defaults, **discord_options)
    services = await build_services(settings, reasoner=reasoner or cheat_reasoner(), prefilter=None)
    adapter = DiscordAdapter(services.core, settings.discord, retry=FAST_RETRY, notice_ttl_s=None)
    services.dispatcher.register(adapter.platform, adapter.sink)
    services.adapters.append(adapter)
    try:
        await adapter.login()
        harness = Harness(fake, services, adapter)
        harness.feed("GUILD_CREATE", p.guild_create())
        await services.start()
        await harness.settle()
    except BaseException:
        await services.close()
        raise
    return harness


# -- interactions ---------------------------------------------------------------------------------

EPHEMERAL = 64
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6


@dataclass
class Answer:
    """How the bot answered one interaction."""

    callback: Recorded
    edits: list[Recorded]
    followups: list[Recorded]
    deleted_original: bool

    @property
    def embed(self) -> dict[str, Any]:
        """The embed of the final answer (the last edit of the original response, else the last follow-up)."""
        source = (self.followups or self.edits)[-1] if self.deleted_original else (self.edits or self.followups)[-1]
        (embed,) = source.body["embeds"]
        return embed

    @property
    def followup_embed(self) -> dict[str, Any]:
        """The embed of the last follow-up (buttons answer privately with a follow-up)."""
        (embed,) = self.followups[-1].body["embeds"]
        return embed

    @property
    def fields(self) -> dict[str, str]:
        return {f["name"]: f["value"] for f in self.embed.get("fields", [])}

    @property
    def ephemeral(self) -> bool:
        return bool(self.callback.body.get("data", {}).get("flags", 0) & EPHEMERAL)

    def buttons(self) -> list[tuple[str, str, bool]]:
        source = self.edits[-1]
        return [
            (c["label"], c["custom_id"], bool(c.get("disabled")))
            for row in source.body.get("components", [])
            for c in row["components"]
        ]


async def interact(harness: Harness, interaction: dict[str, Any]) -> Answer:
    await harness.send("INTERACTION_CREATE", interaction)
    token, fake = interaction["token"], harness.fake
    (callback,) = fake.calls("POST", rf"/interactions/{interaction['id']}/{token}/callback")
    return Answer(
        callback=callback,
        edits=fake.calls("PATCH", rf"/webhooks/{p.APP_ID}/{token}/messages/@original"),
        followups=fake.calls("POST", rf"/webhooks/{p.APP_ID}/{token}"),
        deleted_original=bool(fake.calls("DELETE", rf"/webhooks/{p.APP_ID}/{token}/messages/@original")),
    )


async def slash(harness: Harness, path: str, args: list[dict[str, Any]] | None = None, **kw: Any) -> Answer:
    return await interact(harness, p.slash(path, args, **kw))


async def audit(harness: Harness) -> list[tuple[str, str, bool]]:
    rows = await harness.services.storage.audit.audit_entries(SERVER, limit=100)
    return sorted(((r.actor_id, r.command, r.allowed) for r in rows), key=lambda row: row[1])


def upload_payload(harness: Harness, name: str, data: bytes, **kw: Any) -> dict[str, Any]:
    harness.fake.files[name] = data
    attachment_id = p.snowflake()
    attachment = p.attachment(attachment_id, name, harness.fake.cdn_url(name), len(data))
    return p.slash(
        "policy upload", [p.option("document", 11, attachment_id)], resolved={"attachments": {attachment_id: attachment}}, **kw
    )


def user_option(user_id: str, name: str = "member") -> tuple[dict[str, Any], dict[str, Any]]:
    resolved = {
        "users": {user_id: p.user(user_id, "seller")},
        "members": {user_id: {**p.member(user_id, roles=[], with_user=False), "permissions": "0"}},
    }
    return p.option(name, 6, user_id), resolved
