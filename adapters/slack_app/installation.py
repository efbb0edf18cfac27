"""Multi-workspace installs: where each workspace's tokens come from.

OAuth installations and the OAuth ``state`` of installs in progress are kept by slack-sdk's own
SQLAlchemy stores, in the adapter's own tables (``slack_installations``, ``slack_bots``,
``slack_oauth_states``, created by migration 0003) of the bot's database. So an install that is half
way through survives a restart, and the core knows nothing about Slack OAuth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = [
    "OAUTH_STATE_TTL_S",
    "InstalledTokens",
    "OAuthStores",
    "StaticTokens",
    "TokenSource",
    "oauth_stores",
]

log = logging.getLogger(__name__)

#: How long an install may take between "Add to Slack" and Slack's redirect back.
OAUTH_STATE_TTL_S = 600
#: The client id of installs carried over by migration 0003 (the old table did not store it).
UNCLAIMED = ""


@dataclass(frozen=True, slots=True)
class OAuthStores:
    """slack-sdk's installation and OAuth-state stores on one engine (``aclose`` disposes of it)."""

    engine: AsyncEngine
    installations: AsyncSQLAlchemyInstallationStore
    states: AsyncSQLAlchemyOAuthStateStore

    async def adopt_unclaimed(self) -> int:
        """Claim the installs carried over from before migration 0003 (stored without a client id)."""
        claimed = 0
        async with self.engine.begin() as connection:
            for table in (self.installations.installations, self.installations.bots):
                result = await connection.execute(
                    table.update().where(table.c.client_id == UNCLAIMED).values(client_id=self.installations.client_id)
                )
                claimed += max(result.rowcount or 0, 0)
        return claimed

    async def aclose(self) -> None:
        """Close the stores' database connections."""
        await self.engine.dispose()


def oauth_stores(database_url: str, client_id: str) -> OAuthStores:
    """The stores for ``client_id``'s installs, on the bot's database (tables from migration 0003)."""
    engine = create_async_engine(database_url)
    return OAuthStores(
        engine=engine,
        installations=AsyncSQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log),
        states=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=OAUTH_STATE_TTL_S, engine=engine, logger=log),
    )


class TokenSource(Protocol):
    """Which tokens act in a workspace."""

    async def bot_token(self, team_id: str) -> str | None: ...

    async def admin_token(self, team_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class StaticTokens:
    """Single-workspace setup: one bot token (``SLACK_BOT_TOKEN``), optionally an admin user token."""

    bot: str
    admin: str | None = None

    async def bot_token(self, team_id: str) -> str | None:
        return self.bot

    async def admin_token(self, team_id: str) -> str | None:
        return self.admin


class InstalledTokens:
    """Multi-workspace setup: each workspace's bot token from its OAuth installation.

    The admin token is the installing user's token when the install granted ``chat:write`` as a user
    scope (it deletes members' messages only if that user is a workspace admin), else the configured
    ``SLACK_ADMIN_USER_TOKEN``.
    """

    def __init__(self, installations: AsyncSQLAlchemyInstallationStore, admin: str | None = None):
        self.installations = installations
        self.admin = admin
        self._enterprise_of: dict[str, str | None] = {}

    def remember(self, team_id: str | None, enterprise_id: str | None) -> None:
        """Note a workspace's Enterprise Grid org (seen on its requests), needed to find its install."""
        if team_id:
            self._enterprise_of[team_id] = enterprise_id

    async def bot_token(self, team_id: str) -> str | None:
        bot = await self.installations.async_find_bot(enterprise_id=self._enterprise_of.get(team_id), team_id=team_id)
        return bot.bot_token if bot is not None else None

    async def admin_token(self, team_id: str) -> str | None:
        installation = await self.installations.async_find_installation(
            enterprise_id=self._enterprise_of.get(team_id), team_id=team_id
        )
        if installation is not None and installation.user_token and "chat:write" in (installation.user_scopes or ()):
            return installation.user_token
        return self.admin
