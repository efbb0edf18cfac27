"""Discord adapter: gateway events → the moderation pipeline; actions and ``/mod`` commands → Discord.

Modules:

* ``convert`` — pure converters (message, raw edit, interaction) to the core's value objects;
* ``sink`` — ``DiscordActionSink``, the ``modbot.ports.ActionSink`` for Discord;
* ``render`` — embeds for replies and cases, the persistent case and queue buttons;
* ``commands`` — the ``/mod`` slash-command group, the "Report to modbot" message menu, the button handlers;
* ``client`` — the discord.py client and ``DiscordAdapter`` (``run``/``close``).

``modbot.app`` finds this module through ``ADAPTER_MODULES`` and calls ``missing_settings`` and
``create(core, settings)``. The adapter imports only ``modbot.domain``, ``modbot.ports`` (the ``Core`` facade)
and ``modbot.config``.
"""

from __future__ import annotations

from modbot.config import AppSettings
from modbot.ports import Core

from .client import (
    INVITE_PERMISSIONS,
    INVITE_SCOPES,
    DiscordAdapter,
    DiscordStartupError,
    MissingMessageContentIntent,
    build_intents,
    invite_url,
)
from .commands import REPORT_MENU_NAME, ModInteractions, build_mod_group, build_report_menu
from .convert import (
    fetch_context,
    invoker_from_interaction,
    is_platform_moderator,
    message_to_event,
    raw_edit_to_event,
    server_ref,
)
from .sink import MAX_TIMEOUT_S, DiscordActionSink, RetryPolicy

__all__ = [
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "MAX_TIMEOUT_S",
    "REPORT_MENU_NAME",
    "DiscordActionSink",
    "DiscordAdapter",
    "DiscordStartupError",
    "MissingMessageContentIntent",
    "ModInteractions",
    "RetryPolicy",
    "build_intents",
    "build_mod_group",
    "build_report_menu",
    "create",
    "fetch_context",
    "invite_url",
    "invoker_from_interaction",
    "is_platform_moderator",
    "message_to_event",
    "missing_settings",
    "raw_edit_to_event",
    "server_ref",
]


def missing_settings(settings: AppSettings) -> list[str]:
    """Environment variables still needed to run on Discord (empty: ready)."""
    token = settings.discord.token
    if token is None or not token.get_secret_value().strip():
        return ["DISCORD_TOKEN"]
    return []


def create(core: Core, settings: AppSettings) -> DiscordAdapter:
    """The Discord adapter for ``modbot serve`` (``modbot.app`` registers its sink with the dispatcher)."""
    return DiscordAdapter(core, settings.discord)
