"""The leaderboard: tasks as rows, encoders as columns, shaped like the X-ARES README tables.

Built from result records only, of one sweep folder or of a results folder
(``<results_root>/<encoder>/<task>/*.json``) gathered across many runs and encoders:
- one table per head (MLP, kNN) and one leaderboard per mode: default and X-ARES-compat records
  are never mixed in one column;
- one column per encoder and resolved setting (``identity.column_key``), labelled by what differs
  between the columns shown (``mel``, ``mel [lr=0.01]``); of several scored records for the same
  task and column the newest wins;
- rows in the X-ARES README order under its task names, other tasks after them;
- weighted averages over the public and over all tasks with ``report.weighted_average``, and the
  number of tasks each covers; ``±`` is the standard deviation over folds (k-fold tasks);
- the published X-ARES numbers (``published``) as extra columns marked ``(published)``.
Written as Markdown, CSV, JSON and a PNG bar chart (matplotlib, Agg canvas).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from xares_hydra.atomic import atomic_path, write_json
from xares_hydra.errors import Status
from xares_hydra.report.identity import column_key, column_labels
from xares_hydra.report.published import (
    COMPARABLE_VERSION,
    OFFLINE_MARK,
    OFFLINE_NEEDS,
    PUBLISHED_ENCODERS,
    PUBLISHED_ORDER,
    PUBLISHED_SOURCE,
    published_averages,
    published_scores,
    published_task_count,
)
from xares_hydra.report.summary import HEAD_SLOTS, latest_scored, setting_key, weighted_average

HEAD_TITLES = {"mlp": "MLP", "knn": "kNN"}
AVERAGE_SCOPES = {"public": "Weighted Average (public tasks)", "all": "Weighted Average (all tasks)"}
PUBLISHED_MARK = "(published)"
LEADERBOARD_KIND = "xares-hydra leaderboard"


@dataclass(frozen=True)
class Column:
    label: str
    encoder: str
    variant: str = ""
    published: bool = False


@dataclass(frozen=True)
class TaskRow:
    name: str
    label: str
    private: bool = False
    weight: float | None = None
    metric: str | None = None
    higher_is_better: bool = True


@dataclass(frozen=True)
class Cell:
    score: float
    std: float | None = None  # over folds, k-fold tasks only
    printed: str | None = None  # published cells: the README's text where it is more than the score

    def text(self) -> str:
        if self.printed:
            return self.printed
        return f"{self.score:.3f} ± {self.std:.3f}" if self.std is not None else f"{self.score:.3f}"


@dataclass(frozen=True)
class Average:
    score: float | None
    tasks: int

    def text(self) -> str:
        return "-" if self.score is None else f"{self.score:.3f}"


@dataclass
class HeadTable:
    slot: str
    rows: list[TaskRow]
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]  # (task, column label)
    averages: dict[tuple[str, str], Average]  # (scope, column label)

    @property
    def title(self) -> str:
        return f"{HEAD_TITLES.get(self.slot, self.slot)} Result"

    def cell_text(self, row: TaskRow, column: Column) -> str:
        cell = self.cells.get((row.name, column.label))
        return cell.text() if cell else "-"

    def best_in_row(self, row: TaskRow) -> set[str]:
        scores = {
            column.label: cell.score for column in self.columns if (cell := self.cells.get((row.name, column.label)))
        }
        if len(scores) < 2:
            return set()
        best = max(scores.values()) if row.higher_is_better else min(scores.values())
        return {label for label, score in scores.items() if score == best}


@dataclass
class Leaderboard:
    mode: str
    tables: list[HeadTable]
    not_scored: list[dict[str, Any]]
    records: int

    @property
    def has_published(self) -> bool:
        return any(column.published for table in self.tables for column in table.columns)


def build_leaderboard(records: list[dict[str, Any]], mode: str = "default", published: bool = True) -> Leaderboard:
    """The leaderboard of one mode from result records (oldest first, as ``load_records`` returns them)."""
    in_mode = [record for record in records if record.get("mode", "default") == mode and "schema" in record]
    scored = latest_scored(in_mode)
    tasks = _task_rows(in_mode)
    labels = column_labels(in_mode)
    columns = sorted({column_of(record, labels) for record in in_mode}, key=lambda column: column.label)
    with_published = published and any(row.name in PUBLISHED_ORDER for row in tasks)
    tables = [_head_table(slot, tasks, columns, scored, with_published, labels) for slot in HEAD_SLOTS]
    crashed = [record for record in records if "schema" not in record]  # jobs that died without a record
    return Leaderboard(
        mode,
        [table for table in tables if table.rows],
        _not_scored(in_mode, scored, labels) + _not_scored(crashed, [], column_labels(crashed)),
        len(in_mode),
    )


def modes_of(records: list[dict[str, Any]]) -> list[str]:
    return sorted({record.get("mode", "default") for record in records})


def column_of(record: dict[str, Any], labels: dict[str, str]) -> Column:
    """The record's column, labelled from ``labels`` (``column_labels`` of the records shown)."""
    encoder, label = record["encoder"]["name"], labels[column_key(record)]
    return Column(label, encoder, label[len(encoder) :].strip(" []"))


