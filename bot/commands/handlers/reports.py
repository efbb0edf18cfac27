"""A moderator's report of a message the bot allowed: one case, posted to the mod channel."""

from __future__ import annotations

from dataclasses import dataclass

from modbot.commands.presenters import case_fields
from modbot.domain.commands import Invoker, Reply, ReportMessage
from modbot.ports import MissReports

__all__ = ["ReportCommands"]


@dataclass(frozen=True, slots=True)
class ReportCommands:
    """The report command over the core's report desk."""

    reports: MissReports

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {ReportMessage: self.report}

    async def report(self, invoker: Invoker, command: ReportMessage) -> Reply:
        """Record the message as a missed violation and open its case; a second report finds the same case."""
        if command.message.server != invoker.server:
            raise ValueError("a message can only be reported in its own server")
        result = await self.reports.report(command.message, moderator_id=invoker.user_id, note=command.note)
        case = result.case
        if result.created:
            title = f"Reported: case #{case.display_number} opened"
            text = (
                "Recorded as a violation the bot missed and posted to the mod channel. "
                "Nothing was removed: act on it with the case's buttons."
            )
        else:
            title = f"Already reported: case #{case.display_number}"
            text = "This message already has a case; nothing new was recorded."
        return Reply(True, title, text, fields=case_fields(case), case=case)
