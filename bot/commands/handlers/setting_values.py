"""``/mod set audit_share <0..1> | retention_days <days>``: a server's numeric settings, checked here.

The bounds are ``ServerSettings``'s own (``audit_share`` in [0, 1]; ``retention_days`` from 1 to
``MAX_RETENTION_DAYS``), so a value refused here would also be refused by the settings model; checking
first gives the moderator a sentence instead of a validation error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modbot.domain.commands import Invoker, Reply, SetValue
from modbot.ports import EffectiveSettings

__all__ = ["MAX_RETENTION_DAYS", "SETTABLE", "SettingValueCommands", "checked_value"]

#: The longest retention ``/mod set retention_days`` takes (ten years: ``ServerSettings.retention_days``'s bound).
MAX_RETENTION_DAYS = 3650

#: The settings ``/mod set`` changes, with what each one means (shown in errors and replies).
SETTABLE: dict[str, str] = {
    "audit_share": "the share of prefilter-allowed messages the reasoner audits afterwards (0 turns audits off)",
    "retention_days": "days message content is kept before it is purged (verdict metadata stays)",
}


def checked_value(setting: str, text: str) -> float | int:
    """``text`` as the value of ``setting``, or ValueError with a sentence saying what is allowed."""
    raw = text.strip()
    if setting == "audit_share":
        try:
            share = float(raw.removesuffix("%")) / (100 if raw.endswith("%") else 1)
        except ValueError:
            raise ValueError(f"audit_share must be a number from 0 to 1 (e.g. 0.05 or 5%), not {raw[:20]!r}") from None
        if not math.isfinite(share) or not 0.0 <= share <= 1.0:
            raise ValueError(f"audit_share must be from 0 to 1 (e.g. 0.05 or 5%), not {raw[:20]}")
        return share
    if setting == "retention_days":
        try:
            days = int(raw)
        except ValueError:
            raise ValueError(f"retention_days must be a whole number of days, not {raw[:20]!r}") from None
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention_days must be from 1 to {MAX_RETENTION_DAYS} days, not {days}")
        return days
    raise ValueError(f"unknown setting {setting[:40]!r}: /mod set takes {' or '.join(SETTABLE)}")


@dataclass(frozen=True, slots=True)
class SettingValueCommands:
    """``/mod set``: a read-modify-write of the server's overrides through the settings cache."""

    settings: EffectiveSettings

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {SetValue: self.set_value}

    async def set_value(self, invoker: Invoker, command: SetValue) -> Reply:
        """Check the value, store it, and say what it now means (public: the other moderators see it)."""
        value = checked_value(command.setting, command.value)
        await self.settings.update(invoker.server, **{command.setting: value})
        if command.setting == "audit_share":
            shown = f"{value:g} ({value * 100:.1f} % of prefilter-allowed messages audited)"
        else:
            shown = f"{value} days"
        return Reply(True, f"{command.setting}: {value:g}", f"{SETTABLE[command.setting]}: {shown}", ephemeral=False)
