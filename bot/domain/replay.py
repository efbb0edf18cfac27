"""Trying a policy before it goes live: stored messages with their verdicts, a shadow policy, and the diff.

``policy replay`` re-judges stored messages with a candidate policy (``modbot.moderation.replay``); a
**shadow policy** judges live traffic beside the active one (its verdicts are stored as candidates,
never acted on). Both compare two verdicts per message with :class:`ReplayDiff`.

"Removed" is what deletes the message: ``remove`` or ``remove_and_timeout`` (``plan_actions`` plans a
delete for those alone). Precision and recall count a verdict other than ``allow`` as "a violation"
(a flag or an escalation puts the message in front of a moderator), against the row's label or a
moderator's review of its case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modbot.domain.messages import MessageEvent
from modbot.domain.verdicts import Decision, Verdict

__all__ = ["Confusion", "JudgedMessage", "ReplayDiff", "ReplayItem", "ShadowPolicy", "removes", "verdict_summary"]


@dataclass(frozen=True, slots=True)
class JudgedMessage:
    """One stored message revision with the verdict the bot acted on (``live``).

    ``candidate`` is a shadow policy's verdict on it, when one was asked for; ``reviewed`` is a
    moderator's decision on its case (True: upheld, a violation; False: overturned; None: not reviewed).
    """

    row_id: int
    event: MessageEvent
    live: Verdict | None
    candidate: Verdict | None = None
    reviewed: bool | None = None


class ShadowPolicy(BaseModel):
    """A candidate policy judging a server's live traffic beside the active one (``/mod policy shadow``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The candidate's version (a content hash): its verdicts carry it.
    version: str = Field(min_length=1, max_length=64)
    policy_id: str = Field(default="", max_length=64)
    started_at: datetime
    #: When shadowing stops by itself (None: until ``/mod policy shadow off``).
    until: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        """Whether the candidate still runs at ``now``."""
        return self.until is None or now < self.until


#: Examples kept of each kind of change.
EXAMPLES_PER_KIND = 5
_KINDS = ("newly_removed", "no_longer_removed", "changed")


def removes(verdict: Verdict | None) -> bool:
    """Whether the verdict deletes the message (what ``plan_actions`` turns into a delete)."""
    return verdict is not None and verdict.decision in (Decision.REMOVE, Decision.REMOVE_AND_TIMEOUT)


def _violation(verdict: Verdict) -> bool:
    return verdict.decision is not Decision.ALLOW


def verdict_summary(verdict: Verdict | None) -> dict[str, Any] | None:
    """The parts of a verdict a diff shows (never the model's raw reasoning)."""
    if verdict is None:
        return None
    return {
        "decision": verdict.decision.value,
        "stage": verdict.stage.value,
        "categories": list(verdict.categories),
        "rule_ids": list(verdict.rule_ids),
        "policy_version": verdict.policy_version,
        "rationale": verdict.rationale[:300],
    }


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One message to compare: its id (message id or data row id), the event, the baseline verdict when
    it is known already (the stored live one), and a label when the row or a review gives one."""

    id: str
    event: MessageEvent
    baseline: Verdict | None = None
    label: bool | None = None
    category: str | None = None


@dataclass(slots=True)
class Confusion:
    """True/false positives and negatives of one side over the labelled rows."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
            "precision": _round(self.precision), "recall": _round(self.recall),
        }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(slots=True)
class ReplayDiff:
    """The running comparison of a baseline (live verdicts, or a second policy) and a candidate."""

    compared: int = 0
    newly_removed: int = 0
    no_longer_removed: int = 0
    changed: int = 0
    #: Rows the replay could not judge (a reasoner error); counted, never compared.
    failed: int = 0
    labelled: int = 0
    before: Confusion = field(default_factory=Confusion)
    after: Confusion = field(default_factory=Confusion)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {kind: [] for kind in _KINDS})
    interrupted: bool = False

    def add(self, item: ReplayItem, before: Verdict, after: Verdict) -> str | None:
        """Count one message; returns the kind of change (None when nothing a moderator sees changed)."""
        self.compared += 1
        kind = None
        if removes(after) and not removes(before):
            kind = "newly_removed"
            self.newly_removed += 1
        elif removes(before) and not removes(after):
            kind = "no_longer_removed"
            self.no_longer_removed += 1
        elif (
            before.decision is not after.decision
            or set(before.categories) != set(after.categories)
            or set(before.rule_ids) != set(after.rule_ids)
        ):
            kind = "changed"
            self.changed += 1
        if kind is not None and len(self.examples[kind]) < EXAMPLES_PER_KIND:
            text = item.event.text.replace("\n", " ")
            self.examples[kind].append(
                {
                    "id": item.id,
                    "text": text if len(text) <= 200 else text[:197] + "…",
                    "before": verdict_summary(before),
                    "after": verdict_summary(after),
                }
            )
        if item.label is not None:
            self.labelled += 1
            self.before.add(_violation(before), item.label)
            self.after.add(_violation(after), item.label)
        return kind

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``modbot policy replay --json`` prints (key names are a contract)."""
        out: dict[str, Any] = {
            "compared": self.compared,
            "newly_removed": self.newly_removed,
            "no_longer_removed": self.no_longer_removed,
            "changed": self.changed,
            "failed": self.failed,
            "examples": self.examples,
            "labelled": self.labelled,
            "interrupted": self.interrupted,
        }
        if self.labelled:
            out["before"] = self.before.to_dict()
            out["after"] = self.after.to_dict()
            out["precision_change"] = _delta(self.before.precision, self.after.precision)
            out["recall_change"] = _delta(self.before.recall, self.after.recall)
        return out

    def lines(self) -> list[str]:
        """A plain-text report (the CLI's table-less output, ``/mod policy diff``)."""
        lines = [
            f"compared {self.compared}: {self.newly_removed} newly removed, {self.no_longer_removed} no longer "
            f"removed, {self.changed} changed category/rule/decision"
            + (f", {self.failed} could not be judged" if self.failed else "")
        ]
        if self.labelled:
            lines.append(
                f"on {self.labelled} labelled or reviewed: precision {_fmt(self.before.precision)} → "
                f"{_fmt(self.after.precision)}, recall {_fmt(self.before.recall)} → {_fmt(self.after.recall)}"
            )
        for kind in _KINDS:
            for example in self.examples[kind]:
                before, after = example["before"], example["after"]
                lines.append(
                    f"{kind.replace('_', ' ')} {example['id']}: {before['decision']} {','.join(before['rule_ids']) or '-'}"
                    f" → {after['decision']} {','.join(after['rule_ids']) or '-'}: {example['text'][:80]}"
                )
        if self.interrupted:
            lines.append("(interrupted: a partial diff)")
        return lines


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 4)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
