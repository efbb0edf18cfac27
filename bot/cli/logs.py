"""Log output for ``modbot serve``: text for people, or JSON lines (``--log-format json``) for log shippers.

Either way the settings' secret values (tokens, signing secrets, the reasoner's API key, the database
password) are replaced by ``***`` wherever a message or a traceback would carry one: the code never logs
them on purpose, and this makes sure a library's message or an exception's text does not either.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

__all__ = ["JsonFormatter", "RedactingFormatter", "secret_values", "setup_logging"]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"
#: Shorter values are not masked: masking "abc" everywhere would garble ordinary words.
MIN_SECRET_CHARS = 6
#: Keys of the free-form ``[reasoner]`` table whose values are secrets.
SECRET_KEYS = ("key", "token", "secret", "password")
#: Secrets the settings do not hold themselves (read by the reasoner's own config).
SECRET_ENV = ("MODBOT_REASONER_API_KEY",)


class _Redactor:
    def __init__(self, secrets: Iterable[str]):
        # Longest first: a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class RedactingFormatter(logging.Formatter):
    """The usual text lines, secrets masked."""

    def __init__(self, secrets: Iterable[str] = (), fmt: str = TEXT_FORMAT):
        super().__init__(fmt)
        self._redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and
    ``exception`` (the traceback's text) or ``stack`` when the record has one; secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self._redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self._redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = self._redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self._redact(self.formatStack(record.stack_info))
        # Masked field by field before encoding: JSON escaping would hide a secret holding a quote.
        return json.dumps(entry, ensure_ascii=False, default=str)


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret value in the settings (``SecretStr`` fields, secret-looking ``[reasoner]`` keys,
    the database URL's password) and in the secret environment variables read elsewhere."""
    found = list(_walk(settings))
    found.extend(value for name in SECRET_ENV if (value := os.environ.get(name)))
    url = getattr(settings, "database_url", None)
    if isinstance(url, str):
        from sqlalchemy.engine import make_url

        try:
            password = make_url(url).password
        except Exception:  # an unparsable URL fails elsewhere, with a clear message
            password = None
        if password:
            found.append(str(password))
    return found


def _walk(value: object, key: str = "") -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), name)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _walk(item, str(name))
    elif isinstance(value, str) and any(word in key.lower() for word in SECRET_KEYS):
        yield value


def setup_logging(level: str, log_format: LogFormat = "text", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger on stderr (replacing handlers a library may have added)."""
    formatter: logging.Formatter = JsonFormatter(secrets) if log_format == "json" else RedactingFormatter(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Python's warnings and an uncaught exception's traceback become log records too, so a JSON log
    # stays JSON on every line (and a traceback is masked like any message).
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    # httpx logs every request's full URL at INFO; a callback or reasoner URL may carry credentials.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # aiosqlite (DEBUG) and SQLAlchemy's engine (INFO, when the root is at DEBUG) print every SQL
    # parameter: tokens stored in the database (a Slack workspace's OAuth install) and members'
    # messages, which no mask knows. tests/test_secrets_startup.py checks it.
    for name in ("aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("modbot").critical("uncaught exception", exc_info=(kind, value, traceback))
