"""Runs hostile texts through the real pipeline once and keeps what happened to each, for many asserts.

The pipeline is the real one from the composition root (real SQLite file, shipped
``policies/game-community.md``, keyword stage, the shipped prefilter from ``build_prefilter``); the
only stand-in is the reasoner at the model edge: a :class:`ScriptedReasoner` that records every
request, or the real :class:`HarmonyReasoner` over a scripted transport that answers with given text.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modbot.app import build_prefilter, build_services
from modbot.domain import MessageEvent, MessageStatus, ServerRef, Verdict
from modbot.domain.settings import ServerSettings
from modbot.ports import Completion, CompletionRequest, JudgeRequest
from tests.conftest import REPO, make_settings

SERVER = ServerRef("test", "hostile")
GAME_POLICY = REPO / "policies" / "game-community.md"


@dataclass(frozen=True)
class Outcome:
    """What the pipeline stored for one message, and what the reasoner was asked about it."""

    verdicts: tuple[Verdict, ...]
    status: MessageStatus | None
    reasoner_requests: tuple[JudgeRequest, ...]


def hostile_settings(tmp_path: Path, *, prefilter: bool = True):
    """Settings for the shipped game-community policy in shadow mode, audits off (deterministic)."""
    settings = make_settings(
        tmp_path,
        prefilter_enabled=prefilter,
        server_defaults=ServerSettings(policy_id="game-community", audit_share=0.0),
    )
    shutil.copyfile(GAME_POLICY, settings.policy_dir / GAME_POLICY.name)
    return settings


async def _run(tmp_path: Path, texts: dict[str, str], reasoner, *, prefilter: bool) -> dict[str, Outcome]:
    settings = hostile_settings(tmp_path, prefilter=prefilter)
    services = await build_services(
        settings, reasoner=reasoner, prefilter=build_prefilter(settings) if prefilter else None
    )
    try:
        await services.start()
        rows = {}
        for message_id, text in texts.items():
            event = MessageEvent(SERVER, "c1", message_id, "u1", text)
            rows[message_id] = (await services.pipeline.submit(event)).row_id
        await services.pipeline.drain(120)
        outcomes = {}
        calls = list(getattr(reasoner, "calls", ()))
        for message_id, row_id in rows.items():
            verdicts = tuple(await services.storage.verdicts.verdicts_for(SERVER, row_id))
            stored = await services.storage.messages.load_message(row_id)
            status = stored.status if stored is not None else None
            asked = tuple(c for c in calls if c.event.message_id == message_id)
            outcomes[message_id] = Outcome(verdicts, status, asked)
        return outcomes
    finally:
        await services.close()


def run_pipeline(tmp_path: Path, texts: dict[str, str], reasoner, *, prefilter: bool = True) -> dict[str, Outcome]:
    """Submit every ``message id -> text``, drain, and return each message's stored outcome."""
    return asyncio.run(_run(tmp_path, texts, reasoner, prefilter=prefilter))


class ScriptedTransport:
    """The reasoner transport port at the network edge: answers each prompt with scripted text.

    ``answer`` gets the decoded prompt suffix (the user message) and returns the completion text a
    server would send back (``llama-server --special``: harmony markers written out).
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], answer: Callable[[str], str]):
        self.decode = decode
        self.answer = answer
        self.requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        return Completion(text=self.answer(self.decode(request.suffix)), prompt_tokens=len(request))

    async def aclose(self) -> None:
        pass
