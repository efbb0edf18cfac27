"""The composition root: the one place that builds the object graph from ``AppSettings``.

Nothing in the project configures itself at import time; ``modbot serve``, ``modbot classify``, the
benchmarks and the tests all call ``build_services``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modbot.commands.handlers.audit import AuditCommands
from modbot.commands.handlers.cases import CaseCommands
from modbot.commands.handlers.notes import NoteCommands
from modbot.commands.handlers.policy import PolicyCommands
from modbot.commands.handlers.policy_replay import PolicyReplayCommands
from modbot.commands.handlers.policy_shadow import PolicyShadowCommands
from modbot.commands.handlers.prefilter import PrefilterCommands
from modbot.commands.handlers.reports import ReportCommands
from modbot.commands.handlers.setting_values import SettingValueCommands
from modbot.commands.handlers.settings import SettingsCommands
from modbot.commands.handlers.stats import StatsCommands
from modbot.commands.service import ModeratorService
from modbot.config import AppSettings, validation_problems
from modbot.core import ModerationCore
from modbot.domain.policy import Policy
from modbot.metrics import MetricsServer, start_metrics
from modbot.moderation.dispatch import ActionDispatcher, ModeratorActions
from modbot.moderation.fairness import FairReasoner
from modbot.moderation.judge import Judge
from modbot.moderation.pipeline import Pipeline
from modbot.moderation.recall import LiveFiguresService
from modbot.moderation.replay import replay as replay_runner
from modbot.moderation.reports import ReportDesk
from modbot.moderation.resolvers import PolicyResolver, SettingsResolver
from modbot.moderation.retention import RetentionSweeper
from modbot.policy_files import load_policy_dir
from modbot.policy_lint import lint_policy
from modbot.ports import ActionSink, Core, LiveFigures, PlatformAdapter, Prefilter, Reasoner
from modbot.stages.keywords import MatcherCache
from modbot.store import Storage, open_storage
from modbot.store.database import BackupError, backup_sqlite
from modbot.training.wiring import build_learner

if TYPE_CHECKING:  # the reasoner's modules are heavy (harmony, httpx): imported when one is built
    from modbot.stages.reasoner import ReasonerSettings

__all__ = [
    "ADAPTER_MODULES",
    "BackupError",
    "FROM_SETTINGS",
    "adapter_cli_apps",
    "backup_database",
    "PlatformAdapter",
    "Services",
    "build_prefilter",
    "build_reasoner",
    "build_services",
    "create_adapters",
    "missing_platform_settings",
    "upgrade_database",
]

log = logging.getLogger(__name__)

#: Platform adapters known to ``modbot serve``: adding a platform is one module plus one line here.
ADAPTER_MODULES: tuple[str, ...] = ("modbot_adapters.discord_bot", "modbot_adapters.slack_app", "modbot_adapters.http_api", "modbot_adapters.web_console")


class _FromSettings:
    def __repr__(self) -> str:
        return "FROM_SETTINGS"


#: Marker for "build this part from the settings" (``None`` means "no such part").
FROM_SETTINGS = _FromSettings()


@dataclass
class Services:
    """What ``modbot serve``, the benchmarks and the tests need, built once; adapters get only ``core``."""

    settings: AppSettings
    storage: Storage
    pipeline: Pipeline
    moderators: ModeratorService
    dispatcher: ActionDispatcher
    policies: PolicyResolver
    server_settings: SettingsResolver
    core: Core
    reasoner: Reasoner | None = None
    prefilter: Prefilter | None = None
    adapters: list[PlatformAdapter] = field(default_factory=list)
    #: Backlog, audits and the live recall estimate (what ``/mod stats`` shows; metrics later).
    figures: LiveFigures | None = None
    #: Retrains communities' prefilters (``[learning]``); None when learning is off.
    learner: Any = None
    #: Purges message content after each server's ``retention_days``.
    retention: RetentionSweeper | None = None
    #: ``/metrics`` and ``/healthz`` (``[metrics] port``), from ``start()`` on; None when off.
    metrics: MetricsServer | None = None
    #: Each platform's connection, kept by ``modbot serve``'s supervisor (``modbot.runtime``): "starting",
    #: "connected", "reconnecting" or "stopped"; and its last failure's one-line reason (no secrets).
    platform_state: dict[str, str] = field(default_factory=dict)
    platform_error: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        """Start the pipeline's workers; messages left pending by an earlier run are resumed."""
        if self.metrics is None:  # first: it counts resumed messages too, and a taken port fails early
            self.metrics = await start_metrics(self)
        await self.pipeline.start()
        if self.learner is not None:
            self.learner.start()
        if self.retention is not None:
            self.retention.start()

    async def close(self) -> None:
        """Stop workers and close backends; pending messages stay recorded for the next start."""
        if self.metrics is not None:
            await self.metrics.close()
        if self.learner is not None:
            await self.learner.aclose()
        if self.retention is not None:
            await self.retention.aclose()
        await self.pipeline.stop()
        for adapter in self.adapters:
            try:
                await adapter.close()
            except Exception:
                log.exception("closing the %s adapter failed", adapter.platform)
        if self.reasoner is not None:
            await self.reasoner.aclose()
        if self.prefilter is not None:
            await self.prefilter.aclose()
        await self.storage.close()


