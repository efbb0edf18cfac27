"""The moderators' web console: queue, cases, stats, policy and settings pages behind Discord login.

A platform module like the others (see ``adapters/README.md``): ``missing_settings`` and ``create``.
It receives no messages; it only runs moderator commands through the ``Core`` facade, as the chat
adapters do, and renders their ``Reply`` values as HTML. Starlette and uvicorn load in ``create``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from modbot.config import AppSettings
from modbot.ports import Core

if TYPE_CHECKING:
    from .adapter import ConsoleAdapter

__all__ = ["PLATFORM", "create", "discord_login_ready", "missing_settings", "slack_login_ready"]

#: The adapter's platform name (its sink is registered for it; no server lives on it).
PLATFORM = "console"


def missing_settings(settings: AppSettings) -> list[str]:
    """What the console still needs: a port, then one login provider's client (Discord's, or Slack's)."""
    config = settings.console
    if config.port is None:
        return ["MODBOT_CONSOLE__PORT (or [console] port)"]
    if discord_login_ready(settings) or slack_login_ready(settings):
        return []
    missing = []
    if not config.discord_client_id:
        missing.append("MODBOT_CONSOLE__DISCORD_CLIENT_ID (or [console] discord_client_id)")
    if not _secret(config.discord_client_secret):
        missing.append("MODBOT_CONSOLE__DISCORD_CLIENT_SECRET")
    return missing


def _secret(value: SecretStr | None) -> bool:
    return value is not None and bool(value.get_secret_value())


def discord_login_ready(settings: AppSettings) -> bool:
    """Discord login is offered: its OAuth2 client id and secret are set."""
    return bool(settings.console.discord_client_id) and _secret(settings.console.discord_client_secret)


def slack_login_ready(settings: AppSettings) -> bool:
    """"Sign in with Slack" is offered: its client id and secret are set, and the bot token that asks Slack
    whether the user moderates (``SLACK_BOT_TOKEN``)."""
    console = settings.console
    return bool(console.slack_client_id) and _secret(console.slack_client_secret) and _secret(settings.slack.bot_token)


def create(core: Core, settings: AppSettings) -> ConsoleAdapter:
    """The console adapter on ``core`` (``modbot serve`` runs it)."""
    from .adapter import ConsoleAdapter

    return ConsoleAdapter(core, settings)
