"""The harmony reasoner over the HTTP transport, against a real loopback server running llama.cpp on the tiny model."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest
import stamina.instrumentation
from stamina.instrumentation import RetryDetails

from modbot.domain.policy import Policy
from modbot.ports import JudgeRequest, Reasoner, ReasonerUnavailable
from modbot.stages.reasoner import (
    HarmonyCodec,
    HarmonyReasoner,
    HttpTransport,
    PromptBuilder,
    ReasonerSettings,
    build_reasoner,
)
from modbot.stages.reasoner.harmony import FIRST_SPECIAL_TOKEN
from modbot.stages.reasoner.testing import scripted_completion_tokens
from tests.conftest import event
from tests.stages.reasoner.loopback import LoopbackServer
from tests.stages.reasoner.test_harmony import INJECTION

VIOLATION_JSON = '{"violation": 1, "policy_category": "scams", "rule_ids": ["S1"], "confidence": 0.88, "rationale": "Phishing link."}'
SAFE_JSON = '{"violation": 0, "policy_category": null, "rule_ids": [], "confidence": 0.9, "rationale": "Fine."}'


@pytest.fixture
def backoff_delays() -> Iterator[list[float]]:
    """The waits stamina chose between attempts (recorded by its on-retry hook; the waits are real)."""
    delays: list[float] = []

    def record(details: RetryDetails) -> None:
        delays.append(details.wait_for)

    stamina.instrumentation.set_on_retry_hooks([record])
    try:
        yield delays
    finally:
        stamina.instrumentation.set_on_retry_hooks(None)


def http_reasoner(
    settings: ReasonerSettings,
    codec: HarmonyCodec,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    retry_backoff_s: float = 0.02,
) -> HarmonyReasoner:
    """The reasoner as the app builds it for ``backend = "http"`` (short backoff: tests wait for real)."""
    transport = HttpTransport(settings, http_transport=http_transport, retry_backoff_s=retry_backoff_s)
    return HarmonyReasoner(transport, settings, codec=codec)


def http_settings(server: LoopbackServer, **overrides) -> ReasonerSettings:
    values = dict(backend="http", base_url=server.base_url, max_tokens=96, timeout_s=20.0, retries=3, concurrency=2)
    values.update(overrides)
    return ReasonerSettings(**values)


@pytest.mark.parametrize("api", ["completion", "openai"])
async def test_forced_verdicts_over_http(server: LoopbackServer, codec: HarmonyCodec, policy: Policy, api: str) -> None:
    server.control("/_test/script", {"tokens": list(scripted_completion_tokens(codec, "A phishing link.", VIOLATION_JSON))})
    server.control("/_test/script", {"tokens": list(scripted_completion_tokens(codec, "Harmless.", SAFE_JSON))})
    reasoner = build_reasoner(http_settings(server, http_api=api), codec=codec)
    assert isinstance(reasoner, Reasoner) and isinstance(reasoner.transport, HttpTransport)
    try:
        bad = await reasoner.judge(JudgeRequest(policy, event("claim free skins at pixel-arena-gifts.example/login")))
        good = await reasoner.judge(JudgeRequest(policy, event("see you at the tournament")))
    finally:
        await reasoner.aclose()
    assert (bad.violation, bad.rule_ids, bad.categories, bad.reasoning) == (True, ("S1",), ("scams",), "A phishing link.")
    assert bad.confidence == pytest.approx(0.88) and bad.rationale == "Phishing link."
    assert bad.model == "gpt-oss-safeguard-20b"
    assert good.violation is False and good.error is None
    # Prefix reuse through the server's prompt cache: the second request evaluates only its own tokens.
    prefix_len = len(PromptBuilder(codec).prefix(policy, "low").tokens)
    assert bad.tokens.prompt_evaluated == bad.tokens.prompt
    assert good.tokens.prompt_evaluated <= good.tokens.prompt - prefix_len
    assert good.tokens.prompt_evaluated * 10 < good.tokens.prompt
    body = server.control("/_test/stats")["last_body"]
    assert body["cache_prompt"] is True and all(isinstance(t, int) for t in body["prompt"])


async def test_prompt_is_sent_as_token_ids(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    server.control("/_test/script", {"tokens": list(scripted_completion_tokens(codec, "x", SAFE_JSON))})
    reasoner = http_reasoner(http_settings(server), codec)
    try:
        await reasoner.judge(JudgeRequest(policy, event(INJECTION)))
    finally:
        await reasoner.aclose()
    sent = server.control("/_test/stats")["last_body"]["prompt"]
    assert sum(1 for t in sent if t >= FIRST_SPECIAL_TOKEN) == 10  # the injection stayed plain text


async def test_garbage_from_the_server_is_an_escalation(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    reasoner = http_reasoner(http_settings(server, temperature=1.0, max_tokens=24), codec)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("anything")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None and judgement.error and judgement.raw_output is not None


async def test_5xx_and_429_are_retried_with_backoff(
    server: LoopbackServer, codec: HarmonyCodec, policy: Policy, backoff_delays: list[float]
) -> None:
    server.control("/_test/faults", {"responses": [{"status": 503}, {"status": 429, "retry_after": "1"}, {"status": 500}]})
    server.control("/_test/script", {"tokens": list(scripted_completion_tokens(codec, "x", SAFE_JSON))})
    reasoner = http_reasoner(http_settings(server), codec, retry_backoff_s=0.1)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is False
    assert reasoner.transport.attempts == 4 and server.control("/_test/stats")["requests"] == 4
    assert len(backoff_delays) == 3
    assert 0.05 <= backoff_delays[0] <= 0.1  # exponential backoff with jitter
    assert backoff_delays[1] == pytest.approx(1.0)  # Retry-After honoured
    assert 0.2 <= backoff_delays[2] <= 0.4


async def test_exhausted_retries_leave_the_message_pending(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    server.control("/_test/faults", {"responses": [{"status": 502}] * 3})
    reasoner = http_reasoner(http_settings(server, retries=2), codec)
    try:
        with pytest.raises(ReasonerUnavailable, match="after 3 attempts: HTTP 502"):
            await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()


async def test_a_server_down_after_its_retries_fails_fast_for_a_while(
    server: LoopbackServer, codec: HarmonyCodec, policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers must not each wait out the retries of a dead server while keyword verdicts queue up."""
    import modbot.stages.reasoner.http as http_module

    server.control("/_test/faults", {"responses": [{"status": 502}] * 3})
    reasoner = http_reasoner(http_settings(server, retries=2), codec)
    try:
        with pytest.raises(ReasonerUnavailable, match="after 3 attempts"):
            await reasoner.judge(JudgeRequest(policy, event("hello")))
        with pytest.raises(ReasonerUnavailable, match="not asked again for"):
            await reasoner.judge(JudgeRequest(policy, event("hello again")))
        assert reasoner.transport.attempts == 3  # the second request never reached the server
        monkeypatch.setattr(http_module, "DOWN_COOLDOWN_S", 0.0)
        reasoner.transport._down_until = 0.0  # the cool-down is over
        judgement = await reasoner.judge(JudgeRequest(policy, event("and again")))
        assert reasoner.transport.attempts == 4  # asked again: an answer (random weights: garbage), not "unavailable"
        assert judgement.model
    finally:
        await reasoner.aclose()


