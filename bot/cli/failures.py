"""One clear line instead of a traceback for the failures an operator causes and can fix.

A database that cannot be reached, a file that is missing, a model that will not load: ``modbot``
prints what failed and what to check, and exits 1. The line never carries a secret: database errors
show the driver's own first line (never the statement or its parameters, which may hold tokens) and
every known secret value is masked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from modbot.moderation.storage_faults import first_line as _first_line

__all__ = ["EXIT_FAILURE", "describe_failure", "run_reporting_failures"]

EXIT_FAILURE = 1


def describe_failure(exc: BaseException) -> str | None:
    """The operator-facing line for ``exc``, or None when it is not a failure an operator can fix."""
    try:
        from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return None
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return f"the database URL is not usable ({_first_line(exc)}): check database_url / MODBOT_DATABASE_URL"
    if isinstance(exc, (OperationalError, DBAPIError)):
        cause = getattr(exc, "orig", None) or exc
        return f"the database refused or cannot be reached ({type(cause).__name__}: {_first_line(cause)}): check database_url"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return (
            f"a connection failed ({type(exc).__name__}: {_first_line(exc)}): is the database server in "
            "database_url (or the server the command names) up and reachable?"
        )
    if isinstance(exc, FileNotFoundError):
        return f"a file is missing: {_first_line(exc)}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {_first_line(exc)}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_first_line(exc)}"
    if type(exc).__name__ in ("ReasonerConfigError", "PolicyError", "BackupError", "PrefilterLoadError"):
        return _first_line(exc)
    return None


def run_reporting_failures(run: Callable[[], object], secrets: Callable[[], Iterable[str]] = lambda: ()) -> None:
    """Run the CLI; an operator's failure becomes one masked line on stderr and exit status 1."""
    try:
        run()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        line = describe_failure(exc)
        if line is None:
            raise
        for secret in _safe(secrets):
            if secret and len(secret) >= 4:
                line = line.replace(secret, "***")
        print(f"modbot: {line}", file=sys.stderr)
        raise SystemExit(EXIT_FAILURE) from None


def _safe(secrets: Callable[[], Iterable[str]]) -> list[str]:
    try:
        return list(secrets())
    except Exception:  # reading the settings may be what failed: mask what we can
        return []