def _task_rows(records: list[dict[str, Any]]) -> list[TaskRow]:
    rows: dict[str, TaskRow] = {}
    for record in records:
        task = record["task"]
        rows.setdefault(
            task["name"],
            TaskRow(
                name=task["name"],
                label=task.get("formal_name") or task["name"],
                private=bool(task.get("private")),
                weight=task.get("eval_weight"),
                metric=task.get("metric"),
                higher_is_better=task.get("higher_is_better", True),
            ),
        )
    return sorted(rows.values(), key=_row_order)


def _row_order(row: TaskRow) -> tuple[int, str]:
    return (PUBLISHED_ORDER.index(row.name), "") if row.name in PUBLISHED_ORDER else (len(PUBLISHED_ORDER), row.label)


def _head_table(
    slot: str,
    tasks: list[TaskRow],
    columns: list[Column],
    scored: list[dict[str, Any]],
    with_published: bool,
    labels: dict[str, str],
) -> HeadTable:
    """MLP: every task and every column of the mode; kNN: only the tasks and columns that have kNN scores."""
    cells: dict[tuple[str, str], Cell] = {}
    members: dict[Column, list[dict[str, Any]]] = {}
    for record in scored:
        result = record["scores"].get(slot)
        if result is None:
            continue
        column = column_of(record, labels)
        members.setdefault(column, []).append(record)
        std = result.get("std") if record["task"].get("kfold") else None
        cells[record["task"]["name"], column.label] = Cell(result["score"], std)
    ours = columns if slot == "mlp" else [column for column in columns if column in members]
    averages = {
        (scope, column.label): Average(*weighted_average(members.get(column, []), slot, scope))
        for column in ours
        for scope in AVERAGE_SCOPES
    }
    theirs = _published_columns(slot, tasks, cells, averages) if with_published else []
    rows = [row for row in tasks if slot == "mlp" or any((row.name, c.label) in cells for c in ours + theirs)]
    return HeadTable(slot, rows, ours + theirs, cells, averages)


def _published_columns(
    slot: str, tasks: list[TaskRow], cells: dict[tuple[str, str], Cell], averages: dict[tuple[str, str], Average]
) -> list[Column]:
    """Adds the published cells and averages of the tasks in ``tasks``; returns the published columns."""
    scores = published_scores(slot)
    columns = [Column(f"{encoder} {PUBLISHED_MARK}", encoder, published=True) for encoder in PUBLISHED_ENCODERS]
    for column in columns:
        for row in tasks:
            if (score := scores.get(row.name, {}).get(column.encoder)) is not None:
                cells[row.name, column.label] = Cell(score.score, printed=score.note)
        for scope in AVERAGE_SCOPES:
            value = published_averages(slot, scope)[column.encoder]
            averages[scope, column.label] = Average(value, published_task_count(slot, scope))
    return columns


