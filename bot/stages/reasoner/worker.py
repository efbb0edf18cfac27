"""The llama.cpp worker process: loads the GGUF once and answers generation jobs over a pipe.

llama.cpp aborts the whole process on some internal errors, so the model never runs inside the bot's own
process. :class:`modbot.stages.reasoner.llama.LlamaTransport` runs ``python -m modbot.stages.reasoner._worker_process FD`` (a fresh
interpreter: nothing of the bot's state, no re-import of its ``__main__``), talks to it over an inherited
socket with :class:`multiprocessing.connection.Connection` (pickled dataclasses below), and restarts it
when it dies.

The worker knows nothing of policies or harmony: a job is a prefix and a suffix of token ids. The prefix
(system + developer messages, identical for every message judged against one policy version) is evaluated
once and reused:

* if the live context already starts with the prefix, only the suffix is evaluated;
* otherwise a saved KV snapshot of that prefix (``llama_state_seq_get_data``, kept in a small LRU per prefix
  key) is restored, which costs a memory copy and no evaluation;
* otherwise the prefix is evaluated and snapshotted.

Every outcome reports how many prompt tokens were actually evaluated.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from cachetools import LRUCache

__all__ = [
    "ForcedOutput",
    "GenerateJob",
    "GenerateOutcome",
    "Shutdown",
    "WorkerConfig",
    "WorkerFailed",
    "WorkerReady",
    "run_from_fd",
    "worker_main",
]

STOP_TOKENS = (200002, 200012, 199999)  # <|return|>, <|call|>, <|endoftext|>
TOKEN_RETURN = 200002


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How the worker loads the model (the llama.cpp settings of :class:`ReasonerSettings`)."""

    model_path: str
    n_gpu_layers: int = -1
    n_ctx: int = 8192
    flash_attn: bool = True
    n_threads: int | None = None
    n_batch: int = 512
    seed: int = 0
    max_prefix_states: int = 8


@dataclass(frozen=True, slots=True)
class ForcedOutput:
    """TEST ONLY: make the real llama.cpp sampler emit a scripted completion.

    ``tokens`` are allowed one per step by a logits processor (every other logit is -inf), then only
    ``<|return|>``. ``hold_s`` sleeps before generating (to kill a worker mid-request) and ``crash`` aborts
    the worker process the way a failed llama.cpp assertion does. Production settings have no way to set
    this: only a test can pass it, through ``LlamaTransport(output_script=...)``.
    """

    tokens: tuple[int, ...] = ()
    hold_s: float = 0.0
    crash: bool = False


@dataclass(frozen=True, slots=True)
class GenerateJob:
    """One completion request: evaluate ``prefix + suffix`` and sample until a stop token."""

    job_id: int
    prefix_key: str
    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    max_tokens: int
    temperature: float
    timeout_s: float
    reuse_prefix: bool = True
    forced: ForcedOutput | None = None


