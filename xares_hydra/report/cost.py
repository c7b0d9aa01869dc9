"""The cost report: per leaderboard column, what its encoder cost to run (parameters, FLOPs per second of audio,
encode throughput, peak memory, device; from the records' ``encoder.cost``) beside its MLP weighted average, and
the score against FLOPs with the Pareto front (no other column both cheaper and better) marked."""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from rich.table import Table

from xares_hydra.report.curves import png_figure, save_png
from xares_hydra.report.leaderboard import AVERAGE_SCOPES, Leaderboard, column_of, leaderboard_stem
from xares_hydra.report.summary import format_score
from xares_hydra.report.table import csv_text, markdown_table, rich_table, write_files

PARETO_MARK = "◆"
# the record's encoder.cost fields a row shows as they are
MEASURED = ("flops_per_second", "throughput", "peak_memory_bytes", "peak_memory_kind")
HEADER = ["Encoder", "MLP average", "Parameters (M)", "GFLOPs per audio s", "Throughput (audio s/s)",
          "Peak memory (MiB)", "Device", "Pareto"]  # fmt: skip


@dataclass(frozen=True)
class CostRow:
    """A row of the report; the CSV's columns are its fields."""

    encoder: str  # the column label
    mlp_average: float | None
    parameters: int | None
    flops_per_second: float | None
    throughput: float | None
    peak_memory_bytes: int | None
    peak_memory_kind: str | None
    device: str | None
    pareto: bool = False

    def cells(self) -> list[str]:
        return [
            self.encoder,
            format_score(self.mlp_average),
            _number(self.parameters, 1e-6, 2),
            _number(self.flops_per_second, 1e-9, 3),
            _number(self.throughput, 1.0, 1),
            _number(self.peak_memory_bytes, 2**-20, 0) + (f" ({self.peak_memory_kind})" * bool(self.peak_memory_kind)),
            self.device or "-",
            PARETO_MARK if self.pareto else "",
        ]


def _number(value: float | None, scale: float, digits: int) -> str:
    return "-" if value is None else f"{value * scale:,.{digits}f}"


def cost_rows(board: Leaderboard) -> list[CostRow]:
    """A row per column of the board's MLP table that has records with a cost (the newest such record's)."""
    encoders = {column_of(r, board.labels).label: r.encoder for r in board.in_mode if r.encoder.cost}
    mlp = next((table for table in board.tables if table.slot == "mlp"), None)
    if mlp is None:
        return []
    rows = []
    for column in mlp.columns:
        encoder = encoders.get(column.label)
        if column.published or encoder is None or (cost := encoder.cost) is None:
            continue
        measured = {name: getattr(cost, name) for name in MEASURED}
        score = mlp.average("all", column).score
        rows.append(CostRow(column.label, score, encoder.parameters, **measured, device=cost.device_name))
    front = pareto_front([(row.flops_per_second, row.mlp_average) for row in rows])
    return [replace(row, pareto=index in front) for index, row in enumerate(rows)]


def pareto_front(points: list[tuple[float | None, float | None]]) -> set[int]:
    """Indices of the points no other point dominates (costs no more and scores no less, one of them strictly);
    points without a cost or a score are on no front."""
    known = [(i, cost, score) for i, (cost, score) in enumerate(points) if cost is not None and score is not None]
    return {
        i
        for i, cost, score in known
        if not any(c <= cost and s >= score and (c < cost or s > score) for _, c, s in known)
    }


def cost_table(rows: list[CostRow], mode: str) -> Table:
    return rich_table(f"Cost · {mode} mode", HEADER, [row.cells() for row in rows], "lrrrrrll",
                      f"{PARETO_MARK}: on the Pareto front of MLP average against FLOPs")  # fmt: skip


def write_cost(rows: list[CostRow], folder: Path, mode: str) -> list[Path]:
    """``cost[-<mode>].md`` and ``.csv``, and ``figures/score_vs_cost[-<mode>].png``."""
    stem = leaderboard_stem(mode).replace("leaderboard", "cost")
    notes = (
        f"MLP average: the {AVERAGE_SCOPES['all']} of the leaderboard. FLOPs: torch.utils.flop_counter on a probe "
        "clip (matrix products, convolutions and attention; pointwise ops, and the ops each record lists under "
        "encoder.cost.flops_uncounted such as FFTs and recurrent layers, are not counted). Throughput and peak memory "
        "are the encode stage's that filled the embedding cache, on the device named. "
        f"{PARETO_MARK}: no other encoder has fewer FLOPs and a higher average."
    )
    lines = [f"# Cost ({mode} mode)", "", *markdown_table(HEADER, [row.cells() for row in rows], "lrrrrrll"), "", notes]
    files = {".md": "\n".join(lines) + "\n", ".csv": csv_text([f.name for f in fields(CostRow)], map(astuple, rows))}
    written = write_files(folder / stem, files)
    figure = folder / "figures" / f"score_vs_cost{stem.removeprefix('cost')}.png"
    return written + [figure] * plot_cost(rows, figure, mode)


def plot_cost(rows: list[CostRow], path: Path, mode: str) -> bool:
    """MLP average against GFLOPs per audio second (log scale), the Pareto front joined; False if nothing to draw."""
    drawn = [
        (row.flops_per_second / 1e9, row.mlp_average, row)
        for row in rows
        if row.flops_per_second and row.mlp_average is not None
    ]
    if not drawn:
        return False
    figure = png_figure(6.5, 4.5)
    axes = figure.subplots()
    for gflops, score, row in drawn:
        axes.scatter(gflops, score, marker="D" if row.pareto else "o", color="C3" if row.pareto else "C0")
        axes.annotate(row.encoder, (gflops, score), fontsize=7, xytext=(4, 3), textcoords="offset points")
    front = sorted((gflops, score) for gflops, score, row in drawn if row.pareto)
    axes.step([x for x, _ in front], [y for _, y in front], where="post", color="C3", linewidth=1, label="Pareto front")
    spread = max(x for x, _ in front) / min(x for x, _ in front) if front else 1.0
    if spread > 10 or math.isclose(spread, 1.0):
        axes.set_xscale("log")
    axes.set_xlabel("GFLOPs per second of audio")
    axes.set_ylabel(AVERAGE_SCOPES["all"] + " (MLP)")
    axes.set_title(f"Score against cost ({mode} mode)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    save_png(figure, path)
    return True
