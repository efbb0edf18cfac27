"""Training on a small synthetic file (seconds): files written, thresholds calibrated, bad data refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from modbot.stages.prefilter.model_files import load_model
from modbot.stages.normalize import normalize
from modbot.stages.prefilter import Thresholds
from modbot.training.data import read_rows
from modbot.stages.prefilter.model import ModelError
from modbot.training.train import TrainConfig, TrainError, train_prefilter

from tests.support.prefilter_data import synthetic_rows, write_jsonl


def test_writes_a_complete_loadable_folder(trained_dir: Path):
    for name in ("model.json", "vocabulary.json", "weights.npz", "thresholds.json", "MODEL_CARD.md"):
        assert (trained_dir / name).is_file(), name
    model = load_model(trained_dir)
    assert model.uses_embeddings and model.featurizer.size > 100
    card = (trained_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "synthetic.jsonl" in card and "allow below" in card
    meta = json.loads((trained_dir / "model.json").read_text(encoding="utf-8"))
    assert meta["info"]["rows"] == 240


def test_thresholds_reach_the_target_recall_on_the_training_data(trained_dir: Path, synthetic_file: Path, embedder):
    """Re-score the training rows with the saved model: recall at allow_below meets the target."""
    model = load_model(trained_dir)
    th = Thresholds.load(trained_dir / "thresholds.json")
    assert th.target_recall == 0.95 and th.recall >= 0.95
    rows = read_rows(synthetic_file)
    folded = [normalize(r.text).folded for r in rows]
    base = model.base_logits(model.ngram_logits(model.ngram_features(folded)))
    logits = base + model.embed_terms(embedder.pooled_many(folded))
    scores = 1 / (1 + np.exp(-logits))
    y = np.array([r.unsafe for r in rows])
    assert (scores[y] >= th.allow_below).mean() >= 0.95
    # The synthetic classes are easy: the final model separates them well.
    assert scores[y].mean() > scores[~y].mean() + 0.3


def test_custom_target_recall(tmp_path: Path, synthetic_file: Path):
    out = tmp_path / "m"
    report = train_prefilter(
        read_rows(synthetic_file), out, config=TrainConfig(folds=3, target_recall=0.8, use_embeddings=False)
    )
    assert report.thresholds.target_recall == 0.8 and report.thresholds.recall >= 0.8
    assert not load_model(out).uses_embeddings


def test_policy_keywords_take_part_in_calibration(tmp_path: Path, synthetic_file: Path):
    from modbot.domain.policy import parse_policy

    policy = parse_policy(
        '+++\nid = "kw"\ntitle = "t"\n[actions]\nhigh = "remove"\n[[categories]]\nid = "h"\ntitle = "H"\n'
        '[[categories.rules]]\nid = "H1"\ndescription = "insults"\nseverity = "high"\nkeywords = ["idiot", "moron"]\n'
        "+++\n# Policy\nNo insults.\n"
    )
    report = train_prefilter(
        read_rows(synthetic_file), tmp_path / "m", config=TrainConfig(folds=3, use_embeddings=False), policy=policy
    )
    assert report.thresholds.policy_id == "kw" and report.thresholds.policy_version == policy.version


def test_refuses_data_it_cannot_learn_from(tmp_path: Path):
    rows = read_rows(write_jsonl(tmp_path / "few.jsonl", synthetic_rows(10)))
    with pytest.raises(TrainError, match="too few rows"):
        train_prefilter(rows, tmp_path / "m", config=TrainConfig(use_embeddings=False))
    one_class = [r for r in read_rows(write_jsonl(tmp_path / "safe.jsonl", synthetic_rows(200))) if not r.unsafe]
    with pytest.raises(TrainError, match="unsafe"):
        train_prefilter(one_class, tmp_path / "m", config=TrainConfig(use_embeddings=False))


def test_broken_model_folder_is_a_clear_error(tmp_path: Path, trained_dir: Path):
    with pytest.raises(ModelError, match="not a prefilter folder"):
        load_model(tmp_path / "absent")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.json", "vocabulary.json", "weights.npz"):
        (broken / name).write_bytes((trained_dir / name).read_bytes())
    (broken / "vocabulary.json").write_text('["only", "two"]', encoding="utf-8")
    with pytest.raises(ModelError, match="inconsistent|do not match"):
        load_model(broken)
    (broken / "weights.npz").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="weights.npz"):
        load_model(broken)


async def test_training_replays_the_scorers_skip_rule(trained_dir: Path, synthetic_file: Path, embedder):
    """The skip replay that calibrates the thresholds returns what the scorer returns, message by message."""
    from modbot.stages.prefilter import load_prefilter
    from modbot.stages.prefilter.model import sigmoid
    from modbot.training.skips import replay_logits

    pf = load_prefilter(trained_dir).load()
    try:
        model, th = pf.model, pf.thresholds
        texts = [normalize(r.text).folded for r in read_rows(synthetic_file)[:60]]
        texts += [normalize(t).folded for t in ("gg wp", "you absolute clown", "push mid", "idiot lol")]
        base = model.base_logits(model.ngram_logits(model.ngram_features(texts)))
        terms = model.embed_terms(embedder.pooled_many(texts))
        replayed = np.asarray(sigmoid(replay_logits(model.blend, base, terms, th)))
        served = [(await pf.score_text(t)) for t in texts]
        assert any(s.skipped for s in served) and any(not s.skipped for s in served)
        for text, want, got in zip(texts, replayed, served):
            assert got.score == pytest.approx(min(max(want, 1e-4), 1 - 1e-4), abs=1e-4), (text, got)
    finally:
        await pf.aclose()
    replay = json.loads((trained_dir / "model.json").read_text(encoding="utf-8"))["info"]["skip_replay"]
    # The allow threshold was calibrated on the replayed scores: skips cost at most the budget.
    assert replay["benign_escalated_with_skips"] - replay["benign_escalated_exact"] <= TrainConfig().max_skip_cost
    assert th.recall >= th.target_recall


def test_the_mlp_head_averages_its_networks_as_one_hidden_layer():
    """Three seeds' MLPs saved side by side give exactly the mean of their logits."""
    from sklearn.neural_network import MLPClassifier

    from modbot.training.parts import fit_embedding_head

    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 768)).astype(np.float32)
    y = (features[:, :5].sum(axis=1) + 0.5 * rng.normal(size=300) > 0).astype(int)
    config = TrainConfig(embed_hidden=8, embed_ensemble=3, min_hidden_rows=100, seed=4)
    head = fit_embedding_head(features, y, config)
    assert head.hidden_weight is not None and head.hidden_weight.shape == (768, 24)
    z = (features - head.mean) / head.scale
    expected = np.zeros(len(y))
    for k in range(3):
        net = MLPClassifier(
            hidden_layer_sizes=(8,), alpha=config.embed_alpha, early_stopping=True, random_state=4 + k, max_iter=200
        ).fit(z, y)
        p = np.clip(net.predict_proba(z)[:, 1], 1e-12, 1 - 1e-12)
        expected += np.log(p / (1 - p)) / 3
    assert np.allclose(head.logits(features), expected, atol=1e-3)
    # Fewer rows than min_hidden_rows: logistic regression.
    assert fit_embedding_head(features[:50], y[:50], config).hidden_weight is None


