"""The HTTP transport: gpt-oss-safeguard behind an OpenAI-compatible server (llama-server, vLLM).

The prompt is always sent as **token ids** rendered by harmony, never as text: a server tokenizes prompt
text with special-token parsing on, which would turn a user's typed ``<|end|><|start|>...`` into real
control tokens. Two request styles:

* ``http_api = "completion"`` — llama-server's native ``POST /completion`` with ``prompt: [ids]``,
  ``cache_prompt: true`` and ``return_tokens: true``. The answer carries the generated token ids and
  ``timings.prompt_n`` (prompt tokens actually evaluated), so prefix reuse is measured exactly.
* ``http_api = "openai"`` — ``POST /v1/completions`` with ``prompt: [ids]`` (the OpenAI API accepts token
  arrays; so do llama-server and vLLM). The answer is text, so the server must keep the harmony markers in
  it: start llama-server with ``--special``; for vLLM this transport sends ``skip_special_tokens: false``.

Connection errors, 5xx and 429 answers are retried by ``stamina`` with exponential backoff and jitter
(``Retry-After`` honoured); when the retries are spent :class:`modbot.ports.ReasonerUnavailable` is raised and
the core keeps the message pending. A refused request (4xx, malformed answer) or one that times out
reading the answer is not retried: it raises :class:`modbot.ports.CompletionFailed` and becomes an escalation.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from datetime import datetime, timezone
from typing import Any

import httpx
import stamina

from modbot.ports import Completion, CompletionFailed, CompletionRequest, FinishReason, ReasonerUnavailable
from modbot.stages.reasoner.config import ReasonerSettings

__all__ = ["HttpTransport"]

MAX_RETRY_AFTER_S = 60.0
MAX_BACKOFF_S = 30.0
#: After the retries are spent, requests fail at once (messages stay pending) for this long.
DOWN_COOLDOWN_S = 10.0


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


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


def _backoff(exc: Exception) -> bool | float:
    """stamina's backoff hook: retry what is retryable, after ``Retry-After`` when the server said so."""
    if not isinstance(exc, _Retryable):
        return False
    return True if exc.retry_after is None else min(exc.retry_after, MAX_RETRY_AFTER_S)


