"""Gateway and REST payloads in Discord's own shapes (API v10), for feeding discord.py's parsers.

Field names and types follow https://discord.com/developers/docs (guild create, message create,
interaction create). Ids are strings, timestamps ISO 8601, permissions decimal strings.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import Any

APP_ID = "1100000000000000001"
BOT_ID = APP_ID  # a bot user's id is its application's id
GUILD_ID = "1200000000000000001"
OTHER_GUILD_ID = "1200000000000000002"
OWNER_ID = "1300000000000000001"
MOD_ID = "1300000000000000002"
MEMBER_ID = "1300000000000000003"
SELLER_ID = "1300000000000000004"
GENERAL_ID = "1400000000000000001"
MOD_CHANNEL_ID = "1400000000000000002"
FORUM_ID = "1400000000000000003"
THREAD_ID = "1400000000000000004"
MOD_ROLE_ID = "1500000000000000001"
VIP_ROLE_ID = "1500000000000000002"

#: Manage Messages (1 << 13), as Discord sends it in ``member.permissions``.
MANAGE_MESSAGES = str(1 << 13)
NO_PERMISSIONS = "0"
#: What the bot itself holds (see INVITE_PERMISSIONS in the adapter).
BOT_PERMISSIONS = "1374389627908"

_sequence = itertools.count(1)
DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake() -> str:
    """A fresh id whose embedded timestamp is now, like Discord's."""
    millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((millis << 22) | (next(_sequence) & 0x3FFFFF))


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user_id,
        "username": name,
        "discriminator": "0",
        "global_name": name.capitalize(),
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        data["bot"] = True
    return data


