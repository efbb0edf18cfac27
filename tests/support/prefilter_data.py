"""Prefilter and training test support: synthetic labelled chat, and fixtures for a small model trained on it.

The conftests of ``tests/stages/prefilter`` and ``tests/training`` re-export the fixtures.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

#: The evaluation data beside the repository (absent in some checkouts: tests using it skip).
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

_INSULTS = ["idiot", "moron", "noob trash", "loser", "clown", "braindead bot", "retard", "dumbass"]
_TOXIC = [
    "you are such an {i}",
    "{i} team again",
    "uninstall the game you {i}",
    "shut up {i}",
    "go die {i}",
    "what a {i}, report him",
    "stupid {i} cant even aim",
    "kill yourself {i}",
]
_BENIGN = [
    "gg wp",
    "nice shot {n}",
    "push {l} lane",
    "need heal please",
    "anyone want to duo later",
    "good luck have fun",
    "{n} can you cover {l}",
    "thanks for the carry {n}",
    "lag spike sorry",
    "wait for me at {l}",
    "who is playing {n} next round",
    "well played everyone",
]
_NAMES = ["tank", "medic", "sniper", "jungler", "mid", "support", "arty", "scout"]
_LANES = ["top", "mid", "bottom", "left", "right", "A", "B"]


def synthetic_rows(n: int = 240, seed: int = 7, unsafe_share: float = 0.3) -> list[dict]:
    """Labelled game-chat-like rows in the data file format."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if rng.random() < unsafe_share:
            text = rng.choice(_TOXIC).format(i=rng.choice(_INSULTS))
            category = "insults_flaming"
            unsafe = 1
        else:
            text = rng.choice(_BENIGN).format(n=rng.choice(_NAMES), l=rng.choice(_LANES))
            category = "non_toxic"
            unsafe = 0
        if rng.random() < 0.3:
            text = text + rng.choice(["", "!", " lol", " xd", "?"])
        rows.append({"id": f"syn-{i}", "text": text, "unsafe": unsafe, "category": category, "source": "synthetic"})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "synthetic.jsonl", synthetic_rows())


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, synthetic_file) -> Path:
    """A prefilter trained (with real MiniLM embeddings) on the synthetic rows; seconds."""
    from modbot.training.data import read_rows
    from modbot.training.train import TrainConfig, train_prefilter

    out = tmp_path_factory.mktemp("model") / "synthetic-model"
    train_prefilter(read_rows(synthetic_file), out, config=TrainConfig(folds=3), sources=[str(synthetic_file)])
    return out


@pytest.fixture(scope="session")
def embedder():
    from modbot.stages.prefilter import OnnxEmbedder

    return OnnxEmbedder().load()
