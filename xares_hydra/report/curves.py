"""What the per-task curve reports share (score per layer, score per shot count): a curve of one encoder setting on
one task, grouping by task, a best-value cell and a labelled, saved figure; and the PNG figure every report draws on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from xares_hydra.atomic import atomic_path
from xares_hydra.report.identity import DEFAULT_MODE
from xares_hydra.report.summary import format_score
from xares_hydra.report.table import write_files

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class TaskCurve:
    """One encoder (and setting, as its column label says) on one task."""

    task: str
    task_label: str
    encoder: str
    mode: str

    @property
    def label(self) -> str:
        return self.encoder if self.mode == DEFAULT_MODE else f"{self.encoder} ({self.mode} mode)"


Curve = TypeVar("Curve", bound=TaskCurve)
Renderer = Callable[[Any], Any]  # a report's curves as Markdown, CSV or (figure, legend)


def by_task(curves: Sequence[Curve]) -> dict[str, list[Curve]]:
    """``curves``, sorted by task as ``layer_curves`` and ``shot_curves`` return them, grouped by task."""
    return {task: list(group) for task, group in groupby(curves, key=lambda curve: curve.task)}


def points_of(curves: Sequence[Any]) -> list[int]:
    """Every x (layer, shot count) any of ``curves`` has a score at, in order."""
    return sorted({point for curve in curves for point in curve.scores})


def write_curves(
    stem: Path, curves: Sequence[Curve], markdown: Renderer, csv: Renderer, figure: Renderer, **document: Any
) -> list[Path]:
    """``<stem>.md``, ``.csv``, ``.json`` (``document`` and the curves) and ``.png`` (``figure`` returns the figure and
    its legend, label -> artist, drawn below the axes); nothing without curves."""
    if not curves:
        return []
    drawn, legend = figure(curves)
    drawn.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=1, fontsize=7)
    save_png(drawn, stem.with_suffix(".png"))
    document["curves"] = [asdict(curve) for curve in curves]
    files = {".md": markdown(curves), ".csv": csv(curves), ".json": document}
    return [*write_files(stem, files), stem.with_suffix(".png")]


def best_cell(score: float | None, best: float | None, std: float | None = None) -> str:
    """The score (± ``std``) as text, in bold where it is the ``best`` one."""
    text = format_score(score, std)
    return f"**{text}**" if score is not None and score == best else text


def error_bars(scores: Sequence[float], intervals: Sequence[Sequence[float] | None]) -> Any:
    """Matplotlib's error-bar lengths below and above each score (none drawn where no score has an interval). A
    percentile interval need not hold its score (a skewed metric, a weighted average): that side's bar is then empty,
    not negative, which matplotlib refuses."""
    if not any(intervals):
        return None
    below_above = [[max(s - i[0], 0.0), max(i[1] - s, 0.0)] if i else [0.0, 0.0] for s, i in zip(scores, intervals)]
    return np.array(below_above).T


def png_figure(width: float, height: float, layout: Literal["constrained"] | None = "constrained") -> Figure:
    """A matplotlib figure drawn off-screen (Agg), for ``save_png``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: Path) -> None:
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=100)


def new_figure(rows: int, columns: int, width: float, curves: Sequence[TaskCurve]) -> tuple[Any, Any, dict[str, Any]]:
    """A figure of ``rows`` x ``columns`` axes (always 2-D) with room below for a legend of ``curves``, and a colour
    per curve label."""
    figure = png_figure(width, 2.8 * rows + 0.4 + 0.25 * len(curves))
    return figure, figure.subplots(rows, columns, squeeze=False), colours_of([curve.label for curve in curves])


def colours_of(labels: Sequence[str], palette: str = "tab10") -> dict[str, Any]:
    from matplotlib import colormaps

    colours = colormaps[palette]
    return {label: colours(index % colours.N) for index, label in enumerate(dict.fromkeys(labels))}


def label_axes(axes: Any, title: str, xlabel: str, ylabel: str, integer_x: bool = True) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_title(title, fontsize=9)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if integer_x:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
