"""Group commit: many concurrent callers, one transaction per batch.

Each caller awaits its own result, so "recorded before judged" still holds per message, but a busy
server pays one commit for a whole batch instead of one per message. Batches form naturally: while a
flush runs, new items queue up behind it; there is no artificial delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["BatchWriter"]

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class BatchWriter(Generic[T, R]):
    """Calls ``flush(items) -> results`` (same order) for batches of up to ``max_batch`` items."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 512, linger_turns: int = 2):
        self._flush = flush
        self._max_batch = max_batch
        # Zero-time yields before a flush let other ready tasks join the batch (no timer, no added
        # latency on an idle loop beyond a couple of loop turns).
        self._linger_turns = linger_turns
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        #: Totals for metrics and benchmarks: how many flushes, how many items.
        self.batches = 0
        self.items = 0
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="modbot-batch-writer")
        return await future

    async def _run(self) -> None:
        while self._pending:
            for _ in range(self._linger_turns):
                if len(self._pending) >= self._max_batch:
                    break
                await asyncio.sleep(0)
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self.batches += 1
            self.items += len(batch)
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _, future = batch[0]
                    if not future.done():
                        future.set_exception(exc)
                    continue
                # One bad item must not fail its neighbours: retry them one by one.
                log.warning("a batch of %d failed; retrying its items one by one", len(batch), exc_info=True)
                for item, future in batch:
                    try:
                        (result,) = await self._flush([item])
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                    else:
                        if not future.done():
                            future.set_result(result)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

