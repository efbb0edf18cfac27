"""Real ONNX inference with the packaged all-MiniLM-L6-v2 int8 file and the shipped tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modbot.stages.prefilter import (
    EmbedderConfig,
    EmbeddingModelError,
    OnnxEmbedder,
    default_model_path,
    default_tokenizer_path,
)
from modbot.stages.prefilter.embedder import EMBEDDING_DIM, FEATURE_DIM


def test_packaged_files_exist():
    assert default_model_path().is_file()
    assert default_tokenizer_path().is_file()
    assert default_tokenizer_path().stat().st_size < 1_000_000


def test_similar_texts_are_closer_than_dissimilar(embedder):
    a, b, c = embedder.embed(["you are a worthless idiot", "you're a useless moron", "push the left lane please"])
    assert np.dot(a, b) > np.dot(a, c) + 0.1
    assert np.dot(a, b) > np.dot(b, c) + 0.1


def test_rows_are_unit_length_and_shaped(embedder):
    out = embedder.embed(["gg", "a much longer message about where the tanks should go next round"])
    assert out.shape == (2, EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    pooled = embedder.pooled(["gg"])
    assert pooled.shape == (1, FEATURE_DIM)
    assert np.allclose(pooled[0, :EMBEDDING_DIM], out[0], atol=1e-6)


def test_batch_equals_single(embedder):
    texts = ["gg ez", "report this noob please he keeps feeding", "nice"]
    batch = embedder.pooled(texts)
    for i, text in enumerate(texts):
        single = embedder.pooled([text])[0]
        # Padding is masked out; only float rounding (and int8 activation scaling) may differ.
        assert np.dot(batch[i, :EMBEDDING_DIM], single[:EMBEDDING_DIM]) > 0.999
        assert np.allclose(batch[i], single, atol=0.05)


def test_pooled_many_keeps_input_order(embedder):
    texts = ["a much longer message than the others in this list", "gg", "push mid"]
    many = embedder.pooled_many(texts, batch_size=2)
    for i, text in enumerate(texts):
        assert np.dot(many[i, :EMBEDDING_DIM], embedder.embed([text])[0]) > 0.999


def test_empty_input(embedder):
    assert embedder.embed([]).shape == (0, EMBEDDING_DIM)


def test_missing_model_file_is_a_clear_error(tmp_path: Path):
    embedder = OnnxEmbedder(EmbedderConfig(model_path=tmp_path / "nope.onnx"))
    with pytest.raises(EmbeddingModelError, match="nope.onnx"):
        embedder.load()


def test_broken_model_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(EmbeddingModelError, match="cannot load the embedding model"):
        OnnxEmbedder(EmbedderConfig(model_path=bad)).load()


def test_broken_tokenizer_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(EmbeddingModelError, match="tokenizer"):
        OnnxEmbedder(EmbedderConfig(tokenizer_path=bad)).load()


def test_pull_offline_gives_a_clear_error(tmp_path: Path):
    # HF_HUB_OFFLINE makes huggingface_hub refuse to touch the network, as on a machine without it.
    # huggingface_hub reads its environment when its constants module loads: reload it inside the
    # patched environment, and again after, so later tests see the real settings.
    import importlib

    import huggingface_hub.constants

    from modbot.stages.prefilter import pull_embedding_model

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HF_HUB_OFFLINE", "1")
            patch.setenv("HF_HOME", str(tmp_path / "hf"))
            importlib.reload(huggingface_hub.constants)
            with pytest.raises(EmbeddingModelError, match="unreachable|offline|cannot download"):
                pull_embedding_model(tmp_path / "out")
    finally:
        importlib.reload(huggingface_hub.constants)
