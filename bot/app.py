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
from typing import Protocol

from bot.moderation.enforcement import ActionDispatcher
from bot.commands import ModeratorService
from bot.moderation.judge import Judge
from bot.stages.keywords import MatcherCache
from bot.moderation.pipeline import Pipeline
from bot.domain.policy import Policy
from bot.ports import ActionSink, Prefilter, Reasoner
from bot.moderation.resolvers import PolicyResolver, SettingsResolver, load_policy_dir
from bot.config import AppSettings
from bot.store.database import create_engine, upgrade
from bot.store.repository import Store

__all__ = ["ADAPTER_MODULES", "FROM_SETTINGS", "PlatformAdapter", "Services", "build_reasoner", "build_services"]

log = logging.getLogger(__name__)

#: Platform adapters known to ``modbot serve``: adding a platform is one module plus one line here.
ADAPTER_MODULES: tuple[str, ...] = ("adapters.discord_bot", "adapters.slack_app")


class _FromSettings:
    def __repr__(self) -> str:
        return "FROM_SETTINGS"


#: Marker for "build this part from the settings" (``None`` means "no such part").
FROM_SETTINGS = _FromSettings()


class PlatformAdapter(Protocol):
    """A running connection to one platform (created by an adapter module's ``create``)."""

    platform: str

    @property
    def sink(self) -> ActionSink: ...

    async def run(self) -> None:
        """Connect and serve until cancelled."""

    async def close(self) -> None: ...


@dataclass
class Services:
    """Everything an adapter or command needs, built once."""

    settings: AppSettings
    store: Store
    pipeline: Pipeline
    moderators: ModeratorService
    dispatcher: ActionDispatcher
    policies: PolicyResolver
    server_settings: SettingsResolver
    judge: Judge
    reasoner: Reasoner | None = None
    prefilter: Prefilter | None = None
    adapters: list[PlatformAdapter] = field(default_factory=list)

    async def start(self) -> None:
        await self.pipeline.start()

    async def close(self) -> None:
        """Stop workers and close backends; pending messages stay recorded for the next start."""
        await self.pipeline.stop()
        for adapter in self.adapters:
            try:
                await adapter.close()
            except Exception:
                log.exception("closing the %s adapter failed", adapter.platform)
        if self.reasoner is not None:
            await self.reasoner.aclose()
        closer = getattr(self.prefilter, "aclose", None)
        if closer is not None:
            await closer()
        await self.store.close()


#: Where ``modbot model pull`` puts the model and where the reasoner looks for it by default.
DEFAULT_MODEL_DIR = Path("models")


def reasoner_settings(settings: AppSettings, model_path: Path | None = None):  # -> ReasonerSettings
    """The validated ``[reasoner]`` table; the pulled model's default location fills a missing path."""
    from bot.cli.model import DEFAULT_FILE
    from bot.stages.reasoner.config import ReasonerSettings

    values = dict(settings.reasoner)
    if model_path is not None:
        values.update(backend="llama", model_path=str(model_path))
    values.setdefault("model_path", str(DEFAULT_MODEL_DIR / DEFAULT_FILE))
    return ReasonerSettings.model_validate(values)


def build_reasoner(settings: AppSettings, model_path: Path | None = None) -> Reasoner | None:
    """The reasoner backend named by the settings (``[reasoner]`` table), or None when disabled.

    Raises ``ReasonerConfigError`` when the in-process backend has no model file to load.
    """
    from bot.stages.reasoner.config import ReasonerConfigError, build_reasoner as build_backend

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
    from bot.stages.prefilter import EmbedderConfig, load_prefilter

    embedder = None
    if settings.embedding_model_dir is not None:
        folder = settings.embedding_model_dir
        models = sorted(folder.glob("*.onnx"))
        if not models:
            raise FileNotFoundError(f"embedding_model_dir {folder} holds no .onnx file (modbot model pull --embedding-only)")
        embedder = EmbedderConfig(model_path=models[0], tokenizer_path=folder / "tokenizer.json")
    # Load now: a missing or broken model fails at start-up, not on the first message.
    return load_prefilter(directory or settings.prefilter_dir, embedder=embedder).load()


