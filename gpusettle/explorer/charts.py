"""Hand-written SVG charts (no JavaScript library, no CDN): bars and a range chart."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bars", "ranges"]


def _fmt(v: float) -> str:
    if v >= 100 or (v >= 1 and float(v).is_integer()):
        return f"{v:,.0f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.4f}"


def bars(points: Sequence[tuple[str, float]], *, unit: str, title: str, width: int = 640) -> str:
    """A bar chart of (label, value); an empty-state note when there is nothing to draw."""
    if not points:
        return f'<p class="empty">No data yet for {escape(title.lower())}.</p>'
    top = max(v for _, v in points) or 1.0
    h, pad, label_h = 180, 8, 34
    bw = max(6, min(90, (width - 2 * pad) // len(points) - 6))
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {h + label_h}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(points):
        x = pad + i * (bw + 6)
        bh = max(1.0, (h - 24) * value / top)
        y = h - bh
        out.append(
            f'<rect x="{x}" y="{y:.1f}" width="{bw}" height="{bh:.1f}" rx="2" class="bar">'
            f"<title>{escape(label)}: {_fmt(value)} {escape(unit)}</title></rect>"
            f'<text x="{x + bw / 2}" y="{y - 4:.1f}" class="val">{_fmt(value)}</text>'
            f'<text x="{x + bw / 2}" y="{h + 14}" class="lbl">{escape(label[-5:] if len(label) == 10 else label[:14])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def ranges(
    rows: Sequence[tuple[str, float, float, float, int]], *, unit: str, title: str, width: int = 440
) -> str:
    """Horizontal min-mean-max ranges per label: (label, low, mean, high, count)."""
    if not rows:
        return f'<p class="empty">No data yet for {escape(title.lower())}.</p>'
    top = max(r[3] for r in rows) or 1.0
    row_h, left, right = 30, 92, 90
    h = row_h * len(rows) + 10
    span = width - left - right
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {h}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, low, mid, high, count) in enumerate(rows):
        y = 8 + i * row_h
        x0, x1, xm = left + span * low / top, left + span * high / top, left + span * mid / top
        out.append(
            f'<text x="{left - 8}" y="{y + 15}" class="name">{escape(label)}</text>'
            f'<line x1="{left}" y1="{y + 11}" x2="{left + span}" y2="{y + 11}" class="track"/>'
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(3.0, x1 - x0):.1f}" height="14" rx="7" class="range">'
            f"<title>{escape(label)}: {_fmt(low)} to {_fmt(high)} {escape(unit)}, {count} offers</title></rect>"
            f'<circle cx="{xm:.1f}" cy="{y + 11}" r="5" class="mid"/>'
            f'<text x="{left + span + 8}" y="{y + 15}" class="val-left">{_fmt(mid)} · {count}</text>'
        )
    out.append("</svg>")
    return "".join(out)
