"""Small inline SVG figures for the HTML page (bars with intervals, lines, a scatter), each with its chance line
where it has one; text is escaped, every figure carries a title for screen readers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass
from html import escape

from xares_hydra.report.statistics import Interval

LABEL_WIDTH = 200
PLOT_WIDTH = 320
ROW_HEIGHT = 20
PAD = 24
DASHES = {"chance": "2 3", "reference": "6 4"}
LEFT = PAD + 30  # the y axis of line charts and scatters


@dataclass(frozen=True)
class Bar:
    label: str
    score: float
    interval: Interval | None = None
    published: bool = False


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]
    level: float | None = None  # a dashed horizontal line in the same style (the learned weighted sum)


def _domain(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    low, high = min(low, 0.0), max(high, 0.0)
    return (low, high) if high > low else (low - 1.0, high + 1.0)


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    label = escape(title)
    return (
        f'<svg class="figure" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{label}"><title>{label}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 11) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}">{escape(text)}</text>'


def bar_chart(bars: Sequence[Bar], title: str, chance: float | None = None) -> str:
    """One horizontal bar per column (hatched: published), its interval as a whisker, chance dotted."""
    values = [bar.score for bar in bars] + [v for bar in bars if bar.interval for v in astuple(bar.interval)]
    values += [chance] if chance is not None else []
    low, high = _domain(values)
    height = PAD * 2 + ROW_HEIGHT * len(bars)
    width = LABEL_WIDTH + PLOT_WIDTH + PAD

    def x(value: float) -> float:
        return LABEL_WIDTH + (value - low) / (high - low) * PLOT_WIDTH

    body = [f'<line x1="{x(low)}" y1="{PAD}" x2="{x(low)}" y2="{height - PAD}" class="axis"/>']
    for index, bar in enumerate(bars):
        top = PAD + index * ROW_HEIGHT
        style = "bar published" if bar.published else "bar"
        body.append(_text(LABEL_WIDTH - 6, top + 14, bar.label[:34], "end"))
        left, right = sorted((x(0.0 if low <= 0.0 <= high else low), x(bar.score)))
        body.append(f'<rect class="{style}" x="{left:.1f}" y="{top + 3}" width="{right - left:.1f}" height="14"/>')
        end = right
        if bar.interval:
            a, b = x(bar.interval.low), x(bar.interval.high)
            body.append(f'<line class="whisker" x1="{a:.1f}" y1="{top + 10}" x2="{b:.1f}" y2="{top + 10}"/>')
            end = max(end, b)
        body.append(_text(end + 3, top + 14, f"{bar.score:.3f}", size=10))
    body += [_text(x(end), height - 6, f"{end:g}", "middle", 10) for end in (low, high)]
    if chance is not None:
        at = x(chance)
        body.append(f'<line class="chance" x1="{at:.1f}" y1="{PAD - 6}" x2="{at:.1f}" y2="{height - PAD}" '
                    f'stroke-dasharray="{DASHES["chance"]}"/>')  # fmt: skip
        body.append(_text(at, PAD - 9, f"chance {chance:.3f}", "middle", 10))
    return _svg(width, height, title, body)


def _plot_area(
    xs: Sequence[float], ys: Sequence[float], bottom: int, span: int, label: str, label_y: int
) -> tuple[Callable[[float], float], Callable[[float], float], list[str]]:
    """The x and y of a plot ``PLOT_WIDTH`` wide from ``LEFT``, ``span`` high above ``bottom``; and its x axis with
    ``label`` and the y range's ends."""
    first, last = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    low, high = _domain(ys)

    def x(value: float) -> float:
        return LEFT + (value - first) / (last - first) * PLOT_WIDTH

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * span

    axis = f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{LEFT + PLOT_WIDTH}" y2="{bottom}"/>'
    ends = [_text(LEFT - 4, y(high) + 4, f"{high:g}", "end", 10), _text(LEFT - 4, y(low), f"{low:g}", "end", 10)]
    return x, y, [axis, _text(LEFT + PLOT_WIDTH / 2, label_y, label, "middle", 10), *ends]


