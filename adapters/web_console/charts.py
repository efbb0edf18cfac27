"""Server-side SVG bar charts: no script, readable without colour (every bar has its number and label)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "bar_chart"]


@dataclass(frozen=True, slots=True)
class Bar:
    """One labelled bar."""

    label: str
    value: float
    shown: str = ""


def bar_chart(title: str, bars: list[Bar], *, width: int = 320, bar_height: int = 22) -> str:
    """A horizontal bar chart as inline SVG (it scales to its box: ``viewBox`` and ``width: 100%``)."""
    label_w = 110
    top = max((b.value for b in bars), default=0) or 1
    height = max(1, len(bars)) * (bar_height + 6) + 4
    rows = []
    for i, bar in enumerate(bars):
        y = 2 + i * (bar_height + 6)
        length = (width - label_w - 60) * (bar.value / top)
        rows.append(
            f'<text x="0" y="{y + bar_height * 0.7:.0f}" class="chart-label">{escape(bar.label[:18])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(length, 1):.1f}" height="{bar_height}" class="chart-bar"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + bar_height * 0.7:.0f}" class="chart-value">'
            f"{escape(bar.shown or f'{bar.value:g}')}</text>"
        )
    if not bars:
        rows.append('<text x="0" y="16" class="chart-label">no data</text>')
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" class="chart" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>{"".join(rows)}</svg>'
    )
