"""Ports: the small interfaces the core depends on. Stages, stores and adapters implement them.

Like httpx's transport, each port is a few methods that take and return domain values (never ORM rows,
never platform objects); a test fake is a small class or a function. Capabilities are declared here,
not probed with ``getattr``: a prefilter that does not learn implements the feedback methods as no-ops.

Who implements what:

* ``Reasoner`` (``modbot.stages.reasoner``) over one ``ReasonerTransport`` (llama.cpp worker, HTTP server).
* ``Prefilter`` (``modbot.stages.prefilter``).
* ``ActionSink``, ``ContextSource`` (each platform adapter).
* The storage ports ``MessageLog``, ``VerdictLog``, ``CaseBook``, ``ActionLog``, ``ActionOutbox``, ``ServerConfig``,
  ``PolicyLibrary``, ``AuditLog`` (``modbot.store``, one SQLAlchemy module per port).
* ``Core`` (``modbot.core``): the facade adapters talk to; nothing else of the core is visible to them.
"""

from modbot.ports.stages import (
    Completion,
    CompletionFailed,
    CompletionRequest,
    FinishReason,
    JudgeRequest,
    Judgement,
    Prefilter,
    PrefilterScore,
    Reasoner,
    ReasonerTransport,
    ReasonerUnavailable,
    RoutingThresholds,
)
from modbot.ports.platforms import (
    ActionSink,
    ConnectionWatcher,
    ContextSource,
    Core,
    PlatformAdapter,
    PlatformAuthError,
    PlatformUnavailable,
)
from modbot.ports.storage import (
    ActionLog,
    ActionOutbox,
    AuditLog,
    CaseBook,
    MessageLog,
    PolicyLibrary,
    ServerConfig,
    VerdictLog,
)
from modbot.ports.services import (
    ActivePolicies,
    Classifier,
    EffectiveSettings,
    Enforcer,
    LiveFigures,
    MissReports,
    PolicyLinter,
)

__all__ = [
    "ActionLog",
    "ActionOutbox",
    "ActionSink",
    "ActivePolicies",
    "AuditLog",
    "CaseBook",
    "Classifier",
    "ConnectionWatcher",
    "Completion",
    "CompletionFailed",
    "CompletionRequest",
    "ContextSource",
    "Core",
    "EffectiveSettings",
    "Enforcer",
    "FinishReason",
    "JudgeRequest",
    "Judgement",
    "LiveFigures",
    "MessageLog",
    "MissReports",
    "PlatformAdapter",
    "PlatformAuthError",
    "PlatformUnavailable",
    "PolicyLibrary",
    "PolicyLinter",
    "Prefilter",
    "PrefilterScore",
    "Reasoner",
    "ReasonerTransport",
    "ReasonerUnavailable",
    "RoutingThresholds",
    "ServerConfig",
    "VerdictLog",
]
