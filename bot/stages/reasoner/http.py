"""The HTTP backend: gpt-oss-safeguard behind an OpenAI-compatible server (llama-server, vLLM).

The prompt is always sent as **token ids** rendered by harmony, never as text: a server tokenizes prompt
text with special-token parsing on, which would turn a user's typed ``<|end|><|start|>...`` into real
control tokens. Two request styles:

* ``http_api = "completion"`` — llama-server's native ``POST /completion`` with ``prompt: [ids]``,
  ``cache_prompt: true`` and ``return_tokens: true``. The answer carries the generated token ids and
  ``timings.prompt_n`` (prompt tokens actually evaluated), so prefix reuse is measured exactly.
* ``http_api = "openai"`` — ``POST /v1/completions`` with ``prompt: [ids]`` (the OpenAI API accepts token
  arrays; so do llama-server and vLLM). The answer is text, so the server must keep the harmony markers in
  it: start llama-server with ``--special``; for vLLM this client sends ``skip_special_tokens: false``.

Connection errors, 5xx and 429 answers are retried with exponential backoff (``Retry-After`` honoured);
when the retries are spent :class:`bot.ports.ReasonerUnavailable` is raised and the core keeps the message
pending. A request that times out reading the answer is not retried: it becomes an escalation.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from bot.domain import TokenCounts
from bot.ports import Judgement, JudgeRequest, ReasonerUnavailable
from bot.stages.reasoner.config import ReasonerSettings
from bot.stages.reasoner.harmony import FIRST_SPECIAL_TOKEN, HarmonyCodec, PromptBuilder, RenderedPrompt
from bot.stages.reasoner.output import failed_judgement, judgement_from_completion

__all__ = ["OpenAICompatibleReasoner"]

MAX_RETRY_AFTER_S = 60.0
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True, slots=True)
class _Completion:
    tokens: list[int]
    prompt_tokens: int
    prompt_evaluated: int
    finish_reason: str


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class _Fatal(Exception):
    """The server answered in a way retrying cannot fix (4xx, malformed JSON): escalate."""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class OpenAICompatibleReasoner:
    """Judges messages through an OpenAI-compatible completion server.

    ``transport`` and ``sleep`` exist for tests (an httpx transport, a fake clock); production code passes
    neither.
    """

    def __init__(
        self,
        settings: ReasonerSettings,
        *,
        codec: HarmonyCodec | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_backoff_s: float = 0.5,
    ):
        if not settings.base_url:
            raise ValueError("OpenAICompatibleReasoner needs settings.base_url")
        self.settings = settings
        self.codec = codec or HarmonyCodec.load()
        self.builder = PromptBuilder(
            self.codec,
            max_message_tokens=settings.max_message_tokens,
            max_context_tokens=settings.max_context_tokens,
        )
        headers = {"Accept": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            transport=transport,
        )
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._pending = 0
        self._sleep = sleep
        self._backoff = retry_backoff_s
        self._model_name = settings.resolved_model_name()
        self.attempts = 0  # HTTP requests sent, retries included (for health checks and tests)

    @property
    def model_name(self) -> str:
        return self._model_name

    async def aclose(self) -> None:
        await self._client.aclose()

    async def judge(self, request: JudgeRequest) -> Judgement:
        if self._pending >= self.settings.max_queue:
            raise ReasonerUnavailable(f"the reasoner queue is full ({self.settings.max_queue} requests)")
        self._pending += 1
        try:
            started = time.perf_counter()
            effort = self.settings.effort_for(request.reasoning_effort)
            prompt = self.builder.build(request.policy, request.event, effort)
            async with self._semaphore:
                try:
                    completion = await self._complete(prompt)
                except _Fatal as exc:
                    return self._failed(prompt, started, str(exc))
                except httpx.TimeoutException:
                    return self._failed(
                        prompt, started, f"the reasoner server did not answer within {self.settings.timeout_s:.0f} s"
                    )
            parsed = self.codec.parse_completion(completion.tokens)
            return judgement_from_completion(
                parsed,
                request.policy,
                model=self._model_name,
                tokens=TokenCounts(
                    prompt=completion.prompt_tokens,
                    prompt_evaluated=completion.prompt_evaluated,
                    completion=len(completion.tokens),
                ),
                latency_ms=(time.perf_counter() - started) * 1000,
                truncated=prompt.truncated,
                finish_reason=completion.finish_reason,
            )
        finally:
            self._pending -= 1

    def _failed(self, prompt: RenderedPrompt, started: float, error: str) -> Judgement:
        return failed_judgement(
            len(prompt),
            model=self._model_name,
            latency_ms=(time.perf_counter() - started) * 1000,
            truncated=prompt.truncated,
            error=error,
        )

    # -- requests --------------------------------------------------------------------------------------------

    async def _complete(self, prompt: RenderedPrompt) -> _Completion:
        tokens = list(prompt.tokens)
        s = self.settings
        if s.http_api == "completion":
            path = "/completion"
            payload: dict[str, Any] = {
                "prompt": tokens,
                "n_predict": s.max_tokens,
                "temperature": s.temperature,
                "top_k": 0 if s.temperature > 0 else 40,
                "top_p": 1.0,
                "min_p": 0.0,
                "seed": s.seed,
                "cache_prompt": True,
                "return_tokens": True,
                "stream": False,
            }
        else:
            path = "/v1/completions"
            payload = {
                "model": s.http_model,
                "prompt": tokens,
                "max_tokens": s.max_tokens,
                "temperature": s.temperature,
                "top_p": 1.0,
                "seed": s.seed,
                "cache_prompt": True,  # llama-server
                "skip_special_tokens": False,  # vLLM: keep the harmony markers in the text
                "spaces_between_special_tokens": False,
                "stream": False,
            }
        data = await self._post_with_retries(path, payload)
        if s.http_api == "completion":
            return self._from_native(data, len(tokens))
        return self._from_openai(data, len(tokens))

    async def _post_with_retries(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        attempt = 0
        while True:
            try:
                return await self._post_once(path, payload)
            except _Retryable as exc:
                if attempt >= self.settings.retries:
                    raise ReasonerUnavailable(
                        f"the reasoner server is unavailable after {attempt + 1} attempts: {exc}"
                    ) from None
                if exc.retry_after is not None:
                    delay = min(exc.retry_after, MAX_RETRY_AFTER_S)
                else:
                    delay = min(self._backoff * (2**attempt), MAX_BACKOFF_S) * random.uniform(0.5, 1.0)
                attempt += 1
                await self._sleep(delay)

    async def _post_once(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.attempts += 1
        try:
            response = await self._client.post(path, json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        except httpx.TimeoutException:
            raise  # a read/write timeout: the server is alive but too slow; escalate, do not pile on
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after(response.headers.get("Retry-After")))
        if status >= 400:
            raise _Fatal(f"the reasoner server refused the request: HTTP {status} {response.text[:300]}")
        try:
            data = response.json()
        except ValueError:
            raise _Fatal(f"the reasoner server sent a non-JSON answer: {response.text[:200]!r}") from None
        if not isinstance(data, dict):
            raise _Fatal("the reasoner server sent an unexpected JSON answer")
        return data

    # -- answers ---------------------------------------------------------------------------------------------

    def _from_native(self, data: dict[str, Any], prompt_len: int) -> _Completion:
        tokens = data.get("tokens")
        if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens) and tokens:
            ids = [int(t) for t in tokens]
        else:
            content = data.get("content")
            if not isinstance(content, str):
                raise _Fatal("the /completion answer has neither 'tokens' nor 'content'")
            ids = self.codec.encode_completion_text(content)
        timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
        prompt_tokens = _int(data.get("tokens_evaluated"), prompt_len)
        evaluated = _int(timings.get("prompt_n"), prompt_tokens)
        stop_type = data.get("stop_type")
        finish = "length" if stop_type == "limit" else "stop"
        return _Completion(ids, prompt_tokens, evaluated, finish)

    def _from_openai(self, data: dict[str, Any], prompt_len: int) -> _Completion:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _Fatal("the /v1/completions answer has no choices")
        text = choices[0].get("text")
        if not isinstance(text, str):
            raise _Fatal("the /v1/completions answer has no text")
        ids = self.codec.encode_completion_text(text)
        if text.strip() and not any(t >= FIRST_SPECIAL_TOKEN for t in ids):
            raise _Fatal(
                "the completion text has no harmony markers: start llama-server with --special "
                "(vLLM: this client already asks for skip_special_tokens=false)"
            )
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens = _int(usage.get("prompt_tokens"), prompt_len)
        details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
        cached = _int(details.get("cached_tokens"), 0)
        timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
        evaluated = _int(timings.get("prompt_n"), max(0, prompt_tokens - cached))
        finish = "length" if choices[0].get("finish_reason") == "length" else "stop"
        return _Completion(ids, prompt_tokens, evaluated, finish)


def _int(value: object, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
