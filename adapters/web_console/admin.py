"""The stats, policy and settings pages (and the server's audit log).

Reads of figures go through the facade after the core's permission check; every change is a command
run through ``Core.execute``, audited like the same ``/mod`` command in chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modbot.domain.commands import (
    MAX_UPLOAD_BYTES,
    Exempt,
    PolicyDiff,
    PolicyReplay,
    PolicyShadow,
    PolicyShow,
    PolicyTest,
    PolicyUpload,
    PolicyUse,
    PrefilterStatus,
    Reply,
    SetModChannel,
    SetMode,
    SetValue,
    ShowAudit,
    Stats,
)
from modbot.ports import Core

from .charts import Bar, bar_chart
from .learning_chart import learning_chart, learning_points
from .web import Page, check_csrf, flash, redirect

__all__ = ["AdminPages", "policy_versions"]

#: The days the "messages per day" chart covers.
CHART_DAYS = 7


def policy_versions(reply: Reply) -> list[dict[str, object]]:
    """The "Available" field of ``/mod policy show`` as rows: id, version, shipped, active."""
    listing = dict(reply.fields).get("Available", "")
    rows = []
    for line in listing.splitlines():
        active = line.startswith("* ")
        parts = line.removeprefix("* ").split()
        if len(parts) >= 2:
            rows.append({"id": parts[0], "version": parts[1], "shipped": "(shipped)" in line, "active": active})
    return rows


def _short(value: object, limit: int = 200) -> str:
    return str(value or "").strip()[:limit]


@dataclass
class AdminPages:
    """The routes of the stats, policy, settings and audit pages on one core."""

    core: Core

    async def stats(self, request: Request) -> Response:
        """``GET .../stats?days=7``: figures, charts and the live recall estimate with its interval."""
        page = Page.of(request, self.core)
        try:
            days = min(max(int(request.query_params.get("days", "7")), 1), 90)
        except ValueError:
            raise HTTPException(400, "days must be a number") from None
        reply = await page.execute(Stats(days))
        stats = await self.core.server_stats(page.server, days=days)
        # Messages per day: the period's figures are cumulative from "now - N days", so a day is a difference.
        seen = [0]
        for back in range(1, CHART_DAYS + 1):
            seen.append((await self.core.server_stats(page.server, days=back)).messages_seen)
        per_day = [
            Bar(f"{back} days ago" if back > 1 else "last 24 h", seen[back] - seen[back - 1])
            for back in range(1, CHART_DAYS + 1)
        ]
        reviewed = stats.upheld + stats.overturned
        share = stats.escalated / stats.messages_seen if stats.messages_seen else None
        overturn = stats.overturned / reviewed if reviewed else None
        estimate = await self.core.recall_estimate(page.server, days=days)
        # The prefilter's learning curve: its versions and their held-back figures (/mod prefilter status).
        learning = await page.execute(PrefilterStatus())
        points = learning_points(learning)
        return page.render(
            "stats.html",
            days=days,
            fields=reply.fields,
            stats=stats,
            escalated_share=share,
            overturn_rate=overturn,
            estimate=estimate,
            learning=learning,
            learning_points=points,
            learning_chart=learning_chart(points) if points else "",
            per_day_chart=bar_chart("Messages judged per day", per_day),
            decisions_chart=bar_chart(
                "Decisions", [Bar(name, count) for name, count in sorted(stats.decisions.items())]
            ),
            reviews_chart=bar_chart("Reviews", [Bar("upheld", stats.upheld), Bar("overturned", stats.overturned)]),
        )

    async def policy(self, request: Request) -> Response:
        """``GET .../policy``: the policy in use, its versions (one-click switch), test, shadow and diff."""
        page = Page.of(request, self.core)
        shown = await page.execute(PolicyShow())
        shadow = await page.execute(PolicyShadow())
        return page.render(
            "policy.html", shown=shown, versions=policy_versions(shown), shadow=shadow, result=None
        )

    async def policy_post(self, request: Request) -> Response:
        """``POST .../policy`` with ``op``: use (``ref``), upload (``text``, ``filename``, ``activate``), test
        (``text``, optional ``ref``), shadow (``ref``, ``duration``) or diff."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        op = form.get("op")
        ref = _short(form.get("ref"), 100) or None
        if op == "use" and ref:
            flash(request, await page.execute(PolicyUse(ref)))
            return redirect(f"{page.prefix}/policy")
        if op == "shadow":
            flash(request, await page.execute(PolicyShadow(ref, _short(form.get("duration"), 10) or None)))
            return redirect(f"{page.prefix}/policy")
        if op == "upload":
            # Validated and linted in the core (refused with the lint report, like /mod policy upload).
            text = str(form.get("text") or "")
            if len(text.encode("utf-8", "surrogatepass")) > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"A policy can be at most {MAX_UPLOAD_BYTES // 1024} KB.")
            filename = _short(form.get("filename"), 100) or "policy.md"
            result = await page.execute(PolicyUpload(text, filename, activate=form.get("activate") == "on"))
        elif op == "test":
            result = await page.execute(PolicyTest(_short(form.get("text"), 4000), ref))
        elif op == "diff":
            result = await page.execute(PolicyDiff())
        elif op == "replay" and ref:
            # Re-judges stored messages in the core (never acts, never stores); the diff is the answer.
            last = _short(form.get("last"), 5) or "200"
            if not last.isdigit() or not 1 <= int(last) <= 1000:
                raise HTTPException(400, "last must be a number of messages from 1 to 1000")
            result = await page.execute(PolicyReplay(ref, int(last)))
        else:
            raise HTTPException(400, "unknown policy operation")
        shown = await page.execute(PolicyShow())
        shadow = await page.execute(PolicyShadow())
        return page.render("policy.html", shown=shown, versions=policy_versions(shown), shadow=shadow, result=result)

    async def settings(self, request: Request) -> Response:
        """``GET .../settings``: mode, mod channel, exemptions."""
        page = Page.of(request, self.core)
        await page.require_moderator()
        return page.render("settings.html", settings=await self.core.server_settings(page.server))

    async def settings_post(self, request: Request) -> Response:
        """``POST .../settings`` with ``op``: mode, modchannel, exempt (``kind``, ``action``, ``target``)."""
        page = Page.of(request, self.core)
        form = await check_csrf(request)
        op = form.get("op")
        if op == "mode" and form.get("mode") in ("shadow", "enforce"):
            reply = await page.execute(SetMode(form["mode"]))
        elif op == "set" and form.get("setting") in ("audit_share", "retention_days"):
            # Checked in the core (bounds, a clear refusal), like /mod set in chat.
            reply = await page.execute(SetValue(form["setting"], _short(form.get("value"), 20)))
        elif op == "modchannel" and _short(form.get("channel_id"), 40):
            reply = await page.execute(SetModChannel(_short(form.get("channel_id"), 40)))
        elif (
            op == "exempt"
            and form.get("kind") in ("role", "channel")
            and form.get("action") in ("add", "remove")
            and _short(form.get("target"), 40)
        ):
            reply = await page.execute(Exempt(form["kind"], form["action"], _short(form.get("target"), 40)))
        else:
            raise HTTPException(400, "incomplete settings form")
        flash(request, reply)
        return redirect(f"{page.prefix}/settings")

    async def audit(self, request: Request) -> Response:
        """``GET .../audit?page=N``: the server's audit log (console actions included), newest first."""
        page = Page.of(request, self.core)
        try:
            number = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            raise HTTPException(400, "page must be a number") from None
        return page.render("audit.html", reply=await page.execute(ShowAudit(number)))
