"""Confusion matrices, worst classes and training curves, one record per (task, column): the lowest seed."""

from __future__ import annotations

import re
from itertools import groupby
from pathlib import Path

import numpy as np

from xares_hydra.atomic import write_text
from xares_hydra.heads.predictions import CLIP, pool
from xares_hydra.report.curves import colours_of, png_figure, save_png
from xares_hydra.report.identity import column_labels
from xares_hydra.report.leaderboard import seeded
from xares_hydra.report.record import Record, predictions_of
from xares_hydra.report.summary import latest_scored

SLOT = "mlp"
WORST = 5
MAX_FIGURE_INCHES = 16.0
MAX_LABELLED_CLASSES = 60


def confusion_matrix(record: Record) -> np.ndarray | None:
    """[true class, predicted class] counts over every round's test clips; None unless single-label."""
    rounds = predictions_of(record, SLOT)
    if not rounds:
        return None
    pooled = pool(list(rounds.values()))
    targets, outputs = pooled.arrays.get("targets"), pooled.arrays.get("outputs")
    if pooled.kind != CLIP or targets is None or outputs is None or targets.ndim != 1 or outputs.ndim != 2:
        return None
    n_classes = outputs.shape[1]
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (targets, outputs.argmax(axis=1)), 1)
    return matrix


def class_names(record: Record, n_classes: int) -> list[str]:
    per_class = record.scores[SLOT].per_class
    return per_class.classes if per_class and per_class.classes else [str(index) for index in range(n_classes)]


def plot_confusion(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    size = min(2.5 + 0.35 * len(classes), MAX_FIGURE_INCHES)  # VoxCeleb's 1251 classes would need 44k pixels
    figure = png_figure(size, size)
    axes = figure.subplots()
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if len(classes) <= 30:
        for (true, predicted), count in np.ndenumerate(matrix):
            colour = "white" if rates[true, predicted] > 0.5 else "black"
            axes.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=colour)
    if len(classes) <= MAX_LABELLED_CLASSES:
        axes.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        axes.set_yticks(range(len(classes)), classes, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    save_png(figure, path)


def classes_markdown(chosen: dict[tuple[str, str], Record]) -> str:
    """The ``WORST`` classes of each (task, column) with per-class values."""
    lines = [f"# Worst classes ({SLOT} head, pooled over folds, lowest seed)", ""]
    for (task, label), record in chosen.items():
        if per_class := record.scores[SLOT].per_class:
            pairs = [(name, value) for name, value in zip(per_class.classes, per_class.values) if value is not None]
            if worst := sorted(pairs, key=lambda pair: pair[1])[:WORST]:
                listed = ", ".join(f"{name} {value:.3f}" for name, value in worst)
                lines.append(f"- **{task}** · {label} (per-class {per_class.measure}): {listed}")
    return "\n".join(lines) + "\n"


def plot_curves(task: str, records: dict[str, Record], path: Path) -> bool:
    """Validation metric and training loss per epoch, a colour per column, a line per round. False if none."""
    from matplotlib.ticker import MaxNLocator

    histories = {
        label: rounds
        for label, record in records.items()
        if (rounds := [item for item in record.scores[SLOT].rounds.values() if item.valid_history])
    }
    if not histories:
        return False
    figure = png_figure(10, 3.6, layout=None)  # fixed margins: a layout engine would double the drawing time
    valid_axes, loss_axes = figure.subplots(
        1, 2, gridspec_kw=dict(left=0.07, right=0.99, bottom=0.13, top=0.91, wspace=0.2)
    )
    colours = colours_of(list(histories))
    for label, rounds in histories.items():
        for number, entry in enumerate(rounds):
            epochs = range(1, len(entry.valid_history or []) + 1)
            name = label if number == 0 else None
            valid_axes.plot(epochs, entry.valid_history, color=colours[label], alpha=0.8, linewidth=1, label=name)
            loss_axes.plot(epochs, entry.train_loss_history, color=colours[label], alpha=0.8, linewidth=1, label=name)
    metric = next(iter(records.values())).task.metric or "metric"
    valid_axes.set(xlabel="epoch", ylabel=f"validation {metric}", title=f"{task}: validation {metric} per epoch")
    loss_axes.set(xlabel="epoch", ylabel="training loss", title=f"{task}: mean training loss per epoch")
    for axes in (valid_axes, loss_axes):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_axes.legend(fontsize=7)
    save_png(figure, path)
    return True


def write_diagnostics(records: list[Record], folder: Path) -> list[Path]:
    """``figures/confusion-<task>-<column>.png`` (single-label tasks), ``figures/curves-<task>.png``, ``classes.md``;
    per (task, column label) from the scored record of its lowest seed."""
    members = seeded(latest_scored(records), SLOT, column_labels(records))
    chosen = dict(sorted(((task, column.label), seeds[0]) for (task, column), seeds in members.items()))
    if not chosen:
        return []
    written = []
    figures = folder / "figures"
    for (task, label), record in chosen.items():
        matrix = confusion_matrix(record)
        if matrix is not None:
            path = figures / f"confusion-{file_part(task)}-{file_part(label)}.png"
            title = f"{task} · {label} (rows: true class; pooled over folds)"
            plot_confusion(matrix, class_names(record, len(matrix)), title, path)
            written.append(path)
    for task, group in groupby(chosen.items(), key=lambda item: item[0][0]):
        path = figures / f"curves-{file_part(task)}.png"
        if plot_curves(task, {label: record for (_, label), record in group}, path):
            written.append(path)
    write_text(folder / "classes.md", classes_markdown(chosen))
    return [*written, folder / "classes.md"]


def file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")
