"""The safeguard reasoner: gpt-oss-safeguard judging messages against a written policy.

Public surface (everything else is private to the package)::

    settings = ReasonerSettings(backend="llama", model_path=Path("models/....gguf"))
    reasoner = build_reasoner(settings)          # Reasoner | None
    judgement = await reasoner.judge(JudgeRequest(policy, event, "low"))
    await reasoner.aclose()

Backends: :class:`LlamaReasoner` (llama-cpp-python in a supervised worker process) and
:class:`OpenAICompatibleReasoner` (llama-server / vLLM over HTTP). Prompts are rendered with harmony by
:class:`PromptBuilder`; answers are parsed by :func:`judgement_from_completion`.

Names are imported lazily: the worker process imports :mod:`bot.stages.reasoner.worker` and should not pay for
harmony, httpx and pydantic, which it does not use (it starts on every restart).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AnswerError": ".output",
    "HarmonyCodec": ".harmony",
    "LlamaReasoner": ".llama",
    "OpenAICompatibleReasoner": ".http",
    "ParsedAnswer": ".output",
    "ParsedCompletion": ".harmony",
    "PromptBuilder": ".harmony",
    "PromptPrefix": ".harmony",
    "ReasonerConfigError": ".config",
    "ReasonerSettings": ".config",
    "ReasonerStats": ".llama",
    "RenderedPrompt": ".harmony",
    "build_reasoner": ".config",
    "ensure_tiktoken_cache": ".harmony",
    "judgement_from_completion": ".output",
    "parse_answer": ".output",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from bot.stages.reasoner.config import ReasonerConfigError, ReasonerSettings, build_reasoner
    from bot.stages.reasoner.harmony import (
        HarmonyCodec,
        ParsedCompletion,
        PromptBuilder,
        PromptPrefix,
        RenderedPrompt,
        ensure_tiktoken_cache,
    )
    from bot.stages.reasoner.http import OpenAICompatibleReasoner
    from bot.stages.reasoner.llama import LlamaReasoner, ReasonerStats
    from bot.stages.reasoner.output import AnswerError, ParsedAnswer, judgement_from_completion, parse_answer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.stages.reasoner' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
