"""``modbot http-api ...``: per-server tokens and callback secrets of the HTTP event API.

Tokens are written to the bot's database (``database_url``); a running bot picks a new one up at once
and notices a revoked one within 30 seconds (its token lookups are cached that long). The schema must
be current: run ``modbot db upgrade`` first (``modbot serve`` does it too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar
from urllib.parse import urlsplit

import typer

from modbot.config import AppSettings, SettingsError, load_settings

from .auth import TOKEN_CACHE_TTL_S
from .schemas import check_id
from .signing import server_secret

if TYPE_CHECKING:
    from .clients import ClientStore

__all__ = ["app"]

app = typer.Typer(
    help="The HTTP event API: per-server tokens and callback secrets.", no_args_is_help=True, pretty_exceptions_enable=False
)
token_app = typer.Typer(help="Per-server API tokens (a token works for its own server only).", no_args_is_help=True)
app.add_typer(token_app, name="token")

ConfigOption = Annotated[
    Optional[Path], typer.Option("--config", "-c", help="Settings file (TOML). Default: $MODBOT_CONFIG or ./modbot.toml.")
]
ServerOption = Annotated[str, typer.Option("--server", "-s", help="The server id (as in /v1/servers/<id>/...).")]

T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _settings(config: Path | None) -> AppSettings:
    try:
        return load_settings(config)
    except SettingsError as exc:
        raise _fail(str(exc), 2) from None


def _server(server: str) -> str:
    try:
        return check_id(server)
    except ValueError as exc:
        raise _fail(f"--server {exc}", 2) from None


def _with_store(settings: AppSettings, work: Callable[[ClientStore], Awaitable[T]]) -> T:
    # Imported here: SQLAlchemy is slow to import, and `modbot --help` should not wait for it.
    from sqlalchemy.exc import SQLAlchemyError

    from .clients import ClientStore, SchemaMissing

    async def _run() -> T:
        store = ClientStore(settings.database_url)
        try:
            await store.check_schema()
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(_run())
    except SchemaMissing as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _fail(f"the database could not be used ({type(exc).__name__}); check database_url") from None


def _derived_secret(settings: AppSettings, server: str) -> str | None:
    secret = settings.http_api.callback_secret.get_secret_value() if settings.http_api.callback_secret else ""
    return server_secret(secret, server) if secret else None


@token_app.command("create")
def token_create(
    server: ServerOption,
    callback_url: Annotated[
        Optional[str], typer.Option("--callback-url", help="Where this server's actions go (http or https); default: [http_api] callback_url.")
    ] = None,
    label: Annotated[str, typer.Option("--label", help="A note for the list (who has it, which plugin).")] = "",
    config: ConfigOption = None,
) -> None:
    """Make a token for one server and print it with the server's callback secret (shown once)."""
    server = _server(server)
    if callback_url is not None:
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            # Name the scheme only: the rest of a URL may carry a password (user:pass@host).
            raise _fail(f"--callback-url must be an http:// or https:// URL, not {parts.scheme or 'no'} scheme", 2)
    if len(label) > 200:
        raise _fail("--label is limited to 200 characters", 2)
    settings = _settings(config)
    issued = _with_store(settings, lambda store: store.create(server, callback_url=callback_url, label=label))
    typer.echo(f"server:          {server}")
    typer.echo(f"token id:        {issued.client.id}")
    typer.echo(f"token:           {issued.token}")
    secret = _derived_secret(settings, server)
    if secret is not None:
        typer.echo(f"callback secret: {secret}")
    else:
        typer.echo("callback secret: (none: set MODBOT_HTTP_API__CALLBACK_SECRET, then `modbot http-api secret --server ...`)")
    shown = callback_url or settings.http_api.callback_url
    typer.echo(f"callback URL:    {_shown_url(shown) if shown else '(none configured)'}")
    typer.echo("Store the token now: it will not be shown again (only its hash is kept).")
    typer.echo("The callback secret signs this server's callbacks; `modbot http-api secret --server ...` prints it again.")


def _shown_url(url: str | None) -> str:
    """A callback URL for the screen, with a password in it (``user:pass@host``) hidden."""
    parts = urlsplit(url or "")
    if not url or parts.password is None:
        return url or "-"
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


@token_app.command("list")
def token_list(
    server: Annotated[Optional[str], typer.Option("--server", "-s", help="Only this server's tokens.")] = None,
    config: ConfigOption = None,
) -> None:
    """List issued tokens (never the tokens themselves): id, server, state, callback URL, label."""
    server = _server(server) if server is not None else None
    clients = _with_store(_settings(config), lambda store: store.clients(server))
    if not clients:
        typer.echo("no tokens" + (f" for server {server}" if server else ""))
        return
    for client in clients:
        state = "active" if client.active else f"revoked {client.revoked_at:%Y-%m-%d %H:%M}"  # type: ignore[str-format]
        typer.echo(
            f"{client.id}\t{client.server_id}\t{state}\tcreated {client.created_at:%Y-%m-%d %H:%M}\t"
            f"{_shown_url(client.callback_url)}\t{client.label}"
        )


@token_app.command(
    "revoke",
    help=f"Revoke a server's tokens (all, or one with --id). A running bot refuses them within {TOKEN_CACHE_TTL_S:g} s "
    "(its token lookups are cached that long).",
)
def token_revoke(
    server: ServerOption,
    token_id: Annotated[Optional[int], typer.Option("--id", help="Only this token (an id from `token list`).")] = None,
    config: ConfigOption = None,
) -> None:
    server = _server(server)
    count = _with_store(_settings(config), lambda store: store.revoke(server, token_id))
    if count == 0:
        raise _fail(f"no active token {'#' + str(token_id) + ' ' if token_id is not None else ''}for server {server}")
    typer.echo(
        f"revoked {count} token{'s' if count != 1 else ''} of server {server}; a running bot refuses "
        f"{'them' if count != 1 else 'it'} within {TOKEN_CACHE_TTL_S:g} s"
    )


@app.command("secret")
def secret(server: ServerOption, config: ConfigOption = None) -> None:
    """Print the secret that signs the callbacks of a server with its own token."""
    server = _server(server)
    settings = _settings(config)
    derived = _derived_secret(settings, server)
    if derived is None:
        raise _fail("MODBOT_HTTP_API__CALLBACK_SECRET is not set: callbacks are not signed, so none can be delivered")
    active = _with_store(settings, lambda store: store.clients(server, include_revoked=False))
    if not active:
        typer.echo(
            f"note: server {server} has no active token of its own, so its callbacks are signed with callback_secret "
            "itself; this secret applies once it has one (`modbot http-api token create`).",
            err=True,
        )
    typer.echo(derived)
