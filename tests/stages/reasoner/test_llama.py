"""The harmony reasoner over the llama.cpp transport: real llama.cpp on the tiny gpt-oss model, in its worker process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from pydantic import ValidationError

from modbot.domain import ContextMessage
from modbot.domain.policy import Policy
from modbot.ports import JudgeRequest, Reasoner, ReasonerUnavailable
from modbot.stages.reasoner import (
    HarmonyCodec,
    HarmonyReasoner,
    LlamaTransport,
    PromptBuilder,
    ReasonerConfigError,
    ReasonerSettings,
    build_reasoner,
)
from modbot.stages.reasoner.llama import OutputScript
from modbot.stages.reasoner.testing import ForcedOutput, by_message_text, scripted_answer
from tests.conftest import event
from tests.stages.reasoner.test_harmony import INJECTION


def by_text(codec: HarmonyCodec, **scripts: ForcedOutput) -> OutputScript:
    """An output script: the ForcedOutput whose key occurs in the message text (None: free sampling)."""
    return by_message_text(codec, scripts)


def llama_reasoner(
    settings: ReasonerSettings, *, codec: HarmonyCodec, output_script: OutputScript | None = None
) -> HarmonyReasoner:
    """The reasoner as the app builds it for ``backend = "llama"``, with a test's output script."""
    return HarmonyReasoner(LlamaTransport(settings, output_script=output_script), settings, codec=codec)


