"""Micro-batching of concurrent embedding requests, the cache, and failure handling."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from modbot.stages.prefilter import MicroBatcher


class Recorder:
    """A compute function that records its batches and the thread it ran on."""

    def __init__(self, fail_on: str | None = None):
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("boom")
        return np.array([[float(len(t)), float(sum(map(ord, t)))] for t in texts])


async def test_concurrent_callers_share_batches_off_the_loop():
    rec = Recorder()
    batcher = MicroBatcher(rec, max_batch=8, max_wait_ms=50)
    texts = [f"message {i}" for i in range(20)]
    results = await asyncio.gather(*(batcher.embed(t) for t in texts))
    for text, vector in zip(texts, results):
        assert vector[0] == len(text)
    assert sum(len(b) for b in rec.batches) == 20
    assert len(rec.batches) == 3  # 8 + 8 + 4: full batches go at once, the rest at the deadline
    assert max(len(b) for b in rec.batches) == 8
    assert rec.threads and threading.current_thread().name not in rec.threads
    await batcher.aclose()


async def test_wait_deadline_flushes_a_partial_batch():
    rec = Recorder()
    batcher = MicroBatcher(rec, max_batch=100, max_wait_ms=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await batcher.embed("lonely")
    assert loop.time() - started < 1.0
    assert rec.batches == [["lonely"]]
    await batcher.aclose()


async def test_cache_hit_skips_the_model():
    rec = Recorder()
    batcher = MicroBatcher(rec, max_batch=4, max_wait_ms=1, cache_size=2)
    first = await batcher.embed("gg")
    again = await batcher.embed("gg")
    assert np.array_equal(first, again)
    assert rec.batches == [["gg"]]
    assert batcher.stats.cache_hits == 1
    await batcher.embed("ez")
    await batcher.embed("noob")  # evicts "gg" (LRU of 2)
    await batcher.embed("gg")
    assert rec.batches[-1] == ["gg"]
    await batcher.aclose()


async def test_identical_concurrent_texts_are_computed_once():
    rec = Recorder()
    batcher = MicroBatcher(rec, max_batch=16, max_wait_ms=20)
    results = await asyncio.gather(*(batcher.embed("ez") for _ in range(10)))
    assert all(np.array_equal(r, results[0]) for r in results)
    assert rec.batches == [["ez"]]
    await batcher.aclose()


async def test_a_failing_batch_fails_its_callers_only():
    rec = Recorder(fail_on="bad")
    batcher = MicroBatcher(rec, max_batch=2, max_wait_ms=1)
    outcome = await asyncio.gather(batcher.embed("bad"), batcher.embed("also in that batch"), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcome)
    assert (await batcher.embed("fine"))[0] == 4
    await batcher.aclose()


async def test_closed_batcher_refuses():
    batcher = MicroBatcher(Recorder())
    await batcher.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.embed("x")


async def test_real_embedder_through_the_batcher(embedder):
    batcher = MicroBatcher(embedder.pooled, max_batch=8, max_wait_ms=10)
    texts = ["you are trash", "gg wp", "nice shot", "you are trash"]
    out = await batcher.embed_many(texts)
    direct = embedder.pooled(texts[:3])
    assert np.allclose(out[:3, :384], direct[:, :384], atol=1e-3)
    assert np.array_equal(out[0], out[3])
    await batcher.aclose()


def test_bad_settings():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_wait_ms=-1)