def member(
    user_id: str, *, roles: list[str], name: str = "member", with_user: bool = True, permissions: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": roles,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "avatar": None,
        "banner": None,
        "premium_since": None,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(user_id, name)
    if permissions is not None:
        data["permissions"] = permissions
    return data


def role(role_id: str, name: str, position: int, permissions: str = "0") -> dict[str, Any]:
    return {
        "id": role_id,
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": permissions,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def text_channel(channel_id: str, name: str, position: int, guild_id: str = GUILD_ID) -> dict[str, Any]:
    return {
        "id": channel_id,
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "parent_id": None,
        "topic": None,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def forum_channel(channel_id: str, name: str, position: int) -> dict[str, Any]:
    return {
        **text_channel(channel_id, name, position),
        "type": 15,
        "available_tags": [],
        "default_reaction_emoji": None,
        "default_sort_order": None,
        "default_forum_layout": 0,
        "default_thread_rate_limit_per_user": 0,
    }


def thread(thread_id: str, parent_id: str, name: str, owner_id: str) -> dict[str, Any]:
    return {
        "id": thread_id,
        "type": 11,  # public thread (forum posts are public threads of a forum channel)
        "guild_id": GUILD_ID,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": name,
        "last_message_id": None,
        "message_count": 1,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "flags": 0,
        "applied_tags": [],
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
            "create_timestamp": "2024-01-01T00:00:00+00:00",
        },
    }


def guild_create(guild_id: str = GUILD_ID, name: str = "Raid Night") -> dict[str, Any]:
    """GUILD_CREATE: a game community with #general, #mod-log, a forum with one post, and two roles."""
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": OWNER_ID,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "application_id": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "features": ["COMMUNITY"],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "member_count": 4,
        "roles": [
            role(guild_id, "@everyone", 0, "1071698660929"),
            role(MOD_ROLE_ID, "Moderator", 2, MANAGE_MESSAGES),
            role(VIP_ROLE_ID, "VIP", 1),
        ],
        "emojis": [],
        "stickers": [],
        "members": [member(BOT_ID, roles=[], name="modbot")],
        "channels": [
            text_channel(GENERAL_ID, "general", 0, guild_id),
            text_channel(MOD_CHANNEL_ID, "mod-log", 1, guild_id),
            forum_channel(FORUM_ID, "lfg", 2),
        ],
        "threads": [thread(THREAD_ID, FORUM_ID, "LFG raid tonight", MEMBER_ID)],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def ready(guilds: list[dict[str, Any]], *, shard: list[int], resume_url: str) -> dict[str, Any]:
    return {
        "v": 10,
        "user": user(BOT_ID, "modbot", bot=True),
        "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
        "session_id": "fake-session",
        "resume_gateway_url": resume_url,
        "shard": shard,
        "application": {"id": APP_ID, "flags": 1 << 19},
        "private_channels": [],
        "relationships": [],
        "user_settings": {},
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "auth": {},
    }


def application() -> dict[str, Any]:
    return {
        "id": APP_ID,
        "name": "modbot",
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": user(OWNER_ID, "owner"),
        "team": None,
        "flags": 1 << 19,  # GATEWAY_MESSAGE_CONTENT_LIMITED... flags are informational here
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "tags": [],
    }


def attachment(attachment_id: str, filename: str, url: str, size: int, content_type: str = "text/markdown") -> dict[str, Any]:
    return {
        "id": attachment_id,
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }


def message(
    text: str,
    *,
    author_id: str = MEMBER_ID,
    channel_id: str = GENERAL_ID,
    guild_id: str | None = GUILD_ID,
    message_id: str | None = None,
    roles: list[str] | None = None,
    bot: bool = False,
    webhook_id: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    reply_to: str | None = None,
    edited: bool = False,
    message_type: int | None = None,
    include_member: bool = True,
) -> dict[str, Any]:
    """MESSAGE_CREATE / MESSAGE_UPDATE (Discord sends the full message in both)."""
    data: dict[str, Any] = {
        "id": message_id or snowflake(),
        "channel_id": channel_id,
        "author": user(author_id, "author", bot=bot),
        "content": text,
        "timestamp": "2024-06-01T12:00:00+00:00",
        "edited_timestamp": now_iso() if edited else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments or [],
        "embeds": [],
        "pinned": False,
        "type": message_type if message_type is not None else (19 if reply_to else 0),
        "flags": 0,
        "components": [],
    }
    if guild_id is not None:
        data["guild_id"] = guild_id
        if include_member and not webhook_id:
            data["member"] = member(author_id, roles=roles or [], with_user=False)
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
    if reply_to is not None:
        data["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id, "guild_id": guild_id}
        data["referenced_message"] = None
    return data


def bot_message(message_id: str, channel_id: str, body: Any, *, webhook_id: str | None = None) -> dict[str, Any]:
    """What Discord answers to a message the bot sent (echoing the content, embeds and components)."""
    body = body if isinstance(body, dict) else {}
    data = message(
        body.get("content") or "",
        author_id=BOT_ID,
        channel_id=channel_id,
        message_id=message_id,
        bot=True,
        include_member=False,
    )
    data["embeds"] = body.get("embeds") or []
    data["components"] = body.get("components") or []
    data["flags"] = body.get("flags") or 0
    if webhook_id is not None:
        data["webhook_id"] = webhook_id
        data["application_id"] = APP_ID
    return data


def dm_channel(channel_id: str, recipient_id: str) -> dict[str, Any]:
    return {"id": channel_id, "type": 1, "last_message_id": None, "flags": 0, "recipients": [user(recipient_id, "author")]}


def callback_response(interaction_id: str, body: Any) -> dict[str, Any]:
    kind = (body or {}).get("type", 5)
    flags = ((body or {}).get("data") or {}).get("flags", 0)
    return {
        "interaction": {
            "id": interaction_id,
            "type": 2,
            "activity_instance_id": None,
            "response_message_id": snowflake(),
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(flags & 64),
        },
        "resource": {"type": kind},
    }


# -- interactions ---------------------------------------------------------------------------------


def _interaction_base(
    kind: int, *, user_id: str, permissions: str, roles: list[str], guild_id: str, channel_id: str
) -> dict[str, Any]:
    interaction_id = snowflake()
    return {
        "id": interaction_id,
        "application_id": APP_ID,
        "type": kind,
        "guild_id": guild_id,
        "guild": {"id": guild_id, "locale": "en-US", "features": ["COMMUNITY"]},
        "channel_id": channel_id,
        "channel": {
            "id": channel_id,
            "type": 0,
            "guild_id": guild_id,
            "name": "mod-log",
            "position": 1,
            "permission_overwrites": [],
            "parent_id": None,
            "nsfw": False,
            "flags": 0,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
            "permissions": permissions,
        },
        "member": member(user_id, roles=roles, name="moderator" if permissions != "0" else "someone", permissions=permissions),
        "token": f"interaction-token-{interaction_id}",
        "version": 1,
        "app_permissions": BOT_PERMISSIONS,
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_id},
        "context": 0,
        "attachment_size_limit": 10 * 1024 * 1024,
    }


def option(name: str, kind: int, value: Any = None, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An application-command option: 1 subcommand, 2 group, 3 string, 4 integer, 5 boolean,
    6 user, 7 channel, 8 role, 11 attachment."""
    data: dict[str, Any] = {"name": name, "type": kind}
    if options is not None:
        data["options"] = options
    if value is not None:
        data["value"] = value
    return data


def slash(
    path: str,
    args: list[dict[str, Any]] | None = None,
    *,
    user_id: str = MOD_ID,
    permissions: str = MANAGE_MESSAGES,
    roles: list[str] | None = None,
    resolved: dict[str, Any] | None = None,
    guild_id: str = GUILD_ID,
    channel_id: str = MOD_CHANNEL_ID,
) -> dict[str, Any]:
    """INTERACTION_CREATE for ``/mod <path...>``, e.g. ``slash("policy upload", [option(...)])``."""
    parts = path.split()
    leaf = option(parts[-1], 1, options=args or [])
    if len(parts) == 2:
        leaf = option(parts[0], 2, options=[leaf])
    data = _interaction_base(
        2, user_id=user_id, permissions=permissions, roles=roles or [], guild_id=guild_id, channel_id=channel_id
    )
    data["data"] = {"id": snowflake(), "name": "mod", "type": 1, "guild_id": guild_id, "options": [leaf]}
    if resolved:
        data["data"]["resolved"] = resolved
    return data


def button_click(
    custom_id: str,
    message: dict[str, Any],
    *,
    user_id: str = MOD_ID,
    permissions: str = MANAGE_MESSAGES,
    roles: list[str] | None = None,
    guild_id: str = GUILD_ID,
) -> dict[str, Any]:
    """INTERACTION_CREATE for a click on a button of ``message`` (a message the bot posted)."""
    data = _interaction_base(
        3, user_id=user_id, permissions=permissions, roles=roles or [], guild_id=guild_id, channel_id=message["channel_id"]
    )
    data["data"] = {"custom_id": custom_id, "component_type": 2}
    data["message"] = {**message, "guild_id": guild_id}
    return data


def message_command(
    name: str,
    target: dict[str, Any],
    *,
    user_id: str = MOD_ID,
    permissions: str = MANAGE_MESSAGES,
    roles: list[str] | None = None,
    guild_id: str = GUILD_ID,
) -> dict[str, Any]:
    """INTERACTION_CREATE for a message context-menu command (type 3) run on ``target``.

    Discord resolves the target message into ``data.resolved.messages``, without its guild or member.
    """
    resolved = {key: value for key, value in target.items() if key not in ("guild_id", "member")}
    data = _interaction_base(
        2, user_id=user_id, permissions=permissions, roles=roles or [], guild_id=guild_id, channel_id=target["channel_id"]
    )
    data["data"] = {
        "id": snowflake(),
        "name": name,
        "type": 3,
        "guild_id": guild_id,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: resolved}},
    }
    return data


def forwarded_message(
    forwarded_text: str,
    *,
    text: str = "",
    forwarded_attachments: list[dict[str, Any]] | None = None,
    forwarded_from: str = "1999999999999999999",
    source_channel_id: str = MOD_CHANNEL_ID,
    **kwargs: Any,
) -> dict[str, Any]:
    """MESSAGE_CREATE of a forward: a type-1 reference and the forwarded message in ``message_snapshots``."""
    data = message(text, **kwargs)
    data["message_reference"] = {
        "type": 1,
        "message_id": forwarded_from,
        "channel_id": source_channel_id,
        "guild_id": data.get("guild_id"),
    }
    data["message_snapshots"] = [
        {
            "message": {
                "type": 0,
                "content": forwarded_text,
                "embeds": [],
                "attachments": forwarded_attachments or [],
                "timestamp": "2024-06-01T11:00:00+00:00",
                "edited_timestamp": None,
                "flags": 0,
                "mentions": [],
                "mention_roles": [],
                "components": [],
            }
        }
    ]
    return data
