"""``/mod policy show | upload | use | test``: which policy a server judges against, and trying it out."""

from __future__ import annotations

from dataclasses import dataclass

from modbot.commands.presenters import verdict_fields
from modbot.domain import MessageEvent
from modbot.domain.commands import (
    MAX_UPLOAD_BYTES,
    Invoker,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    Reply,
)
from modbot.domain.policy import PolicyError, parse_policy
from modbot.ports import ActivePolicies, Classifier, EffectiveSettings, PolicyLibrary, PolicyLinter

__all__ = ["PolicyCommands"]


@dataclass(frozen=True, slots=True)
class PolicyCommands:
    """Policy commands over the active-policy cache, the stored versions and a classifier."""

    policies: ActivePolicies
    library: PolicyLibrary
    settings: EffectiveSettings
    classifier: Classifier
    #: Lints an upload before it is stored; one with lint errors is refused (None: no lint, e.g. in tools).
    lint: PolicyLinter | None = None

    def handlers(self) -> dict[type, object]:
        """Command type -> handler, for the service's dispatch table."""
        return {PolicyShow: self.show, PolicyUpload: self.upload, PolicyUse: self.use, PolicyTest: self.test}

    async def show(self, invoker: Invoker, _: PolicyShow) -> Reply:
        """The policy in use, its rules, and every version this server may switch to."""
        policy = await self.policies.get(invoker.server)
        available = await self.library.list_policies(invoker.server)
        rules = [f"{cat.id}: {', '.join(r.id for r in cat.rules)}" for cat in policy.meta.categories]
        listing = [
            f"{'* ' if r.active or (r.version == policy.version) else ''}{r.policy_id} {r.version}"
            f"{' (shipped)' if r.builtin else ''}"
            for r in available
        ]
        return Reply(
            True,
            f"Policy: {policy.meta.title}",
            fields=(
                ("Id", policy.id),
                ("Version", policy.version),
                ("Categories and rules", "\n".join(rules)),
                ("Available", "\n".join(listing) or "-"),
            ),
        )

    async def upload(self, invoker: Invoker, command: PolicyUpload) -> Reply:
        """Validate, lint and store the server's own policy (refused with the line of the first mistake or the
        lint report); use it at once only when asked (``activate``). ``extends`` may name a shipped policy."""
        if len(command.text.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_BYTES:
            return Reply(False, "Policy too large", f"A policy can be at most {MAX_UPLOAD_BYTES // 1024} KB.")
        try:
            policy = parse_policy(command.text, source=command.filename, bases=self.policies.shipped())
        except PolicyError as exc:
            return Reply(False, "The policy has a mistake", str(exc))
        report = self.lint(policy) if self.lint is not None else None
        if report is not None and not report.ok:
            return Reply(
                False,
                f"Policy {policy.id} not uploaded: {len(report.errors)} lint errors",
                report.summary() + "\nFix them (check with `modbot policy lint FILE`) and upload again.",
            )
        row_id = await self.policies.upload(invoker.server, policy, invoker.user_id)
        if command.activate:
            await self.policies.use(invoker.server, policy.version, invoker.user_id)
        rules = sum(len(c.rules) for c in policy.meta.categories)
        hint = (
            ""
            if command.activate
            else f"Stored, not in use. Try it (`/mod policy test <text> {policy.version}`, "
            f"`/mod policy shadow {policy.version}`), then `/mod policy use {policy.version}`."
        )
        return Reply(
            True,
            f"Policy {policy.id} uploaded" + (" and in use" if command.activate else ""),
            hint,
            fields=(
                ("Version", policy.version),
                ("Categories", str(len(policy.meta.categories))),
                ("Rules", str(rules)),
                ("Row", str(row_id)),
                *((("Extends", policy.extends),) if policy.extends else ()),
                *((("Lint", f"{len(report.warnings)} warnings"),) if report is not None else ()),
            ),
        )

    async def use(self, invoker: Invoker, command: PolicyUse) -> Reply:
        """Switch to a shipped policy or one of this server's uploads."""
        policy = await self.policies.use(invoker.server, command.ref, invoker.user_id)
        return Reply(True, f"Now using {policy.id}", fields=(("Version", policy.version),))

    async def test(self, invoker: Invoker, command: PolicyTest) -> Reply:
        """Judge a text as the server would, without recording or acting on it (with a candidate: ``ref``)."""
        policy = await self.policies.get(invoker.server)
        if command.ref is not None:
            found = await self.library.find_policy(invoker.server, command.ref)
            if found is None:
                raise LookupError(f"no policy {command.ref!r} is stored for this server")
            policy = found.policy
        settings = await self.settings.get(invoker.server)
        event = MessageEvent(
            server=invoker.server,
            channel_id="policy-test",
            message_id="policy-test",
            author_id=invoker.user_id,
            text=command.text,
        )
        verdict = await self.classifier.classify(event, policy, settings=settings)
        return Reply(True, f"Test verdict: {verdict.decision.value}", fields=verdict_fields(verdict), verdict=verdict)
