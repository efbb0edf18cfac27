"""PolicyLibrary: shipped versions visible to all, uploads private to their server, the active choice."""

from __future__ import annotations

from modbot.domain.records import StoredPolicy
from tests.store.factories import A, B, policy


async def test_policy_versions_are_private_to_their_server(storage):
    own = policy("Guild A's own")
    row = await storage.policies.add_policy(own, A, uploaded_by="mod")
    assert await storage.policies.add_policy(own, A) == row  # idempotent
    found = await storage.policies.find_policy(A, "test-policy")
    assert isinstance(found, StoredPolicy) and found.row_id == row
    assert (found.policy.version, found.policy.meta.title, found.policy.text) == (own.version, "Guild A's own", own.text)
    assert (await storage.policies.find_policy(A, own.version.removeprefix("sha256:"))).row_id == row
    assert await storage.policies.find_policy(B, "test-policy") is None
    assert await storage.policies.find_policy(B, own.version) is None
    await storage.policies.activate_policy(A, row)
    assert (await storage.policies.active_policy(A)).version == own.version
    assert await storage.policies.active_policy(B) is None


async def test_shipped_policies_are_visible_to_all_and_an_upload_wins_by_id(storage):
    shipped = policy()
    builtin = await storage.policies.add_policy(shipped)
    assert (await storage.policies.find_policy(B, "test-policy")).row_id == builtin
    upload = await storage.policies.add_policy(policy("Guild A's own"), A, uploaded_by="mod")
    assert (await storage.policies.find_policy(A, "test-policy")).row_id == upload

    await storage.policies.activate_policy(A, builtin, by="mod")
    listed = await storage.policies.list_policies(A)
    assert [(p.row_id, p.builtin, p.active) for p in listed] == [(builtin, True, True), (upload, False, False)]
    assert listed[0].title == "Test policy" and listed[0].policy_id == "test-policy"
    assert listed[0].version == shipped.version and listed[0].created_at.tzinfo is not None
    assert [p.row_id for p in await storage.policies.list_policies(B)] == [builtin]

