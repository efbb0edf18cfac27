"""Values the storage tests store: two servers, message events, verdicts and a small policy."""

from __future__ import annotations

import itertools

from modbot.domain import Decision, MessageEvent, ServerRef, Stage, TokenCounts, Verdict
from modbot.domain.policy import Policy, parse_policy
from modbot.domain.records import VerdictToSave
from modbot.ports import MessageLog, VerdictLog

A = ServerRef("discord", "111")
B = ServerRef("discord", "222")

POLICY = """\
+++
id = "test-policy"
title = "Test policy"
[actions]
low = "flag"
medium = "remove"
high = "remove_and_timeout"
support = "escalate"
[[categories]]
id = "cheats"
title = "Cheat selling"
[[categories.rules]]
id = "CH1"
description = "Selling or sharing cheats"
severity = "medium"
+++
# Instruction
Judge the message against the rules above.
"""

_ids = itertools.count(1)


def message(text: str, *, server: ServerRef = A, message_id: str | None = None, **fields) -> MessageEvent:
    return MessageEvent(
        server=server,
        channel_id=fields.pop("channel_id", "c1"),
        message_id=message_id or f"m{next(_ids)}",
        author_id=fields.pop("author_id", "u1"),
        text=text,
        **fields,
    )


def verdict(decision: Decision = Decision.REMOVE, **fields) -> Verdict:
    return Verdict(
        decision=decision,
        stage=fields.pop("stage", Stage.REASONER),
        policy_version=fields.pop("policy_version", "sha256:v1"),
        categories=("cheats",),
        rule_ids=("CH1",),
        confidence=0.9,
        rationale="sells cheats",
        reasoning="long analysis",
        model="m",
        latency_ms=fields.pop("latency_ms", 12.0),
        tokens=TokenCounts(600, 40, 30),
        **fields,
    )


def policy(title: str = "Test policy") -> Policy:
    return parse_policy(POLICY.replace("Test policy", title))


async def record(messages: MessageLog, event: MessageEvent) -> int:
    """Record one revision; its row id."""
    return (await messages.record_messages([event]))[0].row_id


async def open_case(messages: MessageLog, verdicts: VerdictLog, event: MessageEvent, judged: Verdict | None = None) -> int:
    """Record ``event`` and store a verdict that opens a case on it; the case id."""
    row_id = await record(messages, event)
    saved = await verdicts.save_verdicts([VerdictToSave(row_id, event.server, judged or verdict(), False, True)])
    assert saved[0].case_id is not None
    return saved[0].case_id
