"""Who holds a row: the identity of this bot process, and which holders are known to be dead.

Several bot processes may share one database (PostgreSQL; SQLite on one machine works too). A pending
message or an outbox action being worked on is *claimed*: ``claimed_by`` names the holder, and a lease
(``messages.claimed_until``, ``action_outbox.next_attempt_at``) says until when. Any process may take a
row whose lease has run out. A live holder renews its message claims on every sweep (an action's lease
outlasts any one attempt) and releases what it holds when it closes, so a lease runs out only when its
holder died (or stalled for longer than a lease).

A holder is a ``Storage`` instance (normally one per process): ``host:boot:pidns:pid:token``, where
``token`` is new for every instance. At start-up a process may also take, at once, rows held by a
*dead incarnation on this machine*: same host, boot and pid namespace, and that pid is gone (or it is
this very pid with a token no live instance of this process has). Other machines' and other
containers' rows (another pid namespace: their pids mean nothing here) it leaves to their leases.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid

__all__ = ["MESSAGE_CLAIM_LEASE_S", "Holder", "dead_holders"]

#: How long a claim on a pending message lasts without renewal. The claiming process renews it on
#: every sweep (seconds apart), so this only bounds how long a dead process's messages wait.
MESSAGE_CLAIM_LEASE_S = 120.0

#: Tokens of the holders alive in this process (one leaves with ``Holder.leave``, when its storage closes).
_live_tokens: set[str] = set()


def _machine() -> str:
    """This machine's name and boot (a reboot, or another machine of the same name, is someone else)."""
    boot = ""
    with contextlib.suppress(OSError):
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip().replace("-", "")[:12]
    namespace = "nons"
    with contextlib.suppress(OSError):
        namespace = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit()) or namespace
    host = socket.gethostname().replace(":", "_")[:60] or "host"
    return f"{host}:{boot or 'noboot'}:{namespace}"


class Holder:
    """The identity that claims rows for one ``Storage`` (``str(holder)`` is what the rows store)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:12]
        self.pid = os.getpid()
        self.name = f"{_machine()}:{self.pid}:{self.token}"
        _live_tokens.add(self.token)

    def __str__(self) -> str:
        return self.name

    def leave(self) -> None:
        """This holder is done (its storage closed): its leftovers count as a dead incarnation's."""
        _live_tokens.discard(self.token)


def _is_dead(name: str, machine: str) -> bool:
    place, _, rest = name.rpartition(":")  # rest: the token
    place, _, pid_text = place.rpartition(":")
    token = rest
    if place != machine or not pid_text.isdigit():
        return False  # another machine's (or an unknown) holder: only its lease can say
    pid = int(pid_text)
    if pid == os.getpid():
        return token not in _live_tokens
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def dead_holders(names: set[str]) -> list[str]:
    """The holders among ``names`` that are known to be dead incarnations on this machine."""
    machine = _machine()
    return sorted(name for name in names if name and _is_dead(name, machine))
