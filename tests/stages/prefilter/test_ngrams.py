"""The n-gram featurizer: the fast row path equals the plain definition; fit keeps what it should."""

from __future__ import annotations

import math

import numpy as np

from modbot.stages.prefilter.ngrams import NgramFeaturizer, NgramSpec, _terms

TEXTS = ["gg wp noob team", "you are trash!!! :)", "ааа сука блин", "push mid lane\nnow", "gg", "noob noob noob"]


def test_row_equals_the_definition():
    featurizer = NgramFeaturizer.fit(TEXTS * 2, NgramSpec(min_df=2))
    for text in TEXTS + ["unseen words only", "", "  "]:
        cols, vals = featurizer.row(text)
        expected = {}
        for term, count in _terms(text, featurizer.spec).items():
            j = featurizer.index.get(term)
            if j is not None:
                expected[j] = (1 + math.log(count)) * float(featurizer.idf[j])
        norm = math.sqrt(sum(v * v for v in expected.values())) or 1.0
        got = dict(zip(cols.tolist(), vals.tolist()))
        assert got.keys() == expected.keys(), text
        for j, v in expected.items():
            assert abs(got[j] - v / norm) < 1e-5
        if len(vals):
            assert abs(float(np.linalg.norm(vals)) - 1.0) < 1e-5


def test_transform_stacks_rows_and_fit_respects_limits():
    featurizer = NgramFeaturizer.fit(TEXTS, NgramSpec(min_df=2, max_features=50))
    assert featurizer.size <= 50
    matrix = featurizer.transform(TEXTS)
    assert matrix.shape == (len(TEXTS), featurizer.size)
    cols, vals = featurizer.row(TEXTS[0])
    assert np.allclose(matrix[0, cols].toarray().ravel(), vals)
    assert "w:gg" in featurizer.index  # word unigram, kept apart from the characters "gg"