#: Where ``modbot model pull`` puts the model and where the reasoner looks for it by default.
DEFAULT_MODEL_DIR = Path("models")


def reasoner_settings(settings: AppSettings, model_path: Path | None = None) -> ReasonerSettings:
    """The validated ``[reasoner]`` table; the pulled model's default location fills a missing path."""
    from modbot.stages.reasoner import DEFAULT_MODEL_FILE, ReasonerSettings

    values = dict(settings.reasoner)
    if model_path is not None:
        values.update(backend="llama", model_path=str(model_path))
    values.setdefault("model_path", str(DEFAULT_MODEL_DIR / DEFAULT_MODEL_FILE))
    return _validated(ReasonerSettings, values)


def _validated(model: type[Any], values: dict[str, Any]) -> Any:
    """``model.model_validate(values)``, with an error that names settings but never echoes a value."""
    from pydantic import ValidationError

    from modbot.stages.reasoner import ReasonerConfigError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ReasonerConfigError(f"invalid [reasoner] settings: {validation_problems(exc, 'reasoner.')}") from None


def build_reasoner(settings: AppSettings, model_path: Path | None = None) -> Reasoner | None:
    """The reasoner backend named by the settings (``[reasoner]`` table), or None when disabled.

    Raises ``ReasonerConfigError`` when the in-process backend has no model file to load.
    """
    from modbot.stages.reasoner import ReasonerConfigError
    from modbot.stages.reasoner import build_reasoner as build_backend

    config = reasoner_settings(settings, model_path)
    if config.backend == "llama" and (config.model_path is None or not config.model_path.is_file()):
        raise ReasonerConfigError(
            f"no model file at {config.model_path}: run `modbot model pull` (or set reasoner.model_path, "
            "or reasoner.backend = 'http' for a llama-server/vLLM, or 'none')"
        )
    return build_backend(config)


def build_prefilter(settings: AppSettings, directory: Path | None = None) -> Prefilter | None:
    """The embedding prefilter (the shipped default model unless a folder is configured)."""
    if not settings.prefilter_enabled and directory is None:
        return None
    from modbot.stages.prefilter import EmbedderConfig, load_prefilter

    embedder = None
    if settings.embedding_model_dir is not None:
        folder = settings.embedding_model_dir
        models = sorted(folder.glob("*.onnx"))
        if not models:
            raise FileNotFoundError(f"embedding_model_dir {folder} holds no .onnx file (modbot model pull --embedding-only)")
        embedder = EmbedderConfig(model_path=models[0], tokenizer_path=folder / "tokenizer.json")
    # Load now: a missing or broken model fails at start-up, not on the first message.
    prefilter = load_prefilter(directory or settings.prefilter_dir, embedder=embedder).load()
    # Which thresholds apply, and their price (the share of benign messages sent to the reasoner).
    log.info("prefilter %s: servers of a community it has not learned: %s", prefilter.name, prefilter.thresholds_for(None).describe())
    if prefilter.model.community_names:
        log.info(
            "prefilter %s: servers of its communities (%s): %s",
            prefilter.name,
            ", ".join(prefilter.model.community_names),
            prefilter.thresholds.describe(),
        )
    return prefilter


