"""The prefilter stage itself: the port, routing bounds, feedback, the default model."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from pathlib import Path

import pytest

from modbot.stages.prefilter.model_files import load_model
from modbot.domain import MessageEvent, ServerRef
from modbot.domain.records import LabelledText
from modbot.stages.normalize import normalize
from modbot.domain.policy import parse_policy
from modbot.ports import Prefilter, PrefilterScore
from modbot.stages.prefilter import EmbeddingPrefilter, load_prefilter
from modbot.stages.prefilter.scorer import BatchingConfig, default_model_dir

POLICY_WITH_EXAMPLES = """+++
id = "ex"
title = "Examples"
[actions]
medium = "remove"
[[categories]]
id = "spam"
title = "Spam"
[[categories.rules]]
id = "SP1"
description = "Ads for gold sellers"
severity = "medium"
[[examples]]
text = "visit goldshop-cheap dot com for 10k gold only 5 dollars"
violation = true
rule_ids = ["SP1"]
+++
# Policy
No advertising.
"""


def _event(text: str, server: str = "1") -> MessageEvent:
    return MessageEvent(server=ServerRef("discord", server), channel_id="c", message_id="m", author_id="a", text=text)


async def _score(pf: EmbeddingPrefilter, text: str, *, policy=None, server: str = "1") -> float:
    policy = policy or parse_policy(POLICY_WITH_EXAMPLES.split("[[examples]]")[0] + "+++\n# Policy\nNo ads.\n")
    result = await pf.score(policy, _event(text, server), normalize(text).folded)
    assert isinstance(result, PrefilterScore)
    assert 0.0 < result.score < 1.0
    return result.score


@pytest.fixture()
async def prefilter(trained_dir: Path):
    pf = load_prefilter(trained_dir)
    yield pf
    await pf.aclose()


async def test_satisfies_the_port(prefilter):
    assert isinstance(prefilter, Prefilter)
    assert prefilter.model_name.startswith("prefilter:")


async def test_scores_toxic_above_benign(prefilter):
    toxic = await _score(prefilter, "shut up you braindead idiot")
    benign = await _score(prefilter, "good luck have fun everyone")
    assert toxic > benign
    assert toxic >= prefilter.thresholds.allow_below
    assert benign < prefilter.thresholds.allow_below


async def test_skipping_the_embedding_keeps_the_routing(trained_dir: Path):
    """A skipped message lands in the same routing region as with the embedding, on the safe side.

    On the synthetic data the embedding head dominates, so the model is reshaped into the situation
    of real chat (a strong n-gram model, a small bounded embedding term) before scoring.
    """
    loaded = load_prefilter(trained_dir)
    await loaded.aclose()
    blend = dataclasses.replace(
        loaded.model.blend,
        ngram_weight=2.0,
        embed_weight=0.05,
        bias=0.0,
        band_edges=(1e9,),
        band_lo=(-0.6,),
        band_hi=(0.6,),
    )
    model = dataclasses.replace(loaded.model, blend=blend)
    th = dataclasses.replace(loaded.thresholds, allow_below=0.3, act_above=0.97)
    fast = EmbeddingPrefilter(model, th, embedder=loaded.embedder)
    full = EmbeddingPrefilter(model, th, embedder=loaded.embedder, skip_embeddings=False)

    def region(score: float) -> int:
        return 0 if score < th.allow_below else (2 if score >= th.act_above else 1)

    try:
        kinds = set()
        texts = [
            "gg wp",
            "well played everyone",
            "need heal please",
            "idiot team",
            "push mid lane",
            "shut up you braindead idiot",
            "uninstall the game you clown",
            "thanks for the carry",
        ]
        for text in texts:
            folded = normalize(text).folded
            quick = await fast.score_text(folded)
            exact = await full.score_text(folded)
            assert exact.skipped is None
            kinds.add(quick.skipped)
            assert region(quick.score) == region(exact.score), text
            if quick.skipped == "low":
                assert quick.score >= exact.score  # an upper bound: never more lenient
            elif quick.skipped in ("mid", "high"):
                assert quick.score <= exact.score  # a lower bound: never acts sooner
            else:
                assert quick.score == pytest.approx(exact.score, abs=1e-4)
        assert kinds - {None}, "expected at least one skipped message"
    finally:
        await fast.aclose()
        await full.aclose()


async def test_concurrent_scoring_batches_and_caches(trained_dir: Path):
    pf = load_prefilter(trained_dir, batching=BatchingConfig(max_batch=16, max_wait_ms=20))
    pf.skip_embeddings = False
    try:
        texts = [f"report player {i} he is feeding" for i in range(24)] + ["gg"] * 8
        scores = await asyncio.gather(*(pf.score_text(normalize(t).folded) for t in texts))
        assert len(scores) == 32
        stats = pf.batcher_stats
        assert stats.embedded == 25  # 24 distinct texts + one "gg"
        assert stats.batches < 25  # batched, not one by one
        assert stats.cache_hits == 7
    finally:
        await pf.aclose()


async def test_feedback_moves_the_score(prefilter):
    # Exact scores: a skipped message's score is only a bound (routing is what skipping keeps), and
    # on these easy synthetic classes the calibrated thresholds sit at the extremes.
    prefilter.skip_embeddings = False
    text = "omg this guy again with his tower diving"
    before = await _score(prefilter, text, server="42")
    await prefilter.add_feedback(ServerRef("discord", "42"), text, True)
    upheld = await _score(prefilter, text, server="42")
    assert upheld > before + 0.2
    # Other servers are not affected.
    assert await _score(prefilter, text, server="43") == pytest.approx(before, abs=1e-6)
    # A moderator overturning it flips the memory for that text.
    await prefilter.add_feedback(ServerRef("discord", "42"), text, False)
    overturned = await _score(prefilter, text, server="42")
    assert overturned < before
    assert prefilter.examples.feedback_count(ServerRef("discord", "42")) == 1


async def test_near_copies_of_feedback_are_caught(prefilter):
    await prefilter.add_feedback(ServerRef("discord", "7"), "buy cheap gold at goldking shop dot net", True)
    before = await _score(prefilter, "buy cheap gold at goldkingz shop dot net!!", server="8")
    after = await _score(prefilter, "buy cheap gold at goldkingz shop dot net!!", server="7")
    assert after > before


async def test_load_feedback_replays_reviews(prefilter):
    count = await prefilter.load_feedback(ServerRef("discord", "9"), [LabelledText("first text", True), LabelledText("second text", False)])
    assert count == 2 and prefilter.examples.feedback_count(ServerRef("discord", "9")) == 2


async def test_policy_examples_count(prefilter):
    prefilter.skip_embeddings = False  # exact scores (a skipped message's score is a bound)
    policy = parse_policy(POLICY_WITH_EXAMPLES)
    text = "visit goldshop-cheap dot com for 10k gold only 5 dollars"
    plain = await _score(prefilter, text)
    with_examples = await _score(prefilter, text, policy=policy)
    assert with_examples > plain


def test_default_model_ships_with_a_data_card():
    folder = default_model_dir()
    card = (folder / "DATA_CARD.md").read_text(encoding="utf-8")
    assert "licence" in card.lower() or "license" in card.lower()
    for excluded in ("gametox", "conda", "toxicchat"):
        assert excluded in card.lower()  # named as excluded
    total = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert total < 5_000_000


async def test_default_model_scores_the_obvious():
    pf = load_prefilter()
    try:
        assert pf.model_name == "prefilter:default"
        hateful = await _score(pf, "I hate all immigrants, they are vermin and should be exterminated")
        benign = await _score(pf, "what time does the tournament start tomorrow?")
        assert hateful > benign
        assert not math.isnan(pf.thresholds.allow_below)
    finally:
        await pf.aclose()


def test_lexical_similarity_to_examples_without_the_embedding(trained_dir: Path):
    """The n-gram similarity alone (what a skipped message gets) finds an example's copy and spares others."""
    from modbot.stages.prefilter.examples import ExampleSet

    featurizer = load_model(trained_dir).featurizer
    examples = ExampleSet(featurizer)
    texts = ["buy cheap gold at goldking shop", "gg wp everyone", "push mid lane now"]
    for text, violation in zip(texts, (True, False, False)):
        examples.add(normalize(text).folded, violation)
    copy = examples.similarity(featurizer.row(normalize("buy cheap gold at goldking shop").folded), None)
    assert copy.to_violation == pytest.approx(1.0, abs=1e-5) and copy.to_benign < 0.5
    benign = examples.similarity(featurizer.row(normalize("gg wp everyone").folded), None)
    assert benign.to_benign == pytest.approx(1.0, abs=1e-5) and benign.to_violation < 0.5
