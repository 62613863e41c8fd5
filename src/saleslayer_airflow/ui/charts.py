"""Small SVG charts for the connector pages, drawn on the server: no script, no library to load
in the browser (the pages are shown inside the Airflow UI and work offline).

Each chart is one ``<svg>`` string with a ``<title>`` per mark, so hovering a bar or a point
shows its exact figure, and ``data-*`` attributes a test can read back. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

#: Series colours, in order (colour-blind safe: Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
FAILED = "#c62828"

_WIDTH = 720
_HEIGHT = 220
_LEFT = 56
_RIGHT = 12
_TOP = 12
_BOTTOM = 34


@dataclass(frozen=True)
class Column:
    """One run on a chart: its label (the x axis), values per series, and whether it failed."""

    label: str
    values: Mapping[str, float | None]
    failed: bool = False
    title: str = ""


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _nice_max(value: float) -> float:
    """A round upper bound for the y axis (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _frame(top: float, unit: str, label: str) -> list[str]:
    """The axes and three grid lines, labelled."""
    plot_h = _HEIGHT - _TOP - _BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'role="img" aria-label="{escape(label)}" class="chart">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{escape(_fmt(top * fraction))}{escape(unit)}</text>'
        )
    return parts


def _x_labels(columns: Sequence[Column], slot: float) -> list[str]:
    parts = []
    every = max(1, len(columns) // 10)
    for index, column in enumerate(columns):
        x = _LEFT + slot * (index + 0.5)
        if column.failed:
            parts.append(
                f'<text x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 14}" text-anchor="middle" '
                f'font-size="12" fill="{FAILED}" data-failed="1">'
                f"<title>{escape(column.title or column.label)}: failed</title>&#x2715;</text>"
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{_HEIGHT - 6}" text-anchor="middle" font-size="10" '
                f'fill="#555">{escape(column.label)}</text>'
            )
    return parts


def stacked_bars(
    columns: Sequence[Column], series: Sequence[str], *, label: str, unit: str = ""
) -> str:
    """One bar per column, the series stacked in ``series`` order; a failed run's bar is
    outlined and marked with a cross under it."""
    totals = [sum(v or 0.0 for v in c.values.values()) for c in columns]
    top = _nice_max(max(totals, default=0.0))
    plot_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / max(1, len(columns))
    bar = max(2.0, slot * 0.7)
    parts = _frame(top, unit, label)
    for index, column in enumerate(columns):
        x = _LEFT + slot * index + (slot - bar) / 2
        y = float(_TOP + plot_h)
        for position, name in enumerate(series):
            value = column.values.get(name) or 0.0
            if value <= 0:
                continue
            height = plot_h * value / top
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[position % len(PALETTE)]}" data-series="{escape(name)}" '
                f'data-value="{escape(_fmt(value))}"><title>{escape(column.title or column.label)}'
                f" {escape(name)}: {escape(_fmt(value))}{escape(unit)}</title></rect>"
            )
        if column.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{_TOP}" width="{bar:.1f}" height="{plot_h}" fill="none" '
                f'stroke="{FAILED}" stroke-dasharray="3 2"/>'
            )
    parts += _x_labels(columns, slot)
    parts.append("</svg>")
    return "".join(parts)


def line(columns: Sequence[Column], name: str, *, label: str, percent: bool = False) -> str:
    """One series as points joined by a line (a column without a value breaks the line);
    failed runs are marked with a cross under their place."""
    values = [c.values.get(name) for c in columns]
    scale = 100.0 if percent else 1.0
    unit = "%" if percent else ""
    top = _nice_max(max((v * scale for v in values if v is not None), default=0.0))
    plot_h = _HEIGHT - _TOP - _BOTTOM
    slot = (_WIDTH - _LEFT - _RIGHT) / max(1, len(columns))
    parts = _frame(top, unit, label)
    path: list[str] = []
    for index, (column, value) in enumerate(zip(columns, values, strict=True)):
        if value is None:
            if len(path) > 1:
                parts.append(_polyline(path))
            path = []
            continue
        x = _LEFT + slot * (index + 0.5)
        y = _TOP + plot_h * (1 - value * scale / top)
        path.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[0]}" '
            f'data-value="{escape(_fmt(value * scale))}"><title>'
            f"{escape(column.title or column.label)}: {escape(_fmt(value * scale))}{unit}"
            "</title></circle>"
        )
    if len(path) > 1:
        parts.append(_polyline(path))
    parts += _x_labels(columns, slot)
    parts.append("</svg>")
    return "".join(parts)


def _polyline(points: Sequence[str]) -> str:
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{PALETTE[0]}" '
        'stroke-width="1.5"/>'
    )


def legend(series: Sequence[str]) -> str:
    """The colour of each series, as HTML."""
    items = "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>'
        f"{escape(name)}</span>"
        for i, name in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'
