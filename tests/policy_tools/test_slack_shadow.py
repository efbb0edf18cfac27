"""The shadow-policy commands through the real Slack app (slack-bolt, signed requests, loopback Web API)."""

from __future__ import annotations

from modbot.domain.policy import parse_policy
from tests.adapters.slack.slack_harness import ADMIN, SERVER, harness  # noqa: F401  (fixture)
from tests.policy_tools.conftest import CANDIDATE_POLICY

__all__ = ["harness"]


async def test_shadow_diff_and_a_candidate_test_from_slack(harness):
    candidate = parse_policy(CANDIDATE_POLICY)
    await harness.services.storage.servers.ensure_server(SERVER)
    await harness.services.policies.upload(SERVER, candidate, ADMIN)

    started = await harness.command("policy shadow candidate-policy 7d", user=ADMIN)
    assert "Shadow policy candidate-policy running" in started["text"], started
    shadow = (await harness.services.server_settings.get(SERVER)).shadow_policy
    assert shadow is not None and shadow.version == candidate.version

    tested = await harness.command(f"policy test claim at free-nitro.example now {candidate.version}", user=ADMIN)
    assert "Test verdict: flag" in tested["text"] and candidate.version in str(tested), tested

    diff = await harness.command("policy diff", user=ADMIN)
    assert "Shadow policy candidate-policy against the live verdicts" in diff["text"], diff
    assert "compared 0" in str(diff)

    stopped = await harness.command("policy shadow off", user=ADMIN)
    assert "stopped" in stopped["text"]
