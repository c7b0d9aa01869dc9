"""The layer-wise report: score per hidden layer and of the learned weighted sum (``head.layer``), per task."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from xares_hydra.encode.cache import WEIGHTED
from xares_hydra.report.curves import (
    TaskCurve,
    best_cell,
    by_task,
    error_bars,
    label_axes,
    new_figure,
    points_of,
    write_curves,
)
from xares_hydra.report.identity import column_key, column_labels
from xares_hydra.report.leaderboard import StatisticsSettings, score_limits, seeded, seeds_cell
from xares_hydra.report.record import Record
from xares_hydra.report.summary import format_score, latest_scored
from xares_hydra.report.table import csv_text, markdown_table, rich_table

# the trained probe: the head whose per-layer scores and weights are drawn
LAYER_SLOT = "mlp"


@dataclass
class LayerCurve(TaskCurve):
    """One encoder (and setting) on one task: its score per layer and of the weighted sum."""

    scores: dict[int, float] = field(default_factory=dict)
    weighted: float | None = None
    weights: list[float] | None = None
    metric: str | None = None
    chance: float | None = None
    # per layer (and of the weighted sum): the bootstrap interval [low, high] of the score, where predictions allow
    intervals: dict[int, list[float]] = field(default_factory=dict)
    weighted_interval: list[float] | None = None


def layer_curves(records: list[Record], statistics: StatisticsSettings | None = None) -> list[LayerCurve]:
    """The curves of every (task, encoder, mode, setting other than the layer) with layer records; each score the
    mean over seeds with its bootstrap interval, as leaderboard cells."""
    statistics = statistics or StatisticsSettings(resamples=0)
    curves: dict[tuple[str, str, str], LayerCurve] = {}
    layered = [record for record in latest_scored(records) if record.head.get("layer") is not None]
    labels = column_labels(layered, leave_out=("layer",))
    for (task, _), seeds in seeded(layered, LAYER_SLOT, column_labels(layered)).items():  # a column per layer
        first, cell = seeds[0], seeds_cell(seeds, LAYER_SLOT, statistics)[0]
        encoder, mode, layer = labels[column_key(first, leave_out=("layer",))], first.mode, first.head["layer"]
        info, chance, score, interval = first.task, first.scores[LAYER_SLOT].chance, cell.score, cell.interval
        new = LayerCurve(task, info.formal_name or task, encoder, mode, metric=info.metric)
        curve = curves.setdefault((task, encoder, mode), new)
        curve.chance = chance if chance is not None else curve.chance
        bounds = [interval.low, interval.high] if interval else None
        if layer == WEIGHTED:  # the learned layer weights averaged over evaluation rounds (folds)
            learned = [entry.layer_weights for entry in first.scores[LAYER_SLOT].rounds.values() if entry.layer_weights]
            curve.weights = [round(float(value), 6) for value in np.mean(learned, axis=0)] if learned else None
            curve.weighted, curve.weighted_interval = score, bounds
        else:
            curve.scores[int(layer)] = score
            if bounds:
                curve.intervals[int(layer)] = bounds
    for curve in curves.values():
        if count := len(curve.weights or []):  # negative layers (from the end) as layer numbers, where known
            curve.scores = dict(sorted({layer % count: score for layer, score in curve.scores.items()}.items()))
            curve.intervals = {layer % count: bounds for layer, bounds in curve.intervals.items()}
    return sorted(curves.values(), key=lambda curve: (curve.task, curve.label))


def write_layer_report(curves: list[LayerCurve], folder: Path) -> list[Path]:
    """``layers.md``, ``.csv``, ``.json`` and ``.png`` in ``folder``; nothing when no record has a layer."""
    return write_curves(folder / "layers", curves, layers_markdown, layers_csv, layers_figure, slot=LAYER_SLOT)


def layers_markdown(curves: list[LayerCurve]) -> str:
    lines = [f"# Score per hidden layer ({LAYER_SLOT.upper()} probe)", ""]
    for members in by_task(curves).values():
        layers = points_of(members)
        rows = []
        for curve in members:
            best = max(curve.scores.values()) if curve.scores else None
            cells = [best_cell(curve.scores.get(layer), best) for layer in layers]
            weights = " ".join(f"{weight:.2f}" for weight in curve.weights) if curve.weights else "-"
            rows.append([curve.label, *cells, format_score(curve.weighted), weights])
        header = ["Encoder", *(f"L{layer}" for layer in layers), "weighted", "learned weights"]
        lines += [f"## {members[0].task_label}", "", *markdown_table(header, rows, "l" + "r" * len(layers) + "rl"), ""]
    lines.append("Bold: the best single layer. weighted: the probe on softmax-weighted layers (SUPERB), trained with")
    lines.append("its weights; learned weights: layer 0 first, averaged over folds.")
    return "\n".join(lines) + "\n"


def layers_csv(curves: list[LayerCurve]) -> str:
    rows = []
    for curve in curves:
        for layer, score in curve.scores.items():
            weight = curve.weights[layer] if curve.weights and 0 <= layer < len(curve.weights) else None
            rows.append([curve.task, curve.encoder, curve.mode, layer, score, weight])
        if curve.weighted is not None:
            rows.append([curve.task, curve.encoder, curve.mode, WEIGHTED, curve.weighted, None])
    return csv_text(["task", "encoder", "mode", "layer", "score", "learned_weight"], rows)


def layers_table(curves: list[LayerCurve]) -> Table:
    layers = points_of(curves)
    rows = [[curve.task, curve.label, *(format_score(curve.scores.get(layer)) for layer in layers),
             format_score(curve.weighted)] for curve in curves]  # fmt: skip
    header = ["task", "encoder", *(f"L{layer}" for layer in layers), "weighted"]
    return rich_table(f"score per hidden layer ({LAYER_SLOT.upper()})", header, rows, "ll" + "r" * (len(layers) + 1))


def layers_figure(curves: list[LayerCurve]) -> tuple[Any, dict[str, Any]]:
    """One row per task: score per layer (a line per encoder with its intervals, the weighted-sum score dashed in
    the same colour, chance dotted; the metric on the axis, all of 0-1 where the scores lie in it, as
    leaderboard.png) and, beside it, the learned layer weights; and the legend."""
    tasks = by_task(curves)
    figure, axes, colours = new_figure(len(tasks), 2, 11, curves)
    legend: dict[str, Any] = {}
    for (score_axes, weight_axes), members in zip(axes, tasks.values()):
        for curve in members:
            colour, layers = colours[curve.label], list(curve.scores)
            scores = [curve.scores[layer] for layer in layers]
            bars = error_bars(scores, [curve.intervals.get(layer) for layer in layers])  # none without intervals
            drawn = score_axes.errorbar(layers, scores, yerr=bars, fmt="o-", color=colour, capsize=2)
            legend.setdefault(curve.label, drawn)
            if curve.weighted is not None:
                score_axes.axhline(curve.weighted, color=colour, linestyle="--")
                if curve.weighted_interval:
                    score_axes.axhspan(*curve.weighted_interval, color=colour, alpha=0.12)
            if curve.weights:
                weight_axes.plot(range(len(curve.weights)), curve.weights, "s-", color=colour)
        if (chance := next((curve.chance for curve in members if curve.chance is not None), None)) is not None:
            score_axes.axhline(chance, color="black", linestyle=":", linewidth=1)
        values = [value for curve in members for value in (*curve.scores.values(), curve.weighted, curve.chance,
                  *(end for bounds in curve.intervals.values() for end in bounds)) if value is not None]  # fmt: skip
        if limits := score_limits(values):  # every value drawn
            score_axes.set_ylim(*limits)
        if not any(curve.weights for curve in members):
            weight_axes.text(0.5, 0.5, "no head.layer=weighted result", ha="center", transform=weight_axes.transAxes)
        title, metric = members[0].task_label, members[0].metric or "score"
        subtitle = "error bars: confidence interval; dashed: learned weighted sum; dotted: chance level"
        label_axes(score_axes, f"{title}: {LAYER_SLOT.upper()} probe per layer\n({subtitle})", "layer", metric)
        label_axes(weight_axes, f"{title}: learned layer weights", "layer", "softmax weight")
    return figure, legend
