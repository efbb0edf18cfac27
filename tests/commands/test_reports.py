"""Reporting a message the bot allowed, in the core: moderators only, one case, posted, idempotent; and the
labels the bot's own work yields (reasoner verdicts, reviews, reports, audits with their weights)."""

from __future__ import annotations

from modbot.domain import ActionKind, CaseStatus, MessageEvent, MessageStatus, ReviewOutcome, ServerRef, Stage
from modbot.domain.commands import Invoker, ReportMessage, Review
from modbot.domain.records import LabelSource
from modbot.moderation.audits import is_sampled
from tests.conftest import event
from tests.moderation.audit_support import SERVER, ScriptedPrefilter, audited_services
from tests.support.scripted import ScriptedReasoner, by_keyword

MOD = Invoker(SERVER, "mod-1", platform_moderator=True)
MEMBER = Invoker(SERVER, "member-1")


async def test_only_moderators_report_and_a_report_opens_one_posted_case(tmp_path) -> None:
    services, sink = await audited_services(tmp_path, ScriptedReasoner(), audit_share=0.0, mod_channel_id="mods")
    await services.start()
    intake = await services.pipeline.submit(event("a scam the bot let through", message_id="m-scam"))
    await services.pipeline.drain(10)
    reported = (await services.storage.messages.load_message(intake.row_id)).event

    refused = await services.moderators.execute(MEMBER, ReportMessage(reported))
    assert not refused.ok and refused.title == "Not allowed"
    assert (await services.storage.cases.list_cases(SERVER)).total == 0

    first = await services.moderators.execute(MOD, ReportMessage(reported, note="phishing link"))
    assert first.ok and first.title == f"Reported: case #{first.case.id} opened"
    case = first.case
    assert case.verdict.stage is Stage.REPORT and case.status is CaseStatus.OPEN
    assert "mod-1" in case.verdict.rationale and "phishing link" in case.verdict.rationale
    assert dict(first.fields)["Found by"].startswith("a moderator's report")
    # Posted through the outbox even in shadow mode (a mod-channel post does nothing to the member).
    assert sink.kinds() == [ActionKind.POST_CASE] and sink.actions[0].mod_channel_id == "mods"
    assert case.posted_ref == "ref-1"

    second = await services.moderators.execute(MOD, ReportMessage(reported))
    assert second.ok and second.title == f"Already reported: case #{case.id}" and second.case.id == case.id
    assert sink.kinds() == [ActionKind.POST_CASE]  # nothing new posted
    assert (await services.storage.cases.list_cases(SERVER)).total == 1

    audit = await services.storage.audit.audit_entries(SERVER)
    reports = [(entry.actor_id, entry.allowed) for entry in reversed(audit) if entry.command == "report"]
    assert reports == [("member-1", False), ("mod-1", True), ("mod-1", True)]
    assert all("let through" not in str(entry.arguments) for entry in audit)  # the audit keeps no message text
    await services.close()


async def test_a_report_of_an_unseen_message_records_it_and_another_servers_message_is_refused(tmp_path) -> None:
    services, sink = await audited_services(tmp_path, ScriptedReasoner(), audit_share=0.0)
    await services.start()
    unseen = MessageEvent(SERVER, "c7", "m-old", "u7", "posted before the bot joined")
    reply = await services.moderators.execute(MOD, ReportMessage(unseen))
    assert reply.ok and reply.case.event.text == "posted before the bot joined"
    stored, _ = await services.storage.messages.latest_revision(SERVER, "m-old")
    assert stored.status is MessageStatus.JUDGED and stored.event.channel_id == "c7"
    assert sink.kinds() == [ActionKind.POST_CASE]
    elsewhere = MessageEvent(ServerRef("test", "g2"), "c1", "m-x", "u1", "not yours")
    refused = await services.moderators.execute(MOD, ReportMessage(elsewhere))
    assert not refused.ok and "its own server" in refused.text
    await services.close()


def _sampled(text: str, share: float, *, wanted: bool) -> MessageEvent:
    """A message (its id chosen) that the audit sampling takes, or leaves, at ``share``."""
    for n in range(10_000):
        candidate = event(text, message_id=f"{text[:8]}-{n}")
        if is_sampled(candidate, share) == wanted:
            return candidate
    raise AssertionError("no such message id")


async def test_labels_from_verdicts_reviews_reports_and_audits(tmp_path) -> None:
    reasoner = ScriptedReasoner(by_keyword({"cheat": "CH1"}))
    prefilter = ScriptedPrefilter(lambda text: 0.5 if text.startswith("risky") else 0.05)
    services, _ = await audited_services(tmp_path, reasoner, prefilter=prefilter, audit_share=0.25)
    await services.start()
    for text in ("risky cheat sale", "risky but fine", "risky cheat joke"):
        await services.pipeline.submit(event(text))
    await services.pipeline.submit(_sampled("cheat engine tables", 0.25, wanted=True))
    await services.pipeline.submit(_sampled("gg all", 0.25, wanted=True))
    await services.pipeline.submit(_sampled("gg unsampled", 0.25, wanted=False))
    sneaky = _sampled("sneaky scam unsampled", 0.25, wanted=False)
    await services.pipeline.submit(sneaky)
    await services.pipeline.drain(10)
    joke = next(c for c in (await services.storage.cases.list_cases(SERVER)).cases if c.event.text == "risky cheat joke")
    assert (await services.moderators.execute(MOD, Review(joke.id, ReviewOutcome.OVERTURN))).ok
    assert (await services.moderators.execute(MOD, ReportMessage(sneaky))).ok

    labels = {label.text: label for label in await services.storage.verdicts.labels([SERVER])}
    assert {text: (l.unsafe, l.source, l.weight) for text, l in labels.items()} == {
        "risky cheat sale": (True, LabelSource.REASONER, 1.0),
        "risky but fine": (False, LabelSource.REASONER, 1.0),
        "risky cheat joke": (False, LabelSource.REVIEW, 1.0),  # the review overrides the reasoner
        "cheat engine tables": (True, LabelSource.AUDIT, 4.0),  # 1 / audit_share
        "gg all": (False, LabelSource.AUDIT, 4.0),
        "sneaky scam unsampled": (True, LabelSource.REPORT, 1.0),
    }
    assert labels["risky cheat sale"].category == "cheats" and labels["gg all"].category is None
    # The review also taught the prefilter, as before.
    assert prefilter.feedback == [(SERVER, "risky cheat joke", False)]
    await services.close()
