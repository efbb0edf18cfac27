"""Micro-batching of embedding requests from concurrent callers, off the event loop, with an LRU cache.

Each caller awaits the vector of one text. Requests are collected until ``max_batch`` are waiting or
the oldest has waited ``max_wait_ms``, whichever comes first, and then run as one batch in a single
worker thread (onnxruntime releases the GIL while it computes, so the loop keeps serving). Game chat
repeats itself ("gg", "ez", "noob"), so recent texts are answered from a cache without the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

__all__ = ["BatcherStats", "MicroBatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """Counters for metrics and benchmarks."""

    requests: int
    cache_hits: int
    batches: int
    embedded: int

    @property
    def mean_batch(self) -> float:
        return self.embedded / self.batches if self.batches else 0.0


class MicroBatcher:
    """Turns many ``await embed(text)`` calls into few ``compute(texts)`` calls.

    ``compute`` maps a list of texts to an array with one row per text; it runs in this batcher's
    own single worker thread. Results are cached by text (LRU, ``cache_size`` entries; 0 disables).
    """

    def __init__(
        self,
        compute: Callable[[list[str]], np.ndarray],
        *,
        max_batch: int = 32,
        max_wait_ms: float = 4.0,
        cache_size: int = 8192,
    ):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms cannot be negative")
        self._compute = compute
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.cache_size = cache_size
        # LRUCache cannot hold zero items: with cache_size 0, _remember stores nothing.
        self._cache: LRUCache[str, np.ndarray] = LRUCache(maxsize=max(1, cache_size))
        # text -> (future, time it was first asked for); identical concurrent requests share one slot.
        self._pending: OrderedDict[str, tuple[asyncio.Future[np.ndarray], float]] = OrderedDict()
        self._wakeup: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._requests = 0
        self._hits = 0
        self._batches = 0
        self._embedded = 0

    @property
    def stats(self) -> BatcherStats:
        return BatcherStats(self._requests, self._hits, self._batches, self._embedded)

    def cached(self, text: str) -> np.ndarray | None:
        """The cached vector of ``text`` (refreshing its recency), or None."""
        return self._cache.get(text)

    async def embed(self, text: str) -> np.ndarray:
        """The vector of one text; batched with whatever else is asked for at about the same time."""
        if self._closed:
            raise RuntimeError("the embedding batcher is closed")
        self._requests += 1
        vector = self.cached(text)
        if vector is not None:
            self._hits += 1
            return vector
        waiting = self._pending.get(text)
        if waiting is not None:
            self._hits += 1
            return await asyncio.shield(waiting[0])
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending[text] = (future, time.monotonic())
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        if len(self._pending) >= self.max_batch:
            self._wakeup.set()
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="modbot-embed-batcher")
        # shield: a caller that gives up must not cancel a result its batch-mates also wait for.
        return await asyncio.shield(future)

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of several texts (one row each), batched like concurrent single calls."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows = await asyncio.gather(*(self.embed(t) for t in texts))
        return np.stack(rows)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None
        while self._pending:
            oldest = next(iter(self._pending.values()))[1]
            remaining = self.max_wait_s - (time.monotonic() - oldest)
            if len(self._pending) < self.max_batch and remaining > 0:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=remaining)
                except asyncio.TimeoutError:
                    pass
            batch: list[tuple[str, asyncio.Future[np.ndarray]]] = []
            while self._pending and len(batch) < self.max_batch:
                text, (future, _) = self._pending.popitem(last=False)
                batch.append((text, future))
            if not batch:
                continue
            texts = [text for text, _ in batch]
            self._batches += 1
            self._embedded += len(texts)
            try:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modbot-embed")
                vectors = await loop.run_in_executor(self._executor, self._compute, texts)
                if len(vectors) != len(texts):
                    raise RuntimeError(f"the embedder returned {len(vectors)} rows for {len(texts)} texts")
            except asyncio.CancelledError:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(RuntimeError("the embedding batcher was closed"))
                raise
            except Exception as exc:  # every waiter of this batch gets the error; later batches still run
                log.warning("embedding a batch of %d texts failed: %s", len(texts), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (text, future), vector in zip(batch, vectors):
                self._remember(text, vector)
                if not future.done():
                    future.set_result(vector)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = vector

    async def aclose(self) -> None:
        """Stop taking requests, fail the waiting ones, and release the worker thread."""
        self._closed = True
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            try:
                await self._runner
            except (asyncio.CancelledError, Exception):
                pass
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(RuntimeError("the embedding batcher was closed"))
        self._pending.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
