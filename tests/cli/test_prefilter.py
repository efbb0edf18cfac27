"""``modbot train-prefilter`` and ``modbot eval`` through the real command line (typer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modbot.cli.prefilter import register
from modbot.domain import Decision, Stage, Verdict
from modbot.moderation.judge import Routing
from modbot.training.data import LabelledRow
from modbot.training.evaluate import report_from_verdicts

# synthetic_file and trained_dir are fixtures: imported here, pytest finds them in this module.
from tests.support.prefilter_data import SHARED_DATA, synthetic_file, synthetic_rows, trained_dir, write_jsonl  # noqa: F401

REQUIRED_KEYS = {"n", "precision", "recall", "f1", "escalated_share", "benign_escalated_share", "per_category"}


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("noop", hidden=True)(lambda: None)  # a second command keeps typer in multi-command mode
    register(app)
    return app


def test_eval_json_and_plot(cli, trained_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "eval.jsonl", synthetic_rows(80, seed=99))
    png = tmp_path / "curve.png"
    result = CliRunner().invoke(cli, ["eval", str(data), "--prefilter", str(trained_dir), "--json", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert REQUIRED_KEYS <= set(report)
    assert report["n"] == 80
    assert set(report["per_category"]) == {"insults_flaming", "non_toxic"}
    assert report["per_category"]["non_toxic"] is None  # no unsafe rows: recall undefined
    assert report["recall"] >= 0.9
    assert report["confusion"]["tp"] + report["confusion"]["fn"] == report["unsafe"]
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_tables(cli, trained_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "eval.jsonl", synthetic_rows(40, seed=5))
    result = CliRunner().invoke(cli, ["eval", str(data), "--prefilter", str(trained_dir)])
    assert result.exit_code == 0, result.output
    for heading in ("precision", "confusion matrix", "per category", "threshold sweep"):
        assert heading in result.stdout


def test_bad_row_is_reported_with_its_line(cli, trained_dir: Path, tmp_path: Path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "ok", "unsafe": 0}\n{"text": "x", "unsafe": "maybe"}\n', encoding="utf-8")
    for args in (
        ["eval", str(data), "--prefilter", str(trained_dir)],
        ["train-prefilter", str(data), "--out", str(tmp_path / "m")],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert f"{data}:2" in result.output and '"unsafe" must be 0 or 1' in result.output


def test_train_then_eval_on_the_held_out_split(cli, tmp_path: Path):
    data = write_jsonl(tmp_path / "all.jsonl", synthetic_rows(300, seed=3))
    out = tmp_path / "model"
    runner = CliRunner()
    trained = runner.invoke(
        cli,
        [
            "train-prefilter",
            str(data),
            "--out",
            str(out),
            "--split",
            "train",
            "--no-embeddings",
            "--target-recall",
            "0.9",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert json.loads((out / "thresholds.json").read_text())["target_recall"] == 0.9
    result = runner.invoke(cli, ["eval", str(data), "--prefilter", str(out), "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert 40 < report["n"] < 140  # about 30% held out
    assert report["split"].startswith("test")


def test_missing_prefilter_folder(cli, tmp_path: Path):
    data = write_jsonl(tmp_path / "d.jsonl", synthetic_rows(10))
    result = CliRunner().invoke(cli, ["eval", str(data), "--prefilter", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a prefilter folder" in result.output


def test_metrics_arithmetic():
    rows = [
        LabelledRow("a", True, "x"),
        LabelledRow("b", True, "x"),
        LabelledRow("c", False, "y"),
        LabelledRow("d", False, "y"),
    ]
    flag = Verdict(Decision.FLAG, Stage.PREFILTER, "v", score=0.9)
    allow = Verdict(Decision.ALLOW, Stage.PREFILTER, "v", score=0.1)
    report = report_from_verdicts(
        rows,
        [flag, allow, flag, allow],
        [False] * 4,
        stages="prefilter",
        routing=Routing(allow_below=0.5, act_above=0.98),
        target_recall=1.0,
    )
    assert (report.tp, report.fn, report.fp, report.tn) == (1, 1, 1, 1)
    assert report.precision == 0.5 and report.recall == 0.5 and report.f1 == 0.5
    assert report.escalated_share == 0.5 and report.benign_escalated_share == 0.5
    assert report.per_category["x"].recall == 0.5 and report.per_category["y"].recall is None
    # Recall 1.0 needs the threshold at the lowest unsafe score (0.1): everything escalated.
    assert report.threshold_at_target == pytest.approx(0.1)
    assert report.benign_escalated_at_target == 1.0


def test_a_message_routed_whatever_its_score_is_escalated_at_every_threshold():
    """A message the Judge sent on with a score below the allow threshold (its language is not the
    model's) counts as escalated in the benign-at-target figure too, as in the pipeline."""
    rows = [
        LabelledRow("a", True, "x"),
        LabelledRow("b", True, "x"),
        LabelledRow("c", False, "y"),
        LabelledRow("d", False, "y"),
    ]
    verdicts = [
        Verdict(Decision.FLAG, Stage.PREFILTER, "v", score=0.9),
        Verdict(Decision.FLAG, Stage.PREFILTER, "in a language the prefilter was not trained on", score=0.05),
        Verdict(Decision.ALLOW, Stage.PREFILTER, "v", score=0.2),
        Verdict(Decision.ALLOW, Stage.PREFILTER, "v", score=0.1),
    ]
    report = report_from_verdicts(
        rows, verdicts, [False] * 4, stages="prefilter", routing=Routing(allow_below=0.5, act_above=0.98), target_recall=1.0
    )
    assert report.recall == 1.0 and report.benign_escalated_share == 0.0
    # Scores alone would need the threshold at 0.05 for recall 1.0 and escalate both benign lines.
    assert report.benign_escalated_at_target == 0.0
    assert report.threshold_at_target == pytest.approx(0.9)


@pytest.mark.data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared evaluation data not present")
def test_eval_on_shared_data_with_the_default_model(cli):
    """The shipped model on a slice of the real spam golden set (Apache-2.0) — quick."""
    path = SHARED_DATA / "oss-safeguard-spam.jsonl"
    result = CliRunner().invoke(cli, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 33 and REQUIRED_KEYS <= set(report)


def test_skip_share_and_no_skip_options(cli, trained_dir: Path, tmp_path: Path):
    data = write_jsonl(tmp_path / "d.jsonl", synthetic_rows(30, seed=11))
    runner = CliRunner()
    plain = json.loads(
        runner.invoke(cli, ["eval", str(data), "--prefilter", str(trained_dir), "--json", "--no-skip"]).stdout
    )
    assert plain["prefilter"]["embedding_skipped"] == 0
    fast = runner.invoke(cli, ["eval", str(data), "--prefilter", str(trained_dir), "--json", "--skip-share", "0.9"])
    assert fast.exit_code == 0, fast.output
    bad = runner.invoke(cli, ["eval", str(data), "--prefilter", str(trained_dir), "--skip-share", "0.42"])
    assert bad.exit_code == 2 and "no skip bands for share 0.42" in bad.output


class _WordReasoner:
    """A reasoner fake (the port is tiny): calls a message a violation when it holds an insult."""

    model_name = "fake-reasoner"

    def __init__(self) -> None:
        self.calls = 0

    async def judge(self, request):
        from modbot.ports import Judgement

        self.calls += 1
        bad = any(
            w in request.event.text
            for w in ("idiot", "moron", "trash", "loser", "clown", "dumb", "retard", "braindead")
        )
        return Judgement(violation=bad, rule_ids=("X1",) if bad else (), confidence=0.9, rationale="fake")

    async def aclose(self) -> None:
        return None


async def test_full_stages_send_escalations_to_the_reasoner(trained_dir: Path):
    from modbot.cli.evaluation import _neutral_policy
    from modbot.moderation.judge import Judge
    from modbot.stages.keywords import KeywordMatcher
    from modbot.stages.prefilter import load_prefilter
    from modbot.training.data import read_rows
    from modbot.training.evaluate import evaluate_rows

    rows = read_rows(write_jsonl(Path(trained_dir).parent / "full.jsonl", synthetic_rows(60, seed=21)))
    prefilter = load_prefilter(trained_dir)
    reasoner = _WordReasoner()
    policy = _neutral_policy()
    routing = Routing(allow_below=prefilter.thresholds.allow_below, act_above=1.0)
    try:
        report = await evaluate_rows(
            rows,
            Judge(prefilter=prefilter, reasoner=reasoner),
            policy,
            KeywordMatcher.build(policy),
            routing,
            stages="full",
        )
    finally:
        await prefilter.aclose()
    assert reasoner.calls == report.by_stage.get("reasoner", 0) > 0
    assert report.by_stage.get("prefilter", 0) + report.by_stage.get("reasoner", 0) == 60
    assert report.recall > 0.9 and report.precision > 0.9  # the fake is exact on what reaches it
    assert report.escalated >= report.tp


def test_lodo_thresholds_and_their_price_are_shown(cli, tmp_path: Path):
    """Two sources: train-prefilter calibrates the unknown-community thresholds, eval says which apply and at what price."""
    rows = synthetic_rows(440, seed=5)
    for i, row in enumerate(rows):
        row["source"] = "north" if i % 2 else "south"
    data = write_jsonl(tmp_path / "two.jsonl", rows)
    out = tmp_path / "model"
    runner = CliRunner()
    args = ["train-prefilter", str(data), "--out", str(out), "--no-embeddings", "--no-communities", "--folds", "3"]
    trained = runner.invoke(cli, args)
    assert trained.exit_code == 0, trained.output
    assert "unknown communities (leave-one-dataset-out, worst)" in trained.output and "held out north" in trained.output
    result = runner.invoke(cli, ["eval", str(data), "--prefilter", str(out), "--json"])
    assert result.exit_code == 0, result.output
    th = json.loads(result.stdout)["thresholds"]
    assert th["applies_to"].startswith("unknown communities") and th["calibrated_on"].startswith("leave-one-dataset-out")
    assert set(th["per_source"]) == {"north", "south"} and th["calibrated_benign_escalated_share"] is not None
    tables = runner.invoke(cli, ["eval", str(data), "--prefilter", str(out)])
    assert tables.exit_code == 0, tables.output
    assert "their calibrated price" in tables.output and "held-out source" in tables.output


def test_no_language_routing_calibrates_on_scores_and_keywords_alone(cli, tmp_path: Path):
    russian = [{"id": f"ru-{i}", "text": t, "unsafe": 1, "category": "insults_flaming", "source": "synthetic"}
               for i, t in enumerate(["иди нахуй урод", "ты тупой дебил", "убей себя мусор", "закрой рот идиот"] * 2)]  # fmt: skip
    data = write_jsonl(tmp_path / "d.jsonl", synthetic_rows(1000) + russian)
    runner = CliRunner()
    base = ["train-prefilter", str(data), "--no-embeddings", "--folds", "3", "--target-recall", "0.99", "--out"]
    for name, extra in (("counted", []), ("plain", ["--no-language-routing"])):
        result = runner.invoke(cli, [*base, str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
    counted, plain = (json.loads((tmp_path / n / "thresholds.json").read_text())["allow_below"] for n in ("counted", "plain"))
    assert counted > plain  # the routed Russian lines need not be caught by score


def test_final_fit_defaults_to_the_fold_models_with_fast_and_can_be_chosen(cli, tmp_path: Path):
    data = write_jsonl(tmp_path / "d.jsonl", synthetic_rows(300))
    runner = CliRunner()
    base = ["train-prefilter", str(data), "--no-embeddings", "--out"]
    for name, extra, expected in (
        ("fast", ["--fast"], "folds"),
        ("fast-refit", ["--fast", "--final-fit", "refit"], "refit"),
        ("full", ["--folds", "3"], "refit"),
        ("full-folds", ["--folds", "3", "--final-fit", "folds"], "folds"),
    ):
        result = runner.invoke(cli, [*base, str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        info = json.loads((tmp_path / name / "model.json").read_text(encoding="utf-8"))["info"]
        assert info["config"]["final_fit"] == expected, name
    bad = runner.invoke(cli, [*base, str(tmp_path / "bad"), "--final-fit", "bagged"])
    assert bad.exit_code != 0 and "--final-fit must be refit or folds" in bad.output
