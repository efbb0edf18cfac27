"""Reasoner settings: the application's ``[reasoner]`` section, validated.

Nothing here reads files or starts processes; :func:`modbot.stages.reasoner.factory.build_reasoner` turns
the settings into a reasoner, and the llama.cpp worker starts on first use. This module imports nothing
else of the reasoner, so the transports can depend on it without a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["API_KEY_ENV", "DEFAULT_MODEL_FILE", "ReasonerConfigError", "ReasonerSettings"]

API_KEY_ENV = "MODBOT_REASONER_API_KEY"
#: The GGUF that ``modbot model pull`` downloads (and where the app looks for it by default).
DEFAULT_MODEL_FILE = "openai.gpt-oss-safeguard-20b.Q4_K_M.gguf"


class ReasonerConfigError(ValueError):
    """The reasoner settings cannot produce a working backend (e.g. no model path)."""


def _api_key_from_env() -> SecretStr | None:
    value = os.environ.get(API_KEY_ENV)
    return SecretStr(value) if value else None


class ReasonerSettings(BaseModel):
    """Everything the reasoner backends need. Defaults suit gpt-oss-safeguard-20b on one 16-24 GB GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``llama``: llama-cpp-python in a supervised worker process; ``http``: an OpenAI-compatible server
    #: (llama-server, vLLM); ``none``: no reasoner (keyword and prefilter stages only).
    backend: Literal["llama", "http", "none"] = "llama"
    #: Name recorded on every verdict; defaults to the GGUF file name (llama) or ``http_model`` (http).
    model_name: str | None = None

    # -- llama.cpp in-process ----------------------------------------------------------------------------
    model_path: Path | None = None
    #: Layers offloaded to the GPU; -1 offloads all (needs a CUDA/Metal build of llama-cpp-python).
    n_gpu_layers: int = -1
    n_ctx: int = Field(default=16384, ge=512)
    flash_attn: bool = True
    #: CPU threads for llama.cpp; None lets llama.cpp choose.
    n_threads: int | None = Field(default=None, ge=1)
    n_batch: int = Field(default=512, ge=16)
    #: Reuse the evaluated system+developer prefix per policy version (off only for benchmarks).
    prefix_cache: bool = True
    #: KV snapshots of prefixes kept in the worker (one per policy version and reasoning effort).
    max_prefix_states: int = Field(default=8, ge=0)
    #: How long the worker may take to load the model.
    load_timeout_s: float = Field(default=300.0, gt=0)
    seed: int = 0

    # -- generation --------------------------------------------------------------------------------------
    max_tokens: int = Field(default=1024, ge=16)
    #: 0 = greedy: the same message and policy give the same verdict, which keeps verdicts replayable.
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    reasoning_effort: Literal["low", "medium", "high"] = "low"
    #: Per-request deadline; a verdict that takes longer is escalated to a human.
    timeout_s: float = Field(default=60.0, gt=0)
    #: Requests accepted at once (running + waiting); past it ``judge`` raises ReasonerUnavailable.
    max_queue: int = Field(default=64, ge=1)
    #: The message under judgment is cut to this many tokens (with a visible marker).
    max_message_tokens: int = Field(default=1024, ge=16)
    #: Budget for the preceding chat messages shown as context.
    max_context_tokens: int = Field(default=512, ge=0)

    # -- OpenAI-compatible HTTP server -------------------------------------------------------------------
    base_url: str | None = None
    #: ``completion``: llama-server's native ``POST /completion`` (token ids in and out, exact cache
    #: accounting); ``openai``: ``POST /v1/completions`` with the prompt as token ids (llama-server, vLLM).
    http_api: Literal["completion", "openai"] = "completion"
    http_model: str = "gpt-oss-safeguard-20b"
    api_key: SecretStr | None = Field(default_factory=_api_key_from_env)
    concurrency: int = Field(default=2, ge=1)
    retries: int = Field(default=3, ge=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _backend_needs(self) -> ReasonerSettings:
        if self.backend == "http" and not self.base_url:
            raise ValueError("reasoner.base_url is required when reasoner.backend = 'http'")
        return self

    def effort_for(self, requested: str) -> str:
        """The reasoning effort a request asked for, or the configured one when it asked for none we know."""
        return requested if requested in ("low", "medium", "high") else self.reasoning_effort

    def resolved_model_name(self) -> str:
        """The model name recorded on verdicts: ``model_name``, else the HTTP model or the GGUF's stem."""
        if self.model_name:
            return self.model_name
        if self.backend == "http":
            return self.http_model
        return self.model_path.stem if self.model_path else "gpt-oss-safeguard-20b"
