"""``xares-report DIR [DIR ...]``: every report rebuilt from the result records under the folders (results folders,
sweep folders, result bundles) merged; ``--compare A B`` tests A against B; ``--export OUT`` writes a result
bundle; ``--validate BUNDLE`` checks one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from xares_hydra.console import stdout_console
from xares_hydra.errors import ConfigError
from xares_hydra.report.bundle import BUNDLE_FILE, ENCODER_CARD, copy_record, export_bundle, stored
from xares_hydra.report.compare import compare, comparison_table, write_comparison
from xares_hydra.report.leaderboard import StatisticsSettings
from xares_hydra.report.merge import merge, versions_apart
from xares_hydra.report.record import Record
from xares_hydra.report.redact import redact_files, redact_record, redactor
from xares_hydra.report.reports import write_reports
from xares_hydra.report.summary import records_in
from xares_hydra.report.validate import validate_bundle


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="xares-report",
        description="Rebuild the xares summary, leaderboard (Markdown, CSV, JSON, PNG) and head-search selection "
        "from the result records of a sweep folder or a results folder, without running anything.",
    )
    add, flag = parser.add_argument, "store_true"
    # fmt: off
    add("folders", type=Path, nargs="+", metavar="folder",
        help="sweep folders, results folders (<results_root>) or result bundles; several are merged")
    add("--out", type=Path, help="where to write the files (default: the folder itself, if one)")
    add("--html", action=flag, help="also write leaderboard.html: one self-contained interactive page")
    add("--title", help="the reports' title (default: 'xares results in FOLDER ...')")
    add("--export", type=Path, metavar="BUNDLE",
        help="write the records as a shareable result bundle (redacted; README, 'Sharing results') and nothing else")
    add("--predictions", action=flag, help="with --export: the per-sample predictions too")
    add("--validate", action=flag,
        help="check result bundles (schema, metadata, task versions, redaction, layout); exit 1 on any problem")
    add("--mode", choices=("default", "xares"), help="only this mode's leaderboard (default: every mode found)")
    add("--no-published", action=flag, help="leave out the published X-ARES columns")
    add("--skip-bad", action=flag, help="report the readable records even if some cannot be read (named)")
    add("--redact", action=flag,
        help="write a shareable copy: the records (under OUT/records/) and the reports with home folder, host name "
        "and absolute paths replaced by placeholders; OUT defaults to FOLDER-redacted and must lie outside FOLDER")
    add("--format", action="append", choices=["latex"], default=[],
        help="also write the leaderboard as a booktabs LaTeX table (leaderboard.tex)")
    add("--exclude-overlap", action=flag,
        help="leave out of the averages the scores of encoders trained on the task's corpus (marked †)")
    add("--compare", nargs=2, metavar=("A", "B"),
        help="only compare two columns task by task (e.g. mel noise, or 'mel[lr=0.001]' noise)")
    # fmt: on
    defaults = StatisticsSettings()
    for name, kind, text in (
        ("resamples", int, "bootstrap and permutation resamples (0: no intervals or tests; default {})"),
        ("seed", int, "seed of the resampling (default {})"),
        ("confidence", float, "interval level (default {})"),
        ("alpha", float, "significance level of the tests (default {})"),
    ):
        default = getattr(defaults, name)
        add(f"--{name}", type=kind, default=default, help=text.format(default))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    folders = [folder.expanduser().resolve() for folder in arguments.folders]
    for folder in folders:
        if not folder.is_dir():
            return _error(f"{folder} is not a folder")
    if arguments.validate:
        return run_validation(folders)
    try:
        out = None if arguments.export else output_folder(arguments, folders)
    except ConfigError as error:
        return _error(error)
    unreadable: list[str] = []
    sources = [(str(folder), records_in(folder, unreadable)) for folder in folders]
    for problem in unreadable:
        print(f"xares-report: cannot read {problem}", file=sys.stderr)
    if unreadable and not arguments.skip_bad:
        return _error(f"{len(unreadable)} unreadable file(s); fix or remove them, or pass --skip-bad", 1)
    merged = merge(sources)
    records = merged.records
    if not records:
        return _error(f"no result records under {', '.join(map(str, folders))}", 1)
    if out is None:
        return run_export(records, folders, arguments.export.expanduser().resolve(), arguments.predictions)
    statistics = StatisticsSettings(arguments.resamples, arguments.seed, arguments.confidence, arguments.alpha)
    title = arguments.title or f"xares results in {', '.join(map(str, folders))}"
    written: list[Path] = []
    if arguments.redact:
        records, written = write_redacted_records(records, folders[0], out / "records")
        title = arguments.title or "xares results (redacted)"
    apart = versions_apart(records)
    notes = merged.notes + apart.notes
    for note in notes:
        print(f"xares-report: note: {note}")
    if arguments.compare:
        selector_a, selector_b = arguments.compare
        return run_comparison(apart.records, selector_a, selector_b, statistics, out)
    modes = [arguments.mode] if arguments.mode else None
    latex = "latex" in arguments.format
    page_notes = notes if arguments.html else None
    published, overlap = not arguments.no_published, arguments.exclude_overlap
    reports = write_reports(apart.records, out, modes, published, title, None, statistics, latex, overlap, page_notes)
    if arguments.redact:  # the reports name records by their paths (selection.json): shareable too
        redact_files(reports, redactor({str(out): "<report>", str(folders[0]): "<results>"}))
    written += reports
    for path in written:
        print(f"Wrote {path}")
    return 0


def _error(message: object, exit_code: int = 2) -> int:
    print(f"xares-report: {message}", file=sys.stderr)
    return exit_code


def output_folder(arguments: argparse.Namespace, folders: list[Path]) -> Path:
    """Where the reports go: ``--out``, else the one folder (``--redact``: a copy beside it)."""
    folder = folders[0]
    if len(folders) > 1 and (arguments.out is None or arguments.redact):
        raise ConfigError("several folders are merged into --out OUT (and --redact takes one folder)")
    if not arguments.redact:
        return Path(arguments.out or folder).expanduser().resolve()
    out = Path(arguments.out or folder.with_name(f"{folder.name}-redacted")).expanduser().resolve()
    if out.is_relative_to(folder):
        raise ConfigError(f"--redact writes a copy; give an --out folder outside {folder}")
    return out


def run_validation(folders: list[Path]) -> int:
    problems = [f"{folder}/{problem}" for folder in folders for problem in validate_bundle(folder)]
    for problem in problems:
        print(problem)
    checked = ", ".join(map(str, folders))
    if problems:
        return _error(f"{len(problems)} problem(s) in {checked}", 1)
    print(f"xares-report: {checked}: valid")
    return 0


def run_export(records: list[Record], folders: list[Path], out: Path, predictions: bool) -> int:
    inside = [folder for folder in folders if out.is_relative_to(folder)]
    if inside:
        return _error(f"--export writes a copy; give a folder outside {inside[0]}")
    try:
        written = export_bundle(records, out, predictions)
    except ConfigError as error:
        return _error(error)
    shared = [path for path in written if path.suffix == ".json" and path.name not in (ENCODER_CARD, BUNDLE_FILE)]
    print(f"Wrote {len(shared)} record(s) and {len(written) - len(shared)} other file(s) to the result bundle {out}")
    return 0


def write_redacted_records(records: list[Record], folder: Path, out: Path) -> tuple[list[Record], list[Path]]:
    """Each record under ``folder`` redacted to the same place under ``out``, with its prediction files (nothing
    to redact in them); the redacted records (with their new paths) and the files written."""
    redacted, written = [], []
    for record in records:
        if record.path is None:  # a job that left no record is only in the reports (its reason names its folder)
            redacted.append(record.model_copy(update={"reason": redactor({})(str(record.reason))}))
            continue
        path = out / Path(record.path).relative_to(folder)
        written += copy_record(record, path)
        redacted.append(Record.model_validate({**redact_record(stored(record)), "path": str(path)}))
    return redacted, written


def run_comparison(records: list[Record], a: str, b: str, statistics: StatisticsSettings, out: Path) -> int:
    try:
        column_a, column_b, comparisons = compare(records, a, b, statistics)
    except ConfigError as error:
        return _error(error)
    stdout_console().print(comparison_table(column_a, column_b, comparisons, statistics.alpha))
    print(f"Wrote {write_comparison(column_a, column_b, comparisons, statistics, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
