"""Fixtures shared with the other prefilter tests (see :mod:`tests.support.prefilter_data`)."""

from tests.support.prefilter_data import embedder, synthetic_file, trained_dir

__all__ = ["embedder", "synthetic_file", "trained_dir"]
