"""The data-efficiency report: per task, each encoder's few-shot score against the number of training clips per
class (``head.shots``), with the standard deviation over draws as a band, and the whole training split's score
where it was run with the same setting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from xares_hydra.report.curves import TaskCurve, best_cell, by_task, label_axes, new_figure, points_of, write_curves
from xares_hydra.report.identity import column_key, column_labels
from xares_hydra.report.record import Record
from xares_hydra.report.summary import format_score, latest_scored
from xares_hydra.report.table import csv_text, markdown_table, rich_table

# few-shot settings: what a curve's points differ in
SHOT_KEYS = ("shots", "draws")


@dataclass
class ShotCurve(TaskCurve):
    """One encoder setting and head slot on one task: per shot count the mean and std over draws."""

    slot: str = "mlp"
    higher_is_better: bool = True
    scores: dict[int, float] = field(default_factory=dict)
    stds: dict[int, float] = field(default_factory=dict)
    draws: dict[int, int] = field(default_factory=dict)
    # the score trained on the whole training split (head.shots=null), where recorded
    full: float | None = None


def shot_curves(records: list[Record]) -> list[ShotCurve]:
    """A curve per (task, encoder setting without the few-shot keys, mode, head slot) with few-shot records."""
    scored = latest_scored(records)
    few_shot = [record for record in scored if record.head.get("shots") is not None]
    if not few_shot:
        return []
    labels = column_labels(scored, leave_out=SHOT_KEYS)

    def key(record: Record, slot: str) -> tuple[str, str, str, str]:
        return record.task.name, labels[column_key(record, SHOT_KEYS)], record.mode, slot

    curves: dict[tuple[str, str, str, str], ShotCurve] = {}
    for record in few_shot:
        task, shots = record.task, int(record.head["shots"])
        for slot, score in record.scores.items():
            name, encoder, mode, _ = found = key(record, slot)
            new = ShotCurve(name, task.formal_name or name, encoder, mode, slot, task.higher_is_better)
            curve = curves.setdefault(found, new)
            curve.scores[shots], curve.stds[shots] = score.score, score.std or 0.0
            curve.draws[shots] = len(score.draws or [])
    for record in scored:
        for slot, score in record.scores.items():
            if record.head.get("shots") is None and (whole := curves.get(key(record, slot))):
                whole.full = score.score
    for curve in curves.values():
        curve.scores, curve.stds = dict(sorted(curve.scores.items())), dict(sorted(curve.stds.items()))
    return sorted(curves.values(), key=lambda curve: (curve.task, curve.slot, curve.label))


def write_shot_report(curves: list[ShotCurve], folder: Path) -> list[Path]:
    """``shots.md``, ``.csv``, ``.json`` and ``.png`` in ``folder``; nothing when no record is few-shot."""
    return write_curves(folder / "shots", curves, shots_markdown, shots_csv, shots_figure)


def shots_markdown(curves: list[ShotCurve]) -> str:
    lines = ["# Score against training clips per class (few-shot)", ""]
    for members in by_task(curves).values():
        shots = points_of(members)
        pick = max if members[0].higher_is_better else min
        best: dict[tuple[str, int], float] = {}  # per (head slot, shot count)
        for curve in members:
            for k, score in curve.scores.items():
                best[curve.slot, k] = pick(best.get((curve.slot, k), score), score)
        header = ["Encoder", "Head", *(f"{k} shot{'s' * (k > 1)}" for k in shots), "all clips"]
        rows = [[curve.label, curve.slot.upper(),
                 *(best_cell(curve.scores.get(k), best.get((curve.slot, k)), curve.stds.get(k)) for k in shots),
                 format_score(curve.full)] for curve in members]  # fmt: skip
        lines += [f"## {members[0].task_label}", "", *markdown_table(header, rows, "ll" + "r" * (len(shots) + 1)), ""]
    lines.append("Each cell: mean ± standard deviation over the draws (head.draws), each draw K training clips per")
    lines.append(
        "class (multi-label: K positives per label), the same clips for every encoder. Bold: the best of a head at K."
    )
    lines.append("all clips: the same setting trained on the whole training split, where it was run.")
    return "\n".join(lines) + "\n"


def shots_csv(curves: list[ShotCurve]) -> str:
    rows = []
    for curve in curves:
        head = [curve.task, curve.encoder, curve.mode, curve.slot]
        rows += [[*head, shots, score, curve.stds[shots], curve.draws[shots]] for shots, score in curve.scores.items()]
        rows += [[*head, "all", curve.full, None, None]] if curve.full is not None else []
    return csv_text(["task", "encoder", "mode", "head", "shots", "score", "std", "draws"], rows)


def shots_table(curves: list[ShotCurve]) -> Table:
    shots = points_of(curves)
    rows = [[curve.task, curve.label, curve.slot, *(format_score(curve.scores.get(k), curve.stds.get(k))
             for k in shots), format_score(curve.full)] for curve in curves]  # fmt: skip
    header = ["task", "encoder", "head", *(f"K={k}" for k in shots), "all"]
    return rich_table("score against training clips per class", header, rows, "lll" + "r" * (len(shots) + 1))


def shots_figure(curves: list[ShotCurve]) -> tuple[Any, dict[str, Any]]:
    """The figure and its legend: one row per task, one panel per head, score against shots on a log axis, a line
    per encoder with its band (± the std over draws), the whole-split score dashed in the same colour."""
    tasks = by_task(curves)
    slots = sorted({curve.slot for curve in curves}, key=lambda slot: (slot != "mlp", slot))
    figure, axes, colours = new_figure(len(tasks), len(slots), 5.5 * len(slots), curves)
    legend: dict[str, Any] = {}
    for row, members in zip(axes, tasks.values()):
        for panel, slot in zip(row, slots):
            for curve in (curve for curve in members if curve.slot == slot):
                shots, colour = list(curve.scores), colours[curve.label]
                means, spread = np.array([curve.scores[k] for k in shots]), np.array([curve.stds[k] for k in shots])
                (line,) = panel.plot(shots, means, "o-", color=colour)
                panel.fill_between(shots, means - spread, means + spread, color=colour, alpha=0.2)
                if curve.full is not None:
                    panel.axhline(curve.full, color=colour, linestyle="--")
                legend.setdefault(curve.label, line)
            panel.set_xscale("log", base=2)
            ticks = points_of(members)
            panel.set_xticks(ticks, [str(k) for k in ticks])
            title = f"{members[0].task_label}: {slot.upper()} (dashed: all clips)"
            label_axes(panel, title, "training clips per class", "score", integer_x=False)
    return figure, legend