class HttpTransport:
    """Completes prompts on an OpenAI-compatible completion server.

    ``http_transport`` is for tests (an httpx transport such as ``httpx.MockTransport``); production code
    does not pass it. ``retry_backoff_s`` is the upper bound of the first wait between attempts.
    """

    def __init__(
        self,
        settings: ReasonerSettings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        retry_backoff_s: float = 0.5,
    ):
        if not settings.base_url:
            raise ValueError("HttpTransport needs settings.base_url")
        self.settings = settings
        headers = {"Accept": "application/json"}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            transport=http_transport,
        )
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        #: Requests the server works on at once (the core shares them fairly between servers).
        self.parallel_slots = settings.concurrency
        self._backoff = retry_backoff_s
        self._down_until = 0.0
        self._down_reason = ""
        self.attempts = 0  # HTTP requests sent, retries included (for health checks and tests)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, request: CompletionRequest) -> Completion:
        path, payload = self._request(request)
        self._fail_fast()
        async with self._semaphore:
            self._fail_fast()  # it may have gone down while this request waited for a slot
            try:
                data = await self._post_with_retries(path, payload)
            except ReasonerUnavailable as exc:
                # Down after all the retries: for a while, fail at once instead of every request
                # waiting out its own retries while holding a worker (messages stay pending).
                self._down_until = time.monotonic() + DOWN_COOLDOWN_S
                self._down_reason = str(exc)
                raise
            except httpx.TimeoutException:
                raise CompletionFailed(
                    f"the reasoner server did not answer within {self.settings.timeout_s:.0f} s"
                ) from None
        if self.settings.http_api == "completion":
            return _from_native(data, len(request))
        return _from_openai(data, len(request))

    def _fail_fast(self) -> None:
        left = self._down_until - time.monotonic()
        if left > 0:
            raise ReasonerUnavailable(f"{self._down_reason}; not asked again for {left:.0f} s")

    # -- requests --------------------------------------------------------------------------------------------

    def _request(self, request: CompletionRequest) -> tuple[str, dict[str, Any]]:
        tokens = list(request.tokens)
        s = self.settings
        if s.http_api == "completion":
            return "/completion", {
                "prompt": tokens,
                "n_predict": request.max_tokens,
                "temperature": request.temperature,
                "top_k": 0 if request.temperature > 0 else 40,
                "top_p": 1.0,
                "min_p": 0.0,
                "seed": s.seed,
                "cache_prompt": True,
                "return_tokens": True,
                "stream": False,
            }
        return "/v1/completions", {
            "model": s.http_model,
            "prompt": tokens,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0,
            "seed": s.seed,
            "cache_prompt": True,  # llama-server
            "skip_special_tokens": False,  # vLLM: keep the harmony markers in the text
            "spaces_between_special_tokens": False,
            "stream": False,
        }

    async def _post_with_retries(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        # Jitter: the first wait is drawn from [backoff / 2, backoff], then it doubles.
        attempts = stamina.retry_context(
            on=_backoff,
            attempts=self.settings.retries + 1,
            timeout=None,  # each request has its own timeout; the attempts bound the total
            wait_initial=self._backoff / 2,
            wait_jitter=self._backoff / 2,
            wait_max=MAX_BACKOFF_S,
        )
        tries = 0
        try:
            async for attempt in attempts:
                with attempt:
                    tries = attempt.num
                    return await self._post_once(path, payload)
        except _Retryable as exc:
            raise ReasonerUnavailable(f"the reasoner server is unavailable after {tries} attempts: {exc}") from None
        raise AssertionError("unreachable: stamina either returns or re-raises")

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
            raise CompletionFailed(f"the reasoner server refused the request: HTTP {status} {response.text[:300]}")
        try:
            data = response.json()
        except ValueError:
            raise CompletionFailed(f"the reasoner server sent a non-JSON answer: {response.text[:200]!r}") from None
        if not isinstance(data, dict):
            raise CompletionFailed("the reasoner server sent an unexpected JSON answer")
        return data


# -- answers -------------------------------------------------------------------------------------------------


def _from_native(data: dict[str, Any], prompt_len: int) -> Completion:
    tokens = data.get("tokens")
    ids: tuple[int, ...] = ()
    text = None
    if isinstance(tokens, list) and all(isinstance(t, int) for t in tokens) and tokens:
        ids = tuple(int(t) for t in tokens)
    else:
        text = data.get("content")
        if not isinstance(text, str):
            raise CompletionFailed("the /completion answer has neither 'tokens' nor 'content'")
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    prompt_tokens = _int(data.get("tokens_evaluated"), prompt_len)
    evaluated = _int(timings.get("prompt_n"), prompt_tokens)
    finish = FinishReason.LENGTH if data.get("stop_type") == "limit" else FinishReason.STOP
    return Completion(ids, text, prompt_tokens, evaluated, finish)


def _from_openai(data: dict[str, Any], prompt_len: int) -> Completion:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise CompletionFailed("the /v1/completions answer has no choices")
    text = choices[0].get("text")
    if not isinstance(text, str):
        raise CompletionFailed("the /v1/completions answer has no text")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    prompt_tokens = _int(usage.get("prompt_tokens"), prompt_len)
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    cached = _int(details.get("cached_tokens"), 0)
    timings = data.get("timings") if isinstance(data.get("timings"), dict) else {}
    evaluated = _int(timings.get("prompt_n"), max(0, prompt_tokens - cached))
    finish = FinishReason.LENGTH if choices[0].get("finish_reason") == "length" else FinishReason.STOP
    return Completion((), text, prompt_tokens, evaluated, finish)


def _int(value: object, default: int) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
