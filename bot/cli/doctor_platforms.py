"""``modbot doctor``'s checks of the platform tokens and of what Discord, Slack and the reasoner server say.

Tokens are said to be present or missing, never shown. Where a platform can be reached its API is
asked about the token: Discord's ``users/@me`` (the token), ``oauth2/applications/@me`` (the Message
Content intent) and ``users/@me/guilds`` (the bot's server-wide permissions in every server); Slack's
``auth.test`` (the token, its workspace, and its scopes when Slack reports them). An HTTP reasoner
backend is asked for ``/health``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from modbot.cli.doctor_checks import Finding
from modbot.config import AppSettings
from modbot.stages.reasoner.config import ReasonerSettings

__all__ = [
    "DISCORD_PERMISSIONS",
    "SLACK_BOT_SCOPES",
    "Endpoints",
    "check_discord",
    "check_http_api",
    "check_reasoner_server",
    "check_slack",
]


@dataclass(frozen=True)
class Endpoints:
    """Where the platforms' APIs are (tests point these at loopback fakes)."""

    discord_api: str = "https://discord.com/api/v10"
    slack_api: str = "https://slack.com/api/"
    timeout_s: float = 10.0


#: The permissions modbot's invite URL asks for (README, "Discord"), by bit.
DISCORD_PERMISSIONS = {
    10: "View Channels",
    16: "Read Message History",
    11: "Send Messages",
    38: "Send Messages in Threads",
    14: "Embed Links",
    13: "Manage Messages",
    40: "Moderate Members",
    2: "Ban Members",
}
_ADMINISTRATOR = 1 << 3
#: Application flags: the Message Content intent, full (verified bots) or limited (under 100 servers).
_MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
#: Guild pages asked for at most (200 a page): a bot in more servers is reported on its first 2,000.
_MAX_GUILD_PAGES = 10
#: Servers listed one line each before the rest are counted.
_MAX_GUILD_LINES = 20

#: The bot scopes in slack/manifest.yml.
SLACK_BOT_SCOPES = ("channels:history", "groups:history", "chat:write", "commands", "users:read", "usergroups:read", "im:write")


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    text = getter() if getter is not None else value
    return text or None


def check_discord(settings: AppSettings, endpoints: Endpoints, *, offline: bool = False) -> list[Finding]:
    """The Discord token: present, accepted, with the Message Content intent and the permissions modbot needs."""
    token = _secret(settings.discord.token)
    if token is None:
        return [Finding("info", "discord", "not configured (DISCORD_TOKEN is not set)")]
    if offline:
        return [Finding("ok", "discord", "DISCORD_TOKEN is set (not checked: --offline)")]
    headers = {"Authorization": f"Bot {token}", "User-Agent": "modbot-doctor"}
    try:
        with httpx.Client(base_url=endpoints.discord_api.rstrip("/"), headers=headers, timeout=endpoints.timeout_s) as client:
            me = client.get("/users/@me")
            if me.status_code == 401:
                return [Finding("fail", "discord", "Discord rejects DISCORD_TOKEN (401)",
                                "reset the token under Bot in the Developer Portal and set DISCORD_TOKEN again")]
            me.raise_for_status()
            user = me.json()
            findings = [Finding("ok", "discord", f"token accepted: {user.get('username', '?')} (id {user.get('id', '?')})")]
            findings.append(_message_content(client.get("/oauth2/applications/@me")))
            findings.extend(_guilds(client))
            return findings
    except (httpx.HTTPError, ValueError) as exc:
        return [Finding("warn", "discord", f"cannot ask Discord about the token ({_reason(exc)})",
                        "check this machine's connection to discord.com")]


def _message_content(answer: httpx.Response) -> Finding:
    if answer.status_code != 200:
        return Finding("warn", "discord", f"cannot read the application's intents (HTTP {answer.status_code})")
    if int(answer.json().get("flags") or 0) & _MESSAGE_CONTENT_FLAGS:
        return Finding("ok", "discord", "Message Content intent is on")
    return Finding("fail", "discord", "Message Content intent is off: modbot cannot read messages",
                   "Developer Portal > your application > Bot > Privileged Gateway Intents: switch on Message Content Intent")


def _guilds(client: httpx.Client) -> list[Finding]:
    guilds: list[dict[str, object]] = []
    after = "0"
    for _ in range(_MAX_GUILD_PAGES):
        page = client.get("/users/@me/guilds", params={"limit": 200, "after": after})
        page.raise_for_status()
        batch = page.json()
        guilds.extend(batch)
        if len(batch) < 200:
            break
        after = str(batch[-1]["id"])
    findings = []
    for guild in guilds:
        missing = _missing_permissions(int(str(guild.get("permissions") or 0)))
        if missing:
            findings.append(Finding(
                "fail", "discord", f"server {guild.get('name', '?')} ({guild.get('id')}): missing {', '.join(missing)}",
                "give modbot's role these permissions (Server Settings > Roles), or invite it again with the URL in README.md",
            ))
    shown = findings[:_MAX_GUILD_LINES]
    if len(findings) > len(shown):
        shown.append(Finding("fail", "discord", f"... and {len(findings) - len(shown)} more servers missing permissions"))
    complete = len(guilds) - len(findings)
    summary = Finding("ok" if guilds else "warn", "discord",
                      f"in {len(guilds)} server(s); {complete} with every permission modbot uses",
                      None if guilds else "invite the bot to a server with the URL in README.md")
    return [summary, *shown]


