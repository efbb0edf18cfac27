"""The prefilter's learning curve on the Stats page: each version's held-back recall and escalated share.

The figures come from ``/mod prefilter status`` (run through the core like any command): one line per
version, ``v3 (active) 2026-12-01 10:00: recall 0.912, escalated 0.1234 on 400 held-back all labels``.
They are drawn as a server-side SVG line chart (no script) with a table beside it for screen readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from modbot.domain.commands import Reply

__all__ = ["LearningPoint", "learning_chart", "learning_points"]

_LINE = re.compile(
    r"^v(?P<version>\d+)(?P<active> \(active\))? (?P<created>\d{4}-\d\d-\d\d \d\d:\d\d): "
    r"recall (?P<recall>[0-9.]+|-), escalated (?P<escalated>[0-9.]+|-)(?P<rest>.*)$"
)


@dataclass(frozen=True, slots=True)
class LearningPoint:
    """One prefilter version's evaluation (None: the figure was not measured)."""

    version: int
    created: str
    recall: float | None
    escalated_share: float | None
    active: bool
    #: Not switched to: its evaluation was worse than the model it would have replaced.
    kept_aside: bool


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def learning_points(reply: Reply) -> list[LearningPoint]:
    """The versions listed by a ``/mod prefilter status`` reply, oldest first (none when learning is off)."""
    if not reply.ok:
        return []
    points = []
    for line in reply.text.splitlines():
        found = _LINE.match(line.strip())
        if found:
            points.append(
                LearningPoint(
                    version=int(found["version"]),
                    created=found["created"],
                    recall=_number(found["recall"]),
                    escalated_share=_number(found["escalated"]),
                    active=bool(found["active"]),
                    kept_aside="kept aside" in found["rest"],
                )
            )
    return points


def learning_chart(points: list[LearningPoint], *, width: int = 360, height: int = 180) -> str:
    """Recall and escalated share per version as two lines on a 0–1 scale (inline SVG, labelled points)."""
    title = "Prefilter learning: held-back recall and escalated share per version"
    left, right, top, bottom = 34, 12, 10, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - min(max(value, 0.0), 1.0))

    parts = [
        f'<line x1="{left}" y1="{y(level):.1f}" x2="{width - right}" y2="{y(level):.1f}" class="chart-grid"/>'
        f'<text x="0" y="{y(level) + 4:.1f}" class="chart-label">{level:g}</text>'
        for level in (0.0, 0.5, 1.0)
    ]
    for name, css, values in (
        ("recall", "chart-line", [p.recall for p in points]),
        ("escalated", "chart-line-alt", [p.escalated_share for p in points]),
    ):
        known = [(i, v) for i, v in enumerate(values) if v is not None]
        if len(known) > 1:
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in known)
            parts.append(f'<polyline points="{path}" class="{css}" fill="none"/>')
        for i, v in known:
            # Each point carries its number, so the chart reads without telling the colours apart.
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" class="{css}"><title>v{points[i].version} {name} '
                f"{v:.3f}</title></circle>"
                f'<text x="{x(i) + 4:.1f}" y="{y(v) - 4:.1f}" class="chart-value">{escape(name[0])} {v:.2f}</text>'
            )
    for i, point in enumerate(points):
        parts.append(
            f'<text x="{x(i) - 8:.1f}" y="{height - bottom + 16}" class="chart-label">v{point.version}</text>'
        )
    if not points:
        parts.append('<text x="0" y="16" class="chart-label">no versions yet</text>')
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" class="chart" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )
