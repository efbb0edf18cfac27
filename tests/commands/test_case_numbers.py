"""Moderators see and type their server's own case numbers; other servers' ids never show or work."""

from __future__ import annotations

import re

from modbot.domain.commands import CaseAction, MemberHistory, Review, ShowCase, ShowQueue, ShowReasoning
from tests.commands.test_service import MOD_A, MOD_B, A, B, core  # noqa: F401  (the fixture)
from tests.conftest import event


async def _judge(services, *texts_and_servers):
    for text, server in texts_and_servers:
        await services.pipeline.submit(event(text, server=server, author_id="cheater"))
        await services.pipeline.drain(5)


async def test_case_numbers_are_per_server_and_global_ids_stay_internal(core):  # noqa: F811
    services, sink = core
    await _judge(services, ("aimbot a1", A), ("aimbot a2", A), ("aimbot b1", B), ("aimbot a3", A), ("aimbot b2", B))
    a_cases = (await services.storage.cases.list_cases(A)).cases
    b_cases = (await services.storage.cases.list_cases(B)).cases
    assert sorted(c.number for c in a_cases) == [1, 2, 3] and sorted(c.number for c in b_cases) == [1, 2]
    b_ids = {c.id for c in b_cases}
    assert b_ids == {3, 5}  # interleaved global ids

    shown = await services.moderators.execute(MOD_B, ShowCase(1))
    assert shown.ok and shown.title == "Case #1" and shown.case.event.text == "aimbot b1"
    assert (await services.moderators.execute(MOD_A, ShowCase(1))).case.event.text == "aimbot a1"
    missing = await services.moderators.execute(MOD_B, ShowCase(3))  # A has a #3; B does not
    assert not missing.ok and "#3" in missing.text

    replies = [
        shown,
        await services.moderators.execute(MOD_B, ShowQueue()),
        await services.moderators.execute(MOD_B, MemberHistory("cheater")),
        await services.moderators.execute(MOD_B, Review(min(b_ids), "uphold")),
    ]
    for reply in replies:
        numbers = {int(n) for n in re.findall(r"#(\d+)", reply.as_text())}
        assert numbers <= {1, 2}, reply.as_text()  # never B's global ids 3 and 5
    assert "#1 " in replies[3].title

    # Buttons carry the internal id, scoped by server in the core: A's ids do nothing in B.
    a_id = next(c.id for c in a_cases if c.number == 1)
    for command in (Review(a_id, "overturn"), CaseAction(a_id, "ban"), ShowReasoning(a_id)):
        refused = await services.moderators.execute(MOD_B, command)
        assert not refused.ok and str(a_id) not in refused.text
    assert (await services.storage.cases.get_case(A, a_id)).status.value == "open"


async def test_posted_cases_and_summaries_show_the_number(core):  # noqa: F811
    services, sink = core
    await services.server_settings.update(B, mode="enforce", mod_channel_id="mod-b")
    await _judge(services, ("aimbot a1", A), ("aimbot a2", A), ("aimbot b1", B))
    posted = [a.case for a in sink.actions if a.case is not None and a.server == B]
    assert posted and all(c.number == 1 and c.display_number == 1 for c in posted)
    from modbot.commands.presenters import case_summary

    assert case_summary(posted[0]).startswith("#1 ")
