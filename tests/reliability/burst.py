"""A deterministic burst of chat messages, and what the core must do with each of them (test policy).

The mix covers every path of the pipeline under the test policy (``tests.conftest.TEST_POLICY``), in an
enforcing server with a mod channel:

========== ============================== ================================================
kind       stage                          actions planned
========== ============================== ================================================
plain      keyword stage: allow           none
scam       keyword act-now (SC1, high)    delete, timeout, warn, post_case
cheat      reasoner: violation CH1        delete, warn, post_case
wallhack   reasoner: safe                 none
support    reasoner: SH1 (support)        post_case (escalated, never punished)
========== ============================== ================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from modbot.domain import ActionKind, Decision, MessageEvent, ServerRef

__all__ = ["EXPECTED", "SERVERS", "BurstMessage", "burst", "reasoner_rules"]

#: Two servers, so the burst is not one server's queue only.
SERVERS = (ServerRef("test", "g1"), ServerRef("test", "g2"))

#: kind -> (text template, decision, planned action kinds in order, reaches the reasoner)
EXPECTED: dict[str, tuple[str, Decision, tuple[ActionKind, ...], bool]] = {
    "plain": ("hello everyone, message {i}", Decision.ALLOW, (), False),
    "scam": ("claim at free-nitro.example now {i}", Decision.REMOVE_AND_TIMEOUT,
             (ActionKind.DELETE, ActionKind.TIMEOUT, ActionKind.WARN, ActionKind.POST_CASE), False),
    "cheat": ("selling aimbot cheap, dm me {i}", Decision.REMOVE,
              (ActionKind.DELETE, ActionKind.WARN, ActionKind.POST_CASE), True),
    "wallhack": ("is wallhack detection good in game {i}", Decision.ALLOW, (), True),
    "support": ("some days i want to kill myself {i}", Decision.ESCALATE, (ActionKind.POST_CASE,), True),
}  # fmt: skip

#: Out of every 20 messages: 11 plain, 1 scam, 4 cheat, 2 wallhack, 2 support (18 actions, 7 cases).
_PATTERN = ("plain", "cheat", "plain", "scam", "plain", "cheat", "wallhack", "plain", "support", "plain",
            "cheat", "plain", "plain", "wallhack", "plain", "cheat", "support", "plain", "plain", "plain")  # fmt: skip


def reasoner_rules() -> dict[str, str]:
    """The deterministic reasoner's script (``tests.support.scripted.by_keyword``): word -> rule id."""
    return {"aimbot": "CH1", "kill myself": "SH1"}


@dataclass(frozen=True, slots=True)
class BurstMessage:
    """One message of the burst and the kind that says what must happen to it."""

    event: MessageEvent
    kind: str

    @property
    def decision(self) -> Decision:
        return EXPECTED[self.kind][1]

    @property
    def actions(self) -> tuple[ActionKind, ...]:
        return EXPECTED[self.kind][2]


def burst(count: int) -> list[BurstMessage]:
    """``count`` messages, the same ones on every call (the restarted process redelivers them)."""
    messages = []
    for i in range(count):
        kind = _PATTERN[i % len(_PATTERN)]
        server = SERVERS[(i + i // len(_PATTERN)) % len(SERVERS)]  # every kind on both servers
        event = MessageEvent(
            server=server,
            channel_id=f"c{i % 7}",
            message_id=f"burst-{i}",
            author_id=f"u{i % 97}",
            text=EXPECTED[kind][0].format(i=i),
        )
        messages.append(BurstMessage(event, kind))
    return messages
