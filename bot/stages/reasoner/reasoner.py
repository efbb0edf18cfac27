"""The safeguard reasoner: harmony prompts in, judgements out, over any :class:`modbot.ports.ReasonerTransport`.

Everything that does not depend on where the model runs lives here, once: the queue limit, the reasoning
effort, rendering the request with harmony (:class:`PromptBuilder`), reading the completion
(:meth:`HarmonyCodec.parse_completion`), the answer contract (:mod:`.output`) and the failed-judgement
path. A transport only turns prompt token ids into completion tokens.
"""

from __future__ import annotations

import time

from modbot.domain import TokenCounts
from modbot.ports import (
    Completion,
    CompletionFailed,
    CompletionRequest,
    Judgement,
    JudgeRequest,
    ReasonerTransport,
    ReasonerUnavailable,
)
from modbot.stages.reasoner.config import ReasonerSettings
from modbot.stages.reasoner.harmony import FIRST_SPECIAL_TOKEN, HarmonyCodec, PromptBuilder
from modbot.stages.reasoner.output import failed_judgement, judgement_from_completion

__all__ = ["HarmonyReasoner"]


class HarmonyReasoner:
    """Implements :class:`modbot.ports.Reasoner`: judges messages with gpt-oss-safeguard over ``transport``.

    Past ``settings.max_queue`` accepted requests, :meth:`judge` raises :class:`ReasonerUnavailable` so
    the core can leave the message pending; a completion that fails becomes a Judgement with
    ``violation=None`` and the reason, which the core escalates to a human.
    """

    def __init__(self, transport: ReasonerTransport, settings: ReasonerSettings, *, codec: HarmonyCodec | None = None):
        self.transport = transport
        self.settings = settings
        self.codec = codec or HarmonyCodec.load()
        self.builder = PromptBuilder(
            self.codec,
            max_message_tokens=settings.max_message_tokens,
            max_context_tokens=settings.max_context_tokens,
        )
        self._model_name = settings.resolved_model_name()
        self._pending = 0

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def parallel_slots(self) -> int:
        """Completions the transport runs at once (1 unless it says otherwise)."""
        return int(getattr(self.transport, "parallel_slots", 1))

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def judge(self, request: JudgeRequest) -> Judgement:
        if self._pending >= self.settings.max_queue:
            raise ReasonerUnavailable(f"the reasoner queue is full ({self.settings.max_queue} requests)")
        self._pending += 1
        started = time.perf_counter()
        try:
            effort = self.settings.effort_for(request.reasoning_effort)
            prompt = self.builder.build(request.policy, request.event, effort)
            try:
                completion = await self.transport.complete(
                    CompletionRequest(
                        prefix_key=prompt.prefix.key,
                        prefix=prompt.prefix.tokens,
                        suffix=prompt.suffix,
                        max_tokens=self.settings.max_tokens,
                        temperature=self.settings.temperature,
                        timeout_s=self.settings.timeout_s,
                    )
                )
                tokens = self._completion_tokens(completion)
            except CompletionFailed as exc:
                return failed_judgement(
                    len(prompt),
                    model=self._model_name,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    truncated=prompt.truncated,
                    error=str(exc),
                )
            return judgement_from_completion(
                self.codec.parse_completion(tokens),
                request.policy,
                model=self._model_name,
                tokens=TokenCounts(
                    prompt=completion.prompt_tokens,
                    prompt_evaluated=completion.prompt_evaluated,
                    completion=len(tokens),
                ),
                latency_ms=(time.perf_counter() - started) * 1000,
                truncated=prompt.truncated,
                finish_reason=completion.finish_reason,
            )
        finally:
            self._pending -= 1

    def _completion_tokens(self, completion: Completion) -> list[int]:
        """The completion as token ids; a text answer is encoded with its harmony markers as control tokens."""
        if completion.text is None:
            return list(completion.tokens)
        ids = self.codec.encode_completion_text(completion.text)
        if completion.text.strip() and not any(t >= FIRST_SPECIAL_TOKEN for t in ids):
            # Without the markers the channels cannot be told apart: say how to fix the server.
            raise CompletionFailed(
                "the completion text has no harmony markers: start llama-server with --special "
                "(vLLM: this client already asks for skip_special_tokens=false)"
            )
        return ids
