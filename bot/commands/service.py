"""The moderator command service: ``/mod ...`` written once, for every platform.

Adapters turn a slash command or a button click into an ``Invoker`` plus one of the command values of
``modbot.domain.commands`` and render the ``Reply``. Permissions are checked here again, independently
of the platform's own gate (a Discord server admin can override ``default_member_permissions``; a
Slack slash command has no gate at all), and every command, allowed or refused, is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Any, Protocol

from modbot.commands.presenters import USAGE
from modbot.domain.commands import Help, Invoker, ModCommand, Reply
from modbot.domain.policy import PolicyError
from modbot.domain.settings import ServerSettings
from modbot.ports import AuditLog, EffectiveSettings, ServerConfig

__all__ = ["CommandGroup", "ModeratorService", "REFUSAL", "is_moderator"]

log = logging.getLogger(__name__)

Handler = Callable[[Invoker, Any], Awaitable[Reply]]

#: What a refused invoker is told; platform permission names stay in the adapters.
REFUSAL = (
    "Only moderators can use /mod: a moderator permission on this platform "
    "or a moderator role set for this server."
)


class CommandGroup(Protocol):
    """Handlers of one concern (policy, settings, cases, stats): command type -> handler."""

    def handlers(self) -> dict[type, object]: ...


def is_moderator(invoker: Invoker, settings: ServerSettings) -> bool:
    """The core's own check: the platform calls the invoker a moderator, or they hold a moderator role."""
    return invoker.platform_moderator or bool(set(invoker.role_ids) & set(settings.moderator_role_ids))


class ModeratorService:
    """Checks permission, dispatches to the handler of the command's type, audits. Built by the composition root."""

    def __init__(
        self, *, settings: EffectiveSettings, servers: ServerConfig, audit: AuditLog, groups: Iterable[CommandGroup]
    ):
        self.settings = settings
        self.servers = servers
        self.audit = audit
        self._handlers: dict[type, Handler] = {Help: self._help}
        for group in groups:
            self._handlers.update(group.handlers())  # type: ignore[arg-type]

    async def is_moderator(self, invoker: Invoker) -> bool:
        """Whether ``invoker`` may run moderator commands in their server."""
        return is_moderator(invoker, await self.settings.get(invoker.server))

    async def execute(self, invoker: Invoker, command: ModCommand) -> Reply:
        """Check permissions, run the command, audit it. Never raises for bad input."""
        arguments = _audit_arguments(command)
        if not await self.is_moderator(invoker):
            # Refused before anything is written but the audit: an unknown server stays unknown.
            await self.audit.audit(
                invoker.server, invoker.user_id, command.name, arguments, allowed=False, result="refused"
            )
            return Reply(False, "Not allowed", REFUSAL)
        await self.servers.ensure_server(invoker.server)
        handler = self._handlers[type(command)]
        try:
            reply = await handler(invoker, command)
        except (LookupError, ValueError, PolicyError) as exc:
            reply = Reply(False, "Could not do that", str(exc))
        except Exception as exc:
            log.exception("moderator command %s failed", command.name)
            reply = Reply(False, "Something went wrong", f"{type(exc).__name__}; the error is in the bot's log.")
        await self.audit.audit(
            invoker.server, invoker.user_id, command.name, arguments, allowed=True, result=reply.title[:200]
        )
        return reply

    async def _help(self, invoker: Invoker, _: Help) -> Reply:
        return Reply(True, "modbot moderator commands", USAGE)


def _audit_arguments(command: ModCommand) -> dict[str, object]:
    own = getattr(command, "audit_arguments", None)
    if callable(own):  # a command that carries a whole message says itself what the audit keeps
        return dict(own())
    arguments = asdict(command)
    # Uploaded documents and test texts can be long; the audit keeps their size, not their body.
    text = arguments.get("text")
    if isinstance(text, str) and len(text) > 200:
        arguments["text"] = f"<{len(text)} chars>"
    return arguments
