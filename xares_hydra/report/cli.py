"""``xares-report DIR``: rebuild the summary, leaderboard and head-search selection from result records.

DIR is a sweep folder (``outputs/multirun/<date>/<time>``) or a results folder
(``<results_root>``, holding ``<encoder>/<task>/*.json`` from every run); nothing is run. The sweep
callback writes the same files into the sweep folder at the end of each multirun.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from xares_hydra.atomic import write_json
from xares_hydra.console import stdout_console
from xares_hydra.report.layers import layer_curves, layers_table, write_layer_report
from xares_hydra.report.leaderboard import build_leaderboard, leaderboard_tables, modes_of, write_leaderboard
from xares_hydra.report.redact import redact_record
from xares_hydra.report.selection import is_search, select_trials, selection_table, write_selection
from xares_hydra.report.summary import print_summary, records_in, summarise, write_summary

MODES = ("default", "xares")


def write_reports(
    records: list[dict[str, Any]],
    folder: Path,
    modes: Sequence[str] | None = None,
    published: bool = True,
    title: str = "xares results",
    console: Console | None = None,
) -> list[Path]:
    """Print and write ``summary.*``, ``leaderboard[-<mode>].*`` per mode, for layer sweeps ``layers.*`` and,
    for searches, ``selection.*``."""
    console = console or stdout_console()
    summary = summarise(records)
    print_summary(summary, console, title=title)
    written = write_summary(summary, folder)
    for mode in modes or modes_of(records):
        board = build_leaderboard(records, mode, published=published)
        for table in leaderboard_tables(board):
            console.print(table)
        written += write_leaderboard(board, folder)
    curves = layer_curves(records)
    if curves:
        console.print(layers_table(curves))
        written += write_layer_report(curves, folder)
    selections = select_trials(records)
    if is_search(selections):
        console.print(selection_table(selections))
        written += write_selection(selections, folder)
    return written


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="xares-report",
        description="Rebuild the xares summary, leaderboard (Markdown, CSV, JSON, PNG) and head-search selection "
        "from the result records of a sweep folder or a results folder, without running anything.",
    )
    parser.add_argument("folder", type=Path, help="a sweep folder or a results folder (<results_root>)")
    parser.add_argument("--out", type=Path, help="where to write the files (default: the folder itself)")
    parser.add_argument("--mode", choices=MODES, help="only this mode's leaderboard (default: every mode found)")
    parser.add_argument("--no-published", action="store_true", help="leave out the published X-ARES columns")
    parser.add_argument(
        "--skip-bad", action="store_true", help="report the readable records even if some cannot be read (named)"
    )
    parser.add_argument(
        "--redact",
        action="store_true",
        help="write a shareable copy: the records (under OUT/records/) and the reports with home folder, host name "
        "and absolute paths replaced by placeholders; OUT defaults to FOLDER-redacted and must lie outside FOLDER",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    folder = arguments.folder.expanduser().resolve()
    if not folder.is_dir():
        print(f"xares-report: {folder} is not a folder", file=sys.stderr)
        return 2
    unreadable: list[str] = []
    records = records_in(folder, unreadable)
    for problem in unreadable:
        print(f"xares-report: cannot read {problem}", file=sys.stderr)
    if unreadable and not arguments.skip_bad:
        print(
            f"xares-report: {len(unreadable)} unreadable file(s); fix or remove them, or pass --skip-bad",
            file=sys.stderr,
        )
        return 1
    if not records:
        print(f"xares-report: no result records under {folder}", file=sys.stderr)
        return 1
    out = (arguments.out or folder).expanduser().resolve()
    title = f"xares results in {folder}"
    written = []
    if arguments.redact:
        out = (arguments.out or folder.with_name(f"{folder.name}-redacted")).expanduser().resolve()
        if out.is_relative_to(folder):
            print(f"xares-report: --redact writes a copy; give an --out folder outside {folder}", file=sys.stderr)
            return 2
        written = write_redacted_records(records, folder, out / "records")
        records, title = [redact_record(record) for record in records], "xares results (redacted)"
    modes = [arguments.mode] if arguments.mode else None
    written += write_reports(records, out, modes, not arguments.no_published, title=title)
    for path in written:
        print(f"Wrote {path}")
    return 0


def write_redacted_records(records: list[dict[str, Any]], folder: Path, out: Path) -> list[Path]:
    """Each record read from a file under ``folder``, redacted, to the same relative place under ``out``."""
    written = []
    for record in records:
        if "path" not in record:
            continue  # a job that left no record: only in the reports
        path = out / Path(record["path"]).relative_to(folder)
        write_json(path, redact_record({key: value for key, value in record.items() if key != "path"}))
        written.append(path)
    return written


if __name__ == "__main__":
    sys.exit(main())
