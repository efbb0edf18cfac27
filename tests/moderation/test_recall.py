"""The live recall estimate on a synthetic stream whose truth is known, through the real pipeline.

1,000 messages, a fifth of them violations; the scripted prefilter sends most violations on to the
(scripted) reasoner but allows one violation in ten, and allows most fine messages. The prefilter's true
recall is then known exactly, and the estimate from the audits must bracket it: with a truthful reasoner
(confidence 1), and with one that is wrong on a tenth of the messages and says so (confidence 0.9).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from modbot.domain import ServerRef, utcnow
from tests.conftest import event
from tests.moderation.audit_support import ScriptedPrefilter, audited_services
from modbot.domain.figures import AuditTally, RecallCounts, estimate_recall
from modbot.ports import Judgement, JudgeRequest
from tests.support.scripted import ScriptedReasoner, by_keyword, safe, violation

G1 = ServerRef("test", "g1")
G2 = ServerRef("test", "g2")


def _stream() -> list[tuple[ServerRef, str, bool, float]]:
    """(server, text, is a violation, prefilter score) for 1,000 messages."""
    rows = []
    for i in range(1000):
        violation = i % 5 == 0
        if violation:
            score = 0.05 if i % 50 == 0 else 0.9  # one violation in ten slips through as "clearly fine"
        else:
            score = 0.5 if i % 7 == 0 else 0.05  # some fine messages are sent on to the reasoner
        text = f"msg {i} " + ("selling bad-thing keys" if violation else "all good here")
        rows.append((G1 if i % 2 else G2, text, violation, score))
    return rows


def _reasoner(error: float) -> ScriptedReasoner:
    """Judges "bad-thing" a violation, wrong on a share ``error`` of the messages (the same ones every
    time: a draw seeded by the text), with confidence 1 − error."""

    def script(request: JudgeRequest) -> Judgement:
        unsafe = "bad-thing" in request.event.text
        if random.Random(request.event.text).random() < error:
            unsafe = not unsafe
        return violation("CH1", confidence=1 - error) if unsafe else replace(safe(), confidence=1 - error)

    return ScriptedReasoner(script)


def _true_recall(rows, servers) -> float:
    violations = [r for r in rows if r[0] in servers and r[2]]
    return sum(1 for r in violations if r[3] >= 0.2) / len(violations)


async def test_the_estimate_brackets_the_true_recall_for_servers_and_their_community(tmp_path) -> None:
    rows = _stream()
    scores = {text: score for _, text, _, score in rows}
    reasoner = _reasoner(0.0)  # never wrong, and sure of it: the estimate is the uncorrected one
    services, _ = await audited_services(
        tmp_path, reasoner, prefilter=ScriptedPrefilter(scores.__getitem__), audit_share=0.3
    )
    for server in (G1, G2):  # one prefilter community for both
        await services.server_settings.update(server, prefilter_community="league")
    since = utcnow() - timedelta(minutes=1)
    await services.start()
    for start in range(0, len(rows), 100):
        batch = rows[start : start + 100]
        await asyncio.gather(
            *(services.pipeline.submit(event(text, server=server, message_id=f"syn-{start + n}")) for n, (server, text, _, _) in enumerate(batch))
        )
    await services.pipeline.drain(120)

    whole = await services.figures.recall(G1, since, community=True)
    assert whole.scope == "community league"
    assert whole.counts.caught == 180  # the violations the prefilter sent on, all judged so by the reasoner
    assert whole.counts.allowed == 706  # 20 missed violations + 686 fine messages
    assert abs(whole.audits - 0.3 * 706) < 4 * (706 * 0.3 * 0.7) ** 0.5
    truth = _true_recall(rows, {G1, G2})
    assert truth == 0.9
    assert whole.low <= truth <= whole.high, whole
    assert abs(whole.recall - truth) < 0.06
    assert await services.core.recall_estimate(G2, days=1, community=True) == await services.figures.recall(
        G2, utcnow() - timedelta(days=1), community=True
    )

    for server in (G1, G2):
        alone = await services.figures.recall(server, since)
        assert alone.scope == server.key
        assert alone.low <= _true_recall(rows, {server}) <= alone.high, alone
    parts = [await services.figures.recall(s, since) for s in (G1, G2)]
    assert sum(p.counts.caught for p in parts) == 180 and sum(p.counts.allowed for p in parts) == 706
    assert sum(p.audits for p in parts) == whole.audits
    await services.close()


async def test_the_estimate_corrects_for_a_reasoner_that_errs(tmp_path) -> None:
    rows = _stream()
    scores = {text: score for _, text, _, score in rows}
    services, _ = await audited_services(
        tmp_path, _reasoner(0.1), prefilter=ScriptedPrefilter(scores.__getitem__), audit_share=0.3
    )
    for server in (G1, G2):
        await services.server_settings.update(server, prefilter_community="league")
    since = utcnow() - timedelta(minutes=1)
    await services.start()
    for start in range(0, len(rows), 100):
        batch = rows[start : start + 100]
        await asyncio.gather(
            *(services.pipeline.submit(event(text, server=server, message_id=f"syn-{start + n}")) for n, (server, text, _, _) in enumerate(batch))
        )
    await services.pipeline.drain(120)
    truth = _true_recall(rows, {G1, G2})
    whole = await services.figures.recall(G1, since, community=True)
    counts = whole.counts
    assert counts.escalated.violation_eps == pytest.approx(0.1)  # 1 − the answers' confidence
    assert counts.audits[0].allow_eps == pytest.approx(0.1)
    # Taken as right, the reasoner's wrong "violation" answers on fine audited messages look like misses.
    naive = estimate_recall(
        RecallCounts(counts.caught, counts.allowed, tuple(AuditTally(t.share, t.audited, t.violations) for t in counts.audits))
    )
    print(f"truth {truth:.3f}, naive {naive.describe()}, corrected {whole.describe()}", end=" ")
    assert naive.high < truth
    assert whole.low <= truth <= whole.high, whole
    assert abs(whole.recall - truth) < 0.06 < abs(naive.recall - truth)
    for server in (G1, G2):
        alone = await services.figures.recall(server, since)
        print(alone.describe(), end=" ")
        assert alone.low <= _true_recall(rows, {server}) <= alone.high, alone
    await services.close()


async def test_a_review_of_an_audit_decides_what_it_found(tmp_path) -> None:
    from modbot.domain import ReviewOutcome
    from modbot.domain.commands import Invoker, Review

    reasoner = ScriptedReasoner(by_keyword({"bad-thing": "CH1"}))
    services, _ = await audited_services(tmp_path, reasoner, audit_share=1.0)
    since = utcnow() - timedelta(minutes=1)
    await services.start()
    await services.pipeline.submit(event("you want bad-thing keys?", server=G1))  # allowed, then audited
    await services.pipeline.drain(10)
    before = await services.figures.recall(G1, since)
    (case,) = (await services.storage.cases.list_cases(G1)).cases
    moderator = Invoker(G1, "mod", platform_moderator=True)
    assert (await services.moderators.execute(moderator, Review(case.id, ReviewOutcome.OVERTURN))).ok
    after = await services.figures.recall(G1, since)
    assert before.counts.audit_violations == 1 and after.counts.audit_violations == 0
    assert before.counts.audited == after.counts.audited == 1
    await services.close()
