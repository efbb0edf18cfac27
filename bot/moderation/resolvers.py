"""Per-server lookups with a cache: the effective settings and the active policy of each server.

Both caches are only ever written through these classes (moderator commands go through them too, as
the ``EffectiveSettings`` and ``ActivePolicies`` ports), so invalidation is local and exact. They are
bounded LRU caches: a bot in many servers keeps the busy ones, not all of them forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cachetools import LRUCache

from modbot.domain import ServerRef
from modbot.domain.policy import Policy
from modbot.domain.records import StoredPolicy
from modbot.domain.settings import ServerSettings
from modbot.ports import PolicyLibrary, ServerConfig

__all__ = ["PolicyResolver", "SettingsResolver"]

#: Servers whose settings and policy stay cached (a miss costs one small read).
CACHED_SERVERS = 10_000


class SettingsResolver:
    """Effective ``ServerSettings`` per server: configured defaults + stored overrides."""

    def __init__(self, servers: ServerConfig, defaults: ServerSettings):
        self.servers = servers
        self.defaults = defaults
        self._cache: LRUCache[str, ServerSettings] = LRUCache(CACHED_SERVERS)
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, server: ServerRef) -> ServerSettings:
        """The server's effective settings: the defaults with its stored overrides on top."""
        cached = self._cache.get(server.key)
        if cached is None:
            cached = (await self.servers.get_overrides(server)).apply_to(self.defaults)
            self._cache[server.key] = cached
        return cached

    async def update(self, server: ServerRef, **changes: Any) -> ServerSettings:
        """Read-modify-write of a server's overrides under a per-server lock (``None`` = inherit again)."""
        lock = self._locks.setdefault(server.key, asyncio.Lock())
        async with lock:
            await self.servers.ensure_server(server)
            current = await self.servers.get_overrides(server)
            updated = current.with_changes(**changes)
            await self.servers.set_overrides(server, updated)
            self._cache.pop(server.key, None)
        return await self.get(server)


class PolicyResolver:
    """The policy each server judges against: its chosen version, or the configured default policy id."""

    def __init__(self, library: PolicyLibrary, settings: SettingsResolver, builtin: list[Policy]):
        self.library = library
        self.settings = settings
        self.builtin = {p.id: p for p in builtin}
        self._cache: LRUCache[str, Policy] = LRUCache(CACHED_SERVERS)

    def shipped(self) -> dict[str, Policy]:
        """The shipped policies by id (what an upload may ``extends``)."""
        return dict(self.builtin)

    async def install_builtin(self) -> None:
        """Record the shipped policies as versions visible to every server (idempotent)."""
        for policy in self.builtin.values():
            await self.library.add_policy(policy, None)

    async def get(self, server: ServerRef) -> Policy:
        """The server's chosen policy version, else its ``policy_id`` setting (shipped or uploaded)."""
        cached = self._cache.get(server.key)
        if cached is not None:
            return cached
        policy = await self.library.active_policy(server)
        if policy is None:
            settings = await self.settings.get(server)
            policy = self.builtin.get(settings.policy_id)
            if policy is None:
                found = await self.library.find_policy(server, settings.policy_id)
                if found is None:
                    raise LookupError(
                        f"server {server} uses policy {settings.policy_id!r}, which is neither shipped nor uploaded"
                    )
                policy = found.policy
        self._cache[server.key] = policy
        return policy

    async def upload(self, server: ServerRef, policy: Policy, by: str | None) -> int:
        """Store a server's own policy version (not yet active)."""
        return await self.library.add_policy(policy, server, uploaded_by=by)

    async def use(self, server: ServerRef, ref: str, by: str | None) -> Policy:
        """Switch a server to a visible policy (id or version); LookupError if it has none such."""
        found = await self.library.find_policy(server, ref)
        if found is None:
            builtin = self.builtin.get(ref)
            if builtin is None:
                raise LookupError(f"no policy {ref!r} is available to this server")
            found = StoredPolicy(await self.library.add_policy(builtin, None), builtin)
        await self.settings.servers.ensure_server(server)
        await self.library.activate_policy(server, found.row_id, by)
        policy = found.policy
        self._cache.pop(server.key, None)
        return policy