@dataclass(frozen=True, slots=True)
class GenerateOutcome:
    """The completion tokens and the accounting of one job."""

    job_id: int
    tokens: tuple[int, ...] = ()
    prompt_tokens: int = 0
    prompt_evaluated: int = 0
    finish_reason: str = "stop"  # stop | length | timeout | error
    error: str | None = None
    prefix_source: str = ""  # live | snapshot | evaluated | disabled
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WorkerReady:
    """The model is loaded; what the worker reports about itself."""

    pid: int
    n_ctx: int
    n_vocab: int
    load_s: float
    system_info: str = ""


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """The model could not be loaded; ``error`` says why in words a user can act on."""

    error: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Asks the worker to exit cleanly."""


@dataclass
class _Snapshot:
    tokens: tuple[int, ...]
    data: bytes = field(repr=False)


class _Engine:
    def __init__(self, config: WorkerConfig):
        from llama_cpp import Llama

        self.config = config
        kwargs: dict[str, Any] = dict(
            model_path=config.model_path,
            n_gpu_layers=config.n_gpu_layers,
            n_ctx=config.n_ctx,
            n_batch=config.n_batch,
            n_ubatch=config.n_batch,
            flash_attn=config.flash_attn,
            seed=config.seed,
            verbose=False,
        )
        if config.n_threads:
            kwargs["n_threads"] = config.n_threads
            kwargs["n_threads_batch"] = config.n_threads
        self.llm = Llama(**kwargs)
        self.n_ctx = self.llm.n_ctx()
        # Least recently used snapshots go first; LRUCache cannot hold zero items, hence the guard in _snapshot.
        self._snapshots: LRUCache[str, _Snapshot] = LRUCache(maxsize=max(1, config.max_prefix_states))

    # -- prefix handling -------------------------------------------------------------------------------------

    def _prefix_is_live(self, prefix: tuple[int, ...]) -> bool:
        n = len(prefix)
        return self.llm.n_tokens >= n and self.llm.input_ids[:n].tolist() == list(prefix)

    def _snapshot(self, key: str, prefix: tuple[int, ...]) -> None:
        import llama_cpp

        if self.config.max_prefix_states <= 0:
            return
        ctx = self.llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        if not written:
            return
        self._snapshots[key] = _Snapshot(prefix, bytes(buf)[:written])

    def _restore(self, key: str, prefix: tuple[int, ...]) -> bool:
        import llama_cpp

        snap = self._snapshots.get(key)
        if snap is None or snap.tokens != prefix:
            return False
        self.llm.reset()
        ctx = self.llm._ctx.ctx
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        buf = (ctypes.c_uint8 * len(snap.data)).from_buffer_copy(snap.data)
        if llama_cpp.llama_state_seq_set_data(ctx, buf, len(snap.data), 0) != len(snap.data):
            self._snapshots.pop(key, None)
            self.llm.reset()
            return False
        n = len(prefix)
        self.llm.input_ids[:n] = prefix
        self.llm.n_tokens = n
        return True

    def _place_prefix(self, job: GenerateJob) -> tuple[int, str]:
        """Make the context hold exactly the prefix; returns (tokens evaluated, how)."""
        if self._prefix_is_live(job.prefix):
            self.llm.n_tokens = len(job.prefix)  # the next eval drops the old suffix from the KV cache
            return 0, "live"
        if self._restore(job.prefix_key, job.prefix):
            return 0, "snapshot"
        self.llm.reset()
        self.llm.eval(list(job.prefix))
        self._snapshot(job.prefix_key, job.prefix)
        return len(job.prefix), "evaluated"

    # -- generation ------------------------------------------------------------------------------------------

    def run(self, job: GenerateJob) -> GenerateOutcome:
        started = time.monotonic()
        deadline = started + job.timeout_s
        prompt_len = len(job.prefix) + len(job.suffix)
        if prompt_len + 1 >= self.n_ctx:
            return GenerateOutcome(
                job.job_id,
                prompt_tokens=prompt_len,
                finish_reason="error",
                error=f"the prompt ({prompt_len} tokens) does not fit the context window (n_ctx={self.n_ctx})",
            )
        max_new = max(1, min(job.max_tokens, self.n_ctx - prompt_len - 1))

        forced = job.forced
        if forced is not None:
            if forced.hold_s:
                time.sleep(forced.hold_s)
            if forced.crash:
                os.abort()  # what a failed GGML_ASSERT does to the process

        if job.reuse_prefix:
            evaluated, source = self._place_prefix(job)
            to_eval = list(job.suffix)
        else:
            self.llm.reset()
            evaluated, source = 0, "disabled"
            to_eval = list(job.prefix) + list(job.suffix)
        evaluated += len(to_eval)

        processor = None
        if forced is not None:
            processor = [_ScriptedLogits(forced.tokens, prompt_len)]

        out: list[int] = []
        finish = "length"
        for token in self.llm.generate(
            to_eval,
            reset=False,
            temp=job.temperature,
            top_k=0 if job.temperature > 0 else 40,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
            logits_processor=processor,
        ):
            out.append(int(token))
            if token in STOP_TOKENS:
                finish = "stop"
                break
            if len(out) >= max_new:
                break
            if time.monotonic() > deadline:
                finish = "timeout"
                break
        return GenerateOutcome(
            job.job_id,
            tokens=tuple(out),
            prompt_tokens=prompt_len,
            prompt_evaluated=evaluated,
            finish_reason=finish,
            prefix_source=source,
            elapsed_s=time.monotonic() - started,
        )


class _ScriptedLogits:
    """Logits processor allowing exactly one scripted token per step (test forcing)."""

    def __init__(self, script: tuple[int, ...], prompt_len: int):
        self.script = script
        self.prompt_len = prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        step = len(input_ids) - self.prompt_len
        wanted = self.script[step] if 0 <= step < len(self.script) else TOKEN_RETURN
        out = np.full_like(scores, -np.inf)
        out[wanted] = 0.0
        return out


_LOG_CALLBACK: Any = None  # kept referenced: llama.cpp holds a raw pointer to it


def _quiet_llama_logs() -> None:
    """Pass only llama.cpp's errors to stderr.

    ggml's levels are NONE=0 DEBUG=1 INFO=2 WARN=3 ERROR=4 CONT=5; llama-cpp-python's own callback maps
    them as of an older ggml (3 = error), so warnings such as "using full-size SWA cache" leak through.
    """
    global _LOG_CALLBACK
    import llama_cpp

    last = [0]

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level != 5:
            last[0] = level
        if last[0] >= 4:
            sys.stderr.write(text.decode("utf-8", errors="replace"))
            sys.stderr.flush()

    _LOG_CALLBACK = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def worker_main(conn: Connection, config: WorkerConfig) -> None:
    """Serve one connection: load the model, report ready, then answer jobs until Shutdown or EOF."""
    # libgomp's default busy-wait makes every multi-token decode spin for ~0.5 s on small CPU machines
    # (measured: 550 ms -> 4 ms for a 10-token batch); passive waiting costs nothing measurable on GPU.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    started = time.monotonic()
    try:
        if not os.path.isfile(config.model_path):
            raise FileNotFoundError(f"model file not found: {config.model_path}")
        _quiet_llama_logs()
        engine = _Engine(config)
    except Exception as exc:  # report, do not crash: the parent turns this into a clear message
        conn.send(WorkerFailed(f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    try:
        import llama_cpp

        info = llama_cpp.llama_print_system_info().decode(errors="replace")
    except Exception:
        info = ""
    conn.send(
        WorkerReady(
            pid=os.getpid(),
            n_ctx=engine.n_ctx,
            n_vocab=engine.llm.n_vocab(),
            load_s=time.monotonic() - started,
            system_info=info,
        )
    )
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if isinstance(message, Shutdown):
            break
        if not isinstance(message, GenerateJob):
            continue
        try:
            outcome = engine.run(message)
        except Exception as exc:
            outcome = GenerateOutcome(message.job_id, finish_reason="error", error=f"{type(exc).__name__}: {exc}")
        try:
            conn.send(outcome)
        except (BrokenPipeError, OSError):
            break
    conn.close()


def run_from_fd(argv: list[str]) -> int:
    """``python -m modbot.stages.reasoner._worker_process FD``: FD is the inherited socket; the first message is the config."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m modbot.stages.reasoner._worker_process FD (started by LlamaTransport)", file=sys.stderr)
        return 2
    conn = Connection(int(argv[0]))
    try:
        config = conn.recv()
    except (EOFError, OSError):
        return 1
    if not isinstance(config, WorkerConfig):
        conn.send(WorkerFailed(f"expected a WorkerConfig, got {type(config).__name__}"))
        return 2
    worker_main(conn, config)
    return 0