async def build_services(
    settings: AppSettings,
    *,
    reasoner: Reasoner | None | _FromSettings = FROM_SETTINGS,
    prefilter: Prefilter | None | _FromSettings = FROM_SETTINGS,
    sinks: Mapping[str, ActionSink] | None = None,
    extra_policies: list[Policy] = (),  # type: ignore[assignment]
    migrate: bool = True,
) -> Services:
    """Build the whole core: store (migrated), policies, stages, pipeline and the moderator service."""
    if migrate:
        await upgrade(settings.database_url)
    store = Store(create_engine(settings.database_url))
    if isinstance(reasoner, _FromSettings):
        reasoner = _reasoner_or_degrade(settings)
    if isinstance(prefilter, _FromSettings):
        prefilter = build_prefilter(settings)
    server_settings = SettingsResolver(store, settings.server_defaults)
    policies = PolicyResolver(store, server_settings, [*load_policy_dir(settings.policy_dir), *extra_policies])
    await policies.install_builtin()
    dispatcher = ActionDispatcher(store, sinks)
    judge = Judge(prefilter=prefilter, reasoner=reasoner)
    pipeline = Pipeline(
        store=store,
        judge=judge,
        policies=policies,
        settings=server_settings,
        matchers=MatcherCache(),
        dispatcher=dispatcher,
        config=settings.pipeline,
    )
    feedback = prefilter if _is_feedback_sink(prefilter) else None
    if feedback is not None and callable(getattr(feedback, "load_feedback", None)):
        # The prefilter keeps moderators' decisions in memory; replay the stored ones.
        for server_key, examples in (await store.reviewed_examples_by_server()).items():
            await feedback.load_feedback(server_key, examples)
    moderators = ModeratorService(store, pipeline, policies, server_settings, dispatcher, feedback)
    return Services(
        settings=settings,
        store=store,
        pipeline=pipeline,
        moderators=moderators,
        dispatcher=dispatcher,
        policies=policies,
        server_settings=server_settings,
        judge=judge,
        reasoner=reasoner,
        prefilter=prefilter,
    )


def _reasoner_or_degrade(settings: AppSettings) -> Reasoner | None:
    """For ``serve``: without a usable model, run the fast stages alone and say so loudly."""
    from bot.stages.reasoner.config import ReasonerConfigError

    try:
        return build_reasoner(settings)
    except ReasonerConfigError as exc:
        log.warning(
            "running WITHOUT the safeguard reasoner (%s). Risky messages are flagged for human review instead.", exc
        )
        return None


def _is_feedback_sink(candidate: object) -> bool:
    return callable(getattr(candidate, "add_feedback", None))


def adapter_factories() -> list[tuple[str, object]]:
    """(module name, module) of each platform adapter that imports."""
    modules = []
    for name in ADAPTER_MODULES:
        modules.append((name, importlib.import_module(name)))
    return modules


def missing_platform_settings(settings: AppSettings) -> dict[str, list[str]]:
    """For each platform adapter, the settings/environment variables it still needs (empty = ready)."""
    return {name: list(module.missing_settings(settings)) for name, module in adapter_factories()}  # type: ignore[attr-defined]


def create_adapters(services: Services) -> list[PlatformAdapter]:
    """Create every adapter whose settings are complete and register its action sink."""
    adapters = []
    for _, module in adapter_factories():
        if module.missing_settings(services.settings):  # type: ignore[attr-defined]
            continue
        adapter = module.create(services)  # type: ignore[attr-defined]
        services.dispatcher.register(adapter.platform, adapter.sink)
        adapters.append(adapter)
    services.adapters = adapters
    return adapters

