"""``/mod mode | modchannel | exempt``: a server's own settings, written through the settings cache."""

from __future__ import annotations

from dataclasses import dataclass

from modbot.domain.commands import Exempt, Invoker, Reply, SetMode, SetModChannel
from modbot.ports import EffectiveSettings

__all__ = ["SettingsCommands"]


@dataclass(frozen=True, slots=True)
class SettingsCommands:
    """Settings commands; every change is a read-modify-write of the server's overrides."""

    settings: EffectiveSettings

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {SetMode: self.set_mode, SetModChannel: self.set_mod_channel, Exempt: self.exempt}

    async def set_mode(self, invoker: Invoker, command: SetMode) -> Reply:
        """Shadow (record only) or enforce (act); the answer is public so the other moderators see it."""
        if command.mode not in ("shadow", "enforce"):
            raise ValueError("mode must be shadow or enforce")
        await self.settings.update(invoker.server, mode=command.mode)
        explain = (
            "Verdicts are recorded and cases queued; no message is deleted and nobody is timed out."
            if command.mode == "shadow"
            else "Verdicts are acted on: messages removed, members timed out and warned, cases posted."
        )
        return Reply(True, f"Mode: {command.mode}", explain, ephemeral=False)

    async def set_mod_channel(self, invoker: Invoker, command: SetModChannel) -> Reply:
        """Where cases and notices are posted."""
        await self.settings.update(invoker.server, mod_channel_id=command.channel_id)
        return Reply(True, "Mod channel set", f"Cases and notices go to {command.channel_id}.")

    async def exempt(self, invoker: Invoker, command: Exempt) -> Reply:
        """Add or remove a role or channel whose messages are not moderated."""
        settings = await self.settings.get(invoker.server)
        field_name = "exempt_role_ids" if command.kind == "role" else "exempt_channel_ids"
        current = list(getattr(settings, field_name))
        if command.op == "add" and command.target_id not in current:
            current.append(command.target_id)
        elif command.op == "remove" and command.target_id in current:
            current.remove(command.target_id)
        await self.settings.update(invoker.server, **{field_name: tuple(current)})
        return Reply(True, f"Exempt {command.kind}s", "\n".join(current) or "none")
