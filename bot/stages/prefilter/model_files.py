"""A prefilter model folder: ``model.json``, ``vocabulary.json`` and ``weights.npz``.

``weights.npz`` holds numeric arrays only and is loaded with ``allow_pickle=False`` (the neighbour
memory's vectors are stored as float16); nothing in a model folder is executable. Format 1 folders
(no communities, linear head, no memory) still load.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modbot.stages.prefilter.embedder import FEATURE_DIM
from modbot.stages.prefilter.model import Blend, ModelError, PrefilterModel, SimilarityParams
from modbot.stages.prefilter.ngrams import NgramFeaturizer, NgramSpec
from modbot.stages.prefilter.parts import CommunityWeights, EmbeddingHead, NeighbourMemory, unit_rows

__all__ = ["MODEL_FORMAT", "load_model", "save_model"]

MODEL_FORMAT = 2
_READABLE_FORMATS = (1, 2)



def save_model(model: PrefilterModel, directory: Path) -> None:
    """Write ``model`` into ``directory`` (created if needed): model.json, vocabulary.json, weights.npz."""
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "idf": model.featurizer.idf.astype(np.float32),
        "ngram_coef": model.ngram_coef.astype(np.float32),
    }
    if model.head is not None:
        arrays.update(
            head_mean=model.head.mean.astype(np.float32),
            head_scale=model.head.scale.astype(np.float32),
            head_coef=model.head.coef.astype(np.float32),
        )
        if model.head.hidden_weight is not None and model.head.hidden_bias is not None:
            arrays.update(
                head_hidden_weight=model.head.hidden_weight.astype(np.float32),
                head_hidden_bias=model.head.hidden_bias.astype(np.float32),
            )
    if model.communities is not None:
        arrays.update(
            community_coef=model.communities.coef.astype(np.float32),
            community_bias=model.communities.bias.astype(np.float32),
        )
    if model.memory is not None:
        arrays.update(
            memory_vectors=model.memory.vectors.astype(np.float16),
            memory_counts=model.memory.counts.astype(np.float32),
            memory_unsafe=model.memory.unsafe.astype(np.float32),
        )
        if model.memory.projection is not None and model.memory.center is not None:
            arrays.update(
                memory_center=model.memory.center.astype(np.float32),
                memory_projection=model.memory.projection.astype(np.float32),
            )
    np.savez_compressed(directory / "weights.npz", **arrays)
    (directory / "vocabulary.json").write_text(
        json.dumps(model.featurizer.vocabulary, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    meta = {
        "format": MODEL_FORMAT,
        "ngrams": model.featurizer.spec.to_json(),
        "ngram_intercept": model.ngram_intercept,
        "head_intercept": model.head.intercept if model.head is not None else None,
        "blend": {
            "ngram_weight": model.blend.ngram_weight,
            "embed_weight": model.blend.embed_weight,
            "bias": model.blend.bias,
            "memory_weight": model.blend.memory_weight,
            "embed_range": list(model.blend.embed_range),
            "band_edges": list(model.blend.band_edges),
            "band_lo": list(model.blend.band_lo),
            "band_hi": list(model.blend.band_hi),
            "skip_share": model.blend.skip_share,
            "alt_bands": {
                str(k): {"lo": list(lo), "hi": list(hi)} for k, (lo, hi) in sorted(model.blend.alt_bands.items())
            },
        },
        "similarity": {"threshold": model.similarity.threshold, "weight": model.similarity.weight},
        "communities": list(model.community_names),
        "languages": list(model.languages),
        "memory": (
            {
                "k": model.memory.k,
                "sharpness": model.memory.sharpness,
                "texts": len(model.memory),
                "dims": int(model.memory.vectors.shape[1]),
            }
            if model.memory is not None
            else None
        ),
        "info": model.info,
    }
    (directory / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_model(directory: Path) -> PrefilterModel:
    """Read a model folder; raises :class:`ModelError` naming the file that is missing or inconsistent."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(
            f"{directory}: not a prefilter folder (run 'modbot train-prefilter ... --out {directory}')"
        )
    paths = {name: directory / name for name in ("model.json", "vocabulary.json", "weights.npz")}
    for path in paths.values():
        if not path.is_file():
            raise ModelError(f"{path}: missing (a prefilter folder holds model.json, vocabulary.json, weights.npz)")
    try:
        meta = json.loads(paths["model.json"].read_text(encoding="utf-8"))
        vocabulary = json.loads(paths["vocabulary.json"].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{directory}: cannot read the model description: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") not in _READABLE_FORMATS:
        raise ModelError(
            f"{paths['model.json']}: unknown model format {meta.get('format') if isinstance(meta, dict) else meta!r}"
        )
    if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
        raise ModelError(f"{paths['vocabulary.json']}: expected a JSON list of strings")
    try:
        with np.load(paths["weights.npz"], allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key], dtype=np.float32) for key in data.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{paths['weights.npz']}: cannot read: {exc}") from None
    try:
        spec = NgramSpec(**meta["ngrams"])
        featurizer = NgramFeaturizer(spec, vocabulary, arrays["idf"])
        coef = arrays["ngram_coef"]
        if len(coef) != featurizer.size:
            raise ModelError(f"{directory}: the n-gram weights do not match the vocabulary")
        head = None
        if meta.get("head_intercept") is not None:
            head = EmbeddingHead(
                arrays["head_mean"],
                arrays["head_scale"],
                arrays["head_coef"],
                float(meta["head_intercept"]),
                arrays.get("head_hidden_weight"),
                arrays.get("head_hidden_bias"),
            )
            _check_head(head, directory)
        communities = None
        names = tuple(str(n) for n in meta.get("communities") or ())
        if names:
            c_coef, c_bias = arrays["community_coef"], arrays["community_bias"]
            if c_coef.shape != (len(names), featurizer.size) or c_bias.shape != (len(names),):
                raise ModelError(f"{directory}: the community weights do not match the communities and vocabulary")
            communities = CommunityWeights(names, c_coef, c_bias)
        memory = None
        if meta.get("memory"):
            vectors = arrays["memory_vectors"]
            counts, unsafe = arrays["memory_counts"], arrays["memory_unsafe"]
            center, projection = arrays.get("memory_center"), arrays.get("memory_projection")
            if vectors.ndim != 2 or not len(vectors) == len(counts) == len(unsafe):
                raise ModelError(f"{directory}: the neighbour memory's arrays do not match")
            if (center is None) != (projection is None) or (
                projection is not None and projection.shape != (len(center), vectors.shape[1])
            ):
                raise ModelError(f"{directory}: the neighbour memory's projection does not match its vectors")
            memory = NeighbourMemory(
                unit_rows(vectors),
                counts,
                unsafe,
                int(meta["memory"]["k"]),
                float(meta["memory"]["sharpness"]),
                center,
                projection,
            )
        b = meta["blend"]
        blend = Blend(
            float(b["ngram_weight"]),
            float(b["embed_weight"]),
            float(b["bias"]),
            float(b.get("memory_weight", 0.0)),
            tuple(float(v) for v in b["embed_range"]),  # type: ignore[arg-type]
            tuple(float(v) for v in b.get("band_edges", ())),
            tuple(float(v) for v in b.get("band_lo", ())),
            tuple(float(v) for v in b.get("band_hi", ())),
            {
                float(k): (tuple(float(x) for x in v["lo"]), tuple(float(x) for x in v["hi"]))
                for k, v in (b.get("alt_bands") or {}).items()
            },
            b.get("skip_share"),
        )
        if not len(blend.band_edges) == len(blend.band_lo) == len(blend.band_hi):
            raise ModelError(f"{paths['model.json']}: blend bands of different lengths")
        languages = tuple(str(code) for code in meta.get("languages") or ("en",))  # older folders: English
        sim = meta.get("similarity") or {}
        similarity = SimilarityParams(float(sim.get("threshold", 0.8)), float(sim.get("weight", 4.0)))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{directory}: incomplete or inconsistent model ({exc!r})") from None
    return PrefilterModel(
        featurizer=featurizer,
        ngram_coef=coef,
        ngram_intercept=float(meta["ngram_intercept"]),
        head=head,
        blend=blend,
        similarity=similarity,
        info=dict(meta.get("info") or {}),
        communities=communities,
        memory=memory,
        languages=languages,
    )


def _check_head(head: EmbeddingHead, directory: Path) -> None:
    """Shapes that would otherwise fail only when the first message is embedded."""
    width = FEATURE_DIM
    if head.mean.shape != (width,) or head.scale.shape != (width,):
        raise ModelError(f"{directory}: the embedding head expects {width} features")
    if head.hidden_weight is not None:
        if head.hidden_bias is None or head.hidden_weight.shape[0] != width:
            raise ModelError(f"{directory}: the embedding head's hidden layer is inconsistent")
        width = head.hidden_weight.shape[1]
        if head.hidden_bias.shape != (width,):
            raise ModelError(f"{directory}: the embedding head's hidden layer is inconsistent")
    if head.coef.shape != (width,):
        raise ModelError(f"{directory}: the embedding head's output weights do not match its input")
