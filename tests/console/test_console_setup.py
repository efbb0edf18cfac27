"""The console as a platform module: its settings (file and environment), what it says is missing,
its cookie rules, that ``modbot serve`` would start it, and that its secrets stay out of the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modbot_adapters import web_console
from modbot_adapters.web_console.adapter import ConsoleAdapter
from modbot_adapters.web_console.auth import may_moderate
from modbot.app import ADAPTER_MODULES, build_services, create_adapters
from modbot.config import ConsoleSettings, SlackSettings, load_settings
from tests.conftest import make_settings
from tests.console.fake_oauth import ADMINISTRATOR, CLIENT_SECRET, MANAGE_MESSAGES, SEND_MESSAGES, OAuthUser, guild
from tests.console.harness import GUILD_A, Console


def test_missing_settings_name_the_port_then_the_oauth_client(tmp_path: Path) -> None:
    assert web_console.missing_settings(make_settings(tmp_path)) == ["MODBOT_CONSOLE__PORT (or [console] port)"]
    only_port = make_settings(tmp_path, console=ConsoleSettings(port=8470))
    assert web_console.missing_settings(only_port) == [
        "MODBOT_CONSOLE__DISCORD_CLIENT_ID (or [console] discord_client_id)",
        "MODBOT_CONSOLE__DISCORD_CLIENT_SECRET",
    ]
    ready = make_settings(tmp_path, console=ConsoleSettings(port=8470, discord_client_id="1", discord_client_secret="s"))
    assert web_console.missing_settings(ready) == []
    # Slack's sign-in alone is enough too, with the bot token that asks Slack who moderates.
    slack_only = ConsoleSettings(port=8470, slack_client_id="1.2", slack_client_secret="s")
    assert web_console.missing_settings(make_settings(tmp_path, console=slack_only)) != []
    with_bot = make_settings(tmp_path, console=slack_only, slack=SlackSettings(bot_token="xoxb-1"))
    assert web_console.missing_settings(with_bot) == []
    assert "modbot_adapters.web_console" in ADAPTER_MODULES


def test_settings_come_from_the_file_and_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "modbot.toml"
    config.write_text('[console]\nhost = "0.0.0.0"\ndiscord_client_id = "777"\npublic_url = "https://mod.example.org"\n')
    monkeypatch.setenv("MODBOT_CONSOLE__PORT", "8470")
    monkeypatch.setenv("MODBOT_CONSOLE__DISCORD_CLIENT_SECRET", "from-env")
    settings = load_settings(config)
    console = settings.console
    assert (console.port, console.host, console.discord_client_id) == (8470, "0.0.0.0", "777")
    assert console.discord_client_secret is not None and console.discord_client_secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)


@pytest.mark.parametrize(
    ("public_url", "host", "secure"),
    [
        (None, "127.0.0.1", False),  # plain http on loopback: a Secure cookie would never come back
        ("http://localhost:8470", "127.0.0.1", False),
        ("https://mod.example.org", "0.0.0.0", True),
        (None, "0.0.0.0", True),  # plain http beyond loopback still marks the cookie Secure
    ],
)
def test_cookies_are_secure_unless_plain_http_on_loopback(tmp_path: Path, public_url: str | None, host: str, secure: bool) -> None:
    settings = make_settings(
        tmp_path, console=ConsoleSettings(port=8470, host=host, public_url=public_url, discord_client_id="1", discord_client_secret="s")
    )
    config = ConsoleAdapter(None, settings).console_config(8470)  # type: ignore[arg-type]
    assert config.secure_cookies is secure
    assert config.redirect_uri == f"{public_url or f'http://{host}:8470'}/auth/discord/callback"
    # The client and session secrets stay out of its repr (log lines, tracebacks' locals).
    assert repr(config) == f"ConsoleConfig(base_url={config.base_url!r}, secure_cookies={secure})"


def test_moderation_permissions_of_a_partial_guild() -> None:
    assert may_moderate(guild("1", "a", MANAGE_MESSAGES))
    assert may_moderate(guild("1", "a", ADMINISTRATOR))
    assert may_moderate(guild("1", "a", "0", owner=True))
    assert not may_moderate(guild("1", "a", SEND_MESSAGES))
    assert not may_moderate(guild("1", "a", "not a number"))


async def test_serve_creates_the_console_and_registers_its_sink(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, console=ConsoleSettings(port=0, discord_client_id="1", discord_client_secret="s"))
    services = await build_services(settings, reasoner=None, prefilter=None)
    try:
        adapters = create_adapters(services)
        assert [a.platform for a in adapters] == ["console"]
        assert services.dispatcher.sinks["console"] is adapters[0].sink
    finally:
        await services.close()


async def test_the_client_secret_and_access_token_never_reach_the_logs(console: Console, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with console.client() as client:
        home = await console.login(client, OAuthUser("900", "mia", [guild(GUILD_A, "Raid Night", MANAGE_MESSAGES)]))
        assert "Raid Night" in home.text
    assert console.oauth.secrets_seen[-1] == CLIENT_SECRET  # it was sent to the provider...
    logged = caplog.text
    assert CLIENT_SECRET not in logged and "access-" not in logged  # ... and never written to a log
    assert "900 logged in (1 servers to moderate)" in logged
