"""The ``modbot`` command line: serve, classify, db upgrade, policy validate (and model/prefilter tools)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

from modbot.config import AppSettings, SettingsError, load_settings
from modbot.domain import MessageEvent, ServerRef
from modbot.domain.policy import Policy, PolicyError
from modbot.package_data import default_policy_file, version as modbot_version
from modbot.cli.policy import PolicyDirOption, describe, load_with_bases, policy_lint
from modbot.policy_files import load_policy

__all__ = ["app", "main"]

app = typer.Typer(
    name="modbot",
    help="Self-hosted chat moderation for Discord and Slack, reasoning over your community's written policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
policy_app = typer.Typer(help="Policy documents.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")

err = Console(stderr=True)

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="Settings file (TOML). Default: $MODBOT_CONFIG or ./modbot.toml.")
]

EXIT_USAGE = 2


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"modbot {modbot_version()}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print modbot's version and exit.")
    ] = False,
) -> None:
    """Self-hosted chat moderation for Discord and Slack, reasoning over your community's written policy."""


def _settings(config: Path | None, **overrides: object) -> AppSettings:
    try:
        return load_settings(config, **overrides)
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def _setup_logging(level: str, log_format: str = "text", settings: AppSettings | None = None) -> None:
    """Text or JSON lines on stderr, with the settings' secret values masked (``modbot.cli.logs``)."""
    from modbot.cli.logs import secret_values, setup_logging

    setup_logging(level, "json" if log_format == "json" else "text", secret_values(settings) if settings else ())


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOption = None,
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="Overrides the setting.")] = None,
) -> None:
    """Upgrade the database schema to the newest migration."""
    from modbot.app import upgrade_database

    settings = _settings(config, **({"database_url": database_url} if database_url else {}))
    upgrade_database(settings.database_url)
    err.print(f"[green]database is up to date[/green]: {_redact_url(settings.database_url)}")


