"""Turns :class:`ReasonerSettings` into a reasoner: the one harmony reasoner over the configured transport."""

from __future__ import annotations

from modbot.stages.reasoner.config import ReasonerConfigError, ReasonerSettings
from modbot.stages.reasoner.harmony import HarmonyCodec
from modbot.stages.reasoner.http import HttpTransport
from modbot.stages.reasoner.llama import LlamaTransport
from modbot.stages.reasoner.reasoner import HarmonyReasoner

__all__ = ["build_reasoner"]


def build_reasoner(settings: ReasonerSettings, *, codec: HarmonyCodec | None = None) -> HarmonyReasoner | None:
    """Build the configured reasoner (None for ``backend = "none"``); nothing starts until first use.

    ``codec`` may pass an already loaded :class:`HarmonyCodec` to share it. Raises
    :class:`ReasonerConfigError` with an actionable message when the settings are incomplete.
    """
    if settings.backend == "none":
        return None
    if settings.backend == "llama":
        if settings.model_path is None:
            raise ReasonerConfigError(
                "reasoner.model_path is not set: download a model with `modbot model pull` and point "
                "reasoner.model_path at the .gguf file, or set reasoner.backend = 'none'"
            )
        transport: LlamaTransport | HttpTransport = LlamaTransport(settings)
    else:
        transport = HttpTransport(settings)
    return HarmonyReasoner(transport, settings, codec=codec)