async def build_services(
    settings: AppSettings,
    *,
    reasoner: Reasoner | None | _FromSettings = FROM_SETTINGS,
    prefilter: Prefilter | None | _FromSettings = FROM_SETTINGS,
    sinks: Mapping[str, ActionSink] | None = None,
    extra_policies: list[Policy] = (),  # type: ignore[assignment]
    migrate: bool = True,
) -> Services:
    """Build the whole core: storage (migrated), policies, stages, pipeline, moderator service and facade."""
    storage = await open_storage(settings.database_url, migrate=migrate)
    if isinstance(reasoner, _FromSettings):
        reasoner = _reasoner_or_degrade(settings)
    if isinstance(prefilter, _FromSettings):
        prefilter = build_prefilter(settings)
    server_settings = SettingsResolver(storage.servers, settings.server_defaults)
    policies = PolicyResolver(storage.policies, server_settings, [*load_policy_dir(settings.policy_dir), *extra_policies])
    await policies.install_builtin()
    prefilter, learner = await build_learner(settings, storage, prefilter, extra_policies)
    dispatcher = ActionDispatcher(
        storage.actions, storage.outbox, storage.cases, storage.audit, sinks, retry=settings.pipeline
    )
    judge = Judge(prefilter=prefilter, reasoner=_shared_fairly(reasoner))
    pipeline = Pipeline(
        messages=storage.messages,
        verdicts=storage.verdicts,
        cases=storage.cases,
        servers=storage.servers,
        judge=judge,
        policies=policies,
        settings=server_settings,
        matchers=MatcherCache(),
        dispatcher=dispatcher,
        config=settings.pipeline,
    )
    if prefilter is not None:
        # The prefilter keeps moderators' decisions in memory; replay the stored reviews.
        for server, examples in (await storage.cases.reviewed_examples_by_server()).items():
            await prefilter.load_feedback(server, examples)
    figures = LiveFiguresService(
        verdicts=storage.verdicts,
        messages=storage.messages,
        outbox=storage.outbox,
        servers=storage.servers,
        settings=server_settings,
        audits=pipeline.audits,
    )
    reports = ReportDesk(
        verdicts=storage.verdicts,
        cases=storage.cases,
        policies=policies,
        settings=server_settings,
        dispatcher=dispatcher,
        max_text_chars=settings.pipeline.max_text_chars,
    )
    moderators = ModeratorService(
        settings=server_settings,
        servers=storage.servers,
        audit=storage.audit,
        groups=(
            PolicyCommands(policies, storage.policies, server_settings, pipeline, lint=lint_policy),
            PolicyShadowCommands(policies, storage.policies, server_settings, storage.verdicts),
            SettingsCommands(server_settings),
            SettingValueCommands(server_settings),
            PolicyReplayCommands(storage.policies, server_settings, storage.verdicts, pipeline, replay_runner),
            CaseCommands(storage.cases, ModeratorActions(dispatcher, server_settings), prefilter),
            StatsCommands(storage.verdicts, storage.messages, figures),
            ReportCommands(reports),
            PrefilterCommands(learner, server_settings),
            AuditCommands(storage.audit),
            NoteCommands(storage.member_notes),
        ),
    )
    core = ModerationCore(
        pipeline=pipeline,
        moderators=moderators,
        settings=server_settings,
        servers=storage.servers,
        cases=storage.cases,
        actions=storage.actions,
        messages=storage.messages,
        verdicts=storage.verdicts,
        figures=figures,
        dispatcher=dispatcher,
    )
    return Services(
        settings=settings,
        storage=storage,
        pipeline=pipeline,
        moderators=moderators,
        dispatcher=dispatcher,
        policies=policies,
        server_settings=server_settings,
        core=core,
        reasoner=reasoner,
        prefilter=prefilter,
        figures=figures,
        learner=learner,
        retention=RetentionSweeper(
            storage.messages, storage.servers, server_settings, interval_s=settings.pipeline.retention_interval_s
        ),
    )