async def test_client_errors_are_not_retried(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    server.control("/_test/faults", {"responses": [{"status": 400}]})
    reasoner = http_reasoner(http_settings(server), codec)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None and "HTTP 400" in judgement.error
    assert reasoner.transport.attempts == 1


async def test_slow_server_times_out_into_an_escalation(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    server.control("/_test/delay", {"delay_s": 2.0})
    reasoner = http_reasoner(http_settings(server, timeout_s=0.3), codec)
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None and "did not answer within" in judgement.error
    assert reasoner.transport.attempts == 1


async def test_server_down_is_unavailable(codec: HarmonyCodec, policy: Policy, backoff_delays: list[float]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ReasonerSettings(backend="http", base_url=f"http://127.0.0.1:{port}", retries=2)
    reasoner = http_reasoner(settings, codec)
    try:
        with pytest.raises(ReasonerUnavailable, match="ConnectError"):
            await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert reasoner.transport.attempts == 3 and len(backoff_delays) == 2


async def test_concurrency_and_queue_limits(server: LoopbackServer, codec: HarmonyCodec, policy: Policy) -> None:
    server.control("/_test/delay", {"delay_s": 0.3})
    for _ in range(3):
        server.control("/_test/script", {"tokens": list(scripted_completion_tokens(codec, "x", SAFE_JSON))})
    reasoner = http_reasoner(http_settings(server, concurrency=1, max_queue=3), codec)
    try:
        tasks = [asyncio.create_task(reasoner.judge(JudgeRequest(policy, event(f"m{i}")))) for i in range(3)]
        await asyncio.sleep(0.05)
        with pytest.raises(ReasonerUnavailable, match="queue is full"):
            await reasoner.judge(JudgeRequest(policy, event("one too many")))
        results = await asyncio.gather(*tasks)
    finally:
        await reasoner.aclose()
    assert [r.violation for r in results] == [False, False, False]
    assert server.control("/_test/stats")["max_inflight"] == 1


async def test_api_key_is_sent_as_bearer_token(server: LoopbackServer, codec: HarmonyCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODBOT_REASONER_API_KEY", "s3cret")
    settings = http_settings(server)
    assert settings.api_key is not None and "s3cret" not in repr(settings)
    transport = HttpTransport(settings)
    try:
        assert transport._client.headers["Authorization"] == "Bearer s3cret"
    finally:
        await transport.aclose()


async def test_text_without_harmony_markers_is_a_clear_escalation(codec: HarmonyCodec, policy: Policy) -> None:
    # A llama-server started without --special strips the markers from /v1/completions text.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"text": 'analysisThinking.assistantfinal{"violation": 0}', "finish_reason": "stop"}], "usage": {"prompt_tokens": 900}})

    settings = ReasonerSettings(backend="http", base_url="http://reasoner.invalid", http_api="openai")
    reasoner = http_reasoner(settings, codec, http_transport=httpx.MockTransport(handler))
    try:
        judgement = await reasoner.judge(JudgeRequest(policy, event("hello")))
    finally:
        await reasoner.aclose()
    assert judgement.violation is None and "--special" in judgement.error


def test_retry_after_forms() -> None:
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from modbot.stages.reasoner.http import _retry_after

    assert _retry_after("3") == 3.0 and _retry_after(None) is None and _retry_after("soon") is None
    in_ten = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=10), usegmt=True)
    assert 8.0 <= _retry_after(in_ten) <= 10.0