def _not_scored(
    records: list[dict[str, Any]], scored: list[dict[str, Any]], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Records without a score whose setting has no scored record either (the newest failure wins)."""
    done = {setting_key(record) for record in scored}
    missing = {}
    for record in records:
        if record["status"] == Status.OK or setting_key(record) in done:
            continue
        missing[setting_key(record)] = {
            "task": record["task"]["name"],
            "encoder": record["encoder"]["name"],
            "variant": column_of(record, labels).variant,
            "status": record["status"],
            "reason": record.get("reason"),
        }
    return list(missing.values())


# ---------------------------------------------------------------------------------------------
# Markdown, CSV, JSON


def leaderboard_markdown(board: Leaderboard) -> str:
    lines = [f"# xares-hydra leaderboard ({board.mode} mode)", ""]
    for table in board.tables:
        lines += [f"### {table.title}", "", *_markdown_table(table), ""]
    lines += ["Notes:", "", *(f"- {note}" for note in _notes(board)), ""]
    if any(row.private for table in board.tables for row in table.rows):
        lines += ["[^priv]: Private task: its dataset is not publicly available.", ""]
    if board.not_scored:
        lines += ["Not scored:", ""]
        lines += [
            f"- {entry['task']} ({_entry_encoder(entry)}): {entry['status']}: {entry['reason']}"
            for entry in board.not_scored
        ]
        lines.append("")
    return "\n".join(lines)


def _markdown_table(table: HeadTable) -> list[str]:
    lines = [
        "| Task | " + " | ".join(column.label for column in table.columns) + " |",
        "|:--|" + "--:|" * len(table.columns),
    ]
    for row in table.rows:
        best = table.best_in_row(row)
        texts = [_bold(table.cell_text(row, column), column.label in best) for column in table.columns]
        lines.append(f"| {row.label}{'[^priv]' if row.private else ''} | " + " | ".join(texts) + " |")
    for scope, title in AVERAGE_SCOPES.items():
        texts = [_average(table, scope, column).text() for column in table.columns]
        lines.append(f"| **{title}** | " + " | ".join(texts) + " |")
    counts = [f"{_average(table, 'public', c).tasks} / {_average(table, 'all', c).tasks}" for c in table.columns]
    lines.append("| Tasks averaged (public / all) | " + " | ".join(counts) + " |")
    return lines


def _average(table: HeadTable, scope: str, column: Column) -> Average:
    return table.averages.get((scope, column.label), Average(None, 0))


def _bold(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def _entry_encoder(entry: dict[str, Any]) -> str:
    return f"{entry['encoder']} [{entry['variant']}]" if entry["variant"] else entry["encoder"]


def _notes(board: Leaderboard) -> list[str]:
    notes = [
        f"{board.records} result records in {board.mode} mode; of several for the same task, encoder and "
        "setting the newest scored one counts. Bold: the best score of the row. ± : standard deviation over folds.",
        "Weighted average = sum(score × weight) / sum(weight) over the tasks a column has scores for, with the "
        "tasks' eval weights (X-ARES: about the size of each test set); the last row says how many tasks that is.",
    ]
    if board.has_published:
        notes.append(
            f"{PUBLISHED_MARK}: {PUBLISHED_SOURCE}, copied as printed, averages included (over the README's full "
            "task list). LibriSpeech-100h shows the README's two numbers, the current one and the "
            f"{COMPARABLE_VERSION} one in parentheses; the {COMPARABLE_VERSION} number is the comparable one "
            f"(xares-hydra uses the X-ARES {COMPARABLE_VERSION} task settings) and the one used for the bold mark, "
            "the CSV and JSON scores and the figure."
        )
        labels = {row.name: row.label for table in board.tables for row in table.rows}
        offline = [name for name in OFFLINE_NEEDS if name in labels]
        if offline:
            needs = "; ".join(f"{labels[name]}: {OFFLINE_NEEDS[name]}" for name in offline)
            notes.append(
                f"{OFFLINE_MARK}: the published number needs a Hugging Face download besides the encoder's weights, "
                f"which an offline machine must be given as local files: {needs}."
            )
        if board.mode == "default":
            notes.append(
                "Default mode corrects X-ARES defects (README, 'Comparing with published X-ARES numbers'); for a "
                "like-for-like comparison with the published columns run with compat=xares (xares-report --mode xares)."
            )
    return notes


def leaderboard_csv(board: Leaderboard) -> str:
    labels = list(dict.fromkeys(column.label for table in board.tables for column in table.columns))
    fields = ["head", "task", "Task", "private", "weight", "metric"]
    fields += [name for label in labels for name in (label, f"{label} std")]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for table in board.tables:
        for row in table.rows:
            entry = {
                "head": table.slot,
                "task": row.name,
                "Task": row.label,
                "private": row.private,
                "weight": row.weight,
                "metric": row.metric,
            }
            for column in table.columns:
                if cell := table.cells.get((row.name, column.label)):
                    entry[column.label], entry[f"{column.label} std"] = cell.score, cell.std
            writer.writerow(entry)
        for scope, title in AVERAGE_SCOPES.items():
            entry = {"head": table.slot, "task": f"weighted_average_{scope}", "Task": title}
            writer.writerow(entry | {column.label: _average(table, scope, column).score for column in table.columns})
            count = {"head": table.slot, "task": f"tasks_averaged_{scope}", "Task": f"Tasks averaged ({scope})"}
            writer.writerow(count | {column.label: _average(table, scope, column).tasks for column in table.columns})
    return buffer.getvalue()


def leaderboard_dict(board: Leaderboard) -> dict[str, Any]:
    heads = {}
    for table in board.tables:
        heads[table.slot] = {
            "title": table.title,
            "columns": [asdict(column) for column in table.columns],
            "rows": [
                asdict(row)
                | {
                    "cells": {
                        c.label: asdict(cell) for c in table.columns if (cell := table.cells.get((row.name, c.label)))
                    }
                }
                for row in table.rows
            ],
            "averages": {
                scope: {column.label: asdict(_average(table, scope, column)) for column in table.columns}
                for scope in AVERAGE_SCOPES
            },
        }
    return {
        "kind": LEADERBOARD_KIND,
        "mode": board.mode,
        "records": board.records,
        "published_source": PUBLISHED_SOURCE if board.has_published else None,
        "published_comparable_version": COMPARABLE_VERSION if board.has_published else None,
        "heads": heads,
        "not_scored": board.not_scored,
        "notes": _notes(board),
    }


def leaderboard_stem(mode: str) -> str:
    return "leaderboard" if mode == "default" else f"leaderboard-{mode}"


def write_leaderboard(board: Leaderboard, folder: Path) -> list[Path]:
    """``<stem>.md``, ``.csv``, ``.json`` and, when any score exists, ``.png`` in ``folder``."""
    stem = folder / leaderboard_stem(board.mode)
    paths = [stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".json")]
    for path, text in zip(paths[:2], (leaderboard_markdown(board), leaderboard_csv(board))):
        with atomic_path(path) as partial:
            partial.write_text(text)
    write_json(paths[2], leaderboard_dict(board))
    figure = stem.with_suffix(".png")
    if plot_leaderboard(board, figure):
        paths.append(figure)
    return paths


# ---------------------------------------------------------------------------------------------
# Console and figure


def leaderboard_tables(board: Leaderboard) -> list[Table]:
    tables = []
    for head in board.tables:
        table = Table(title=f"{head.title} · {board.mode} mode", caption="(n): tasks averaged")
        table.add_column("Task")
        for column in head.columns:
            table.add_column(escape(column.label), justify="right", style="dim" if column.published else None)
        for row in head.rows:
            best = head.best_in_row(row)
            texts = [_rich_bold(head.cell_text(row, column), column.label in best) for column in head.columns]
            table.add_row(escape(row.label) + (" (private)" if row.private else ""), *texts)
        for scope, title in AVERAGE_SCOPES.items():
            texts = [f"{_average(head, scope, c).text()} ({_average(head, scope, c).tasks})" for c in head.columns]
            table.add_row(f"[bold]{title}[/bold]", *texts)
        tables.append(table)
    return tables


def _rich_bold(text: str, bold: bool) -> str:
    return f"[bold]{escape(text)}[/bold]" if bold else escape(text)


def plot_leaderboard(board: Leaderboard, path: Path) -> bool:
    """Per-task horizontal bars, one panel per head; published columns hatched. False if nothing to plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    tables = [table for table in board.tables if any(not column.published for column in _plotted(table))]
    if not tables:
        return False
    tallest = max(len(table.rows) * max(1, len(table.columns)) for table in tables)
    figure = Figure(figsize=(6.5 * len(tables), 2.2 + 0.16 * tallest), layout="constrained")
    FigureCanvasAgg(figure)
    colours = _encoder_colours(tables)
    legend: dict[str, Any] = {}
    for axes, table in zip(figure.subplots(1, len(tables), squeeze=False)[0], tables):
        _plot_head(axes, table, colours)
        axes.set_title(f"{table.title} ({board.mode} mode)")
        handles, labels = axes.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=min(4, len(legend)), fontsize=8)
    with atomic_path(path) as partial:
        figure.savefig(partial, format="png", dpi=100)
    return True