def backup_database(database_url: str, destination: Path) -> int:
    """A consistent copy of a live SQLite database (``modbot db backup``); raises ``BackupError`` otherwise."""
    return backup_sqlite(database_url, destination)


def upgrade_database(database_url: str) -> None:
    """Upgrade the schema to the newest migration (``modbot db upgrade``; ``build_services`` does it too)."""
    from modbot.store.database import upgrade_sync

    upgrade_sync(database_url)


def _shared_fairly(reasoner: Reasoner | None) -> Reasoner | None:
    """The reasoner behind a gate that shares its parallel slots fairly between servers, when it says
    how many it has (the real backends do; a test double without ``parallel_slots`` is used as is)."""
    slots = getattr(reasoner, "parallel_slots", None)
    if reasoner is None or not isinstance(slots, int) or slots < 1:
        return reasoner
    # No per-server refusal (max_waiting): a raid's messages wait parked at the gate, which costs
    # nothing; told "busy", they would cycle through the workers and the sweeper instead, and that
    # churn slowed the quiet servers 95x in bench/load.py (against 1.1x while parked).
    return FairReasoner(reasoner, slots)


def _reasoner_or_degrade(settings: AppSettings) -> Reasoner | None:
    """For ``serve``: without a usable model, run the fast stages alone and say so loudly."""
    from modbot.stages.reasoner import ReasonerConfigError

    try:
        return build_reasoner(settings)
    except ReasonerConfigError as exc:
        log.warning(
            "running WITHOUT the safeguard reasoner (%s). Risky messages are flagged for human review instead.", exc
        )
        return None


def adapter_factories() -> list[tuple[str, object]]:
    """(module name, module) of each platform adapter that imports."""
    modules = []
    for name in ADAPTER_MODULES:
        modules.append((name, importlib.import_module(name)))
    return modules


#: ``modbot`` subcommands that platforms bring (command name -> "module:typer app"); imported only when
#: the CLI starts, without importing the platforms' SDKs.
ADAPTER_CLI_APPS: dict[str, str] = {"http-api": "modbot_adapters.http_api.cli:app"}


def adapter_cli_apps() -> list[tuple[str, object]]:
    """(command name, typer app) of each subcommand group a platform adds to ``modbot``."""
    apps = []
    for name, target in ADAPTER_CLI_APPS.items():
        module_name, _, attribute = target.partition(":")
        apps.append((name, getattr(importlib.import_module(module_name), attribute)))
    return apps


def missing_platform_settings(settings: AppSettings) -> dict[str, list[str]]:
    """For each platform adapter, the settings/environment variables it still needs (empty = ready)."""
    return {name: list(module.missing_settings(settings)) for name, module in adapter_factories()}  # type: ignore[attr-defined]


def create_adapters(services: Services) -> list[PlatformAdapter]:
    """Create every adapter whose settings are complete and register its action sink."""
    adapters = []
    for _, module in adapter_factories():
        if module.missing_settings(services.settings):  # type: ignore[attr-defined]
            continue
        adapter = module.create(services.core, services.settings)  # type: ignore[attr-defined]
        services.dispatcher.register(adapter.platform, adapter.sink)
        adapters.append(adapter)
    services.adapters = adapters
    return adapters

