"""Who may call the API for which server, and how often.

Two kinds of bearer token:

* the operator token (``MODBOT_HTTP_API__TOKEN``): valid for every server;
* a server's own token (``modbot http-api token create --server S``): valid for that server only. A
  token of server A on one of B's paths gets 403, never B's data.

Token lookups are cached for ``TOKEN_CACHE_TTL_S``: a revoked token keeps working on a running bot for
at most that long. Unknown tokens are not cached, so a token just made works at once.

Posted messages are rate limited per server by a token bucket (in memory, per process).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache, TTLCache

__all__ = ["TOKEN_CACHE_TTL_S", "Authenticator", "Principal", "RateLimiter", "TokenOwner", "bearer_token", "hash_token"]

#: How long a token lookup is trusted (so also how long a revoked token may still work).
TOKEN_CACHE_TTL_S = 30.0


def hash_token(token: str) -> str:
    """What is stored of a token: its SHA-256, hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenOwner(Protocol):
    """What a token lookup finds (``clients.ApiClient``): the client's id and its server."""

    @property
    def id(self) -> int: ...

    @property
    def server_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a token stands for: the operator (every server) or one server's client."""

    server_id: str | None
    client_id: int | None = None

    @property
    def operator(self) -> bool:
        return self.server_id is None

    def may_access(self, server_id: str) -> bool:
        """Whether this caller may read or act on ``server_id``."""
        return self.server_id is None or hmac.compare_digest(self.server_id.encode(), server_id.encode())


OPERATOR = Principal(None)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class Authenticator:
    """Turns a bearer token into a ``Principal`` (or None: unknown, revoked or missing)."""

    def __init__(
        self,
        operator_token: str | None,
        find_token: Callable[[str], Awaitable[TokenOwner | None]],
        *,
        ttl_s: float = TOKEN_CACHE_TTL_S,
        maxsize: int = 4096,
    ):
        self._operator = operator_token.encode("utf-8") if operator_token else None
        self._find_token = find_token
        # Keyed by the token's hash: the plain tokens of callers are not kept in memory any longer than a request.
        self._cache: TTLCache[str, Principal] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    async def principal(self, token: str | None) -> Principal | None:
        """Who ``token`` stands for; None when it stands for nobody."""
        if not token:
            return None
        if self._operator is not None and hmac.compare_digest(token.encode("utf-8"), self._operator):
            return OPERATOR
        key = hash_token(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        client = await self._find_token(token)
        if client is None:
            return None
        principal = Principal(client.server_id, client.id)
        self._cache[key] = principal
        return principal


class RateLimiter:
    """A token bucket per server: ``rate_per_s`` sustained, ``burst`` at once."""

    def __init__(self, rate_per_s: float, burst: int, *, clock: Callable[[], float] = time.monotonic, maxsize: int = 100_000):
        self.rate = rate_per_s
        self.burst = float(burst)
        self._clock = clock
        # Bounded: the operator token may post for any server id; a forgotten bucket just starts full.
        self._buckets: LRUCache[str, tuple[float, float]] = LRUCache(maxsize=maxsize)

    def take(self, server_id: str) -> float:
        """Take one token for ``server_id``: 0.0 when allowed, else the seconds until one is free."""
        now = self._clock()
        tokens, last = self._buckets.get(server_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[server_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[server_id] = (tokens, now)
        return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """The ``Retry-After`` header's whole seconds for a wait (at least 1)."""
        return max(1, math.ceil(wait_s))
