"""Character and word n-gram TF-IDF features, written out so that training and serving share one code path.

Character n-grams (1–5, inside word boundaries, like scikit-learn's ``char_wb``) carry most of the
signal in game chat: misspelt insults ("stpuid", "fukers"), other languages, elongations. Word uni-
and bigrams add phrases. Both are computed on the *folded* text of :func:`bot.normalize.normalize`,
the same text the Judge hands the prefilter.

The vocabulary is a plain list of strings and the IDF weights a float array, saved as JSON/npz: a
model folder never holds a pickle, so loading one cannot run code.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["NgramFeaturizer", "NgramSpec"]

_WORD = re.compile(r"\w+")
_WORD_PREFIX = "w:"  # keeps word features apart from character n-grams of the same letters


@dataclass(frozen=True, slots=True)
class NgramSpec:
    """Which n-grams are counted."""

    char_min: int = 1
    char_max: int = 5
    word_min: int = 1
    word_max: int = 2
    #: A feature must occur in at least this many training messages.
    min_df: int = 2
    #: Keep at most this many features (the most frequent); bounds the model's size.
    max_features: int = 200_000

    def to_json(self) -> dict[str, int]:
        return {
            "char_min": self.char_min,
            "char_max": self.char_max,
            "word_min": self.word_min,
            "word_max": self.word_max,
            "min_df": self.min_df,
            "max_features": self.max_features,
        }


def _terms(text: str, spec: NgramSpec) -> Counter[str]:
    """The n-gram counts of one (already folded) message."""
    counts: Counter[str] = Counter()
    words = _WORD.findall(text)
    lo, hi = spec.char_min, spec.char_max
    for word in words:
        padded = f" {word} "
        n_chars = len(padded)
        for n in range(lo, hi + 1):
            if n > n_chars:
                break
            for start in range(n_chars - n + 1):
                counts[padded[start : start + n]] += 1
    if spec.word_max >= 1:
        for n in range(spec.word_min, spec.word_max + 1):
            for start in range(len(words) - n + 1):
                counts[_WORD_PREFIX + " ".join(words[start : start + n])] += 1
    return counts


class NgramFeaturizer:
    """Sublinear TF-IDF over a fixed n-gram vocabulary, rows L2-normalised."""

    def __init__(self, spec: NgramSpec, vocabulary: Sequence[str], idf: np.ndarray):
        if len(vocabulary) != len(idf):
            raise ValueError("vocabulary and idf lengths differ")
        self.spec = spec
        self.vocabulary = list(vocabulary)
        self.index = {term: i for i, term in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(cls, texts: Iterable[str], spec: NgramSpec = NgramSpec()) -> NgramFeaturizer:
        """Learn the vocabulary and IDF weights (smoothed, as scikit-learn does) from ``texts``."""
        df: Counter[str] = Counter()
        n_docs = 0
        for text in texts:
            n_docs += 1
            df.update(_terms(text, spec).keys())
        kept = [(term, count) for term, count in df.items() if count >= spec.min_df]
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        kept = kept[: spec.max_features]
        kept.sort(key=lambda tc: tc[0])  # stable, readable order in the saved vocabulary
        vocabulary = [term for term, _ in kept]
        idf = np.array([math.log((1 + n_docs) / (1 + count)) + 1.0 for _, count in kept], dtype=np.float32)
        return cls(spec, vocabulary, idf)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The non-zero (indices, values) of one text's feature row, without building a matrix."""
        index = self.index
        idf = self.idf
        cols: list[int] = []
        vals: list[float] = []
        for term, count in _terms(text, self.spec).items():
            j = index.get(term)
            if j is not None:
                cols.append(j)
                vals.append((1.0 + math.log(count)) * float(idf[j]))
        values = np.asarray(vals, dtype=np.float32)
        if len(values):
            values /= np.float32(np.sqrt(float(values @ values)))
        return np.asarray(cols, dtype=np.int32), values

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """Feature rows for ``texts`` (unknown n-grams are ignored)."""
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        index = self.index
        idf = self.idf
        for text in texts:
            row: list[tuple[int, float]] = []
            for term, count in _terms(text, self.spec).items():
                j = index.get(term)
                if j is not None:
                    row.append((j, (1.0 + math.log(count)) * float(idf[j])))
            if row:
                norm = math.sqrt(sum(v * v for _, v in row))
                for j, v in row:
                    indices.append(j)
                    values.append(v / norm)
            indptr.append(len(indices))
        return csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), self.size),
        )
