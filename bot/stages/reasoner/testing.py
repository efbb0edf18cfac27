"""Test-only support: scripted completions forced through the real llama.cpp sampler.

Nothing in the application imports this module, and :class:`ReasonerSettings` has no field that reaches
it: a scripted output can only be passed by a test to ``LlamaTransport(output_script=...)``.
"""

from __future__ import annotations

import json

from modbot.ports import CompletionRequest
from modbot.stages.reasoner.harmony import TOKEN_RETURN, HarmonyCodec
from modbot.stages.reasoner.llama import OutputScript
from modbot.stages.reasoner.worker import ForcedOutput

__all__ = ["ForcedOutput", "by_message_text", "scripted_answer", "scripted_completion_tokens"]


def by_message_text(codec: HarmonyCodec, scripts: dict[str, ForcedOutput]) -> OutputScript:
    """An output script: the ForcedOutput of the first key found in the user message (None: sample freely)."""

    def script(request: CompletionRequest) -> ForcedOutput | None:
        # The suffix is the user message (the message under judgment) plus ``<|start|>assistant``.
        text = codec.decode(request.suffix)
        return next((forced for word, forced in scripts.items() if word in text), None)

    return script


def scripted_completion_tokens(codec: HarmonyCodec, analysis: str, final: str) -> tuple[int, ...]:
    """The completion a well-behaved model writes: reasoning, then the answer, then ``<|return|>``."""
    text = f"<|channel|>analysis<|message|>{analysis}<|end|><|start|>assistant<|channel|>final<|message|>{final}"
    return tuple(codec.encode_completion_text(text)) + (TOKEN_RETURN,)


def scripted_answer(
    codec: HarmonyCodec,
    *,
    violation: bool,
    rule_ids: tuple[str, ...] = (),
    category: str | None = None,
    confidence: float = 0.9,
    rationale: str = "",
    analysis: str = "Checking the message against the policy.",
    hold_s: float = 0.0,
) -> ForcedOutput:
    """A ForcedOutput whose final answer follows the output contract."""
    final = json.dumps(
        {
            "violation": int(violation),
            "policy_category": category,
            "rule_ids": list(rule_ids),
            "confidence": confidence,
            "rationale": rationale,
        }
    )
    return ForcedOutput(tokens=scripted_completion_tokens(codec, analysis, final), hold_s=hold_s)
