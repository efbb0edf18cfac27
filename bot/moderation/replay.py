"""What a candidate policy would change: the diff of two verdicts per message, and a cancellable replay.

Used by ``modbot policy replay`` (stored messages or a data file re-judged now); the diff itself is
``modbot.domain.replay.ReplayDiff`` (``/mod policy diff`` builds it from stored verdicts). Platform-free:
judging is a function handed in (the pipeline's ``classify``: the same stages as live traffic), nothing
is stored and nothing acted on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from modbot.domain import MessageEvent, Verdict
from modbot.domain.replay import ReplayDiff, ReplayItem

__all__ = ["Judging", "ReplayDiff", "ReplayItem", "replay"]

Judging = Callable[[MessageEvent], Awaitable[Verdict]]


async def replay(
    items: Iterable[ReplayItem] | AsyncIterator[ReplayItem],
    candidate: Judging,
    *,
    against: Judging | None = None,
    diff: ReplayDiff | None = None,
    progress: Callable[[ReplayDiff], None] | None = None,
    stop: asyncio.Event | None = None,
) -> ReplayDiff:
    """Judge every item with ``candidate`` (and ``against``, else its stored baseline) and diff them.

    ``stop`` set (Ctrl-C) ends the replay between messages and during one: the diff so far comes back
    with ``interrupted``. An item without a baseline and without ``against`` is skipped.
    """
    diff = diff or ReplayDiff()
    stop = stop or asyncio.Event()

    async def _judged(judging: Judging, event: MessageEvent) -> Verdict | None:
        task = asyncio.ensure_future(judging(event))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task not in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
        return task.result()

    async for item in _each(items):
        if stop.is_set():
            diff.interrupted = True
            break
        before = item.baseline
        if against is not None:
            before = await _judged(against, item.event)
            if before is None:
                diff.interrupted = True
                break
        if before is None:
            continue
        after = await _judged(candidate, item.event)
        if after is None:
            diff.interrupted = True
            break
        if after.error is not None:
            # A reasoner failure is no change of policy: counted apart, not diffed.
            diff.failed += 1
        else:
            diff.add(item, before, after)
        if progress is not None:
            progress(diff)
    return diff


async def _each(items: Iterable[ReplayItem] | AsyncIterator[ReplayItem]) -> AsyncIterator[ReplayItem]:
    if hasattr(items, "__aiter__"):
        async for item in items:  # type: ignore[union-attr]
            yield item
    else:
        for item in items:  # type: ignore[union-attr]
            yield item
