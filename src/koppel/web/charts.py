"""Charts as server-rendered SVG: pure functions from numbers to markup, no script, no library.

Every label is escaped; sizes are in viewBox units, so a chart scales with its container.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from koppel.i18n import _

WIDTH = 1000  # full card width; half-width cards pass width=520 so labels keep their size
FONT = 'font-family="inherit" font-size="12"'


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    target: float | None = None
    tone: str = "primary"  # a CSS class: primary | good | bad | a | b | c


def short(value: float) -> str:
    """1234567 -> '1.2M', 12345 -> '12k'."""
    size = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.1f}{suffix}".replace(".0", "")
    return f"{value:.0f}"


def _scale(values: Sequence[float]) -> float:
    top = max([abs(v) for v in values] + [0.0])
    if top <= 0:
        return 1.0
    step = 10 ** (len(str(int(top))) - 1)
    return float((int(top / step) + 1) * step)


def columns(bars: Sequence[Bar], *, title: str, height: int = 260, width: int = WIDTH) -> Markup:
    """Vertical bars (one per period) with a target mark above or through each bar."""
    if not bars:
        return Markup("")
    left, bottom, top_pad = 56, 28, 12
    plot_h = height - bottom - top_pad
    top = _scale([b.value for b in bars] + [b.target or 0 for b in bars])
    slot = (width - left - 8) / len(bars)
    parts = _grid(left, top_pad, plot_h, top, width)
    for i, bar in enumerate(bars):
        w = min(slot * 0.7, 90.0)
        x = left + i * slot + (slot - w) / 2
        h = max(0.0, bar.value) / top * plot_h
        y = top_pad + plot_h - h
        tip = f"{bar.label}: {short(bar.value)}" + (f" ({_('target')} {short(bar.target)})" if bar.target else "")
        parts.append(f'<rect class="bar {bar.tone}" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                     f'rx="2"><title>{escape(tip)}</title></rect>')
        if bar.target:
            ty = top_pad + plot_h - bar.target / top * plot_h
            parts.append(f'<line class="target" x1="{x - 3:.1f}" x2="{x + w + 3:.1f}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        if len(bars) <= 16 or i % 2 == 0:
            parts.append(f'<text {FONT} class="axis" x="{x + w / 2:.1f}" y="{height - 10}" '
                         f'text-anchor="middle">{escape(bar.label)}</text>')
    return _svg(parts, width, height, title)


def rows(bars: Sequence[Bar], *, title: str, label_width: int = 200, width: int = WIDTH) -> Markup:
    """Horizontal bars (one per account or owner), negative values to the left of zero."""
    if not bars:
        return Markup("")
    line, pad = 26, 8
    height = pad * 2 + line * len(bars)
    top = _scale([b.value for b in bars] + [b.target or 0 for b in bars])
    negative = any(b.value < 0 for b in bars)
    plot_w = width - label_width - 60
    zero = label_width + (plot_w / 2 if negative else 0)
    unit = (plot_w / 2 if negative else plot_w) / top
    parts = [f'<line class="zero" x1="{zero:.1f}" x2="{zero:.1f}" y1="{pad}" y2="{height - pad}"/>']
    for i, bar in enumerate(bars):
        y = pad + i * line
        w = abs(bar.value) * unit
        x = zero if bar.value >= 0 else zero - w
        parts.append(f'<text {FONT} class="label" x="{label_width - 8}" y="{y + 17}" text-anchor="end">'
                     f'{escape(_clip(bar.label))}</text>')
        parts.append(f'<rect class="bar {bar.tone}" x="{x:.1f}" y="{y + 5}" width="{w:.1f}" height="{line - 10}" '
                     f'rx="2"><title>{escape(bar.label)}: {escape(short(bar.value))}</title></rect>')
        if bar.target:
            tx = zero + bar.target * unit
            parts.append(f'<line class="target" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 2}" y2="{y + line - 2}"/>')
        value_x = (x + w + 6) if bar.value >= 0 else (x - 6)
        anchor = "start" if bar.value >= 0 else "end"
        parts.append(f'<text {FONT} class="value" x="{value_x:.1f}" y="{y + 17}" text-anchor="{anchor}">'
                     f'{escape(short(bar.value))}</text>')
    return _svg(parts, width, height, title)


def _grid(left: int, top_pad: int, plot_h: int, top: float, width: int) -> list[str]:
    parts = []
    for k in range(5):
        value = top * k / 4
        y = top_pad + plot_h - plot_h * k / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text {FONT} class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{short(value)}</text>')
    return parts


def _clip(text: str, size: int = 26) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _svg(parts: list[str], width: int, height: int, title: str) -> Markup:
    body = "".join(parts)
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
                  f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>')
