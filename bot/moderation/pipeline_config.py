"""What the pipeline reads of its settings, and the running totals it keeps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from modbot.moderation.audits import AuditConfig

__all__ = ["PipelineConfig", "PipelineCounters"]


class PipelineConfig(AuditConfig, Protocol):
    """What the pipeline reads of its settings (``modbot.config.PipelineSettings``, the ``[pipeline]`` table)."""

    @property
    def queue_size(self) -> int: ...

    @property
    def workers(self) -> int: ...

    @property
    def sweep_interval_s(self) -> float: ...

    @property
    def max_text_chars(self) -> int: ...

    @property
    def auto_register_servers(self) -> bool: ...

    @property
    def audit_idle_below(self) -> int: ...


@dataclass(slots=True)
class PipelineCounters:
    """Running totals, exported as metrics and used by tests and benchmarks."""

    accepted: int = 0
    duplicates: int = 0
    overflowed: int = 0
    #: Queued messages of the busiest server put back to pending to make room for a quieter one.
    evicted: int = 0
    rejected: int = 0
    judged: int = 0
    failed: int = 0
    deferred: int = 0
    #: Audits of prefilter-allowed messages done, and dropped (audit queue full, reasoner busy).
    audits_done: int = 0
    audits_dropped: int = 0
