"""Fair sharing between servers: the per-server intake queue and the reasoner's slots."""

from __future__ import annotations

import asyncio

import pytest

from modbot.domain import MessageEvent, ServerRef
from modbot.domain.policy import Policy, parse_policy
from modbot.moderation.fairness import FairQueue, FairReasoner, QueueFull
from modbot.ports import Judgement, JudgeRequest
from tests.conftest import TEST_POLICY


@pytest.fixture
def policy() -> Policy:
    return parse_policy(TEST_POLICY)


async def test_lanes_are_served_round_robin_and_in_order_within_a_lane():
    queue: FairQueue[int] = FairQueue(100)
    for item in range(10):
        queue.put_nowait("raid", item)
    queue.put_nowait("quiet", 100)
    queue.put_nowait("other", 200)
    order = [await queue.get() for _ in range(6)]
    # The raid's first item, then the two quiet servers, then the raid again: nobody waits 10 deep.
    assert order == [0, 100, 200, 1, 2, 3]


async def test_a_full_queue_evicts_the_newest_item_of_the_longest_lane():
    queue: FairQueue[int] = FairQueue(4)
    for item in range(4):
        assert queue.put_nowait("raid", item) is None
    assert queue.put_nowait("quiet", 100) == 3  # the raid's newest gives way
    assert queue.evicted == 1
    assert queue.lane_sizes() == {"raid": 3, "quiet": 1}
    with pytest.raises(QueueFull):
        queue.put_nowait("raid", 4)  # the longest lane cannot evict anyone
    queue.put_nowait("third", 300)  # evicts the raid again (3 > 0 + 1)
    with pytest.raises(QueueFull):
        queue.put_nowait("quiet", 101)  # raid 2, quiet 1, third 1: 2 is not more than 1 + 1


async def test_join_counts_evicted_and_finished_items():
    queue: FairQueue[int] = FairQueue(2)
    queue.put_nowait("a", 1)
    queue.put_nowait("a", 2)
    queue.put_nowait("b", 3)  # evicts 2
    first, second = await queue.get(), await queue.get()
    assert {first, second} == {1, 3}
    joined = asyncio.create_task(queue.join())
    await asyncio.sleep(0)
    assert not joined.done()
    queue.task_done(first)
    queue.task_done(second)
    await asyncio.wait_for(joined, 1)
    assert queue.empty()


async def test_a_lane_at_its_worker_limit_waits_while_others_are_served():
    queue: FairQueue[int] = FairQueue(100, lane_limit=2)
    for item in range(5):
        queue.put_nowait("raid", item)
    taken = [await queue.get(), await queue.get()]
    assert taken == [0, 1]
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()  # the raid holds two workers: its third item waits
    queue.put_nowait("quiet", 100)
    assert await asyncio.wait_for(waiter, 1) == 100
    queue.task_done(0)
    assert await asyncio.wait_for(queue.get(), 1) == 2


class _SlowReasoner:
    """Counts concurrent requests and records the order they were served in."""

    model_name = "slow"

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.served: list[str] = []

    async def judge(self, request: JudgeRequest) -> Judgement:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.served.append(request.event.text)
        await asyncio.sleep(0.01)
        self.running -= 1
        return Judgement(violation=False, model=self.model_name)

    async def aclose(self) -> None:
        pass


def _request(policy: Policy, server: str, text: str) -> JudgeRequest:
    event = MessageEvent(server=ServerRef("test", server), channel_id="c", author_id="u", message_id=text, text=text)
    return JudgeRequest(policy=policy, event=event)


async def test_the_reasoner_gate_keeps_to_its_slots_and_serves_servers_in_turn(policy: Policy):
    inner = _SlowReasoner()
    gate = FairReasoner(inner, slots=2)
    raid = [asyncio.create_task(gate.judge(_request(policy, "raid", f"r{i}"))) for i in range(8)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(gate.judge(_request(policy, "quiet", "q")))
    await asyncio.gather(*raid, quiet)
    assert inner.peak == 2
    # Two raid requests took the slots at once; the quiet one is served next, not after the other six.
    assert inner.served.index("q") <= 3
    assert gate.waiting == 0


async def test_a_cancelled_waiter_gives_its_turn_away(policy: Policy):
    inner = _SlowReasoner()
    gate = FairReasoner(inner, slots=1)
    first = asyncio.create_task(gate.judge(_request(policy, "a", "a1")))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(gate.judge(_request(policy, "b", "b1")))
    later = asyncio.create_task(gate.judge(_request(policy, "c", "c1")))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(first, later)
    assert inner.served == ["a1", "c1"]
    assert inner.peak == 1


async def test_a_server_with_too_many_waiting_is_told_busy_and_the_others_are_not(policy: Policy):
    from modbot.ports import ReasonerUnavailable

    inner = _SlowReasoner()
    gate = FairReasoner(inner, slots=1, max_waiting=2)
    raid = [asyncio.create_task(gate.judge(_request(policy, "raid", f"r{i}"))) for i in range(4)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(gate.judge(_request(policy, "quiet", "q")))
    results = await asyncio.gather(*raid, quiet, return_exceptions=True)
    # One running and two waiting: the fourth raid request is refused; the quiet server's is not.
    assert [isinstance(r, ReasonerUnavailable) for r in results] == [False, False, False, True, False]
    assert "q" in inner.served
