"""The layer-wise report: score per hidden layer and of the learned weighted sum (``head.layer``), per task."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from xares_hydra.atomic import write_json, write_text
from xares_hydra.encode.cache import WEIGHTED
from xares_hydra.report.curves import TaskCurve, by_task, colours_of, label_axes, new_figure, save_figure, score_cell
from xares_hydra.report.identity import column_key, column_labels, mode_of
from xares_hydra.report.record import task_of
from xares_hydra.report.summary import format_score, latest_scored
from xares_hydra.report.table import markdown_table, rich_table

LAYERS_STEM = "layers"
# the trained probe: the head whose per-layer scores and weights are drawn
LAYER_SLOT = "mlp"


@dataclass
class LayerCurve(TaskCurve):
    """One encoder (and setting) on one task: its score per layer and of the weighted sum."""

    scores: dict[int, float] = field(default_factory=dict)
    weighted: float | None = None
    weights: list[float] | None = None


def layer_curves(records: list[dict[str, Any]]) -> list[LayerCurve]:
    """The curves of every (task, encoder, mode, setting other than the layer) with layer records."""
    curves: dict[tuple[str, str, str], LayerCurve] = {}
    layered = [record for record in latest_scored(records) if record["head"].get("layer") is not None]
    labels = column_labels(layered, leave_out=("layer",))
    for record in layered:
        layer, score = record["head"]["layer"], record["scores"].get(LAYER_SLOT)
        if score is None:
            continue
        encoder = labels[column_key(record, leave_out=("layer",))]
        key = (record["task"]["name"], encoder, mode_of(record))
        task_label = task_of(record).formal_name or record["task"]["name"]
        curve = curves.setdefault(key, LayerCurve(key[0], task_label, encoder, key[2]))
        if layer == WEIGHTED:
            curve.weighted, curve.weights = score["score"], mean_weights(score["rounds"])
        else:
            curve.scores[int(layer)] = score["score"]
    for curve in curves.values():
        _count_from_the_start(curve)
    return sorted(curves.values(), key=lambda curve: (curve.task, curve.label))


def mean_weights(rounds: dict[str, dict[str, Any]]) -> list[float] | None:
    """The learned layer weights averaged over evaluation rounds (folds)."""
    weights = [entry["layer_weights"] for entry in rounds.values() if entry.get("layer_weights")]
    return [round(float(value), 6) for value in np.mean(weights, axis=0)] if weights else None


def _count_from_the_start(curve: LayerCurve) -> None:
    """Negative layers (from the end) as layer numbers, where the number of layers is known."""
    count = len(curve.weights) if curve.weights else None
    if count is None:
        return
    curve.scores = dict(sorted({layer % count: score for layer, score in curve.scores.items()}.items()))


def write_layer_report(curves: list[LayerCurve], folder: Path) -> list[Path]:
    """``layers.md``, ``.csv``, ``.json`` and ``.png`` in ``folder``; nothing when no record has a layer."""
    if not curves:
        return []
    stem = folder / LAYERS_STEM
    paths = [stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".json"), stem.with_suffix(".png")]
    for path, text in zip(paths[:2], (layers_markdown(curves), layers_csv(curves))):
        write_text(path, text)
    write_json(paths[2], {"slot": LAYER_SLOT, "curves": [asdict(curve) for curve in curves]})
    plot_layers(curves, paths[3])
    return paths


def _layers_of(curves: list[LayerCurve]) -> list[int]:
    return sorted({layer for curve in curves for layer in curve.scores})


def _format_weights(weights: list[float] | None) -> str:
    return " ".join(f"{weight:.2f}" for weight in weights) if weights else "-"


def layers_markdown(curves: list[LayerCurve]) -> str:
    lines = [f"# Score per hidden layer ({LAYER_SLOT.upper()} probe)", ""]
    for members in by_task(curves).values():
        layers = _layers_of(members)
        rows = []
        for curve in members:
            best = max(curve.scores.values()) if curve.scores else None
            cells = [score_cell(curve.scores.get(layer), best) for layer in layers]
            rows.append([curve.label, *cells, format_score(curve.weighted), _format_weights(curve.weights)])
        header = ["Encoder", *(f"L{layer}" for layer in layers), "weighted", "learned weights"]
        lines += [f"## {members[0].task_label}", "", *markdown_table(header, rows, "l" + "r" * len(layers) + "rl"), ""]
    lines.append("Bold: the best single layer. weighted: the probe on softmax-weighted layers (SUPERB), trained with")
    lines.append("its weights; learned weights: layer 0 first, averaged over folds.")
    return "\n".join(lines) + "\n"


def layers_csv(curves: list[LayerCurve]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["task", "encoder", "mode", "layer", "score", "learned_weight"])
    for curve in curves:
        for layer, score in curve.scores.items():
            weight = curve.weights[layer] if curve.weights and 0 <= layer < len(curve.weights) else None
            writer.writerow([curve.task, curve.encoder, curve.mode, layer, score, weight])
        if curve.weighted is not None:
            writer.writerow([curve.task, curve.encoder, curve.mode, WEIGHTED, curve.weighted, None])
    return buffer.getvalue()


def layers_table(curves: list[LayerCurve]) -> Table:
    layers = _layers_of(curves)
    rows = [[curve.task, curve.label, *(format_score(curve.scores.get(layer)) for layer in layers),
             format_score(curve.weighted)] for curve in curves]  # fmt: skip
    header = ["task", "encoder", *(f"L{layer}" for layer in layers), "weighted"]
    return rich_table(f"score per hidden layer ({LAYER_SLOT.upper()})", header, rows, "ll" + "r" * (len(layers) + 1))


def plot_layers(curves: list[LayerCurve], path: Path) -> None:
    """One row per task: score per layer (a line per encoder, the weighted-sum score dashed in the same
    colour) and, beside it, the learned layer weights."""
    tasks = by_task(curves)
    figure, axes = new_figure(len(tasks), 2, 11, len(curves))
    colours = colours_of([curve.label for curve in curves])
    legend: dict[str, Any] = {}
    for (score_axes, weight_axes), members in zip(axes, tasks.values()):
        for curve in members:
            colour = colours[curve.label]
            layers = list(curve.scores)
            (line,) = score_axes.plot(layers, [curve.scores[layer] for layer in layers], "o-", color=colour)
            legend.setdefault(curve.label, line)
            if curve.weighted is not None:
                score_axes.axhline(curve.weighted, color=colour, linestyle="--")
            if curve.weights:
                weight_axes.plot(range(len(curve.weights)), curve.weights, "s-", color=colour)
        if not any(curve.weights for curve in members):
            weight_axes.text(0.5, 0.5, "no head.layer=weighted result", ha="center", transform=weight_axes.transAxes)
        title = members[0].task_label
        label_axes(score_axes, f"{title}: score per layer (dashed: learned weighted sum)", "layer", LAYER_SLOT.upper())
        label_axes(weight_axes, f"{title}: learned layer weights", "layer", "softmax weight")
    save_figure(figure, legend, path)
