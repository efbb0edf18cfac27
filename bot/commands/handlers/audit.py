"""``/mod audit [page]``: the server's own audit log (every moderator command, allowed or refused)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from modbot.domain.commands import Invoker, Reply, ShowAudit
from modbot.domain.records import AuditEntry
from modbot.ports import AuditLog

__all__ = ["AUDIT_PAGE_SIZE", "AuditCommands", "audit_line"]

AUDIT_PAGE_SIZE = 15


def audit_line(entry: AuditEntry) -> str:
    """One entry as a line: when, who, what, and whether it was allowed."""
    when = entry.created_at.strftime("%Y-%m-%d %H:%M")
    arguments = ", ".join(f"{k}={v}" for k, v in entry.arguments.items() if v not in (None, "", ()))
    command = f"{entry.command} ({arguments})" if arguments else entry.command
    outcome = entry.result if entry.allowed else "refused"
    line = f"{when} {entry.actor_id} {command}: {outcome}"
    return line if len(line) <= 240 else line[:239] + "…"


@dataclass(frozen=True, slots=True)
class AuditCommands:
    """The audit command over the audit log; the service has checked the invoker is a moderator."""

    audit: AuditLog

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {ShowAudit: self.show}

    async def show(self, invoker: Invoker, command: ShowAudit) -> Reply:
        """One page of the invoker's server's audit log, newest first; no other server's entries."""
        total = await self.audit.count_audit_entries(invoker.server)
        pages = max(1, math.ceil(total / AUDIT_PAGE_SIZE))
        entries = await self.audit.audit_entries(
            invoker.server, limit=AUDIT_PAGE_SIZE, offset=(command.page - 1) * AUDIT_PAGE_SIZE
        )
        if not entries:
            text = "The audit log is empty." if total == 0 else "No entries on this page."
        else:
            text = "\n".join(audit_line(e) for e in entries)
        return Reply(True, f"Audit log ({total} entries)", text[:3900], page=command.page, pages=pages)
