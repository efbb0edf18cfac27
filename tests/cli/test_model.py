"""``modbot model pull`` / ``modbot model check`` (mounted by the lead as ``modbot model``)."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modbot.cli.model import DEFAULT_REPO, KNOWN_SHA256, model_app, sha256_file
from modbot.stages.reasoner.config import DEFAULT_MODEL_FILE
from tests.support.tiny_gguf import ensure_tiny_gguf

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model() -> Path:
    """The tiny random-weight gpt-oss GGUF of the reasoner tests (built once, cached)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    return ensure_tiny_gguf()


def test_check_runs_one_verdict_on_a_real_gguf(tiny_model: Path) -> None:
    result = runner.invoke(model_app, ["check", "--model", str(tiny_model), "--n-gpu-layers", "0", "--threads", "1", "--n-ctx", "1024", "--max-tokens", "32"])
    # The tiny model has random weights: it loads and answers, but the answer is garbage -> exit 3.
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["violation"] is None and report["error"]
    assert report["tokens"]["prompt"] > 100 and report["tokens"]["completion"] > 0
    assert report["n_ctx"] == 1024


def test_check_missing_or_corrupt_file(tmp_path: Path) -> None:
    missing = runner.invoke(model_app, ["check", "--model", str(tmp_path / "absent.gguf")])
    assert missing.exit_code == 1 and "model file not found" in missing.output
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"not a gguf at all" * 100)
    result = runner.invoke(model_app, ["check", "--model", str(corrupt), "--n-gpu-layers", "0"])
    assert result.exit_code == 1 and "cannot load the reasoner model" in result.output


def test_pull_offline_fails_fast_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # nobody listens: like being offline
    result = runner.invoke(model_app, ["pull", "--dest", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert "cannot reach the Hugging Face Hub" in result.output and DEFAULT_MODEL_FILE in result.output
    assert not any((tmp_path / "models").glob("*.gguf"))


def test_default_download_has_a_known_hash(tmp_path: Path) -> None:
    assert len(KNOWN_SHA256[(DEFAULT_REPO, DEFAULT_MODEL_FILE)]) == 64
    blob = tmp_path / "x.bin"
    blob.write_bytes(b"abc" * 100_000)
    assert sha256_file(blob) == hashlib.sha256(b"abc" * 100_000).hexdigest()


def test_pull_embedding_offline_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")  # nobody listens there
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does: no slow retries
    result = runner.invoke(model_app, ["pull", "--embedding-only", "--dest", str(tmp_path / "models")])
    assert result.exit_code == 1
    assert "embedding model:" in result.output and "packaged model" in result.output
    assert not (tmp_path / "models" / "minilm" / "tokenizer.json").exists()
