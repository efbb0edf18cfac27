"""The result of linting a policy document (``modbot policy lint``, ``/mod policy upload``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["LintReport"]


@dataclass(frozen=True, slots=True)
class LintReport:
    """Errors (the policy should not be used as it is) and warnings (it could be better), with token counts.

    ``tokens`` holds ``total`` (the body, o200k tokens), ``sections`` (heading -> tokens) and
    ``categories`` (category id -> tokens of its block in the body).
    """

    source: str
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    tokens: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def as_json(self) -> dict[str, object]:
        """The ``--json`` object: ``file``, ``errors``, ``warnings``, ``tokens``."""
        return {"file": self.source, "errors": list(self.errors), "warnings": list(self.warnings), "tokens": self.tokens}

    def summary(self, limit: int = 15) -> str:
        """Plain lines for a chat reply: errors first, then warnings, at most ``limit`` of them."""
        lines = [f"error: {e}" for e in self.errors] + [f"warning: {w}" for w in self.warnings]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))
