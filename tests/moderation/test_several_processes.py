"""Two bot processes on one database: every message judged once, every action carried out once.

Two real pipelines (two ``build_services``, each its own storage identity, as two processes have)
share one database — PostgreSQL (``tests.support.pg_fixtures``) and, for comparison, one SQLite file —
and take a burst together: each its own shard's messages through small queues (most overflow and are
swept), messages a crashed third process recorded and never judged, and events delivered to both.
Only the platform edge (the sinks) is a test double.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import func, select

from modbot.app import build_services
from modbot.config import PipelineSettings
from modbot.domain import Action, ActionOutcome, MessageStatus, ServerRef
from modbot.domain.settings import ServerSettings
from modbot.store.database import create_engine
from modbot.store.schema import ActionRow, VerdictRow
from tests.conftest import event, make_settings
from tests.support.recording_sink import RecordingSink

SERVER = ServerRef("test", "g1")
ENFORCE = ServerSettings(policy_id="test-policy", mode="enforce", mod_channel_id="mods")
#: An act-now scam (delete, timeout, warn, post), a cheat keyword (flagged: a posted case), small talk.
TEXTS = ("claim at free-nitro.example now", "selling aimbot cheap", "good game everyone")

_CRASHED_RECORDER = """
import asyncio, os, sys
from modbot.domain import MessageEvent, ServerRef
from modbot.store import Storage
from modbot.store.database import create_engine

async def main():
    storage = Storage.from_engine(create_engine(sys.argv[1]))
    texts = sys.argv[2].split("|")
    events = [MessageEvent(server=ServerRef("test", "g1"), channel_id="c1", message_id=f"crash-{i}",
                           author_id=f"u{i}", text=texts[i % len(texts)]) for i in range(int(sys.argv[3]))]
    await storage.messages.record_messages(events)
    os._exit(0)  # dies holding its claims: no release, no clean close

asyncio.run(main())
"""


class OnceFlakySink(RecordingSink):
    """Every third action fails once transiently (a 503), so retries, too, run across the two processes."""

    def __init__(self, seen: Counter[str], done: Counter[str]):
        super().__init__()
        self.seen, self.done = seen, done

    async def execute(self, action: Action) -> ActionOutcome:
        self.seen[action.idempotency_key] += 1
        if self.seen[action.idempotency_key] == 1 and hash(action.idempotency_key) % 3 == 0:
            return ActionOutcome(False, "HTTP 503", retry_after_s=0.0)
        self.done[action.idempotency_key] += 1
        return await super().execute(action)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request, tmp_path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_postgres_url")
    return f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}"


async def process(tmp_path, name: str, url: str, sink: RecordingSink):
    folder = tmp_path / name
    folder.mkdir()
    settings = make_settings(
        folder,
        database_url=url,
        server_defaults=ENFORCE,
        pipeline=PipelineSettings(queue_size=8, workers=2, sweep_interval_s=0.02, action_retry_base_s=0.01),
    )
    return await build_services(settings, reasoner=None, prefilter=None, sinks={"test": sink})


async def test_two_pipelines_on_one_database_judge_each_message_once_and_act_once(tmp_path, shared_database):
    url = shared_database
    seen: Counter[str] = Counter()
    done: Counter[str] = Counter()
    first = await process(tmp_path, "first", url, OnceFlakySink(seen, done))
    second = await process(tmp_path, "second", url, OnceFlakySink(seen, done))
    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHED_RECORDER, url, "|".join(TEXTS), "30"], capture_output=True, text=True, timeout=60
    )
    assert crashed.returncode == 0, crashed.stderr
    await first.start()
    await second.start()

    shard = [event(TEXTS[i % 3], message_id=f"shard-{i}", author_id=f"a{i}") for i in range(80)]
    both = [event(TEXTS[i % 3], message_id=f"both-{i}", author_id=f"b{i}") for i in range(12)]
    await asyncio.gather(
        *(first.pipeline.submit(e) for e in shard[0::2]),
        *(second.pipeline.submit(e) for e in shard[1::2]),
        *(first.pipeline.submit(e) for e in both),
        *(second.pipeline.submit(e) for e in both),
    )

    async def finished() -> bool:
        messages = first.storage.messages
        return await messages.count_messages(MessageStatus.PENDING) == 0 and await first.dispatcher.unsettled() == 0

    deadline = asyncio.get_running_loop().time() + 60
    while not await finished():
        assert asyncio.get_running_loop().time() < deadline, "the two processes did not finish the burst"
        await asyncio.sleep(0.05)
    await first.close()
    await second.close()

    engine = create_engine(url)
    async with engine.connect() as connection:
        per_identity = (
            await connection.execute(
                select(VerdictRow.message_row_id, VerdictRow.policy_version, VerdictRow.stage, func.count())
                .group_by(VerdictRow.message_row_id, VerdictRow.policy_version, VerdictRow.stage)
            )
        ).all()
        recorded_actions = Counter((await connection.scalars(select(ActionRow.kind))).all())
    await engine.dispose()
    total = 80 + 12 + 30
    assert len(per_identity) == total and all(count == 1 for *_, count in per_identity)
    # Judged once: each shard's and the crashed run's messages by one process only; an event both got
    # may be judged by both, but its second verdict is neither stored nor acted on.
    assert first.pipeline.counters.judged + second.pipeline.counters.judged <= total + 12
    assert first.pipeline.counters.judged > 0 and second.pipeline.counters.judged > 0
    # Acted once: every planned action carried out exactly once, whichever process or attempt did it.
    assert done and set(done.values()) == {1}
    assert sum(recorded_actions.values()) == len(done)
    scams = cheats = 27 + 4 + 10  # i % 3 == 0 (and == 1) of 80 shard, 12 shared and 30 crashed-run messages
    assert recorded_actions["delete"] == scams and recorded_actions["post_case"] == scams + cheats
