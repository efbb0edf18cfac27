"""The model card (``MODEL_CARD.md``) written beside a trained prefilter."""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections import Counter
from collections.abc import Sequence

from modbot.stages.prefilter.model import Blend, PrefilterModel
from modbot.stages.prefilter.scorer import SHARED_THRESHOLDS_FILE
from modbot.stages.prefilter.thresholds import Thresholds
from modbot.training.config import TrainConfig
from modbot.training.data import LabelledRow

__all__ = ["model_card", "provenance", "rows_digest"]


def rows_digest(rows: Sequence[LabelledRow]) -> str:
    """A short fingerprint of the labelled rows (recorded with the model: which data trained it)."""
    digest = hashlib.sha256()
    for r in rows:
        digest.update(f"{int(r.unsafe)}\x00{r.text}\x01".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def provenance(
    config: TrainConfig,
    rows: Sequence[LabelledRow],
    *,
    name: str,
    sources: Sequence[str],
    embedding_model: str | None,
    oof_auc: float,
    seconds: float,
    memory: bool,
    communities: dict[str, int],
    blend: Blend,
    skip_replay: dict[str, float] | None,
) -> dict[str, object]:
    """The ``info`` recorded in ``model.json``: what trained the model, how, and how well (out of fold)."""
    return {
        "name": name,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "data": list(sources),
        "rows": len(rows),
        "unsafe": sum(1 for r in rows if r.unsafe),
        "data_sha256": rows_digest(rows),
        "embedding_model": embedding_model,
        "oof_auc": round(oof_auc, 4),
        "train_seconds": round(seconds, 1),
        "config": {
            "folds": config.folds,
            "ngram_c": config.ngram_c,
            "embed_c": config.embed_c,
            "embed_hidden": config.embed_hidden,
            "embed_alpha": config.embed_alpha,
            "embed_ensemble": config.embed_ensemble,
            "use_embeddings": config.use_embeddings,
            "memory": memory,
            "memory_k": config.memory_k,
            "memory_sharpness": config.memory_sharpness,
            "memory_dims": config.memory_dims,
            "seed": config.seed,
            "folds_head_ensemble": config.oof_ensemble,
            "blend_on": config.blend_on,
            "lodo_combine": config.lodo_combine,
            "lodo_ensemble": config.lodo_ensemble,
            "final_fit": config.final_fit,
        },
        "communities": communities,
        "skip_share": blend.skip_share,
        "skip_replay": skip_replay,
    }


def _describe_head(model: PrefilterModel) -> str:
    head = model.head
    if head is None:
        return "none"
    if head.hidden_weight is not None:
        nets = int((model.info.get("config") or {}).get("embed_ensemble") or 1)  # type: ignore[union-attr]
        units = head.hidden_weight.shape[1]
        shape = f"{nets} averaged MLPs of {units // nets} ReLU units" if nets > 1 else f"MLP ({units} ReLU units)"
        return f"{shape} on MiniLM mean+max pooled features"
    return "logistic regression on MiniLM mean+max pooled features"


def model_card(
    model: PrefilterModel,
    thresholds: Thresholds,
    rows: Sequence[LabelledRow],
    shared_thresholds: Thresholds | None = None,
    unknown: Thresholds | None = None,
) -> str:
    """A short Markdown description of a trained prefilter: data, method, thresholds.

    ``thresholds`` and ``shared_thresholds`` are the in-distribution ones; ``unknown`` the
    leave-one-dataset-out ones, when they were calibrated.
    """
    info = model.info
    categories = Counter(r.category for r in rows if r.unsafe)
    sources = Counter(r.source for r in rows)
    lines = [
        f"# Prefilter model card: {info.get('name')}",
        "",
        f"Trained {info.get('trained_at')} by `modbot train-prefilter` in {info.get('train_seconds')} s.",
        "",
        "## Data",
        "",
        f"- files: {', '.join(map(str, info.get('data') or [])) or '(not recorded)'}",
        f"- rows: {info.get('rows')} ({info.get('unsafe')} unsafe); sha256 of the rows: `{info.get('data_sha256')}`",
        "- by source: " + ", ".join(f"{k} {v}" for k, v in sources.most_common()),
        "- unsafe by category: " + ", ".join(f"{k} {v}" for k, v in categories.most_common(12)),
        "",
        "## Method",
        "",
        f"- n-gram TF-IDF (characters {model.featurizer.spec.char_min}-{model.featurizer.spec.char_max} within tokens, "
        f"words {model.featurizer.spec.word_min}-{model.featurizer.spec.word_max}; {model.featurizer.size} features) "
        "+ logistic regression, on the folded text",
        "- communities (per-source corrections of the n-gram model): "
        + (", ".join(f"{k} ({v} rows)" for k, v in (info.get("communities") or {}).items()) or "none"),
        f"- embedding head: {_describe_head(model)}" + (f" ({info.get('embedding_model')})" if model.head is not None else ""),
        "- neighbour memory: "
        + (
            f"{len(model.memory)} distinct training texts in {model.memory.vectors.shape[1]} dimensions, "
            f"k={model.memory.k}, sharpness {model.memory.sharpness}"
            if model.memory is not None
            else "none"
        ),
        f"- blend: logit = {model.blend.ngram_weight:.3f} * ngram + {model.blend.embed_weight:.3f} * embed "
        f"+ {model.blend.memory_weight:.3f} * neighbour_rate {model.blend.bias:+.3f} (fitted on "
        f"{_blend_source(info)}); "
        f"out-of-fold ROC AUC {info.get('oof_auc')}",
        f"- similarity to a server's examples: +/- up to {model.similarity.weight} logit above cosine "
        f"{model.similarity.threshold}",
        f"- embedding skipped when it cannot change the routing: skip bands for share {model.blend.skip_share}; "
        f"replayed out of fold: {info.get('skip_replay')}",
        "",
        "## Thresholds (thresholds.json)",
        "",
        f"- target recall {thresholds.target_recall}: allow below {thresholds.allow_below:.4f} "
        f"(recall {thresholds.recall:.3f}, benign escalated {thresholds.benign_escalated_share:.3f} on {thresholds.calibrated_on})",
        f"- act at or above {thresholds.act_above:.4f} (precision target {thresholds.act_precision})",
        *(
            [
                f"- servers that name no community (`{SHARED_THRESHOLDS_FILE}`): allow below "
                f"{shared_thresholds.allow_below:.4f} (recall {shared_thresholds.recall:.3f}, benign escalated "
                f"{shared_thresholds.benign_escalated_share:.3f}), act at or above {shared_thresholds.act_above:.4f}"
            ]
            if shared_thresholds is not None
            else []
        ),
        f"- policy: {thresholds.policy_id or '(none: keyword stage not part of the calibration)'}"
        + (f" version {thresholds.policy_version}" if thresholds.policy_version else ""),
        "",
        *(_unknown_lines(model, unknown) if unknown is not None else [
            "Thresholds hold for data like the training data; calibrate again (train on your own labelled",
            "messages) for a community whose chat looks different.",
        ]),
        *_timing_lines(info.get("timings")),
        "",
    ]
    return "\n".join(lines)


def _unknown_lines(model: PrefilterModel, unknown: Thresholds) -> list[str]:
    """The recall-first thresholds for servers of a community the model has not learned, and their price."""
    where = f"`{SHARED_THRESHOLDS_FILE}`" if model.community_names else "`thresholds.json` (every server of this format 1 model)"
    lines = [
        "## Thresholds for unknown communities (leave-one-dataset-out)",
        "",
        f"Servers of a community the model has not learned get these ({where}): each training source was held out",
        f"in turn, scored by parts fitted on the others, and the allow threshold set for recall {unknown.target_recall}",
        f"on the held-out sources ({unknown.combine}). Allow below {unknown.allow_below:.4f}, act at or above "
        f"{unknown.act_above:.4f}: recall {unknown.recall:.3f}, benign escalated {unknown.benign_escalated_share:.3f}.",
        "",
        "| held-out source | rows | unsafe | AUC | recall | benign escalated | own threshold for the target | benign escalated at it |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(v: object) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    for name, row in sorted(unknown.per_source.items()):
        lines.append(
            f"| {name} | {row['n']} | {row['unsafe']} | {f(row['auc'])} | {f(row['recall'])} | "
            f"{f(row['benign_escalated_share'])} | {f(row['allow_below_for_target'])} | {f(row['benign_escalated_at_target'])} |"
        )
    lines += ["", "A community's own labelled messages (or a model trained on them) are what lowers this price.", ""]
    return lines


def _timing_lines(timings: object) -> list[str]:
    if not isinstance(timings, dict) or not timings:
        return []
    return ["", "Training time (seconds per step): " + ", ".join(f"{k} {v}" for k, v in timings.items())]


def _blend_source(info: dict[str, object]) -> str:
    config = info.get("config")
    lodo = isinstance(config, dict) and config.get("blend_on") == "lodo"
    return "the held-out sources' values, each source weighing the same" if lodo else "out-of-fold values"
