"""Fair sharing of the pipeline between servers: a raid on one server must not starve the others.

Two places hold messages waiting for work, and both are shared by every server:

- the **intake queue** in front of the workers: :class:`FairQueue` keeps one FIFO lane per server and
  hands items out round-robin across lanes. When it is full, the newest item of the longest lane is
  evicted to make room for a server that holds less (longest-queue drop, as in fair-queueing
  routers); the evicted message stays ``pending`` in the store and the sweeper brings it back later.
  A lane may also hold at most ``lane_limit`` items being worked on, so some workers are always free
  for the other servers.
- the **reasoner's slots**: :class:`FairReasoner` admits at most ``slots`` requests at once (the
  backend's own parallelism) and, when they are taken, gives the next free slot to the server that was
  served least recently among those waiting.

A server alone gets the whole reasoner and three quarters of the workers (the rest stay free for the
next server to speak up). Waiting for a slot parks a coroutine, nothing more, so by default there is no
limit on waiting requests: refusing a raid's requests ("busy") would send its messages round the
workers and the sweeper again and again, and that churn is what slows the other servers. An optional
per-server ``max_waiting`` refuses with ``ReasonerUnavailable`` past that many.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from modbot.ports import Judgement, JudgeRequest, Reasoner, ReasonerUnavailable

__all__ = ["FairQueue", "FairReasoner", "QueueFull"]

Item = TypeVar("Item", bound=Hashable)

QueueFull = asyncio.QueueFull


class FairQueue(Generic[Item]):
    """A bounded queue with one lane per key, served round-robin (see the module docstring).

    The interface follows ``asyncio.Queue`` where it can (``get``, ``task_done``, ``join``, ``qsize``,
    ``empty``, ``maxsize``); ``put_nowait`` takes the lane's key and returns the item it evicted, if any.
    """

    def __init__(self, maxsize: int, *, lane_limit: int | None = None):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.lane_limit = lane_limit
        self._lanes: dict[Hashable, deque[Item]] = {}
        self._rotation: deque[Hashable] = deque()  # lanes with waiting items, next to serve first
        self._working: dict[Hashable, int] = {}  # items handed out and not yet task_done, per lane
        self._key_of: dict[Item, Hashable] = {}
        self._size = 0
        self._unfinished = 0
        self._finished = asyncio.Event()
        self._finished.set()
        self._changed = asyncio.Event()
        #: Items evicted to make room for other servers, in total.
        self.evicted = 0

    # -- sizes ----------------------------------------------------------------------------------

    def qsize(self) -> int:
        """Items waiting (not counting those being worked on)."""
        return self._size

    def empty(self) -> bool:
        return self._size == 0

    def full(self) -> bool:
        return self._size >= self.maxsize

    def lane_sizes(self) -> dict[Hashable, int]:
        """Waiting items per lane (for figures and tests)."""
        return {key: len(lane) for key, lane in self._lanes.items() if lane}

    # -- putting --------------------------------------------------------------------------------

    def put_nowait(self, key: Hashable, item: Item) -> Item | None:
        """Queue ``item`` in ``key``'s lane; returns an item evicted from a longer lane to make room.

        Raises ``QueueFull`` when the queue is full and no lane is longer than this one would become.
        """
        evicted = None
        if self._size >= self.maxsize:
            evicted = self._evict_for(key)
            if evicted is None:
                raise QueueFull
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
        if not lane:
            self._rotation.append(key)
        lane.append(item)
        self._key_of[item] = key
        self._size += 1
        self._unfinished += 1
        self._finished.clear()
        self._changed.set()
        return evicted

    def _evict_for(self, key: Hashable) -> Item | None:
        own = len(self._lanes.get(key, ()))
        longest = max(self._rotation, key=lambda k: len(self._lanes[k]), default=None)
        if longest is None or longest == key or len(self._lanes[longest]) <= own + 1:
            return None
        lane = self._lanes[longest]
        item = lane.pop()  # the newest: the lane's older messages keep their place
        if not lane:
            self._rotation.remove(longest)
        del self._key_of[item]
        self._size -= 1
        self._done_one()
        self.evicted += 1
        return item

    # -- getting --------------------------------------------------------------------------------

    async def get(self) -> Item:
        """The next item, round-robin across lanes that are under their ``lane_limit``."""
        while True:
            item = self._take()
            if item is not None:
                return item
            self._changed.clear()
            await self._changed.wait()

    def _take(self) -> Item | None:
        for _ in range(len(self._rotation)):
            key = self._rotation.popleft()
            lane = self._lanes[key]
            if self.lane_limit is not None and self._working.get(key, 0) >= self.lane_limit:
                self._rotation.append(key)  # at its limit: the others go first
                continue
            item = lane.popleft()
            if lane:
                self._rotation.append(key)
            else:
                del self._lanes[key]
            self._size -= 1
            self._working[key] = self._working.get(key, 0) + 1
            if self._size:
                self._changed.set()  # more to hand out: wake the next waiting worker too
            return item
        return None

    def task_done(self, item: Item) -> None:
        """``item`` (returned by ``get``) is finished: its lane may take another worker."""
        key = self._key_of.pop(item, None)
        if key is not None:
            count = self._working.get(key, 0) - 1
            if count > 0:
                self._working[key] = count
            else:
                self._working.pop(key, None)
        self._done_one()
        self._changed.set()

    def _done_one(self) -> None:
        self._unfinished -= 1
        if self._unfinished <= 0:
            self._unfinished = 0
            self._finished.set()

    async def join(self) -> None:
        """Wait until every item put has been finished (or evicted)."""
        await self._finished.wait()


class FairReasoner:
    """Implements :class:`modbot.ports.Reasoner`: ``slots`` requests at once, shared fairly between servers.

    Without it the reasoner's own queue is first come, first served, so a raided server's escalations
    would sit in front of every other server's.
    """

    def __init__(self, reasoner: Reasoner, slots: int, *, max_waiting: int | None = None):
        if slots < 1 or (max_waiting is not None and max_waiting < 1):
            raise ValueError("slots and max_waiting must be at least 1")
        self.reasoner = reasoner
        self.slots = slots
        #: Requests one server may have waiting for a slot; past it that server is told "busy".
        self.max_waiting = max_waiting
        self._busy = 0
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}
        self._turns: deque[str] = deque()  # servers with waiters, least recently served first

    @property
    def model_name(self) -> str:
        return self.reasoner.model_name

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return sum(len(queue) for queue in self._waiting.values())

    async def judge(self, request: JudgeRequest) -> Judgement:
        await self._acquire(request.event.server.key)
        try:
            return await self.reasoner.judge(request)
        finally:
            self._release()

    async def aclose(self) -> None:
        await self.reasoner.aclose()

    async def _acquire(self, server: str) -> None:
        if self._busy < self.slots and not self._turns:
            self._busy += 1
            return
        queue = self._waiting.get(server)
        if queue is not None and self.max_waiting is not None and len(queue) >= self.max_waiting:
            raise ReasonerUnavailable(f"{self.max_waiting} requests of this server already wait for the reasoner")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if queue is None:
            queue = self._waiting[server] = deque()
            self._turns.append(server)
        queue.append(future)
        try:
            await future  # the slot is ours once the future is resolved (see _release)
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # granted and cancelled at once: hand the slot on
            else:
                self._forget(server, future)
            raise

    def _forget(self, server: str, future: asyncio.Future[None]) -> None:
        queue = self._waiting.get(server)
        if queue is not None and future in queue:
            queue.remove(future)
            if not queue:
                del self._waiting[server]
                self._turns.remove(server)

    def _release(self) -> None:
        while self._turns:
            server = self._turns.popleft()
            queue = self._waiting[server]
            future = queue.popleft()
            if queue:
                self._turns.append(server)  # served now: to the back of the line
            else:
                del self._waiting[server]
            if not future.done():
                future.set_result(None)  # the slot passes straight to the waiter
                return
        self._busy -= 1
