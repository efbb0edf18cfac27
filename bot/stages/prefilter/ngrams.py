"""Character and word n-gram TF-IDF features, written out so that training and serving share one code path.

Character n-grams (1–5 within whitespace-separated tokens, like scikit-learn's ``char_wb``) carry most of the
signal in game chat: misspelt insults ("stpuid", "fukers"), other languages, elongations. Word uni-
and bigrams add phrases. Both are computed on the *folded* text of :func:`modbot.stages.normalize.normalize`,
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
from itertools import chain

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["NgramFeaturizer", "NgramSpec"]

_WORD = re.compile(r"\w+")
_WORD_PREFIX = "w:"  # keeps word features apart from character n-grams of the same letters
_WORD_CACHE_SIZE = 100_000


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
    lo, hi = spec.char_min, spec.char_max
    # Character n-grams run over whitespace-separated tokens, punctuation included ("?!", ":)",
    # "f***" carry signal in chat); word n-grams over runs of word characters.
    for word in text.split():
        padded = f" {word} "
        n_chars = len(padded)
        for n in range(lo, hi + 1):
            if n > n_chars:
                break
            for start in range(n_chars - n + 1):
                counts[padded[start : start + n]] += 1
    if spec.word_max >= 1:
        words = _WORD.findall(text)
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
        self._word_cache: dict[str, tuple[int, ...]] = {}

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

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """Columns of the character n-grams of one whitespace token (cached: chat reuses words)."""
        found = self._word_cache.get(word)
        if found is not None:
            return found
        index_get = self.index.get
        padded = f" {word} "
        n_chars = len(padded)
        cols = []
        for n in range(self.spec.char_min, min(self.spec.char_max, n_chars) + 1):
            for start in range(n_chars - n + 1):
                j = index_get(padded[start : start + n])
                if j is not None:
                    cols.append(j)
        found = tuple(cols)
        if len(self._word_cache) >= _WORD_CACHE_SIZE:
            self._word_cache.clear()  # crude but bounded; refills with the words in use
        self._word_cache[word] = found
        return found

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The non-zero (indices, values) of one text's feature row, without building a matrix."""
        word_columns = self._word_columns
        # Counter over one chained iterable counts in C.
        counts = Counter(chain.from_iterable(word_columns(word) for word in text.split()))
        if self.spec.word_max >= 1:
            index_get = self.index.get
            words = _WORD.findall(text)
            for n in range(self.spec.word_min, self.spec.word_max + 1):
                for start in range(len(words) - n + 1):
                    j = index_get(_WORD_PREFIX + " ".join(words[start : start + n]))
                    if j is not None:
                        counts[j] += 1
        if not counts:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        cols = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        values = (1.0 + np.log(tf)) * self.idf[cols]
        values /= np.float32(np.sqrt(float(values @ values)))
        return cols, values.astype(np.float32)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """Feature rows for ``texts`` (unknown n-grams are ignored)."""
        indptr = [0]
        chunks_i: list[np.ndarray] = []
        chunks_v: list[np.ndarray] = []
        total = 0
        for text in texts:
            cols, values = self.row(text)
            chunks_i.append(cols)
            chunks_v.append(values)
            total += len(cols)
            indptr.append(total)
        indices = np.concatenate(chunks_i) if chunks_i else np.zeros(0, dtype=np.int32)
        data = np.concatenate(chunks_v) if chunks_v else np.zeros(0, dtype=np.float32)
        return csr_matrix((data, indices, np.asarray(indptr, dtype=np.int64)), shape=(len(texts), self.size))