def line_chart(lines: Sequence[Line], title: str, x_label: str, chance: float | None = None) -> str:
    """A line per entry (markers a different shape each, so lines read without colour), chance dotted."""
    xs = [px for line in lines for px, _ in line.points] or [0.0, 1.0]
    ys = [py for line in lines for _, py in line.points] + [line.level for line in lines if line.level is not None]
    ys += [chance] if chance is not None else []
    width, height = PLOT_WIDTH + 2 * PAD + 40, 220
    x, y, body = _plot_area(xs, ys or [0.0, 1.0], height - PAD, height - 2 * PAD, x_label, height + 8)
    ticks = sorted(set(xs))
    body += [_text(x(at), height - PAD + 10, f"{at:g}", "middle", 9) for at in ticks if len(ticks) <= 32]
    for index, line in enumerate(lines):
        path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in line.points)
        body.append(f'<polyline class="series s{index % 6}" points="{path}"/>')
        body += [_marker(index, x(px), y(py)) for px, py in line.points]
        if line.level is not None:
            body.append(_across(f"series s{index % 6}", y(line.level), "reference"))
        body.append(_text(LEFT + PLOT_WIDTH + 4, y(line.points[-1][1]) + 4 if line.points else PAD, line.label[:18]))
    if chance is not None:
        body += [
            _across("chance", y(chance), "chance"),
            _text(LEFT + 2, y(chance) - 3, f"chance {chance:.3f}", size=10),
        ]
    return _svg(width + 60, height + 14, title, body)


def _across(css: str, at: float, dash: str) -> str:
    """A dashed horizontal line over the plot at y ``at``."""
    return (f'<line class="{css}" x1="{LEFT}" y1="{at:.1f}" x2="{LEFT + PLOT_WIDTH}" y2="{at:.1f}" '
            f'stroke-dasharray="{DASHES[dash]}"/>')  # fmt: skip


# the markers of series 1 to 5 (series 0: a circle): square, triangle, diamond, cross, plus, as corners around the point
_POLYGONS = (
    [(-3, -3), (3, -3), (3, 3), (-3, 3)],
    [(0, -4), (4, 3), (-4, 3)],
    [(0, -4), (4, 0), (0, 4), (-4, 0)],
    [(-4, -1), (-1, -1), (-1, -4), (1, -4), (1, -1), (4, -1), (4, 1), (1, 1), (1, 4), (-1, 4)],
    [(-4, -4), (4, 4), (-4, 4), (4, -4)],
)


def _marker(index: int, cx: float, cy: float) -> str:
    if index % 6 == 0:
        return f'<circle class="marker s{index % 6}" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5"/>'
    text = " ".join(f"{cx + dx:.1f},{cy + dy:.1f}" for dx, dy in _POLYGONS[index % 6 - 1])
    return f'<polygon class="marker s{index % 6}" points="{text}"/>'


def scatter(points: Sequence[tuple[str, float, float]], title: str, x_label: str, y_label: str) -> str:
    """(label, cost, score) points; the cost axis logarithmic when it spans more than two decades."""
    costs = [cost for _, cost, _ in points]
    logarithmic = min(costs) > 0 and max(costs) / min(costs) > 100
    position = [math.log10(cost) if logarithmic else cost for cost in costs]
    width, height = PLOT_WIDTH + 2 * PAD + 160, 240
    axis = f"{x_label} (log scale)" if logarithmic else x_label
    scores = [score for *_, score in points]
    x, y, body = _plot_area(position, scores, height - PAD - 10, height - 2 * PAD - 10, axis, height - 4)
    body.append(_text(4, PAD - 8, y_label, size=10))
    for index, ((label, cost, score), at) in enumerate(zip(points, position)):
        body.append(_marker(index, x(at), y(score)))
        body.append(_text(x(at) + 6, y(score) + 4, f"{label[:24]} ({cost:.3g}, {score:.3f})", size=10))
    return _svg(width, height, title, body)
