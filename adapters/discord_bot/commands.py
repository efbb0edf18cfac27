"""The ``/mod`` slash-command group and the case buttons, mapped onto the core's moderator commands.

The adapter only translates: options → a command value object, the interaction → an ``Invoker``,
the core's ``Reply`` → an embed. Permissions are decided by the core (``Core.execute``), which
also audits every call; Discord's ``default_member_permissions`` (Manage Messages) only hides the
command from members who could not use it anyway.

Every handler defers first (Discord's 3-second limit), then runs the command and edits the
deferred response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import discord
from discord import app_commands

from modbot.domain.cases import ReviewOutcome
from modbot.domain.commands import (
    MAX_UPLOAD_BYTES,
    CaseAction,
    Exempt,
    Forget,
    Help,
    Invoker,
    MemberHistory,
    MemberNoteCommand,
    ModCommand,
    PolicyDiff,
    PolicyReplay,
    PolicyShadow,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    PrefilterCommunity,
    PrefilterRollback,
    PrefilterStatus,
    Reply,
    ReportMessage,
    Review,
    SetMode,
    SetModChannel,
    SetValue,
    ShowAudit,
    ShowCase,
    ShowQueue,
    ShowReasoning,
    Stats,
)
from modbot.ports import Core

from .convert import invoker_from_interaction, message_to_event, server_ref
from .render import case_embed, case_view, queue_view, reply_embed

__all__ = ["REPORT_MENU_NAME", "CommandInputError", "ModInteractions", "build_mod_group", "build_report_menu"]

log = logging.getLogger(__name__)

#: The message context-menu command (Apps → Report to modbot): report a message the bot allowed.
REPORT_MENU_NAME = "Report to modbot"

CommandSource = ModCommand | Callable[[Invoker], Awaitable[ModCommand]]
ViewFor = Callable[[Reply], discord.ui.View | None]


class CommandInputError(ValueError):
    """Input the adapter cannot turn into a command (an unreadable attachment...); shown to the moderator."""


def _no_view(reply: Reply) -> discord.ui.View | None:
    return None


def _queue_view(reply: Reply) -> discord.ui.View | None:
    return queue_view(reply.page, reply.pages)


class ModInteractions:
    """Runs slash commands and button clicks through the ``Core`` facade."""

    def __init__(self, core: Core):
        self.core = core

    # -- slash commands ----------------------------------------------------------------------

    async def slash(
        self,
        interaction: discord.Interaction,
        source: CommandSource,
        *,
        public: bool = False,
        view_for: ViewFor = _no_view,
    ) -> None:
        """Defer, build the command, execute it in the core, and show the reply.

        ``public`` replies (a mode change) are visible to the channel; a refusal or an error is
        always shown only to the moderator who ran the command.
        """
        await interaction.response.defer(ephemeral=not public, thinking=True)
        try:
            reply = await self._run(interaction, source)
            await self._show(interaction, reply, public=public, view_for=view_for)
        except Exception:
            log.exception("/mod failed in guild %s", interaction.guild_id)
            await self._fail_quietly(interaction)

    async def _run(self, interaction: discord.Interaction, source: CommandSource) -> Reply:
        try:
            invoker = invoker_from_interaction(interaction)
        except ValueError as exc:
            return Reply(False, "Not here", str(exc))
        try:
            command = source if not callable(source) else await source(invoker)
        except CommandInputError as exc:
            return Reply(False, "Could not do that", str(exc))
        return await self.core.execute(invoker, command)

    async def _show(self, interaction: discord.Interaction, reply: Reply, *, public: bool, view_for: ViewFor) -> None:
        view: discord.ui.View | None
        if reply.case is not None and reply.ok:
            embed, view = case_embed(reply.case), case_view(reply.case.id)
        else:
            embed, view = reply_embed(reply), (view_for(reply) if reply.ok else None)
        if public and not reply.ok:
            # The deferred "thinking" message is public; a refusal is not everyone's business.
            await interaction.delete_original_response()
            await interaction.followup.send(embed=embed, ephemeral=True)
            return
        if view is None:
            await interaction.edit_original_response(embed=embed)
        else:
            await interaction.edit_original_response(embed=embed, view=view)

    async def _fail_quietly(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.followup.send("Something went wrong; the error is in the bot's log.", ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the moderator about the failure either")

    async def policy_from_attachment(self, attachment: discord.Attachment, activate: bool, invoker: Invoker) -> ModCommand:
        """Download an uploaded policy document (only for moderators: others are refused by the core)."""
        if not await self.core.is_moderator(invoker):
            return PolicyUpload("", attachment.filename, activate)
        if attachment.size > MAX_UPLOAD_BYTES:
            raise CommandInputError(
                f"{attachment.filename} is {attachment.size} bytes; a policy can be at most {MAX_UPLOAD_BYTES // 1024} KB."
            )
        try:
            data = await attachment.read()
        except (discord.HTTPException, discord.ClientException) as exc:
            raise CommandInputError(f"Could not download {attachment.filename}: {exc}") from exc
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CommandInputError(f"{attachment.filename} is not UTF-8 text; upload the policy's Markdown file.") from None
        return PolicyUpload(text, filename=attachment.filename, activate=activate)

    async def report(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The "Report to modbot" menu on a message: the core opens (or finds) its case; the answer is private."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            event = message_to_event(message)
            if event is None:
                reply = Reply(False, "Cannot report this", "Only members' messages in a server can be reported.")
            else:
                reply = await self._run(interaction, ReportMessage(event))
            if reply.ok and reply.case is not None:
                embed = case_embed(reply.case, note=reply.title)
                await interaction.edit_original_response(embed=embed, view=case_view(reply.case.id))
            else:
                await interaction.edit_original_response(embed=reply_embed(reply))
        except Exception:
            log.exception("reporting a message failed in guild %s", interaction.guild_id)
            await self._fail_quietly(interaction)

    # -- buttons -----------------------------------------------------------------------------

    async def on_case_button(self, interaction: discord.Interaction, verb: str, case_id: int) -> None:
        """Uphold / Overturn / Timeout / Ban / Show reasoning on a posted case."""
        commands: dict[str, ModCommand] = {
            ReviewOutcome.UPHOLD.value: Review(case_id, ReviewOutcome.UPHOLD),
            ReviewOutcome.OVERTURN.value: Review(case_id, ReviewOutcome.OVERTURN),
            "timeout": CaseAction(case_id, "timeout"),
            "ban": CaseAction(case_id, "ban"),
            "reasoning": ShowReasoning(case_id),
        }
        command = commands.get(verb)
        if command is None:
            return
        # A deferred update: the clicked case post stays as it is until we edit it below.
        await interaction.response.defer()
        try:
            reply = await self._run(interaction, command)
            if reply.ok and verb != "reasoning":
                await self._refresh_case(interaction, case_id, f"{verb} by <@{interaction.user.id}>")
            # Answers to buttons are private; the edited case post is the public record.
            await interaction.followup.send(embed=reply_embed(reply), ephemeral=True)
        except Exception:
            log.exception("case button %s:%s failed in guild %s", verb, case_id, interaction.guild_id)
            await self._fail_quietly(interaction)

    async def _refresh_case(self, interaction: discord.Interaction, case_id: int, note: str) -> None:
        """Show the case's new status on the post whose button was clicked."""
        if interaction.guild_id is None:
            return
        case = await self.core.case(server_ref(interaction.guild_id), case_id)
        if case is not None:
            await interaction.edit_original_response(embed=case_embed(case, note=note))

    async def on_queue_page(self, interaction: discord.Interaction, page: int) -> None:
        """Previous/next on a ``/mod queue`` answer."""
        await interaction.response.defer()
        try:
            reply = await self._run(interaction, ShowQueue(max(page, 1)))
            if not reply.ok:
                await interaction.followup.send(embed=reply_embed(reply), ephemeral=True)
                return
            view = queue_view(reply.page, reply.pages)
            if view is None:
                await interaction.edit_original_response(embed=reply_embed(reply), view=None)
            else:
                await interaction.edit_original_response(embed=reply_embed(reply), view=view)
        except Exception:
            log.exception("queue page %s failed in guild %s", page, interaction.guild_id)
            await self._fail_quietly(interaction)


