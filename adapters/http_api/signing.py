"""Signed callbacks: how the bot signs an action delivery and how a receiver checks it.

The scheme, like Slack's request signing::

    X-Modbot-Timestamp: <unix seconds>
    X-Modbot-Signature: v1=<hex HMAC-SHA256(secret, b"v1:" + timestamp + b":" + body)>

The body is signed byte for byte as sent (compact JSON), so a receiver must verify the raw bytes before
parsing them. A receiver rejects timestamps more than ``tolerance_s`` away from its own clock, which
stops a captured delivery from being replayed later; within that window it dedupes by the
``Idempotency-Key`` header (the same key on every retry of one action).

A server with its own token (``modbot http-api token create``) has its own secret, derived from the
operator's ``callback_secret`` by ``server_secret``: one game server's plugin cannot forge another's
callbacks. This module is the one implementation; receivers written in Python may import it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "TIMESTAMP_HEADER",
    "server_secret",
    "sign",
    "signed_headers",
    "verify",
]

SIGNATURE_VERSION = "v1"
TIMESTAMP_HEADER = "X-Modbot-Timestamp"
SIGNATURE_HEADER = "X-Modbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: How far a delivery's timestamp may be from the receiver's clock, by default (seconds).
DEFAULT_TOLERANCE_S = 300


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Modbot-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode("ascii") + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str | bytes, body: bytes, idempotency_key: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Every header of one delivery: content type, timestamp, signature and idempotency key."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(secret, stamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Receivers hand over whatever their framework gives: a case-insensitive multidict or a plain dict.
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """Whether a delivery was signed with ``secret`` recently (within ``tolerance_s`` of ``now``)."""
    stamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not stamp or not signature or not stamp.isascii() or not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, stamp, body).encode("ascii"), signature.encode("utf-8", "replace"))


def server_secret(callback_secret: str | bytes, server_id: str) -> str:
    """The callback secret of a server with its own token: hex HMAC-SHA256(callback_secret, "modbot-callback:" + id)."""
    return hmac.new(_key(callback_secret), f"modbot-callback:{server_id}".encode("utf-8"), hashlib.sha256).hexdigest()