async def test_forced_output_gives_deterministic_violation_and_safe(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    script = by_text(
        codec,
        aimbot=scripted_answer(
            codec, violation=True, rule_ids=("C1",), category="cheats", confidence=0.92,
            rationale="Offers an aimbot for sale.", analysis="The user sells cheats: rule C1.",
        ),
        hello=scripted_answer(codec, violation=False, confidence=0.97, rationale="A greeting."),
    )
    reasoner = llama_reasoner(llama_settings, codec=codec, output_script=script)
    assert isinstance(reasoner, Reasoner)
    try:
        bad = await reasoner.judge(JudgeRequest(policy, event("selling undetected aimbot, dm me"), "low"))
        good = await reasoner.judge(JudgeRequest(policy, event("hello everyone, good luck today"), "low"))
        again = await reasoner.judge(JudgeRequest(policy, event("selling undetected aimbot, dm me"), "low"))
    finally:
        await reasoner.aclose()
    assert bad.violation is True and bad.error is None
    assert bad.rule_ids == ("C1",) and bad.categories == ("cheats",)
    assert bad.confidence == pytest.approx(0.92) and bad.rationale == "Offers an aimbot for sale."
    assert bad.reasoning == "The user sells cheats: rule C1."
    assert bad.model == llama_settings.model_path.stem
    assert bad.tokens.completion > 20 and bad.tokens.prompt > 900
    assert good.violation is False and good.rule_ids == () and good.confidence == pytest.approx(0.97)
    assert (again.violation, again.rule_ids, again.rationale) == (bad.violation, bad.rule_ids, bad.rationale)


async def test_free_sampling_garbage_is_recorded_as_an_escalation(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    settings = llama_settings.model_copy(update={"temperature": 1.0, "max_tokens": 32})
    reasoner = llama_reasoner(settings, codec=codec)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("is this allowed?")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None
    assert judgement.error
    assert judgement.raw_output  # the garbage is kept for a human to look at
    assert judgement.tokens.completion > 0


async def test_killed_worker_is_restarted_and_the_request_retried(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    forced = scripted_answer(codec, violation=True, rule_ids=("H1",), hold_s=1.0)
    reasoner = llama_reasoner(llama_settings, codec=codec, output_script=lambda r: forced)
    try:
        ready = await reasoner.transport.start()
        task = asyncio.create_task(reasoner.judge(JudgeRequest(policy, event("nobody wants you here"))))
        await asyncio.sleep(0.5)  # the worker is now holding the job
        os.kill(ready.pid, signal.SIGKILL)
        judgement = await task
        stats = reasoner.transport.stats
    finally:
        await reasoner.aclose()
    assert judgement.violation is True and judgement.rule_ids == ("H1",)  # nothing lost
    assert stats.restarts == 1
    assert stats.worker_pid is not None and stats.worker_pid != ready.pid


async def test_worker_that_aborts_twice_escalates_then_recovers(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    script = by_text(codec, boom=ForcedOutput(crash=True), hello=scripted_answer(codec, violation=False))
    reasoner = llama_reasoner(llama_settings, codec=codec, output_script=script)
    try:
        crashed = await reasoner.judge(JudgeRequest(policy, event("boom")))
        after = await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert crashed.violation is None
    assert "died" in crashed.error and "twice" in crashed.error
    assert str(-signal.SIGABRT) in crashed.error
    assert after.violation is False
    assert reasoner.transport.stats.restarts == 2


async def test_prefix_is_evaluated_once_per_policy_version(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy, short_policy: Policy
) -> None:
    quick = llama_settings.model_copy(update={"max_tokens": 16})
    reasoner = llama_reasoner(quick, codec=codec)
    try:
        first = await reasoner.judge(JudgeRequest(policy, event("first message")))
        second = await reasoner.judge(JudgeRequest(policy, event("a different second message")))
        other = await reasoner.judge(JudgeRequest(short_policy, event("buy my stuff")))
        back = await reasoner.judge(JudgeRequest(policy, event("third message, back to policy one")))
    finally:
        await reasoner.aclose()
    prefix_len = len(PromptBuilder(codec).prefix(policy, "low").tokens)
    assert first.tokens.prompt_evaluated == first.tokens.prompt > prefix_len
    # Only the message's own tokens (plus the few harmony markers) are evaluated afterwards.
    assert second.tokens.prompt_evaluated == second.tokens.prompt - prefix_len
    assert second.tokens.prompt_evaluated * 10 < second.tokens.prompt
    assert other.tokens.prompt_evaluated == other.tokens.prompt  # a new policy: its prefix is evaluated
    # Switching back restores the saved KV snapshot of the first policy instead of re-evaluating it.
    assert back.tokens.prompt_evaluated == back.tokens.prompt - prefix_len

    no_cache = llama_reasoner(quick.model_copy(update={"prefix_cache": False}), codec=codec)
    try:
        uncached = [await no_cache.judge(JudgeRequest(policy, event(f"message {i}"))) for i in range(2)]
    finally:
        await no_cache.aclose()
    assert all(j.tokens.prompt_evaluated == j.tokens.prompt for j in uncached)


async def test_queue_limit_and_event_loop_stay_free(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    settings = llama_settings.model_copy(update={"max_queue": 1})
    forced = scripted_answer(codec, violation=False, hold_s=1.0)
    reasoner = llama_reasoner(settings, codec=codec, output_script=lambda r: forced)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    try:
        await reasoner.transport.start()
        tick_task = asyncio.create_task(ticker())
        first = asyncio.create_task(reasoner.judge(JudgeRequest(policy, event("one"))))
        await asyncio.sleep(0.05)
        with pytest.raises(ReasonerUnavailable, match="queue is full"):
            await reasoner.judge(JudgeRequest(policy, event("two")))
        result = await first
        tick_task.cancel()
    finally:
        await reasoner.aclose()
    assert result.violation is False
    assert ticks >= 40, f"the event loop was blocked (only {ticks} ticks during a 1 s verdict)"


async def test_generation_past_the_deadline_is_escalated(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    settings = llama_settings.model_copy(update={"timeout_s": 0.3, "max_tokens": 5000, "temperature": 1.0})
    reasoner = llama_reasoner(settings, codec=codec)
    try:
        await reasoner.transport.start()
        judgement = await reasoner.judge(JudgeRequest(policy, event("take your time")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None
    assert "timed out" in judgement.error or "ran out of tokens" in judgement.error
    assert judgement.latency_ms < 5000


async def test_hung_worker_hits_the_hard_timeout(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy
) -> None:
    settings = llama_settings.model_copy(update={"timeout_s": 0.5})
    forced = scripted_answer(codec, violation=False, hold_s=0.5)
    reasoner = llama_reasoner(settings, codec=codec, output_script=lambda r: forced)
    try:
        ready = await reasoner.transport.start()
        task = asyncio.create_task(reasoner.judge(JudgeRequest(policy, event("freeze"))))
        await asyncio.sleep(0.2)
        os.kill(ready.pid, signal.SIGSTOP)  # hung, not dead
        judgement = await task
    finally:
        await reasoner.aclose()
    assert judgement.violation is None and "did not answer" in judgement.error
    assert reasoner.transport.stats.restarts == 1


async def test_truncated_message_is_recorded(llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy) -> None:
    settings = llama_settings.model_copy(update={"max_message_tokens": 32})
    forced = scripted_answer(codec, violation=False)
    reasoner = llama_reasoner(settings, codec=codec, output_script=lambda r: forced)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("words " * 500)))
    finally:
        await reasoner.aclose()
    assert judgement.truncated is True and judgement.violation is False
    assert judgement.tokens.prompt < 922 + 32 + 60


def test_tiny_model_tokenizer_matches_harmony(tiny_model: Path, codec: HarmonyCodec, policy: Policy) -> None:
    # The GGUF's tokenizer (what llama.cpp would use on text) agrees with harmony's on ordinary text and on
    # the harmony markers, so the token ids the worker evaluates mean to the model what harmony meant.
    from llama_cpp import Llama

    vocab = Llama(str(tiny_model), vocab_only=True, verbose=False)
    prompt = PromptBuilder(codec).build(policy, event("ünïcode 日本語 🙂 x+=1;  \n\n  spaces", context=(ContextMessage("u2", INJECTION),)))
    text = codec.encoding.decode(list(prompt.tokens))
    assert vocab.n_vocab() == 201088
    assert vocab.tokenize(text.encode(), add_bos=False, special=True) == codec.encode_completion_text(text)
    # Re-tokenizing rendered *text* would turn the injected markers into control tokens: that is why the
    # backends only ever send token ids.
    assert codec.encode_completion_text(text) != list(prompt.tokens)


async def test_missing_or_corrupt_model_is_a_clear_error(
    llama_settings: ReasonerSettings, codec: HarmonyCodec, policy: Policy, tmp_path: Path
) -> None:
    missing = llama_reasoner(llama_settings.model_copy(update={"model_path": tmp_path / "nope.gguf"}), codec=codec)
    with pytest.raises(ReasonerUnavailable, match="model file not found"):
        await missing.judge(JudgeRequest(policy, event("x")))
    with pytest.raises(ReasonerUnavailable, match="model file not found"):  # fails fast, no reload storm
        await missing.judge(JudgeRequest(policy, event("y")))
    await missing.aclose()

    corrupt_path = tmp_path / "corrupt.gguf"
    corrupt_path.write_bytes(b"GGUF" + os.urandom(4096))
    corrupt = llama_reasoner(llama_settings.model_copy(update={"model_path": corrupt_path}), codec=codec)
    with pytest.raises(ReasonerUnavailable, match="cannot load the reasoner model"):
        await corrupt.transport.start()
    await corrupt.aclose()


def test_build_reasoner_from_settings(tiny_model: Path, codec: HarmonyCodec) -> None:
    assert build_reasoner(ReasonerSettings(backend="none")) is None
    built = build_reasoner(ReasonerSettings(model_path=tiny_model, n_gpu_layers=0), codec=codec)
    assert isinstance(built, HarmonyReasoner) and isinstance(built.transport, LlamaTransport)
    assert built.model_name == tiny_model.stem
    assert built.settings.n_gpu_layers == 0 and built.settings.reasoning_effort == "low"
    with pytest.raises(ReasonerConfigError, match="model_path"):
        build_reasoner(ReasonerSettings(backend="llama"), codec=codec)
    with pytest.raises(ValidationError, match="base_url"):
        ReasonerSettings(backend="http")
    with pytest.raises(ValidationError):
        ReasonerSettings(backend="llama", unknown_option=1)
