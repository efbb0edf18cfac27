"""An ActionSink that records actions: the platform edge for core tests (adapters have their own)."""

from __future__ import annotations

from modbot.domain import Action, ActionKind, ActionOutcome


class RecordingSink:
    """Implements ``modbot.ports.ActionSink``: keeps every action, refuses some kinds like a missing permission.

    Each success carries a platform reference (``ref-1``, ``ref-2``, ... in order), as a real platform's
    message id would, so tests can see the core store it.
    """

    def __init__(self, refuse: set[ActionKind] | None = None):
        self.actions: list[Action] = []
        self.refuse = refuse or set()

    async def execute(self, action: Action) -> ActionOutcome:
        self.actions.append(action)
        if action.kind in self.refuse:
            return ActionOutcome(False, "403 Missing Permissions", permission_problem=True)
        return ActionOutcome(True, "done", platform_ref=f"ref-{len(self.actions)}")

    def kinds(self) -> list[ActionKind]:
        return [a.kind for a in self.actions]
