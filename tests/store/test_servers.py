"""ServerConfig: servers registered once, and their stored overrides."""

from __future__ import annotations

from modbot.domain import ServerRef
from modbot.domain.settings import ServerOverrides
from tests.store.factories import A


async def test_a_server_is_registered_once(storage):
    new = ServerRef("slack", "T1")
    assert not await storage.servers.server_exists(new)
    assert await storage.servers.ensure_server(new, "Workspace")
    assert not await storage.servers.ensure_server(new, "Renamed")
    assert await storage.servers.server_exists(new)
    assert not await storage.servers.ensure_server(A)


async def test_overrides_round_trip_and_unknown_servers_inherit_everything(storage):
    assert await storage.servers.get_overrides(ServerRef("slack", "nobody")) == ServerOverrides()
    overrides = ServerOverrides(mode="enforce", exempt_role_ids=("r1", "r2"), min_confidence=0.7)
    await storage.servers.set_overrides(A, overrides)
    assert await storage.servers.get_overrides(A) == overrides
    await storage.servers.set_overrides(A, ServerOverrides(mode="shadow"))
    assert await storage.servers.get_overrides(A) == ServerOverrides(mode="shadow")


async def test_setting_overrides_registers_the_server(storage):
    new = ServerRef("slack", "T2")
    await storage.servers.set_overrides(new, ServerOverrides(warn_users=False))
    assert await storage.servers.server_exists(new)
    assert (await storage.servers.get_overrides(new)).warn_users is False
