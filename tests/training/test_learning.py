"""The prefilter's learning loop end to end: the real core on SQLite, the shipped default prefilter, a
scripted reasoner (the model edge), audits, a moderator's review, retraining (in a child process
through ``modbot train-prefilter --from-db``, and in-process for the worse candidate), the switch only
when the candidate is better, a rollback; and the recall floor."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest

from modbot.app import build_services
from modbot.commands.parser import parse_mod_command
from modbot.config import LearningSettings, PipelineSettings
from modbot.domain import ServerRef
from modbot.domain.records import LabelSource
from modbot.domain.settings import ServerSettings
from modbot.policy_files import load_policy
from modbot.stages.normalize import normalize
from modbot.stages.prefilter import load_prefilter
from modbot.stages.prefilter.learned import CommunityPrefilter, map_score
from modbot.training.learning import fast_config, rows_from_labels, split_labels
from modbot.training.scheduler import subprocess_trainer
from modbot.training.train import train_prefilter
from tests.conftest import event, make_settings
from tests.support.prefilter_data import synthetic_rows
from tests.support.scripted import ScriptedReasoner, by_keyword

SERVER = ServerRef("test", "g1")
ROOT = Path(__file__).resolve().parents[2]
SELF_HARM = "honestly I don't see the point anymore, I've been thinking about ending it all"
INSULTS = ("idiot", "moron", "noob trash", "loser", "clown", "braindead", "retard", "dumbass", "go die", "kill yourself")


@pytest.fixture
def default_prefilter():
    # One per test: its embedding batcher belongs to the test's event loop.
    return load_prefilter().load()


async def test_a_learned_model_cannot_drop_a_self_harm_line_the_default_escalates(trained_dir, default_prefilter) -> None:
    # trained_dir: a model trained on synthetic game chat with no self-harm rows at all.
    policy = load_policy(ROOT / "policies" / "game-community.md")
    prefilter = CommunityPrefilter(default_prefilter)
    prefilter.use_model("game", trained_dir)
    learned = prefilter.learned["game"]
    folded = normalize(SELF_HARM).folded

    alone = await learned.score_text(folded)
    assert alone.score < learned.thresholds_for(None).allow_below  # the learned model alone lets it through
    assert (await default_prefilter.score_text(folded)).score >= default_prefilter.thresholds_for(None).allow_below

    allow_below = prefilter.thresholds_for("game").allow_below
    floored = await prefilter.score(policy, event(SELF_HARM, server=SERVER), folded, community="game")
    assert floored.score >= allow_below and "floor=default" in floored.detail
    # An ordinary line the learned model allows stays allowed: the floor is not "the default decides".
    fine = await prefilter.score(policy, event("gg wp", server=SERVER), normalize("gg wp").folded, community="game")
    assert fine.score < allow_below and prefilter.floored == 1
    prefilter.drop_model("game")


def test_learned_scores_map_onto_the_default_scale_at_the_allow_threshold() -> None:
    from modbot.stages.prefilter.thresholds import Thresholds

    own, target = (Thresholds(allow_below=a, act_above=1.0, target_recall=0.95, act_precision=0.98) for a in (0.1, 0.3))
    assert map_score(0.1, own, target) == pytest.approx(0.3)
    assert map_score(0.05, own, target) < 0.3 <= map_score(0.11, own, target)
    assert map_score(1.0, own, target) == pytest.approx(1.0)


def _inprocess_trainer(services, *, flip: bool):
    async def train(community: str, out: Path, eval_on: str) -> None:
        labels = await services.storage.verdicts.labels(None, limit=100_000)
        if eval_on != "none":  # "none": the refit on every label
            labels, _, _ = split_labels(labels, eval_on)
        rows = rows_from_labels(labels, lambda key: community)
        if flip:
            rows = [replace(r, unsafe=not r.unsafe) for r in rows]
        await asyncio.to_thread(train_prefilter, rows, out, config=fast_config(len(rows)))

    return train


async def test_the_learning_loop_switches_only_to_a_better_model_and_rolls_back(tmp_path, default_prefilter) -> None:
    from modbot.domain import ReviewOutcome
    from modbot.domain.commands import Invoker, Review

    settings = make_settings(
        tmp_path,
        server_defaults=ServerSettings(policy_id="test-policy", audit_share=0.5, mode="shadow"),
        pipeline=PipelineSettings(queue_size=2000, workers=2, sweep_interval_s=0.05, audit_queue_size=1000),
        learning=LearningSettings(
            enabled=True, min_labels=20, min_new_labels=50, min_slice_unsafe=5, model_dir=tmp_path / "models"
        ),
    )
    script = by_keyword({word: "CH1" for word in INSULTS})
    # The scripted reasoner is never wrong, and says so: its labels carry no noise (a confidence below
    # 1 would be read as a flip rate, and calibration would correct for flips that never happen).
    reasoner = ScriptedReasoner(lambda request: replace(script(request), confidence=1.0))
    services = await build_services(settings, reasoner=reasoner, prefilter=default_prefilter)
    learner = services.learner
    assert learner is not None and isinstance(services.prefilter, CommunityPrefilter)
    await services.pipeline.start()  # the learner's own loop stays off: the test drives it
    for row in synthetic_rows(300, seed=3):
        await services.pipeline.submit(event(row["text"], server=SERVER))
    await services.pipeline.drain(60)

    # A moderator overturns one case: that message's label becomes safe (source review).
    case = (await services.storage.cases.list_cases(SERVER)).cases[0]
    moderator = Invoker(SERVER, "mod", platform_moderator=True)
    assert (await services.moderators.execute(moderator, Review(case.id, ReviewOutcome.OVERTURN))).ok
    labels = await services.storage.verdicts.labels([SERVER])
    sources = {label.source for label in labels}
    assert {LabelSource.REASONER, LabelSource.AUDIT, LabelSource.REVIEW} <= sources
    assert any(label.weight == 2.0 for label in labels if label.source is LabelSource.AUDIT)
    assert await learner.due(SERVER.key, [SERVER])

    # 1. A candidate trained in a child process (modbot train-prefilter --from-db) beats the default.
    learner.train = subprocess_trainer(settings.database_url)
    first = await learner.retrain(SERVER.key)
    assert first.accepted, first.reason
    assert first.metrics["candidate"]["escalated_share"] < first.metrics["current"]["escalated_share"]
    assert services.prefilter.learned[SERVER.key] is not None
    # What became active is the refit on every label (the held-back slice too), the checked candidate beside it.
    refit = first.metrics["refit"]
    assert first.version.path.endswith("1-refit") and Path(first.version.path, "thresholds.json").is_file()
    assert services.prefilter.folders[SERVER.key] == Path(first.version.path)
    assert Path(refit["checked_candidate"], "thresholds.json").is_file() and refit["seconds"] > 0
    rows_of = lambda folder: json.loads(Path(folder, "model.json").read_text())["info"]["rows"]  # noqa: E731
    assert rows_of(first.version.path) > rows_of(refit["checked_candidate"])

    # 2. A candidate trained on flipped labels is stored but not switched to.
    learner.train = _inprocess_trainer(services, flip=True)
    worse = await learner.retrain(SERVER.key)
    assert not worse.accepted and "recall" in worse.reason
    assert "current_live" not in worse.metrics  # no label has come since the switch
    # The active refit learned the slice, so the comparison used its checked candidate: same slice, same figures.
    assert worse.metrics["current"] == first.metrics["candidate"]
    # Messages after the switch: the model in use is also measured on the labels that came since it
    # became active (recall first: see accept); the flipped candidate is still kept aside.
    for row in synthetic_rows(80, seed=5):
        await services.pipeline.submit(event(row["text"], server=SERVER))
    await services.pipeline.drain(60)
    again = await learner.retrain(SERVER.key)
    live = again.metrics["current_live"]
    assert not again.accepted and live["slice"] == "since active" and 0 < live["n"] <= 80 and live["audits"] > 0
    versions = await services.storage.prefilter_versions.versions(SERVER.key)
    assert [(v.version, v.active) for v in versions] == [(1, True), (2, False), (3, False)]
    assert services.prefilter.folders[SERVER.key] == Path(first.version.path)

    # 3. /mod prefilter status shows the versions, the active one and its metrics (moderators only, audited).
    status = await services.moderators.execute(moderator, parse_mod_command("prefilter status"))
    assert status.ok and dict(status.fields)["Active"].startswith("v1: recall")
    assert "v2" in status.text and "kept aside" in status.text
    member = Invoker(SERVER, "member")
    assert not (await services.moderators.execute(member, parse_mod_command("prefilter rollback"))).ok
    assert SERVER.key in services.prefilter.learned

    # 4. /mod prefilter rollback: back to the shipped default (no earlier accepted version).
    rolled = await services.moderators.execute(moderator, parse_mod_command("prefilter rollback"))
    assert rolled.ok and "shipped default" in rolled.text
    assert SERVER.key not in services.prefilter.learned
    assert not any(v.active for v in await services.storage.prefilter_versions.versions(SERVER.key))
    audited = [entry.command for entry in await services.storage.audit.audit_entries(SERVER, limit=10)]
    assert "prefilter rollback" in audited and "prefilter status" in audited

    # 5. /mod prefilter community: the server joins a shared community (and leaves it with "none").
    assert (await services.moderators.execute(moderator, parse_mod_command("prefilter community games"))).ok
    assert (await services.server_settings.get(SERVER)).prefilter_community == "games"
    assert (await services.moderators.execute(moderator, parse_mod_command("prefilter community none"))).ok
    assert (await services.server_settings.get(SERVER)).prefilter_community is None
    await services.close()


def test_the_prefilter_commands_parse() -> None:
    from modbot.commands.parser import CommandSyntaxError
    from modbot.domain.commands import PrefilterCommunity, PrefilterRollback, PrefilterStatus

    assert parse_mod_command("prefilter status") == PrefilterStatus()
    assert parse_mod_command("prefilter rollback") == PrefilterRollback()
    assert parse_mod_command("prefilter community games") == PrefilterCommunity("games")
    assert parse_mod_command("prefilter community none") == PrefilterCommunity(None)
    with pytest.raises(CommandSyntaxError):
        parse_mod_command("prefilter")


def test_calibration_counts_audited_rows_by_their_weight() -> None:
    import numpy as np

    from modbot.training.calibration import calibrator
    from modbot.training.config import TrainConfig
    from modbot.training.data import LabelledRow

    # Ten unsafe rows; the lowest-scored one is an audit that stands for 20 messages.
    scores = np.array([0.05, *np.linspace(0.5, 0.9, 9), *np.linspace(0.01, 0.4, 30)])
    y = np.array([1] * 10 + [0] * 30)
    plain = [LabelledRow(text=f"t{i}", unsafe=bool(u)) for i, u in enumerate(y)]
    weighted = [replace(plain[0], weight=20.0), *plain[1:]]
    unweighted_t = calibrator(y, plain, TrainConfig(target_recall=0.9), None, (), None)(scores, "scores")
    weighted_t = calibrator(y, weighted, TrainConfig(target_recall=0.9), None, (), None)(scores, "scores")
    # Unweighted, missing the audited row keeps recall 0.9; weighted, it would lose 20 of 29 messages.
    assert unweighted_t.allow_below > 0.05 >= weighted_t.allow_below - 1e-9


async def test_the_held_back_check_counts_what_the_judge_would_escalate_anyway(trained_dir) -> None:
    # The Judge escalates a keyword hit and a line in an unlearned language whatever the score says,
    # so the check does too (for both models it compares), or it would read recall too low.
    from datetime import UTC, datetime

    from modbot.domain.records import Label
    from modbot.training.learning import evaluate, routed_anyway

    policy = load_policy(ROOT / "policies" / "game-community.md")
    model = load_prefilter(trained_dir)
    allow_below = model.thresholds_for(None).allow_below
    now = datetime.now(UTC)

    def label(text: str) -> Label:
        return Label(text, True, "cheats", LabelSource.REASONER, 1.0, now, SERVER)

    lines = {"keyword": "anyone got a hwid spoofer", "russian": "продаю аккаунты недорого, пишите в личку"}
    for text in lines.values():  # the learned model alone lets both through
        assert (await model.score_text(normalize(text).folded)).score < allow_below, text
    bare = await evaluate(model, [label(t) for t in lines.values()])
    assert bare.recall == 0.0 and bare.escalated_share == 0.0
    english = frozenset({"en"})
    keyword = [label(lines["keyword"])]
    with_policy = await evaluate(model, keyword, policy=policy, routed=routed_anyway([lines["keyword"]], policy, frozenset()))
    assert with_policy.recall == 1.0
    russian = [label(lines["russian"])]
    routed = await evaluate(model, russian, routed=routed_anyway([lines["russian"]], None, english))
    assert routed.recall == 1.0
    fine = "gg wp nice game"
    assert (await evaluate(model, [label(fine)], routed=routed_anyway([fine], policy, english))).escalated_share == 0.0
    await model.aclose()


def test_no_switch_on_a_slice_with_too_few_unsafe_labels() -> None:
    from modbot.training.learning import Evaluation, accept

    good = Evaluation(n=400, unsafe=90, recall=1.0, escalated_share=0.5, allow_below=0.1)
    current = Evaluation(n=400, unsafe=90, recall=0.98, escalated_share=0.9, allow_below=0.2)
    assert accept(good, current, 0.95)[0]
    ok, reason = accept(good, current, 0.95, min_unsafe=200)
    assert not ok and "90 unsafe labels" in reason
    assert accept(replace(good, unsafe=200), current, 0.95, min_unsafe=200)[0]


def test_recall_first_a_candidate_that_keeps_the_target_replaces_a_model_that_fell_below_it() -> None:
    from modbot.training.learning import MIN_AUDITS_FOR_SLICE, Evaluation, accept

    candidate = Evaluation(n=2000, unsafe=600, recall=0.97, escalated_share=0.60, allow_below=0.02)
    current = Evaluation(n=2000, unsafe=600, recall=0.98, escalated_share=0.50, allow_below=0.03)
    fallen = Evaluation(n=4000, unsafe=900, recall=0.91, escalated_share=0.45, allow_below=0.03, audits=120)
    # On the slice alone the model in use looks better: kept. Below the target on the slice: replaced.
    assert not accept(candidate, current, 0.95)[0]
    ok, reason = accept(candidate, replace(current, recall=0.94), 0.95)
    assert ok and "0.940 on the slice" in reason
    # On every label since it became active it has fallen below the target: the candidate keeps it.
    ok, reason = accept(candidate, current, 0.95, live=fallen)
    assert ok and "fallen to 0.910" in reason and "120 audits" in reason
    # Too few audits since the switch to say so; or it still holds the target; or the candidate does not.
    assert not accept(candidate, current, 0.95, live=replace(fallen, audits=MIN_AUDITS_FOR_SLICE - 1))[0]
    assert not accept(candidate, current, 0.95, live=replace(fallen, recall=0.96))[0]
    assert not accept(replace(candidate, recall=0.94), current, 0.95, live=fallen)[0]
    assert not accept(candidate, current, 0.95, live=replace(fallen, recall=None))[0]
