"""``leaderboard.html``: the leaderboards as one self-contained page (scripts, styles and figures inline; no
network), sortable by any column, filtered by tag, domain and mode, with a drill-down per task, encoder cards
and score against cost. Built from the same ``Leaderboard`` the Markdown table shows: nothing is recomputed."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from xares_hydra.atomic import write_text
from xares_hydra.report.cost import PARETO_MARK, cost_rows
from xares_hydra.report.diagnostics import MAX_LABELLED_CLASSES, SLOT, class_names, confusion_matrix, plot_confusion
from xares_hydra.report.identity import DEFAULT_MODE, flattened, setting_text
from xares_hydra.report.layers import LayerCurve
from xares_hydra.report.leaderboard import (
    AVERAGE_SCOPES,
    NOT_WORSE_MARK,
    OVERLAP_MARK,
    Column,
    HeadTable,
    Leaderboard,
    TaskRow,
    column_of,
    leaderboard_notes,
)
from xares_hydra.report.published import DOMAINS, task_domain
from xares_hydra.report.record import Record
from xares_hydra.report.shots import ShotCurve
from xares_hydra.report.summary import format_score
from xares_hydra.report.svg import Bar, Line, bar_chart, line_chart, scatter

PAGE_FILE = "leaderboard.html"
MODE_TITLES = {DEFAULT_MODE: "default", "xares": "compat (X-ARES 0.1.3)"}
# encoder fields on the card; every other field of the encoder block (cost, training data, ...) follows them
CARD_FIELDS = ("target", "class", "parameters", "sampling_rate", "output_dim", "hop_size_in_ms", "weights_revision",
               "weights_sha256", "identity", "fingerprint", "training_overlap", "cost")  # fmt: skip
NOT_ON_CARD = ("name", "config", "weight_files", "padding", "batching", "min_input_samples")
# the cost report's numeric columns, each drawn against the MLP average
COSTS = {"parameters": "parameters", "flops_per_second": "FLOPs per audio second",
         "throughput": "throughput (audio s/s)", "peak_memory_bytes": "peak memory (bytes)"}  # fmt: skip


@dataclass
class Context:
    """What the drill-downs read beside the boards: layer and few-shot curves, each task's tags."""

    curves: list[LayerCurve]
    shots: list[ShotCurve]
    tags: dict[str, list[str]]


