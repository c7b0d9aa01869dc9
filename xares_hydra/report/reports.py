"""Every report of a set of result records, printed and written: what ``xares-report`` and a sweep's end write."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from xares_hydra.console import stdout_console
from xares_hydra.forked import forked_pool
from xares_hydra.report.cost import cost_rows, cost_table, write_cost
from xares_hydra.report.diagnostics import write_diagnostics
from xares_hydra.report.layers import layer_curves, layers_table, write_layer_report
from xares_hydra.report.leaderboard import (
    StatisticsSettings,
    build_leaderboard,
    leaderboard_tables,
    write_leaderboard,
)
from xares_hydra.report.record import Record
from xares_hydra.report.selection import select_trials, selection_table, write_selection
from xares_hydra.report.shots import shot_curves, shots_table, write_shot_report
from xares_hydra.report.summary import print_summary, summarise, write_summary
from xares_hydra.report.webpage import write_page


def write_reports(
    records: list[Record],
    folder: Path,
    modes: Sequence[str] | None = None,
    published: bool = True,
    title: str = "xares results",
    console: Console | None = None,
    statistics: StatisticsSettings | None = None,
    latex: bool = False,
    exclude_overlap: bool = False,
    page_notes: Sequence[str] | None = None,
) -> list[Path]:
    """Print and write ``summary.*``, ``leaderboard[-<mode>].*`` and ``cost[-<mode>].*`` per mode, for layer
    sweeps ``layers.*``, for searches ``selection.*``, for few-shot records ``shots.*``, the diagnostics
    (``classes.md``, ``figures/``) and with ``page_notes`` the ``leaderboard.html`` of every mode (those notes at its
    top); ``exclude_overlap``: averages leave out scores of encoders trained on the task's corpus."""
    console = console or stdout_console()
    pool = forked_pool(1)  # the diagnostic figures are drawn on another core meanwhile
    diagnostics = pool.apply_async(write_diagnostics, (records, folder))
    pool.close()
    summary = summarise(records)
    print_summary(summary, console, title=title)
    written = write_summary(summary, folder)
    boards = []
    for mode in modes or sorted({record.mode for record in records}):
        board = build_leaderboard(records, mode, published, statistics or StatisticsSettings(), exclude_overlap)
        for table in leaderboard_tables(board):
            console.print(table)
        written += write_leaderboard(board, folder, latex=latex)
        costs = cost_rows(board)
        if costs:
            console.print(cost_table(costs, mode))
            written += write_cost(costs, folder, mode)
        boards.append(board)
    curves = layer_curves(records, statistics)
    if curves:
        console.print(layers_table(curves))
        written += write_layer_report(curves, folder)
    shot = shot_curves(records)
    if shot:
        console.print(shots_table(shot))
        written += write_shot_report(shot, folder)
    if page_notes is not None:
        written.append(write_page(boards, folder, title, page_notes, curves, shot))
    selections = select_trials(records)
    if any(len(selection.trials) > 1 for selection in selections):  # a head search
        console.print(selection_table(selections))
        written += write_selection(selections, folder)
    figures = diagnostics.get()
    pool.join()
    return written + figures
