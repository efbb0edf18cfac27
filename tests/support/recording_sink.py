"""An ActionSink that records actions: the platform edge for core tests (adapters have their own)."""

from __future__ import annotations

from bot.domain import Action, ActionKind, ActionOutcome


class RecordingSink:
    def __init__(self, refuse: set[ActionKind] | None = None):
        self.actions: list[Action] = []
        self.refuse = refuse or set()

    async def execute(self, action: Action) -> ActionOutcome:
        self.actions.append(action)
        if action.kind in self.refuse:
            return ActionOutcome(False, "403 Missing Permissions", permission_problem=True)
        return ActionOutcome(True, "done")

    def kinds(self) -> list[ActionKind]:
        return [a.kind for a in self.actions]
