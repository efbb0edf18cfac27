"""A small OpenAI-compatible completion server running real llama.cpp, for the HTTP backend's tests.

Why not ``python -m llama_cpp.server``: its ``/v1/completions`` only accepts *text* prompts, which it
tokenizes with special-token parsing on (so a user's typed ``<|end|>`` would become a control token), and
it has no ``/completion`` endpoint. The backend sends token ids, as llama-server and vLLM accept. This
server speaks the parts of llama-server's API the backend uses, on real llama.cpp with the tiny model:

* ``POST /completion`` — ``prompt`` (token ids), ``n_predict``, ``temperature``, ``cache_prompt``,
  ``return_tokens``; answers ``content``, ``tokens``, ``tokens_evaluated``, ``tokens_cached``,
  ``stop_type``, ``timings.prompt_n``/``cache_n``/``predicted_n``;
* ``POST /v1/completions`` — OpenAI shape, ``prompt`` as token ids; text keeps the harmony markers (as
  llama-server does with ``--special``); ``usage.prompt_tokens_details.cached_tokens`` and ``timings``.

Test controls (not part of any real server): ``POST /_test/reset``, ``POST /_test/faults`` (canned error
answers served before real ones), ``POST /_test/delay``, ``POST /_test/script`` (force the next
completion's tokens through a logits processor), ``GET /_test/stats``.

Run: ``python -m tests.stages.reasoner.llama_http_server MODEL.gguf`` — prints ``LISTENING <port>``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from aiohttp import web  # noqa: E402

STOP_TOKENS = (200002, 200012, 199999)


class _Scripted:
    def __init__(self, script: list[int], prompt_len: int):
        self.script = script
        self.prompt_len = prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        step = len(input_ids) - self.prompt_len
        wanted = self.script[step] if 0 <= step < len(self.script) else 200002
        out = np.full_like(scores, -np.inf)
        out[wanted] = 0.0
        return out


class Server:
    def __init__(self, model_path: str):
        from llama_cpp import Llama

        self.llm = Llama(model_path, n_ctx=4096, n_threads=1, n_batch=512, verbose=False, seed=0)
        self.lock = asyncio.Lock()
        self.reset()

    def reset(self) -> None:
        self.llm.reset()  # forget the cached prompt too, so each test starts cold
        self.generation = getattr(self, "generation", 0) + 1
        self.faults: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.scripts: list[list[int]] = []
        self.requests = 0
        self.inflight = 0
        self.max_inflight = 0
        self.last_body: dict[str, Any] | None = None

    # -- llama -----------------------------------------------------------------------------------------------

    def _generate(self, prompt: list[int], n_predict: int, temperature: float, cache_prompt: bool, script: list[int] | None) -> dict[str, Any]:
        llm = self.llm
        common = 0
        if cache_prompt:
            for a, b in zip(llm.input_ids[: llm.n_tokens].tolist(), prompt):
                if a != b:
                    break
                common += 1
            common = min(common, len(prompt) - 1)  # at least one token must be evaluated to get logits
        if common > 0:
            llm.n_tokens = common
        else:
            llm.reset()
        to_eval = prompt[common:]
        processor = [_Scripted(script, len(prompt))] if script is not None else None
        out: list[int] = []
        stop_type = "limit"
        for token in llm.generate(to_eval, reset=False, temp=temperature, top_k=0 if temperature > 0 else 40, top_p=1.0, min_p=0.0, logits_processor=processor):
            out.append(int(token))
            if token in STOP_TOKENS:
                stop_type = "eos"
                break
            if len(out) >= n_predict:
                break
        return {"tokens": out, "prompt_n": len(to_eval), "cache_n": common, "stop_type": stop_type}

    async def _complete(self, body: dict[str, Any]) -> dict[str, Any] | web.Response:
        self.requests += 1
        self.last_body = body
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        generation = self.generation
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if generation != self.generation:
                # Abandoned by a client that timed out before a reset: it must not eat the next test's
                # faults or scripts.
                return web.json_response({"error": {"code": 499, "message": "abandoned"}}, status=499)
            if self.faults:
                fault = self.faults.pop(0)
                headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
                return web.json_response({"error": {"code": fault["status"], "message": "injected"}}, status=fault["status"], headers=headers)
            prompt = body.get("prompt")
            if not isinstance(prompt, list) or not prompt or not all(isinstance(t, int) for t in prompt):
                return web.json_response({"error": {"code": 400, "message": "this test server wants token ids"}}, status=400)
            n_predict = int(body.get("n_predict", body.get("max_tokens", 64)))
            script = self.scripts.pop(0) if self.scripts else None
            async with self.lock:
                return await asyncio.to_thread(
                    self._generate, prompt, n_predict, float(body.get("temperature", 0.8)), bool(body.get("cache_prompt", True)), script
                )
        finally:
            self.inflight -= 1

    def _text(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens, special=True).decode("utf-8", errors="replace")

    # -- endpoints -------------------------------------------------------------------------------------------

    async def completion(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        result = await self._complete(body)
        if isinstance(result, web.Response):
            return result
        prompt_len = len(body["prompt"])
        answer: dict[str, Any] = {
            "content": self._text(result["tokens"]),
            "stop": True,
            "model": "tiny-gpt-oss",
            "tokens_predicted": len(result["tokens"]),
            "tokens_evaluated": prompt_len,
            "tokens_cached": result["cache_n"],
            "stop_type": result["stop_type"],
            "timings": {"cache_n": result["cache_n"], "prompt_n": result["prompt_n"], "predicted_n": len(result["tokens"])},
        }
        if body.get("return_tokens"):
            answer["tokens"] = result["tokens"]
        return web.json_response(answer)

    async def openai_completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        result = await self._complete(body)
        if isinstance(result, web.Response):
            return result
        prompt_len = len(body["prompt"])
        return web.json_response(
            {
                "id": "cmpl-test",
                "object": "text_completion",
                "model": body.get("model", "tiny-gpt-oss"),
                "choices": [
                    {
                        "index": 0,
                        "text": self._text(result["tokens"]),
                        "finish_reason": "length" if result["stop_type"] == "limit" else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_len,
                    "completion_tokens": len(result["tokens"]),
                    "total_tokens": prompt_len + len(result["tokens"]),
                    "prompt_tokens_details": {"cached_tokens": result["cache_n"]},
                },
                "timings": {"cache_n": result["cache_n"], "prompt_n": result["prompt_n"], "predicted_n": len(result["tokens"])},
            }
        )

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def t_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"ok": True})

    async def t_faults(self, request: web.Request) -> web.StreamResponse:
        self.faults.extend((await request.json())["responses"])
        return web.json_response({"ok": True})

    async def t_delay(self, request: web.Request) -> web.StreamResponse:
        self.delay_s = float((await request.json())["delay_s"])
        return web.json_response({"ok": True})

    async def t_script(self, request: web.Request) -> web.StreamResponse:
        self.scripts.append([int(t) for t in (await request.json())["tokens"]])
        return web.json_response({"ok": True})

    async def t_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"requests": self.requests, "max_inflight": self.max_inflight, "last_body": self.last_body}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/completion", self.completion)
        app.router.add_post("/v1/completions", self.openai_completions)
        app.router.add_get("/health", self.health)
        app.router.add_post("/_test/reset", self.t_reset)
        app.router.add_post("/_test/faults", self.t_faults)
        app.router.add_post("/_test/delay", self.t_delay)
        app.router.add_post("/_test/script", self.t_script)
        app.router.add_get("/_test/stats", self.t_stats)
        return app


async def _serve(model_path: str) -> None:
    server = Server(model_path)
    runner = web.AppRunner(server.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"LISTENING {port}", flush=True)
    # Serve until the parent closes our stdin (or kills us).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))
