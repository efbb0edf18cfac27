"""``/mod stats``: the verdict log's figures plus the live ones (backlog and drain, audits, recall estimate)."""

from __future__ import annotations

import re

from modbot.domain import Action, ActionOutcome
from modbot.domain.commands import Invoker, Stats
from tests.conftest import event
from tests.moderation.audit_support import SERVER, ScriptedPrefilter, audited_services
from tests.support.scripted import ScriptedReasoner, by_keyword

MOD = Invoker(SERVER, "mod", platform_moderator=True)
RECALL = "Prefilter recall (live estimate)"


class FlakySink:
    """A platform that is down: every action fails for now and waits in the outbox for a retry."""

    def __init__(self) -> None:
        self.actions: list[Action] = []

    async def execute(self, action: Action) -> ActionOutcome:
        self.actions.append(action)
        return ActionOutcome(False, "503 Service Unavailable", retry_after_s=60.0)


async def _stats(services, days: int = 7) -> dict[str, str]:
    reply = await services.moderators.execute(MOD, Stats(days))
    assert reply.ok
    return dict(reply.fields)


async def test_stats_show_the_recall_estimate_audits_backlog_and_drain(tmp_path) -> None:
    reasoner = ScriptedReasoner(by_keyword({"cheat": "CH1"}))
    prefilter = ScriptedPrefilter(lambda text: 0.9 if text.startswith("risky") else 0.05)
    services, _ = await audited_services(tmp_path, reasoner, prefilter=prefilter, audit_share=1.0)
    await services.start()
    for text in ("risky cheat sale", "risky cheat again", "cheat engine tables", "gg", "good game", "nice one"):
        await services.pipeline.submit(event(text))
    await services.pipeline.drain(10)

    fields = await _stats(services)
    assert re.fullmatch(r"\d\.\d\d \(\d\.\d\d–\d\.\d\d, 4 audits\)", fields[RECALL]), fields[RECALL]
    assert fields["Audits"].startswith("4 in 7 days (1 found a violation), 100.0% of prefilter allows")
    assert "since start: 4 done, 0 dropped" in fields["Audits"]
    assert fields["Backlog"] == "0 messages pending, 0 actions unsettled"
    assert fields["Drains in"] == "nothing pending"
    assert fields["Escalated"] == "2"  # the audit's reasoner call is not an escalation
    assert f"{RECALL}, community" not in " ".join(fields)

    # Workers stopped: new messages stay pending; the drain estimate uses the last five minutes' rate.
    await services.pipeline.stop()
    for i in range(3):
        await services.pipeline.submit(event(f"later {i}"))
    fields = await _stats(services)
    assert fields["Backlog"] == "3 messages pending, 0 actions unsettled"
    assert fields["Drains in"] == "about 2 min at 1.2 messages/min (last 5 min)"  # 6 judged in 5 min
    await services.close()


async def test_stats_count_unsettled_actions_and_say_when_the_rate_is_unknown(tmp_path) -> None:
    reasoner = ScriptedReasoner(by_keyword({"cheat": "CH1"}))
    prefilter = ScriptedPrefilter(lambda text: 0.5 if "cheat" in text else 0.05)
    services, _ = await audited_services(tmp_path, reasoner, prefilter=prefilter, audit_share=0.0, mode="enforce")
    flaky = FlakySink()
    services.dispatcher.register("test", flaky)
    fields = await _stats(services)
    assert fields["Drains in"] == "nothing pending"
    assert fields["Audits"] == "off: audit_share is 0"
    assert fields[RECALL] == "unknown (audits off: audit_share is 0)"

    await services.pipeline.submit(event("pending, nobody judges it"))  # not started: stays pending
    fields = await _stats(services)
    assert fields["Drains in"] == "unknown (nothing judged in the last 5 min)"

    await services.start()
    await services.pipeline.submit(event("selling cheat codes"))
    await services.pipeline.drain(10)
    fields = await _stats(services)
    assert fields["Backlog"] == "0 messages pending, 3 actions unsettled"  # delete, warn, post: all waiting
    await services.close()


async def test_stats_without_a_reasoner_say_there_are_no_audits(tmp_path) -> None:
    services, _ = await audited_services(tmp_path, None)
    await services.server_settings.update(SERVER, prefilter_community="league")
    fields = await _stats(services)
    assert fields["Audits"] == "off: no reasoner configured"
    assert fields[RECALL] == "unknown (audits off: no reasoner configured)"
    assert fields[f"{RECALL}, community league"] == "unknown (no audits yet)"
    await services.close()