def write_page(boards: Sequence[Leaderboard], folder: Path, title: str, notes: Sequence[str], curves: list[LayerCurve],
               shots: list[ShotCurve]) -> Path:  # fmt: skip
    """``leaderboard.html`` in ``folder``, titled ``title`` with ``notes`` at the top; ``curves``/``shots``: the layer
    and few-shot curves of the records."""
    shown = [record for board in boards for record in board.in_mode][::-1]  # the first record's tags win
    context = Context(curves, shots, {record.task.name: list(record.task.tags or []) for record in shown})
    sections = [{"mode": board.mode, "title": MODE_TITLES.get(board.mode, board.mode),
                 "tables": [_table(board, table, context) for table in board.tables],
                 "notes": leaderboard_notes(board), "not_scored": board.not_scored} for board in boards]  # fmt: skip
    found = {task_domain(task, tags) for task, tags in context.tags.items()}
    domains = [domain for domain in DOMAINS if domain in found]
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("xares_hydra.report", "page"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    assets = resources.files("xares_hydra.report") / "page"
    html = environment.get_template("leaderboard.html.j2").render(
        title=title,
        notes=list(notes),
        sections=sections,
        tags=sorted({tag for tags in context.tags.values() for tag in tags if tag not in DOMAINS}),
        domains=domains,
        cards=_cards(boards),
        scatters=_scatters(boards),
        style=(assets / "leaderboard.css").read_text(),
        script=(assets / "leaderboard.js").read_text(),
    )
    write_text(folder / PAGE_FILE, html)
    return folder / PAGE_FILE


def _table(board: Leaderboard, table: HeadTable, context: Context) -> dict[str, Any]:
    identifier = f"{board.mode}-{table.slot}"
    rows = [_row(board, table, row, context, f"{identifier}-{index}") for index, row in enumerate(table.rows)]
    averages = [{"title": title, "cells": [table.average(scope, c).text() for c in table.columns]}
                for scope, title in AVERAGE_SCOPES.items()]  # fmt: skip
    return {"id": identifier, "title": table.title, "columns": table.columns, "rows": rows,
            "averages": averages, "counts": table.counts()}  # fmt: skip


def _row(board: Leaderboard, table: HeadTable, row: TaskRow, context: Context, identifier: str) -> dict[str, Any]:
    best = table.best_in_row(row)
    cells = []
    for column in table.columns:
        cell = table.cells.get(key := (row.name, column.label))
        cells.append({"text": table.cell_text(row, column), "value": "" if cell is None else repr(cell.score),
                      "best": column.label in best, "not_worse": table.not_worse(row, column),
                      "overlap": key in table.overlaps, "published": column.published})  # fmt: skip
    # the drill-down: the row's scores as bars, its layer and few-shot curves, and per column its seeds and classes
    bars = [Bar(column.label, cell.score, cell.interval, column.published) for column, cell in table.row_cells(row)]
    direction = "higher is better" if row.higher_is_better else "lower is better"
    title = f"{row.label}: {table.title} per column ({row.metric or 'score'}, {direction})"
    layers = [Line(curve.label, list(curve.scores.items()), curve.weighted) for curve in context.curves
              if (curve.task, curve.mode) == (row.name, board.mode)]  # fmt: skip
    shots = [Line(curve.label, list(curve.scores.items()), curve.full) for curve in context.shots
             if (curve.task, curve.mode, curve.slot) == (row.name, board.mode, table.slot)]  # fmt: skip
    layers_title = f"{row.label}: score per layer (dashed: weighted sum)"
    shots_title = f"{row.label}: score against training clips per class (dashed: all clips)"
    columns = [_column_detail(row, column, seeds, table.slot) for column in table.columns
               if (seeds := table.seeds.get((row.name, column.label)))]  # fmt: skip
    detail = {
        "chart": bar_chart(bars, title, row.chance) if bars else None,
        "columns": columns,
        "direction": direction,
        "layers": line_chart(layers, layers_title, "layer", row.chance) if layers else None,
        "shots": line_chart(shots, shots_title, "training clips per class", row.chance) if shots else None,
    }
    tags = context.tags.get(row.name, [])
    return {
        "id": identifier,
        "row": row,
        "tags": " ".join(tags),
        "domain": task_domain(row.name, tags) or "",
        "cells": cells,
        "mark": NOT_WORSE_MARK,
        "overlap_mark": OVERLAP_MARK,
        "detail": detail,
    }


def _column_detail(row: TaskRow, column: Column, seeds: list[Record], slot: str) -> dict[str, Any]:
    first = seeds[0]
    score = first.scores[slot]
    if classes := score.per_class:
        texts = [(name, format_score(value)) for name, value in zip(classes.classes, classes.values)]
    return {
        "label": column.label,
        "seeds": [(setting_text(record.seed), format_score(record.scores[slot].score)) for record in seeds],
        "per_class": {"measure": classes.measure, "rows": texts} if classes else None,
        "confusion": _confusion(first, slot, f"{row.label} · {column.label}"),
        "extras": _extras(first) + _extras(score, f"scores.{slot}."),
    }


def _confusion(record: Record, slot: str, title: str) -> str | None:
    """The confusion matrix figure of the lowest seed as a data URI, as ``figures/`` has it (the trained head of a
    single-label task); none where its classes are too many to label (the page would grow by megabytes)."""
    matrix = confusion_matrix(record) if slot == SLOT else None
    if matrix is None or len(matrix) > MAX_LABELLED_CLASSES:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "confusion.png"
        plot_confusion(matrix, class_names(record, len(matrix)), f"{title} (rows: true class)", path)
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _extras(block: BaseModel, prefix: str = "") -> list[tuple[str, str]]:
    """Fields the typed model does not know (few-shot curves, costs, overlap marks other features add)."""
    extra = {key: value for key, value in (block.model_extra or {}).items() if value is not None}
    return [(prefix + key, _shown(value)) for key, value in flattened(extra).items()]


def _shown(value: Any) -> str:
    return setting_text(value) if not isinstance(value, list) else ", ".join(map(setting_text, value))


def _cards(boards: Sequence[Leaderboard]) -> list[dict[str, Any]]:
    cards = []
    for board in boards:
        newest = {column_of(record, board.labels).label: record for record in board.in_mode}
        for column in dict.fromkeys(c for table in board.tables for c in table.columns if not c.published):
            if (record := newest.get(column.label)) is None:
                continue
            values = (encoder := record.encoder).model_dump(by_alias=True, exclude_none=True)
            chosen = {key: values[key] for key in CARD_FIELDS if key in values}
            shown = [(key, _shown(value)) for key, value in flattened(chosen).items() if value is not None]
            meta = [(f"meta.{key}", _shown(value)) for key, value in flattened(encoder.meta or {}).items()]
            other = [item for item in _extras(encoder) if not item[0].startswith(NOT_ON_CARD)]
            cards.append({"label": column.label, "mode": board.mode, "fields": shown + meta + other,
                          "record_extras": _extras(record)})  # fmt: skip
    return cards


def _scatters(boards: Sequence[Leaderboard]) -> list[str]:
    """Per mode and cost of the cost report's rows: each column's MLP weighted average against that cost."""
    figures = []
    for board in boards:
        rows = cost_rows(board)
        for name, title in COSTS.items():
            points = [
                (row.encoder + (f" {PARETO_MARK}" if row.pareto else ""), float(value), row.mlp_average)
                for row in rows
                if (value := getattr(row, name)) is not None and row.mlp_average is not None
            ]
            if points:
                caption = f"{board.mode} mode: MLP {AVERAGE_SCOPES['all']} against {title}"
                figures.append(scatter(points, caption, title, f"MLP {AVERAGE_SCOPES['all']}"))
    return figures