def _missing_permissions(bits: int) -> list[str]:
    if bits & _ADMINISTRATOR:
        return []
    return [name for bit, name in DISCORD_PERMISSIONS.items() if not bits & (1 << bit)]


def check_slack(settings: AppSettings, endpoints: Endpoints, *, offline: bool = False) -> list[Finding]:
    """The Slack tokens: present, accepted by ``auth.test``, with the manifest's scopes."""
    slack = settings.slack
    bot_token = _secret(slack.bot_token)
    if bot_token is None:
        if slack.client_id:
            return [Finding("info", "slack", "multi-workspace (OAuth): bot tokens come from the installations in the database")]
        return [Finding("info", "slack", "not configured (SLACK_BOT_TOKEN is not set)")]
    findings = []
    if slack.mode == "socket" and not _secret(slack.app_token):
        findings.append(Finding("fail", "slack", "Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token)",
                                "create one under Basic Information > App-Level Tokens (scope connections:write)"))
    if slack.mode == "http" and not _secret(slack.signing_secret):
        findings.append(Finding("fail", "slack", "HTTP mode needs SLACK_SIGNING_SECRET", "copy it from Basic Information"))
    if not _secret(slack.admin_user_token):
        findings.append(Finding("warn", "slack", "SLACK_ADMIN_USER_TOKEN is not set: modbot cannot delete members' messages",
                                "set a workspace admin's user token (xoxp-, scope chat:write)"))
    if offline:
        return [Finding("ok", "slack", "SLACK_BOT_TOKEN is set (not checked: --offline)"), *findings]
    findings[:0] = _auth_test("bot token", bot_token, endpoints, SLACK_BOT_SCOPES)
    admin = _secret(slack.admin_user_token)
    if admin is not None:
        findings.extend(_auth_test("admin user token", admin, endpoints, ("chat:write",)))
    return findings


def _auth_test(what: str, token: str, endpoints: Endpoints, scopes: tuple[str, ...]) -> list[Finding]:
    try:
        answer = httpx.post(endpoints.slack_api.rstrip("/") + "/auth.test",
                            headers={"Authorization": f"Bearer {token}"}, timeout=endpoints.timeout_s)
        answer.raise_for_status()
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return [Finding("warn", "slack", f"cannot ask Slack about the {what} ({_reason(exc)})",
                        "check this machine's connection to slack.com")]
    if not body.get("ok"):
        return [Finding("fail", "slack", f"Slack rejects the {what} ({body.get('error', 'unknown error')})",
                        "reinstall the app to the workspace and copy its tokens again")]
    findings = [Finding("ok", "slack", f"{what} accepted: {body.get('user', '?')} in workspace {body.get('team', '?')} ({body.get('team_id', '?')})")]
    granted = answer.headers.get("x-oauth-scopes")
    if granted is not None:
        missing = [scope for scope in scopes if scope not in {s.strip() for s in granted.split(",")}]
        if missing:
            findings.append(Finding("fail", "slack", f"the {what} lacks the scopes {', '.join(missing)}",
                                    "add them under OAuth & Permissions (or from slack/manifest.yml) and reinstall the app"))
    return findings


def check_http_api(settings: AppSettings) -> list[Finding]:
    """The HTTP event API: on or off, and whether its operator token and callback secret are set."""
    api = settings.http_api
    if api.port is None:
        return [Finding("info", "http api", "off ([http_api] port is not set)")]
    findings = [Finding("ok", "http api", f"on {api.host}:{api.port}")]
    if api.callback_url and not _secret(api.callback_secret):
        findings.append(Finding("fail", "http api", "callback_url is set but MODBOT_HTTP_API__CALLBACK_SECRET is not",
                                "set MODBOT_HTTP_API__CALLBACK_SECRET (`modbot http-api secret` makes one)"))
    return findings


def check_reasoner_server(reasoner: ReasonerSettings, endpoints: Endpoints, *, offline: bool = False) -> list[Finding]:
    """An HTTP reasoner backend (llama-server, vLLM): does its ``/health`` answer?"""
    if reasoner.backend != "http" or reasoner.base_url is None:
        return []
    base = httpx.URL(reasoner.base_url)
    shown = str(base.copy_with(username=None, password=None, query=None))
    if offline:
        return [Finding("ok", "reasoner", f"HTTP backend {shown} (not checked: --offline)")]
    headers = {}
    key = _secret(reasoner.api_key)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        answer = httpx.get(reasoner.base_url.rstrip("/") + "/health", headers=headers, timeout=endpoints.timeout_s)
    except httpx.HTTPError as exc:
        return [Finding("fail", "reasoner", f"HTTP backend {shown} does not answer ({_reason(exc)})",
                        "start the llama-server/vLLM or fix reasoner.base_url")]
    if answer.status_code == 200:
        return [Finding("ok", "reasoner", f"HTTP backend {shown} is healthy ({reasoner.http_api} API, model {reasoner.http_model})")]
    if answer.status_code == 503:
        return [Finding("warn", "reasoner", f"HTTP backend {shown} is still loading its model (503)", "wait, then run doctor again")]
    return [Finding("fail", "reasoner", f"HTTP backend {shown}: /health answered {answer.status_code}",
                    "check reasoner.base_url and MODBOT_REASONER_API_KEY")]


def _reason(exc: Exception) -> str:
    """An error's class and status, never its message (which may hold a URL with credentials)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return exc.__class__.__name__
