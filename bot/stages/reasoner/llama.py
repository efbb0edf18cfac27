"""The llama.cpp transport: llama-cpp-python in a supervised worker process.

The bot's event loop never waits on llama.cpp: each completion request is sent to the worker
(:mod:`modbot.stages.reasoner.worker`) over a pipe and awaited from a thread. The worker runs one job at a
time; requests queue behind a lock.

If the worker dies mid-request (llama.cpp aborts the process on some errors), it is restarted and the
request is retried once; a second death raises :class:`modbot.ports.CompletionFailed`, which the reasoner
turns into an escalation. A request that outlives its deadline is cut off the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from modbot.ports import Completion, CompletionFailed, CompletionRequest, FinishReason, ReasonerUnavailable
from modbot.stages.reasoner.config import ReasonerSettings
from modbot.stages.reasoner.worker import (
    ForcedOutput,
    GenerateJob,
    GenerateOutcome,
    Shutdown,
    WorkerConfig,
    WorkerFailed,
    WorkerReady,
)

__all__ = ["LlamaTransport", "OutputScript", "WorkerStats"]

#: After a failed model load, new requests fail fast for this long instead of reloading each time.
LOAD_FAILURE_BACKOFF_S = 30.0

#: TEST ONLY: picks a scripted completion for a request (None: sample freely); see :class:`ForcedOutput`.
OutputScript = Callable[[CompletionRequest], ForcedOutput | None]


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """Counters for health checks and tests."""

    worker_pid: int | None
    restarts: int
    jobs: int


class _Died:
    def __init__(self, exitcode: int | None):
        self.exitcode = exitcode


class _TimedOut:
    pass


class LlamaTransport:
    """Completes prompts with a local GGUF model (gpt-oss-safeguard-20b) through llama-cpp-python.

    ``output_script`` is for tests only: a function that may return a :class:`ForcedOutput` for a
    request, making the real llama.cpp sampler emit a scripted completion. Settings cannot enable it.
    """

    def __init__(self, settings: ReasonerSettings, *, output_script: OutputScript | None = None):
        if settings.model_path is None:
            raise ValueError("LlamaTransport needs settings.model_path")
        self.settings = settings
        self._worker_config = WorkerConfig(
            model_path=str(settings.model_path),
            n_gpu_layers=settings.n_gpu_layers,
            n_ctx=settings.n_ctx,
            flash_attn=settings.flash_attn,
            n_threads=settings.n_threads,
            n_batch=settings.n_batch,
            seed=settings.seed,
            max_prefix_states=settings.max_prefix_states,
        )
        self._output_script = output_script
        self._lock = asyncio.Lock()
        #: One completion at a time in the worker (the core shares it fairly between servers).
        self.parallel_slots = 1
        self._jobs = 0
        self._restarts = 0
        self._job_ids = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._ready: WorkerReady | None = None
        self._load_failed: tuple[float, str] | None = None
        self._closed = False
        # Guards process start/stop against the worker threads (they never run concurrently, but a
        # cancelled caller must not race a restart).
        self._proc_lock = threading.Lock()

    @property
    def stats(self) -> WorkerStats:
        return WorkerStats(
            worker_pid=self._proc.pid if self._proc is not None and self._proc.poll() is None else None,
            restarts=self._restarts,
            jobs=self._jobs,
        )

    async def start(self) -> WorkerReady:
        """Load the model now (otherwise it loads on the first request). Raises ReasonerUnavailable."""
        async with self._lock:
            return await asyncio.to_thread(self._ensure_worker)

    async def complete(self, request: CompletionRequest) -> Completion:
        if self._closed:
            raise ReasonerUnavailable("the reasoner is closed")
        # Shielded: if the caller is cancelled, the job still finishes and releases the worker cleanly,
        # so the pipe never holds an unread answer that the next request would mistake for its own.
        return await asyncio.shield(self._complete(request))

    async def aclose(self) -> None:
        self._closed = True
        async with self._lock:
            await asyncio.to_thread(self._stop_worker, True)

    # -- internals -------------------------------------------------------------------------------------------

    async def _complete(self, request: CompletionRequest) -> Completion:
        job = GenerateJob(
            job_id=next(self._job_ids),
            prefix_key=request.prefix_key,
            prefix=request.prefix,
            suffix=request.suffix,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            timeout_s=request.timeout_s,
            reuse_prefix=self.settings.prefix_cache,
            forced=self._output_script(request) if self._output_script else None,
        )
        async with self._lock:
            if self._closed:  # closed while this request waited its turn: do not restart the worker
                raise ReasonerUnavailable("the reasoner is closed")
            outcome = await asyncio.to_thread(self._run_with_retry, job)
        self._jobs += 1
        if outcome.finish_reason == "error":
            raise CompletionFailed(f"the reasoner failed: {outcome.error}")
        return Completion(
            tokens=outcome.tokens,
            prompt_tokens=outcome.prompt_tokens,
            prompt_evaluated=outcome.prompt_evaluated,
            finish_reason=FinishReason(outcome.finish_reason),
        )

    def _run_with_retry(self, job: GenerateJob) -> GenerateOutcome:
        """Runs in a thread. Raises CompletionFailed (escalate) or ReasonerUnavailable (model not loaded)."""
        # The worker stops generating at timeout_s by itself; this margin covers prompt evaluation, which
        # cannot be interrupted, and a worker that hangs outright.
        hard_timeout = job.timeout_s + max(2.0, job.timeout_s * 0.25)
        reason = ""
        for _attempt in (1, 2):
            self._ensure_worker()
            result = self._roundtrip(job, hard_timeout)
            if isinstance(result, GenerateOutcome):
                return result
            self._stop_worker(False)
            self._restarts += 1
            if isinstance(result, _TimedOut):
                raise CompletionFailed(
                    f"the reasoner did not answer within {hard_timeout:.0f} s; the worker was restarted"
                )
            reason = f"the reasoner worker died (exit code {result.exitcode})"
        raise CompletionFailed(f"{reason} twice on this message; escalated for human review")

    def _roundtrip(self, job: GenerateJob, timeout: float) -> GenerateOutcome | _Died | _TimedOut:
        conn, proc = self._conn, self._proc
        assert conn is not None and proc is not None
        try:
            conn.send(job)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return _Died(_exit_code(proc))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _TimedOut()
            try:
                if not conn.poll(min(remaining, 1.0)):
                    if proc.poll() is not None:
                        return _Died(proc.returncode)
                    continue
                message = conn.recv()
            except (EOFError, ConnectionResetError, OSError):
                return _Died(_exit_code(proc))
            if isinstance(message, GenerateOutcome) and message.job_id == job.job_id:
                return message
            # Anything else is a stale answer from an abandoned job: skip it.

    def _ensure_worker(self) -> WorkerReady:
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None and self._ready is not None:
                return self._ready
            if self._load_failed and time.monotonic() - self._load_failed[0] < LOAD_FAILURE_BACKOFF_S:
                raise ReasonerUnavailable(self._load_failed[1])
            self._stop_locked(graceful=False)
            proc, parent = _spawn_worker()
            try:
                parent.send(self._worker_config)
                if not parent.poll(self.settings.load_timeout_s):
                    message: object = WorkerFailed(
                        f"the model did not load within {self.settings.load_timeout_s:.0f} s"
                    )
                else:
                    message = parent.recv()
            except (EOFError, OSError):
                message = WorkerFailed(
                    f"the reasoner worker died while loading {self._worker_config.model_path} "
                    f"(exit code {_exit_code(proc)}); is it a valid gpt-oss GGUF file?"
                )
            if not isinstance(message, WorkerReady):
                error = message.error if isinstance(message, WorkerFailed) else f"unexpected message {message!r}"
                self._load_failed = (time.monotonic(), f"cannot load the reasoner model: {error}")
                _terminate(proc)
                parent.close()
                raise ReasonerUnavailable(self._load_failed[1])
            self._load_failed = None
            self._proc, self._conn, self._ready = proc, parent, message
            return message

    def _stop_worker(self, graceful: bool) -> None:
        with self._proc_lock:
            self._stop_locked(graceful)

    def _stop_locked(self, graceful: bool) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._ready = None, None, None
        if conn is not None:
            if graceful and proc is not None and proc.poll() is None:
                try:
                    conn.send(Shutdown())
                except OSError:
                    pass
            conn.close()
        if proc is not None:
            if graceful:
                try:
                    proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    pass
            _terminate(proc)


def _spawn_worker() -> tuple[subprocess.Popen[bytes], Connection]:
    """Start ``python -m modbot.stages.reasoner._worker_process FD`` with one end of a socket pair inherited as FD."""
    parent_sock, child_sock = socket.socketpair()
    root = str(Path(__file__).resolve().parents[3])  # the folder holding the ``bot`` package
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see worker_main
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modbot.stages.reasoner._worker_process", str(child_sock.fileno())],
            pass_fds=(child_sock.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # llama.cpp prints to stdout; the bot's stdout is not its to use
        )
    finally:
        child_sock.close()
    return proc, Connection(parent_sock.detach())


def _exit_code(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(2.0)
    except subprocess.TimeoutExpired:
        return None


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        pass