def build_mod_group(handler: ModInteractions) -> app_commands.Group:
    """The ``/mod`` group: guild-only, shown by default to members with Manage Messages."""
    mod = app_commands.Group(
        name="mod",
        description="modbot: policy, review queue and cases",
        default_permissions=discord.Permissions(manage_messages=True),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )
    policy = app_commands.Group(name="policy", description="The policy this server is moderated by", parent=mod)
    exempt = app_commands.Group(name="exempt", description="Roles and channels the bot never judges", parent=mod)
    prefilter = app_commands.Group(name="prefilter", description="The prefilter this server's community learned", parent=mod)

    @policy.command(name="show", description="Show the policy in use and the versions available")
    async def policy_show(interaction: discord.Interaction) -> None:
        await handler.slash(interaction, PolicyShow())

    @policy.command(name="upload", description="Upload a policy document (Markdown or text; front matter optional)")
    @app_commands.describe(document="The policy file (.md or .txt)", activate="Use it at once (default: yes)")
    async def policy_upload(interaction: discord.Interaction, document: discord.Attachment, activate: bool = True) -> None:
        async def build(invoker: Invoker) -> ModCommand:
            return await handler.policy_from_attachment(document, activate, invoker)

        await handler.slash(interaction, build)

    @policy.command(name="use", description="Switch to a policy by id or version")
    @app_commands.describe(policy="Policy id (e.g. game-community) or version (sha256:...)")
    async def policy_use(interaction: discord.Interaction, policy: app_commands.Range[str, 1, 100]) -> None:
        await handler.slash(interaction, PolicyUse(policy.strip()))

    @policy.command(name="test", description="Judge a text against the policy without recording anything")
    @app_commands.describe(text="The message to test", version="A stored policy id or version to test instead (a candidate)")
    async def policy_test(
        interaction: discord.Interaction, text: app_commands.Range[str, 1, 4000], version: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        await handler.slash(interaction, PolicyTest(text, version.strip() if version else None))

    @policy.command(name="shadow", description="Run a candidate policy beside the live one, never acting on it")
    @app_commands.describe(policy="Policy id or version, or off; empty: show", duration="How long, e.g. 7d (default: until off)")
    async def policy_shadow(
        interaction: discord.Interaction,
        policy: app_commands.Range[str, 1, 100] | None = None,
        duration: app_commands.Range[str, 1, 16] | None = None,
    ) -> None:
        await handler.slash(interaction, PolicyShadow(policy.strip() if policy else None, duration))

    @policy.command(name="diff", description="What the shadow policy would change, against the live verdicts")
    async def policy_diff(interaction: discord.Interaction) -> None:
        await handler.slash(interaction, PolicyDiff())

    @mod.command(name="mode", description="shadow: only record verdicts; enforce: act on them")
    @app_commands.describe(mode="shadow (record only) or enforce (delete, time out, warn, post cases)")
    async def mode(interaction: discord.Interaction, mode: Literal["shadow", "enforce"]) -> None:
        await handler.slash(interaction, SetMode(mode), public=True)

    @mod.command(name="modchannel", description="The channel where cases and notices are posted")
    @app_commands.describe(channel="The mod-log channel")
    async def modchannel(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await handler.slash(interaction, SetModChannel(str(channel.id)))

    @mod.command(name="queue", description="Cases awaiting review")
    @app_commands.describe(page="Page number (5 cases a page)")
    async def queue(interaction: discord.Interaction, page: app_commands.Range[int, 1, 100000] = 1) -> None:
        await handler.slash(interaction, ShowQueue(page), view_for=_queue_view)

    @mod.command(name="case", description="Show one case")
    @app_commands.rename(case_id="id")
    @app_commands.describe(case_id="The case number (#N in the mod-log channel)")
    async def case(interaction: discord.Interaction, case_id: app_commands.Range[int, 1]) -> None:
        await handler.slash(interaction, ShowCase(case_id))

    @mod.command(name="history", description="A member's cases")
    @app_commands.describe(member="The member (members who left can be given by id)", page="Page number")
    async def history(
        interaction: discord.Interaction, member: discord.User, page: app_commands.Range[int, 1, 100000] = 1
    ) -> None:
        await handler.slash(interaction, MemberHistory(str(member.id), page))

    @exempt.command(name="role", description="Add or remove a role whose members are never judged")
    @app_commands.describe(action="add or remove", role="The role")
    async def exempt_role(interaction: discord.Interaction, action: Literal["add", "remove"], role: discord.Role) -> None:
        await handler.slash(interaction, Exempt("role", action, str(role.id)))

    @exempt.command(name="channel", description="Add or remove a channel that is never judged")
    @app_commands.describe(action="add or remove", channel="The channel, forum or thread")
    async def exempt_channel(
        interaction: discord.Interaction,
        action: Literal["add", "remove"],
        # Categories are left out: exemptions match the message's channel or thread, not its category.
        channel: discord.TextChannel | discord.ForumChannel | discord.VoiceChannel | discord.Thread,
    ) -> None:
        await handler.slash(interaction, Exempt("channel", action, str(channel.id)))

    @mod.command(name="stats", description="Messages seen, escalated, acted on, overturned; median latency")
    @app_commands.describe(days="How many days back (default 7)")
    async def stats(interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = 7) -> None:
        await handler.slash(interaction, Stats(days))

    @mod.command(name="forget", description="Erase a member's stored message content")
    @app_commands.describe(member="The member whose stored messages are erased")
    async def forget(interaction: discord.Interaction, member: discord.User) -> None:
        await handler.slash(interaction, Forget(str(member.id)))

    @policy.command(name="replay", description="Re-judge recent messages with a stored version; acts on nothing")
    @app_commands.describe(version="A stored policy id or version", last="How many of the newest messages (default 200)")
    async def policy_replay(
        interaction: discord.Interaction, version: app_commands.Range[str, 1, 100], last: app_commands.Range[int, 1, 1000] = 200
    ) -> None:
        await handler.slash(interaction, PolicyReplay(version, last))

    @mod.command(name="set", description="A numeric setting of this server")
    @app_commands.describe(setting="Which setting", value="audit_share: 0 to 1 (or 5%); retention_days: 1 to 3650")
    async def set_value(
        interaction: discord.Interaction, setting: Literal["audit_share", "retention_days"], value: app_commands.Range[str, 1, 20]
    ) -> None:
        await handler.slash(interaction, SetValue(setting, value))

    @mod.command(name="note", description="Add a note about a member, or list their notes")
    @app_commands.describe(member="The member", text="The note (leave out to list the notes)")
    async def note(
        interaction: discord.Interaction, member: discord.User, text: app_commands.Range[str, 1, 500] | None = None
    ) -> None:
        await handler.slash(interaction, MemberNoteCommand(str(member.id), text))

    @mod.command(name="audit", description="This server's audit log: who ran which moderator command")
    @app_commands.describe(page="Page number (newest first)")
    async def audit(interaction: discord.Interaction, page: app_commands.Range[int, 1, 100000] = 1) -> None:
        await handler.slash(interaction, ShowAudit(page))

    @prefilter.command(name="status", description="The prefilter versions of this server's community")
    async def prefilter_status(interaction: discord.Interaction) -> None:
        await handler.slash(interaction, PrefilterStatus())

    @prefilter.command(name="rollback", description="Go back to the previous prefilter version")
    async def prefilter_rollback(interaction: discord.Interaction) -> None:
        await handler.slash(interaction, PrefilterRollback())

    @prefilter.command(name="community", description="Which community's learned prefilter this server uses")
    @app_commands.describe(name="A community name, or 'none' for the shared model")
    async def prefilter_community(interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]) -> None:
        await handler.slash(interaction, PrefilterCommunity(None if name.lower() == "none" else name))

    @mod.command(name="help", description="The moderator commands")
    async def help_(interaction: discord.Interaction) -> None:
        await handler.slash(interaction, Help())

    return mod


def build_report_menu(handler: ModInteractions) -> app_commands.ContextMenu:
    """The message context-menu command "Report to modbot": guild-only, shown by default to members with
    Manage Messages (the core checks again and audits every use)."""

    async def report(interaction: discord.Interaction, message: discord.Message) -> None:
        await handler.report(interaction, message)

    menu = app_commands.ContextMenu(
        name=REPORT_MENU_NAME,
        callback=report,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
    )
    menu.default_permissions = discord.Permissions(manage_messages=True)
    menu.guild_only = True
    return menu