def test_calibration_counts_the_languages_the_judge_routes(tmp_path: Path):
    """Unsafe lines in a language the model does not know score low, but the Judge sends them on
    whatever their score: counted as escalated, the threshold need not sink below them to reach the
    target, and the benign messages above it are spared."""
    from modbot.stages.language import identify, needs_reasoner
    from modbot.training.data import LabelledRow

    russian = ["иди нахуй урод", "ты тупой дебил", "убей себя мусор", "закрой рот идиот"] * 2
    rows = [LabelledRow(r["text"], bool(r["unsafe"]), r["category"], "synthetic", r["id"]) for r in synthetic_rows(1000)]
    rows += [LabelledRow(text, True, "insults_flaming", "synthetic", f"ru-{i}") for i, text in enumerate(russian)]
    config = TrainConfig(folds=3, target_recall=0.99, use_embeddings=False)
    counted = train_prefilter(rows, tmp_path / "counted", config=config)
    plain = train_prefilter(rows, tmp_path / "plain", config=replace(config, count_language_routing=False))
    model = load_model(tmp_path / "counted")
    assert model.languages == ("en",)  # 8 Russian lines of 1,008 are under the 1% a language needs
    assert all(needs_reasoner(identify(normalize(text).clean), frozenset(model.languages)) for text in russian)
    # Without counting them the threshold must catch the Russian lines by score: it goes lower, and
    # every benign message scored between the two thresholds is escalated for nothing.
    assert counted.thresholds.allow_below > plain.thresholds.allow_below
    assert counted.thresholds.recall >= 0.99 and plain.thresholds.recall >= 0.99
    folded = [normalize(r.text).folded for r in rows]
    scores = 1 / (1 + np.exp(-model.base_logits(model.ngram_logits(model.ngram_features(folded)))))
    y = np.array([r.unsafe for r in rows])
    routed = np.array([needs_reasoner(identify(normalize(r.text).clean), frozenset(model.languages)) for r in rows])
    by_score = scores >= counted.thresholds.allow_below
    # The counted model reaches the target only with the routed lines, as the pipeline does.
    assert by_score[y].mean() < 0.99 <= (by_score | routed)[y].mean() + 0.005


