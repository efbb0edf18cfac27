"""What the audit, recall and label tests share: a prefilter scripted by a function of the text, and the
real core built around it (the reasoner is scripted too: both stand in for models)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modbot.app import Services, build_services
from modbot.config import PipelineSettings
from modbot.domain import ServerRef
from modbot.domain.settings import ServerSettings
from modbot.ports import PrefilterScore
from tests.conftest import make_settings
from tests.support.recording_sink import RecordingSink
from tests.support.scripted import ScriptedReasoner

SERVER = ServerRef("test", "g1")


class ScriptedPrefilter:
    """The Prefilter port: the score is a function of the message text; no calibrated thresholds, so the
    judge's fallbacks apply (allow below 0.2, act at 0.98)."""

    def __init__(self, score_of: Callable[[str], float] = lambda text: 0.05):
        self.score_of = score_of
        self.feedback: list[tuple[ServerRef, str, bool]] = []

    async def score(self, policy: Any, event: Any, normalized_text: str, *, community: str | None = None) -> PrefilterScore:
        return PrefilterScore(self.score_of(event.text), model="scripted-prefilter")

    def thresholds_for(self, community: str | None) -> None:
        return None

    @property
    def languages(self) -> frozenset[str]:
        return frozenset()  # unknown: the judge's language routing stays out of these tests


    async def add_feedback(self, server: ServerRef, text: str, violation: bool) -> None:
        self.feedback.append((server, text, violation))

    async def load_feedback(self, server: ServerRef, items: Any) -> int:
        return 0

    async def aclose(self) -> None:
        pass


async def audited_services(
    tmp_path,
    reasoner: ScriptedReasoner | None,
    *,
    prefilter: ScriptedPrefilter | None = None,
    audit_share: float = 1.0,
    mode: str = "shadow",
    pipeline: PipelineSettings | None = None,
    **defaults: Any,
) -> tuple[Services, RecordingSink]:
    """The real core on a SQLite file with a scripted prefilter and reasoner; every server audits ``audit_share``."""
    sink = RecordingSink()
    settings = make_settings(
        tmp_path,
        server_defaults=ServerSettings(policy_id="test-policy", audit_share=audit_share, mode=mode, **defaults),
        pipeline=pipeline or PipelineSettings(queue_size=2000, workers=2, sweep_interval_s=0.05, audit_queue_size=1000),
    )
    services = await build_services(
        settings, reasoner=reasoner, prefilter=prefilter or ScriptedPrefilter(), sinks={"test": sink}
    )
    return services, sink
