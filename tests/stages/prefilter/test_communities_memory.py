"""Format 2 models: per-community corrections, the MLP embedding head and the neighbour memory.

Two synthetic communities label the same words differently, as GameTox and CONDA do ("ez" is a
taunt in one game's chat and harmless in the other's). Trained with real MiniLM embeddings; seconds.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from modbot.stages.prefilter.model_files import load_model
from modbot.cli.prefilter import register
from modbot.domain import Decision, MessageEvent, ServerRef
from modbot.moderation.judge import Judge, Routing
from modbot.stages.keywords import KeywordMatcher
from modbot.stages.normalize import normalize
from modbot.domain.policy import parse_policy
from modbot.stages.prefilter import load_prefilter
from modbot.training.data import read_rows
from modbot.stages.prefilter.parts import NeighbourMemory
from modbot.training.train import TrainConfig, train_prefilter
from modbot.domain.settings import ServerOverrides, ServerSettings

from tests.support.prefilter_data import synthetic_rows, write_jsonl

#: Said in both games; a taunt only in "dota" (its moderators labelled it so), harmless in "tanks".
_CONTESTED = ["ez", "ez game", "ez mid", "so ez", "ez ez ez"]

NEUTRAL = parse_policy(
    '+++\nid = "n"\ntitle = "n"\n[actions]\nmedium = "flag"\n[[categories]]\nid = "a"\ntitle = "A"\n'
    '[[categories.rules]]\nid = "A1"\ndescription = "unsafe"\nseverity = "medium"\n+++\n# P\nBe kind.\n'
)


def two_community_rows(n_per_source: int = 700, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for source in ("dota", "tanks"):
        base = synthetic_rows(n_per_source, seed=rng.randrange(10_000))
        for i, row in enumerate(base):
            if rng.random() < 0.15:
                text = rng.choice(_CONTESTED)
                unsafe = int(source == "dota")
                row = {**row, "text": text, "unsafe": unsafe, "category": "taunt" if unsafe else "non_toxic"}

            rows.append({**row, "id": f"{source}-{i}", "source": source})
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def community_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("communities") / "two.jsonl", two_community_rows())


@pytest.fixture(scope="module")
def community_model(tmp_path_factory, community_file: Path) -> Path:
    out = tmp_path_factory.mktemp("model") / "two-communities"
    train_prefilter(read_rows(community_file), out, config=TrainConfig(folds=3), sources=[str(community_file)])
    return out


def test_the_folder_holds_communities_mlp_and_memory(community_model: Path, community_file: Path):
    meta = json.loads((community_model / "model.json").read_text(encoding="utf-8"))
    assert meta["format"] == 2 and meta["communities"] == ["dota", "tanks"]
    model = load_model(community_model)
    assert model.community_names == ("dota", "tanks")
    assert model.head is not None and model.head.hidden_weight is not None
    # Three averaged MLPs of 256 units, saved as one hidden layer of 768.
    assert model.head.hidden_weight.shape == (768, 3 * 256)
    distinct = {normalize(r.text).folded for r in read_rows(community_file)}
    assert model.memory is not None and len(model.memory) == len(distinct)
    assert model.blend.memory_weight != 0.0
    card = (community_model / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "dota (700 rows), tanks (700 rows)" in card and "3 averaged MLPs of 256 ReLU units" in card


async def test_a_community_gets_its_own_reading_of_a_word(community_model: Path):
    pf = load_prefilter(community_model).load()
    try:
        folded = normalize("ez game").folded
        dota = (await pf.score_text(folded, community="dota")).score
        tanks = (await pf.score_text(folded, community="tanks")).score
        shared = (await pf.score_text(folded)).score
        assert dota > 0.8 and tanks < 0.2, (dota, tanks)
        assert tanks < shared < dota
        # The batch path (training, eval arithmetic) applies the same corrections as the scorer.
        features = pf.model.ngram_features([folded, folded, folded])
        batch = pf.model.ngram_logits(features, ["dota", "tanks", None])
        details = [await pf.score_text(folded, community=c) for c in ("dota", "tanks", None)]
        assert batch.tolist() == pytest.approx([d.ngram_logit for d in details], abs=1e-4)
        # Words both communities agree on are unaffected by the choice.
        insult = normalize("shut up you idiot").folded
        assert (await pf.score_text(insult, community="tanks")).score > 0.8
        assert (await pf.score_text(insult, community="dota")).score > 0.8
    finally:
        await pf.aclose()


async def test_an_unknown_community_scores_with_the_shared_model_and_says_so_once(community_model: Path, caplog):
    pf = load_prefilter(community_model).load()
    try:
        folded = normalize("ez mid").folded
        shared = (await pf.score_text(folded)).score
        with caplog.at_level(logging.WARNING, logger="modbot.stages.prefilter.scorer"):
            first = (await pf.score_text(folded, community="chess")).score
            second = (await pf.score_text(folded, community="chess")).score
        assert first == second == shared
        warnings = [r for r in caplog.records if "no community 'chess'" in r.getMessage()]
        assert len(warnings) == 1 and "dota, tanks" in warnings[0].getMessage()
    finally:
        await pf.aclose()


async def test_the_judge_passes_the_servers_community(community_model: Path):
    """The server setting reaches the prefilter through Routing: the same text, two routings."""
    pf = load_prefilter(community_model).load()
    try:
        judge = Judge(prefilter=pf)
        matcher = KeywordMatcher.build(NEUTRAL)
        event = MessageEvent(ServerRef("discord", "1"), "c", "m", "a", "ez ez ez")
        defaults = ServerSettings()
        dota = Routing.from_settings(ServerOverrides(prefilter_community="dota").apply_to(defaults))
        tanks = Routing.from_settings(ServerOverrides(prefilter_community="tanks").apply_to(defaults))
        assert dota.prefilter_community == "dota"
        taunt = await judge.judge(event, NEUTRAL, matcher, dota)
        harmless = await judge.judge(event, NEUTRAL, matcher, tanks)
        assert taunt.decision is not Decision.ALLOW
        assert harmless.decision is Decision.ALLOW
        assert taunt.score is not None and harmless.score is not None and taunt.score > harmless.score
    finally:
        await pf.aclose()


async def test_memory_rates_come_from_the_batch_worker_and_match_the_model(community_model: Path):
    pf = load_prefilter(community_model).load()
    try:
        pf.skip_embeddings = False
        text = normalize("gg wp").folded
        detail = await pf.score_text(text)
        features = pf.embedder.pooled([text])
        expected = float(pf.model.embed_terms(features)[0])
        assert detail.embed_term == pytest.approx(expected, abs=1e-4)
    finally:
        await pf.aclose()


def test_neighbour_memory_rates():
    vectors = np.eye(3, dtype=np.float32)
    # "a" seen 4 times, 3 of them unsafe; "b" once, safe; "c" twice, both unsafe.
    memory = NeighbourMemory.build(
        ["a", "a", "a", "a", "b", "c", "c"],
        np.array([vectors[0]] * 4 + [vectors[1]] + [vectors[2]] * 2),
        np.array([1, 1, 1, 0, 0, 1, 1]),
        k=1,
        sharpness=10.0,
    )
    assert len(memory) == 3 and memory.counts.tolist() == [4.0, 1.0, 2.0]
    rates = memory.rates(np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert rates.tolist() == pytest.approx([0.75, 0.0, 1.0])
    # With every neighbour counted, an exact match still dominates the farther ones.
    wide = NeighbourMemory(memory.vectors, memory.counts, memory.unsafe, k=3, sharpness=10.0)
    near_a = wide.rates(np.array([[1.0, 0.0, 0.0]]))[0]
    assert 0.74 < near_a < 0.76
    # Nothing to compare with: rate 0, not a crash.
    empty = NeighbourMemory(np.zeros((0, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    assert empty.rates(np.ones((2, 3))).tolist() == [0.0, 0.0]


def test_inconsistent_format_2_folders_are_refused(tmp_path: Path, community_model: Path):
    from modbot.stages.prefilter.model import ModelError

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.json", "vocabulary.json", "weights.npz"):
        (broken / name).write_bytes((community_model / name).read_bytes())
    meta = json.loads((broken / "model.json").read_text(encoding="utf-8"))
    meta["communities"] = ["dota", "tanks", "chess"]
    (broken / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="community weights"):
        load_model(broken)
    meta["communities"] = ["dota", "tanks"]
    meta["format"] = 3
    (broken / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match="unknown model format"):
        load_model(broken)


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop", hidden=True)(lambda: None)
    register(app)
    return app


def test_eval_community_option(cli, community_model: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "eval.jsonl", two_community_rows(150, seed=11))
    runs = {}
    for mode in ("auto", "none"):
        result = CliRunner().invoke(cli, ["eval", str(data), "--prefilter", str(community_model), "--json", "--community", mode])
        assert result.exit_code == 0, result.output
        runs[mode] = json.loads(result.stdout.strip().splitlines()[-1])
        assert runs[mode]["community"] == mode
    # Each source read with its own community catches dota's taunts and spares tanks' "ez"; the
    # shared model alone must get one of the two wrong.
    auto, none = runs["auto"], runs["none"]
    assert auto["per_category"]["taunt"] >= 0.95 and auto["benign_escalated_share"] <= 0.05
    assert none["per_category"]["taunt"] < 0.5 or none["benign_escalated_share"] > 0.05, none
    bad = CliRunner().invoke(cli, ["eval", str(data), "--prefilter", str(community_model), "--community", "chess"])
    assert bad.exit_code == 2 and "no such community" in bad.output and "dota, tanks" in bad.output


def test_train_flags_turn_the_parts_off(cli, community_file: Path, tmp_path: Path):
    out = tmp_path / "plain"
    result = CliRunner().invoke(
        cli, ["train-prefilter", str(community_file), "--out", str(out), "--no-communities", "--no-memory", "--hidden", "0"]
    )
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.community_names == () and model.memory is None
    assert model.head is not None and model.head.hidden_weight is None


async def test_an_upheld_copy_moves_the_score_even_when_the_embedding_is_skipped(community_model: Path):
    """Moderators' reviews count on the n-gram path too: lexical similarity, and bounds moved by it."""
    import math

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    pf = load_prefilter(community_model).load()
    try:
        text = "stop feeding"
        folded = normalize(text).folded
        before = await pf.score_text(folded, server=ServerRef("discord", "9"), community="tanks")
        assert before.skipped == "low" and before.score < pf.thresholds.allow_below
        await pf.add_feedback(ServerRef("discord", "9"), text, True)
        after = await pf.score_text(folded, server=ServerRef("discord", "9"), community="tanks")
        weight = pf.model.similarity.weight
        assert after.similarity_adjustment == pytest.approx(weight, abs=1e-3)
        # The same n-gram band, so the bound moves by exactly the adjustment (unless the score
        # reached the floor or the message is now embedded).
        if after.skipped == "low":
            assert logit(after.score) - logit(max(before.score, 1e-4)) == pytest.approx(weight, abs=1e-3)
        else:
            assert after.score > before.score
        # Another server's reviews do not leak in.
        other = await pf.score_text(folded, server=ServerRef("discord", "10"), community="tanks")
        assert other.score == pytest.approx(before.score)
    finally:
        await pf.aclose()
