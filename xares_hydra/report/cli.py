"""``xares-report DIR``: every report rebuilt from the result records under DIR; ``--compare A B`` tests A against B."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_json
from xares_hydra.console import stdout_console
from xares_hydra.errors import ConfigError
from xares_hydra.report.compare import compare, comparison_table, write_comparison
from xares_hydra.report.leaderboard import StatisticsSettings
from xares_hydra.report.record import score_of
from xares_hydra.report.redact import redact_record
from xares_hydra.report.reports import write_reports
from xares_hydra.report.summary import records_in

MODES = ("default", "xares")


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
    parser.add_argument(
        "--format",
        action="append",
        choices=["latex"],
        default=[],
        help="also write the leaderboard as a booktabs LaTeX table (leaderboard.tex)",
    )
    parser.add_argument(
        "--exclude-overlap",
        action="store_true",
        help="leave out of the averages the scores of encoders trained on the task's corpus (marked †)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="only compare two columns task by task (e.g. mel noise, or 'mel[lr=0.001]' noise)",
    )
    defaults = StatisticsSettings()
    for name, kind, text in (
        ("resamples", int, "bootstrap and permutation resamples (0: no intervals or tests; default {})"),
        ("seed", int, "seed of the resampling (default {})"),
        ("confidence", float, "interval level (default {})"),
        ("alpha", float, "significance level of the tests (default {})"),
    ):
        default = getattr(defaults, name)
        parser.add_argument(f"--{name}", type=kind, default=default, help=text.format(default))
    return parser.parse_args(argv)  # fmt: skip


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
    statistics = StatisticsSettings(arguments.resamples, arguments.seed, arguments.confidence, arguments.alpha)
    title = f"xares results in {folder}"
    written: list[Path] = []
    if arguments.redact:
        out = (arguments.out or folder.with_name(f"{folder.name}-redacted")).expanduser().resolve()
        if out.is_relative_to(folder):
            print(f"xares-report: --redact writes a copy; give an --out folder outside {folder}", file=sys.stderr)
            return 2
        records, written = write_redacted_records(records, folder, out / "records")
        title = "xares results (redacted)"
    if arguments.compare:
        selector_a, selector_b = arguments.compare
        return run_comparison(records, selector_a, selector_b, statistics, out)
    modes = [arguments.mode] if arguments.mode else None
    latex = "latex" in arguments.format
    written += write_reports(
        records, out, modes, not arguments.no_published, title, None, statistics, latex, arguments.exclude_overlap
    )
    for path in written:
        print(f"Wrote {path}")
    return 0


def write_redacted_records(
    records: list[dict[str, Any]], folder: Path, out: Path
) -> tuple[list[dict[str, Any]], list[Path]]:
    """Each record under ``folder`` redacted to the same place under ``out``, with its prediction files (nothing
    to redact in them); the redacted records (with their new paths) and the files written."""
    redacted, written = [], []
    for record in records:
        copy = redact_record({key: value for key, value in record.items() if key != "path"})
        if "path" in record:  # a job that left no record is only in the reports
            source = Path(record["path"])
            path = out / source.relative_to(folder)
            for slot in copy["scores"]:
                if name := score_of(copy, slot).predictions:
                    target = path.parent / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source.parent / name, target)
                    written.append(target)
            write_json(path, copy)
            written.append(path)
            copy["path"] = str(path)
        redacted.append(copy)
    return redacted, written


def run_comparison(records: list[dict[str, Any]], a: str, b: str, statistics: StatisticsSettings, out: Path) -> int:
    try:
        column_a, column_b, comparisons = compare(records, a, b, statistics)
    except ConfigError as error:
        print(f"xares-report: {error}", file=sys.stderr)
        return 2
    stdout_console().print(comparison_table(column_a, column_b, comparisons, statistics.alpha))
    print(f"Wrote {write_comparison(column_a, column_b, comparisons, statistics, out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
