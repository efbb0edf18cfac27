"""How commands and cases read: the fields of a case and a verdict, the one-line case summary, usage.

Pure functions of domain values; adapters import them to render cases the same way the core does.
"""

from __future__ import annotations

from modbot.domain import Case, Stage, Verdict
from modbot.domain.commands import case_summary

__all__ = ["USAGE", "case_fields", "case_summary", "found_by", "verdict_fields"]

USAGE = """\
/mod policy show | policy upload [--activate] <text> | policy use <id> | policy test <text> [version]
/mod policy shadow <id> [7d] | policy shadow off | policy diff | policy replay <id> [last]
/mod mode shadow|enforce
/mod modchannel <channel>
/mod set audit_share <0..1> | set retention_days <days>
/mod queue [page]
/mod case <number>
/mod history <member> [page]
/mod note <member> [text]
/mod exempt role|channel add|remove <id>
/mod stats [days]
/mod forget <member>
/mod prefilter status | rollback | community <name>|none
/mod audit [page]"""


def case_fields(case: Case) -> tuple[tuple[str, str], ...]:
    """The fields every rendering of a case shows (mod-channel post, /mod case)."""
    verdict = case.verdict
    return (
        ("Author", case.event.author_id),
        ("Channel", case.event.channel_id),
        ("Decision", verdict.decision.value),
        ("Rules", ", ".join(verdict.rule_ids) or "-"),
        ("Categories", ", ".join(verdict.categories) or "-"),
        ("Rationale", verdict.rationale or "-"),
        ("Stage", verdict.stage.value),
        ("Confidence", f"{verdict.confidence:.2f}"),
        ("Policy version", verdict.policy_version),
        ("Status", case.status.value),
        *found_by(verdict),
    )


def found_by(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    """How a case came about when it was not the bot's first judgement (an audit, a moderator's report)."""
    if verdict.found_by_audit:
        return (("Found by", "audit: the reasoner's second look at a message the prefilter had allowed"),)
    if verdict.stage is Stage.REPORT:
        return (("Found by", "a moderator's report of a message the bot had allowed"),)
    return ()


def verdict_fields(verdict: Verdict) -> tuple[tuple[str, str], ...]:
    """The fields of a verdict that was not recorded (``/mod policy test``)."""
    return (
        ("Decision", verdict.decision.value),
        ("Rules", ", ".join(verdict.rule_ids) or "-"),
        ("Categories", ", ".join(verdict.categories) or "-"),
        ("Stage", verdict.stage.value),
        ("Rationale", verdict.rationale or "-"),
        ("Policy version", verdict.policy_version),
    )