def test_averaged_heads_give_the_mean_of_their_logits():
    """Heads fitted on different rows (each with its own standardisation) averaged into one head:
    its logit is the mean of theirs, for MLP heads and for linear ones."""
    from modbot.training.parts import average_heads, fit_embedding_head

    rng = np.random.default_rng(1)
    features = (rng.normal(size=(600, 768)) * rng.uniform(0.5, 3.0, size=768) + rng.normal(size=768)).astype(np.float32)
    y = (features[:, :5].sum(axis=1) + rng.normal(size=600) > features[:, :5].sum(axis=1).mean()).astype(int)
    parts = np.array_split(rng.permutation(600), 3)
    for config in (TrainConfig(embed_hidden=8, embed_ensemble=2, min_hidden_rows=100), TrainConfig(embed_hidden=0)):
        heads = [fit_embedding_head(features[idx], y[idx], config) for idx in parts]
        assert len({float(h.mean[0]) for h in heads}) == 3  # three standardisations folded into one input
        averaged = average_heads(heads)
        expected = np.mean([h.logits(features) for h in heads], axis=0)
        assert np.allclose(averaged.logits(features), expected, atol=1e-3)
        if config.embed_hidden:
            assert averaged.hidden_weight is not None and averaged.hidden_weight.shape == (768, 3 * 2 * 8)
    with pytest.raises(ValueError, match="no heads"):
        average_heads([])


def test_final_fit_folds_serves_the_out_of_fold_models_averaged(tmp_path: Path, synthetic_file: Path):
    """``final_fit = "folds"``: the served n-gram weights are the mean of the k fold models' (the
    models the thresholds were calibrated on), not a refit on every row; the refit differs."""
    from sklearn.model_selection import StratifiedKFold

    from modbot.stages.prefilter.ngrams import NgramFeaturizer
    from modbot.training.parts import fit_ngram

    rows = read_rows(synthetic_file)
    config = TrainConfig(folds=3, use_embeddings=False, final_fit="folds")
    averaged = train_prefilter(rows, tmp_path / "folds", config=config)
    refit = train_prefilter(rows, tmp_path / "refit", config=replace(config, final_fit="refit"))
    assert averaged.thresholds.allow_below == refit.thresholds.allow_below  # the same out-of-fold scores
    folded = [normalize(r.text).folded for r in rows]
    x = NgramFeaturizer.fit(folded, config.ngrams).transform(folded)
    y = np.array([r.unsafe for r in rows], dtype=np.int8)
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=config.seed)
    coefs = [fit_ngram(x[train], y[train], config.ngram_c).coef_[0] for train, _ in splitter.split(np.zeros(len(y)), y)]
    served, refitted = load_model(tmp_path / "folds"), load_model(tmp_path / "refit")
    assert np.allclose(served.ngram_coef, np.mean(coefs, axis=0), atol=1e-5)
    assert not np.allclose(refitted.ngram_coef, served.ngram_coef, atol=1e-3)
    assert json.loads((tmp_path / "folds" / "model.json").read_text(encoding="utf-8"))["info"]["config"]["final_fit"] == "folds"
    with pytest.raises(TrainError, match="final_fit"):
        train_prefilter(rows, tmp_path / "bad", config=replace(config, final_fit="bagged"))


def test_fold_models_of_one_kind_when_the_fold_sizes_straddle_min_hidden_rows(tmp_path: Path, embedder):
    """Three folds of 250 rows learn from 166-167 rows each: with ``min_hidden_rows`` 167 one fold
    would get a linear head and the others MLPs, which cannot be averaged; every fold gets the linear one."""
    from modbot.training.data import LabelledRow

    rows = [LabelledRow(r["text"], bool(r["unsafe"]), r["category"], "synthetic", r["id"]) for r in synthetic_rows(250)]
    config = TrainConfig(folds=3, embed_hidden=8, min_hidden_rows=167, final_fit="folds", memory=False)
    train_prefilter(rows, tmp_path / "m", config=config, embedder=embedder)
    model = load_model(tmp_path / "m")
    assert model.head is not None and model.head.hidden_weight is None
