"""Multi-workspace installs: bolt's installation store and OAuth state store, kept in our own database.

The ``installations`` table is append-only history: the newest row of a workspace (or of a user in
it) is its current state. A revoked token is recorded as a newer row without that token, so nothing
but an uninstall (``app_uninstalled`` → ``async_delete_all``) removes rows.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.domain import ServerRef
from bot.store.repository import Store

from .convert import PLATFORM

__all__ = ["DatabaseInstallationStore", "MemoryStateStore"]

log = logging.getLogger(__name__)

_BOT_FIELDS = ("bot_id", "bot_user_id", "bot_token", "bot_scopes", "bot_refresh_token", "bot_token_expires_at")


def _team_key(team_id: str | None, is_enterprise_install: bool | None) -> str | None:
    # An org-wide (Enterprise Grid) install belongs to the enterprise, not to one workspace.
    return None if is_enterprise_install else team_id


class DatabaseInstallationStore(AsyncInstallationStore):
    """``AsyncInstallationStore`` on top of ``Store.save_installation/find_installation/delete_installations``."""

    def __init__(self, store: Store):
        self.store = store

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        team_id = _team_key(installation.team_id, installation.is_enterprise_install)
        data: dict[str, Any] = dict(vars(installation))
        await self.store.save_installation(PLATFORM, installation.enterprise_id, team_id, installation.user_id, data)
        if installation.team_id:
            await self.store.ensure_server(ServerRef(PLATFORM, installation.team_id), installation.team_name or "")
        log.info("saved the Slack installation of team %s (enterprise %s)", installation.team_id, installation.enterprise_id)

    async def async_save_bot(self, bot: Bot) -> None:
        # Bots are saved as part of their installation (``async_save``); bolt only calls this for
        # token rotation, which the manifest leaves off.
        latest = await self._latest(bot.enterprise_id, _team_key(bot.team_id, bot.is_enterprise_install), None)
        if latest is None:
            return
        data = dict(vars(latest))
        for name in _BOT_FIELDS:
            data[name] = getattr(bot, name, None)
        await self.async_save(Installation(**data))

    async def _latest(self, enterprise_id: str | None, team_id: str | None, user_id: str | None) -> Installation | None:
        record = await self.store.find_installation(PLATFORM, enterprise_id, team_id, user_id)
        if record is None:
            return None
        try:
            return Installation(**record.data)
        except TypeError:
            log.error("an unreadable Slack installation row for team %s was ignored", team_id)
            return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        team = _team_key(team_id, is_enterprise_install)
        installation = await self._latest(enterprise_id, team, user_id)
        if installation is None or user_id is None:
            return installation
        # A user's own row may predate a reinstall: the workspace's newest bot token is the valid one.
        newest = await self._latest(enterprise_id, team, None)
        if newest is not None and newest.bot_token != installation.bot_token:
            for name in _BOT_FIELDS:
                setattr(installation, name, getattr(newest, name))
        return installation

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        installation = await self._latest(enterprise_id, _team_key(team_id, is_enterprise_install), None)
        if installation is None or not installation.bot_token:
            return None
        return installation.to_bot()

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The bot token was revoked: record the installation without it."""
        latest = await self._latest(enterprise_id, team_id, None)
        if latest is not None and latest.bot_token:
            data = dict(vars(latest))
            for name in _BOT_FIELDS:
                data[name] = [] if name == "bot_scopes" else None
            await self.store.save_installation(PLATFORM, enterprise_id, team_id, latest.user_id, data)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """A user token was revoked: record that user's installation without it."""
        if user_id is None:
            await self.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)
            return
        latest = await self._latest(enterprise_id, team_id, user_id)
        if latest is not None and latest.user_token:
            data = dict(vars(latest), user_token=None, user_refresh_token=None, user_token_expires_at=None, user_scopes=[])
            await self.store.save_installation(PLATFORM, enterprise_id, team_id, user_id, data)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The app was uninstalled: forget every token of that workspace."""
        removed = await self.store.delete_installations(PLATFORM, enterprise_id, team_id)
        log.info("removed %d Slack installation rows of team %s", removed, team_id)


class MemoryStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values for one running process (an install takes seconds, not restarts)."""

    def __init__(self, expiration_seconds: int = 600):
        self.expiration_seconds = expiration_seconds
        self._issued: dict[str, float] = {}

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        now = time.monotonic()
        for state, expires in list(self._issued.items()):
            if expires < now:
                del self._issued[state]
        state = secrets.token_urlsafe(24)
        self._issued[state] = now + self.expiration_seconds
        return state

    async def async_consume(self, state: str) -> bool:
        expires = self._issued.pop(state, None)
        return expires is not None and expires >= time.monotonic()