@db_app.command("backup")
def db_backup(
    destination: Annotated[Path, typer.Argument(help="The file to write the copy to.")],
    config: ConfigOption = None,
    database_url: Annotated[Optional[str], typer.Option("--database-url", help="Overrides the setting.")] = None,
) -> None:
    """Copy the live database consistently (SQLite's online backup); for PostgreSQL it says to use pg_dump."""
    from modbot.app import BackupError, backup_database

    settings = _settings(config, **({"database_url": database_url} if database_url else {}))
    try:
        size = backup_database(settings.database_url, destination)
    except (BackupError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    err.print(f"[green]backed up[/green] {_redact_url(settings.database_url)} to {destination} ({size:,} bytes)")


policy_app.command("lint")(policy_lint)


@policy_app.command("validate")
def policy_validate(
    files: Annotated[list[Path], typer.Argument(help="Policy documents to check.")], policy_dir: PolicyDirOption = None
) -> None:
    """Validate policy documents; prints the version (content hash) of each, or the line of the first mistake.

    A plain policy (no front matter) is accepted; the line says what was inferred (``inferred``)."""
    failed = False
    for path in files:
        try:
            policy = load_with_bases(path, policy_dir)
        except PolicyError as exc:
            failed = True
            err.print(f"[red]invalid[/red] {exc}")
            continue
        typer.echo(json.dumps(describe(path, policy), ensure_ascii=False))
    if failed:
        raise typer.Exit(1)


class InputError(ValueError):
    """One stdin line that is not a message; ``classify`` prints it as an error object and goes on."""

    def __init__(self, number: int, message: str):
        super().__init__(f"stdin line {number}: {message}")
        self.number = number
        self.message = message


def _read_inputs(text: str | None) -> Iterator[tuple[object, str] | InputError]:
    """(id, text) pairs, one at a time: the argument, or JSON lines on stdin as they arrive
    (``{"text": ..., "id": ...}`` or a JSON string); a bad line is an ``InputError`` in its place."""
    if text is not None and text != "-":
        yield (None, text)
        return
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield InputError(number, "not UTF-8")
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputError(number, f"not JSON ({exc.msg})")
            continue
        if isinstance(row, str):
            yield (number, row)
        elif isinstance(row, dict) and isinstance(row.get("text"), str):
            yield (row.get("id", number), row["text"])
        else:
            yield InputError(number, 'expected a JSON string or an object with a "text" string')


@app.command()
def classify(
    text: Annotated[Optional[str], typer.Argument(help="Message text; omit or '-' to read JSON lines from stdin.")] = None,
    policy: Annotated[
        Optional[Path], typer.Option("--policy", "-p", help="Policy document. Default: the shipped game-community policy.")
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="GGUF of gpt-oss-safeguard: send every message to the reasoner.")
    ] = None,
    prefilter: Annotated[Optional[Path], typer.Option("--prefilter", help="Prefilter model folder (train-prefilter output).")] = None,
    no_prefilter: Annotated[bool, typer.Option("--no-prefilter", help="Skip the embedding stage.")] = False,
    config: ConfigOption = None,
) -> None:
    """Judge text against a policy and print one verdict JSON object per message."""
    settings = _settings(config)
    try:
        loaded = load_policy(policy if policy is not None else default_policy_file())
    except (PolicyError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        bad_lines = asyncio.run(_classify(settings, loaded, _read_inputs(text), model, prefilter, no_prefilter))
    except FileNotFoundError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
    if bad_lines:
        err.print(f"[red]error:[/red] {bad_lines} stdin line(s) could not be judged (see their error objects)")
        raise typer.Exit(EXIT_USAGE)


async def _classify(
    settings: AppSettings,
    policy: Policy,
    inputs: Iterator[tuple[object, str] | InputError],
    model: Path | None,
    prefilter_dir: Path | None,
    no_prefilter: bool,
) -> int:
    """Judge and print each input as it is read (a bad line never costs the good ones); returns the bad lines."""
    from modbot.app import build_prefilter, build_reasoner
    from modbot.moderation.judge import Judge, Routing
    from modbot.moderation.pipeline import sanitize_text
    from modbot.stages.keywords import MatcherCache

    if model is not None and not model.is_file():
        raise FileNotFoundError(f"model file not found: {model}")
    reasoner = build_reasoner(settings, model) if model is not None else None
    prefilter = None if no_prefilter else build_prefilter(settings, prefilter_dir)
    judge = Judge(prefilter=prefilter, reasoner=reasoner)
    matcher = MatcherCache().get(policy)
    routing = Routing.from_settings(settings.server_defaults)
    bad = 0
    try:
        for number, item in enumerate(inputs, start=1):
            if isinstance(item, InputError):
                bad += 1
                typer.echo(json.dumps({"line": item.number, "error": item.message}))
                continue
            ident, text = item
            event = MessageEvent(
                server=ServerRef("cli", "local"),
                channel_id="cli",
                message_id=str(ident if ident is not None else number),
                author_id="cli",
                text=sanitize_text(text, settings.pipeline.max_text_chars),
            )
            verdict = await judge.judge(event, policy, matcher, routing, force_reasoner=reasoner is not None)
            out = verdict.to_public_dict()
            if ident is not None:
                out = {"id": ident, **out}
            # Lone surrogates (escaped in the input) would make print fail: JSON-escape non-ASCII then.
            typer.echo(json.dumps(out, ensure_ascii=not _encodable(out)))
    finally:
        if reasoner is not None:
            await reasoner.aclose()
        if prefilter is not None:
            await prefilter.aclose()
    return bad


def _encodable(out: dict[str, object]) -> bool:
    try:
        json.dumps(out, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@app.command()
def serve(
    config: ConfigOption = None,
    log_format: Annotated[
        Optional[Literal["text", "json"]],
        typer.Option("--log-format", help="Log lines as text, or as JSON objects (default: the log_format setting)."),
    ] = None,
) -> None:
    """Run the bot: migrate the database, resume pending messages, connect the configured platforms."""
    from modbot.app import missing_platform_settings

    settings = _settings(config)
    _setup_logging(settings.log_level, log_format or settings.log_format, settings)
    missing = missing_platform_settings(settings)
    if all(missing.values()):
        err.print("[red]No platform is configured[/red], so there is nothing to serve. Set, for")
        for adapter, needs in missing.items():
            # markup=False: "[http_api] port" is a TOML table, not a rich tag to swallow.
            err.print(f"  {adapter.rsplit('.', 1)[-1]}: {', '.join(needs)}", markup=False)
        err.print("(environment variables, or the same keys in modbot.toml; see README.md)")
        raise typer.Exit(EXIT_USAGE)
    asyncio.run(_serve(settings))


async def _serve(settings: AppSettings) -> None:
    from rich.markup import escape

    from modbot.app import build_services, create_adapters
    from modbot.runtime import Backoff, PlatformSupervisor, cancel_and_wait

    services = await build_services(settings)
    adapters = create_adapters(services)
    await services.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Each platform connects, fails and retries on its own (bot/runtime/supervisor.py); only refused
    # credentials stop one, and the core goes on serving the others.
    retry = settings.platforms
    supervisor = PlatformSupervisor(
        adapters,
        backoff=Backoff(retry.reconnect_base_s, retry.reconnect_max_s, retry.reconnect_jitter),
        state=services.platform_state,
        errors=services.platform_error,
    )
    supervising = asyncio.create_task(supervisor.run(), name="platforms")
    logging.getLogger("modbot").info("serving %s", ", ".join(a.platform for a in adapters))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([supervising, stopper], return_when=asyncio.FIRST_COMPLETED)
        if supervising.done() and not stopper.done():
            # Every platform stopped for good (refused credentials): nothing is left to serve.
            err.print("[red]modbot serve stopped: no platform is left running.[/red]", soft_wrap=True)
            for stopped in supervising.result():
                err.print(f"  {stopped.platform}: {escape(stopped.reason)}", soft_wrap=True)
            raise typer.Exit(1)
    finally:
        for task in (supervising, stopper):
            await cancel_and_wait(task)
        await services.close()


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _register_optional_commands() -> None:
    """Mount the model and prefilter tools (kept in their own modules)."""
    from modbot.cli.model import model_app
    from modbot.cli.prefilter import register

    app.add_typer(model_app, name="model")
    register(app)
    from modbot.cli.doctor import register as register_doctor

    register_doctor(app)  # modbot doctor
    from modbot.cli.policy_tools import register as register_policy_tools

    register_policy_tools(policy_app)  # policy test, policy replay
    from modbot.app import adapter_cli_apps

    # Platforms bring their own tools (e.g. ``modbot http-api token create``) without the CLI knowing them.
    for name, sub_app in adapter_cli_apps():
        app.add_typer(sub_app, name=name)  # type: ignore[arg-type]


def main() -> None:
    """Console-script entry point: an operator's failure (database unreachable, a file missing) is one
    line and exit status 1, never a traceback (``modbot.cli.failures``)."""
    from modbot.cli.failures import run_reporting_failures

    _register_optional_commands()
    run_reporting_failures(lambda: app(standalone_mode=True), _known_secrets)


def _known_secrets() -> list[str]:
    from modbot.cli.logs import secret_values

    return secret_values(load_settings(None))


if __name__ == "__main__":
    main()
