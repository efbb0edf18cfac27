"""A database that cannot take writes now (locked, full, gone) is not a bad row.

A row that fails ``MAX_ATTEMPTS`` times is failed for good (``modbot.moderation.intake``). Counting a fault of
the database against the rows would fail, for good, every message whose verdict could not be saved during
a full disk or a long lock. So such a failure leaves the row pending for the next sweep, uncounted, and the
operator is told once in a while, with the cause and how many were held back, instead of a traceback per
message and sweep.

The core does not import the database driver (import contracts), so the fault is recognised by the DB-API
exception class (PEP 249 ``OperationalError``: "errors related to the database's operation and not
necessarily under the control of the programmer", such as a lock, a full disk or a lost connection), which
SQLAlchemy keeps for the exceptions it wraps.
"""

from __future__ import annotations

import logging
import time

__all__ = ["StorageFaults", "first_line", "is_storage_fault"]


def is_storage_fault(exc: BaseException) -> bool:
    """True for a DB-API ``OperationalError`` (the driver's own, or SQLAlchemy's wrapper of it)."""
    return any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)


def first_line(exc: BaseException) -> str:
    """An error's first line, capped: SQLAlchemy's message goes on with the SQL and its bound values
    (message texts, stored tokens), which never belong in a log line or an operator's error."""
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


class StorageFaults:
    """Tells the operator about storage faults at most once per ``interval_s``; counts the rows held back."""

    def __init__(self, logger: logging.Logger, *, interval_s: float = 30.0):
        self._log = logger
        self.interval_s = interval_s
        self.held_back_rows = 0
        self._last = float("-inf")

    def held_back(self, exc: BaseException) -> bool:
        """If ``exc`` is a storage fault: note it (a warning now and then) and return True; else False."""
        if not is_storage_fault(exc):
            return False
        self.held_back_rows += 1
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._log.warning(
                "the database refuses writes (%s): messages stay pending and are judged once it takes them "
                "again (%d held back so far)",
                first_line(exc),
                self.held_back_rows,
            )
        return True