def _plotted(table: HeadTable) -> list[Column]:
    return [c for c in table.columns if any((row.name, c.label) in table.cells for row in table.rows)]


def _encoder_colours(tables: list[HeadTable]) -> dict[str, Any]:
    from matplotlib import colormaps

    encoders = list(dict.fromkeys(column.encoder for table in tables for column in table.columns))
    palette = colormaps["tab10"]
    return {encoder: palette(index % 10) for index, encoder in enumerate(encoders)}


def _plot_head(axes: Any, table: HeadTable, colours: dict[str, Any]) -> None:
    columns = _plotted(table)
    height = 0.8 / len(columns)
    for index, column in enumerate(columns):
        positions, scores = [], []
        for position, row in enumerate(table.rows):
            if cell := table.cells.get((row.name, column.label)):
                positions.append(position - 0.4 + height * (index + 0.5))
                scores.append(cell.score)
        axes.barh(
            positions,
            scores,
            height=height,
            label=column.label,
            color=colours[column.encoder],
            alpha=0.45 if column.published else 1.0,
            hatch="//" if column.published else None,
        )
    axes.set_yticks(range(len(table.rows)), [row.label for row in table.rows], fontsize=8)
    axes.set_ylim(len(table.rows) - 0.5, -0.5)
    if all(0.0 <= cell.score <= 1.0 for cell in table.cells.values()):
        axes.set_xlim(0.0, 1.0)
    axes.set_xlabel("score")
    axes.grid(axis="x", alpha=0.3)
