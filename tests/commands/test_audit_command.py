"""``/mod audit [page]``: moderators read their own server's audit log, newest first, a page at a time."""

from __future__ import annotations

from modbot.commands.handlers.audit import AUDIT_PAGE_SIZE
from modbot.commands.parser import parse_mod_command
from modbot.domain.commands import Invoker, SetMode, ShowAudit, ShowQueue
from tests.commands.test_service import MEMBER_A, MOD_A, MOD_B, A, core  # noqa: F401  (the fixture)


async def test_audit_pages_newest_first_and_only_this_server(core):  # noqa: F811
    services, _ = core
    for _ in range(AUDIT_PAGE_SIZE + 3):
        await services.moderators.execute(MOD_A, ShowQueue(1))
    await services.moderators.execute(MOD_A, SetMode("enforce"))
    await services.moderators.execute(MOD_B, SetMode("enforce"))
    await services.moderators.execute(MEMBER_A, ShowQueue(1))  # refused, and audited as such

    first = await services.moderators.execute(MOD_A, ShowAudit())
    assert first.ok and first.pages == 2 and f"({AUDIT_PAGE_SIZE + 5} entries)" in first.title
    lines = first.text.splitlines()
    assert len(lines) == AUDIT_PAGE_SIZE
    assert "member queue" in lines[0] and lines[0].endswith("refused")  # newest first
    assert "mod-a mode (mode=enforce)" in lines[1]
    assert "mod-b" not in first.text
    second = await services.moderators.execute(MOD_A, ShowAudit(2))
    # The first /mod audit is itself audited now: 21 entries, 6 on page 2.
    assert len(second.text.splitlines()) == 6 and "mod-b" not in second.text
    empty = await services.moderators.execute(MOD_A, ShowAudit(9))
    assert empty.ok and empty.text == "No entries on this page."

    b = await services.moderators.execute(MOD_B, ShowAudit())
    assert "mod-a" not in b.text and "member" not in b.text and "mod-b mode" in b.text


async def test_audit_is_for_moderators_only(core):  # noqa: F811
    services, _ = core
    await services.moderators.execute(MOD_A, SetMode("enforce"))
    refused = await services.moderators.execute(MEMBER_A, ShowAudit())
    assert not refused.ok and refused.title == "Not allowed" and "enforce" not in refused.text
    moderator_role = Invoker(A, "helper", role_ids=("mods",))
    assert not (await services.moderators.execute(moderator_role, ShowAudit())).ok


def test_audit_parses_with_an_optional_page():
    assert parse_mod_command("audit") == ShowAudit(1)
    assert parse_mod_command("audit 3") == ShowAudit(3)
