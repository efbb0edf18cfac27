"""The safeguard reasoner: gpt-oss-safeguard judging messages against a written policy.

Public surface (everything else is private to the package)::

    settings = ReasonerSettings(backend="llama", model_path=Path("models") / DEFAULT_MODEL_FILE)
    reasoner = build_reasoner(settings)          # HarmonyReasoner | None
    judgement = await reasoner.judge(JudgeRequest(policy, event, "low"))
    await reasoner.aclose()

One :class:`HarmonyReasoner` (harmony rendering by :class:`PromptBuilder`, parsing, effort, the answer
contract) runs over one :class:`modbot.ports.ReasonerTransport`: :class:`LlamaTransport` (llama-cpp-python
in a supervised worker process) or :class:`HttpTransport` (llama-server / vLLM over HTTP).

Names are imported lazily: the worker process imports :mod:`modbot.stages.reasoner.worker` and should not pay for
harmony, httpx and pydantic, which it does not use (it starts on every restart).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AnswerError": ".output",
    "DEFAULT_MODEL_FILE": ".config",
    "HarmonyCodec": ".harmony",
    "HarmonyReasoner": ".reasoner",
    "HttpTransport": ".http",
    "LlamaTransport": ".llama",
    "ParsedAnswer": ".output",
    "ParsedCompletion": ".harmony",
    "PromptBuilder": ".harmony",
    "PromptPrefix": ".harmony",
    "ReasonerConfigError": ".config",
    "ReasonerSettings": ".config",
    "RenderedPrompt": ".harmony",
    "WorkerStats": ".llama",
    "build_reasoner": ".factory",
    "ensure_tiktoken_cache": ".harmony",
    "judgement_from_completion": ".output",
    "parse_answer": ".output",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from modbot.stages.reasoner.config import DEFAULT_MODEL_FILE, ReasonerConfigError, ReasonerSettings
    from modbot.stages.reasoner.factory import build_reasoner
    from modbot.stages.reasoner.harmony import (
        HarmonyCodec,
        ParsedCompletion,
        PromptBuilder,
        PromptPrefix,
        RenderedPrompt,
        ensure_tiktoken_cache,
    )
    from modbot.stages.reasoner.http import HttpTransport
    from modbot.stages.reasoner.llama import LlamaTransport, WorkerStats
    from modbot.stages.reasoner.output import AnswerError, ParsedAnswer, judgement_from_completion, parse_answer
    from modbot.stages.reasoner.reasoner import HarmonyReasoner


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modbot.stages.reasoner' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
