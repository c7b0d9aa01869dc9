"""``xares-report DIR --compare A B``: column A against column B per task: paired interval, p and Holm-adjusted p."""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from xares_hydra.atomic import write_text
from xares_hydra.errors import ConfigError
from xares_hydra.report.diagnostics import file_part
from xares_hydra.report.identity import column_labels
from xares_hydra.report.leaderboard import Column, StatisticsSettings, column_of, runs_of, seeded
from xares_hydra.report.record import Record
from xares_hydra.report.statistics import Comparison, NotComparable, holm, paired_test
from xares_hydra.report.summary import HEAD_SLOTS, latest_scored
from xares_hydra.report.table import markdown_table, rich_table

SIGNIFICANT_MARK = "*"


@dataclass(frozen=True)
class TaskComparison:
    slot: str
    task: str
    metric: str | None
    higher_is_better: bool
    score_a: float
    score_b: float
    result: Comparison | None  # None: no per-sample predictions or different test clips
    p_holm: float | None = None


def select_column(columns: list[Column], selector: str) -> Column:
    """The one column ``selector`` names; a ConfigError listing the columns when none or several match."""
    if exact := [column for column in columns if column.label == selector]:
        return exact[0]
    match = re.fullmatch(r"\s*([^\[\]]+?)\s*(?:\[(.*)\])?\s*", selector)
    encoder, settings = (match.group(1), match.group(2)) if match else (selector, None)
    wanted = settings_in(settings or "")
    found = [column for column in columns if column.encoder == encoder
             and all(any(_same_setting(s, w) for s in settings_in(column.variant)) for w in wanted)]  # fmt: skip
    if settings is None and len(found) > 1:
        found = [column for column in found if not column.variant] or found
    if len(found) != 1:
        known = ", ".join(column.label for column in columns)
        problem = "matches no column" if not found else f"matches {len(found)} columns"
        raise ConfigError(f"--compare {selector!r} {problem}; columns: {known}")
    return found[0]


def settings_in(variant: str) -> list[str]:
    """``lr=0.1, layers=[1, 2]`` -> ``["lr=0.1", "layers=[1, 2]"]``: a comma inside a value does not split it."""
    return [item.strip() for item in re.split(r",\s*(?=[\w.]+=)", variant) if item.strip()]


def _same_setting(shown: str, wanted: str) -> bool:
    """``lr=0.001`` (as labelled) is ``head.lr=0.001`` (as typed), and the other way round."""
    return shown == wanted or shown.endswith(f".{wanted}") or wanted.endswith(f".{shown}")


def compare(
    records: list[Record], selector_a: str, selector_b: str, statistics: StatisticsSettings
) -> tuple[Column, Column, list[TaskComparison]]:
    scored = latest_scored(records)
    labels = column_labels(records)
    columns = sorted({column_of(record, labels) for record in scored}, key=lambda column: column.label)
    a, b = select_column(columns, selector_a), select_column(columns, selector_b)
    comparisons = []
    for slot in HEAD_SLOTS:
        members, found = seeded(scored, slot, labels), []
        for task in sorted({record.task.name for record in scored}):
            if (side_a := members.get((task, a))) and (side_b := members.get((task, b))):
                found.append(_compare_task(slot, task, side_a, side_b, statistics))
        tested = {item.task: item.result.p_value for item in found if item.result is not None}
        adjusted = dict(zip(tested, holm(list(tested.values()))))
        comparisons += [replace(item, p_holm=adjusted.get(item.task)) for item in found]
    return a, b, comparisons


def _compare_task(
    slot: str, task: str, side_a: list[Record], side_b: list[Record], statistics: StatisticsSettings
) -> TaskComparison:
    info = side_a[0].task
    runs_a, runs_b = runs_of(side_a, slot), runs_of(side_b, slot)
    result = None
    if runs_a and runs_b:
        with suppress(NotComparable):
            result = paired_test(runs_a, runs_b, statistics.resamples, statistics.seed, statistics.confidence)
    score_a, score_b = (sum(record.scores[slot].score for record in side) / len(side) for side in (side_a, side_b))
    return TaskComparison(slot, task, info.metric, info.higher_is_better, score_a, score_b, result)


def _row(item: TaskComparison, alpha: float) -> list[str]:
    result = item.result
    mark = SIGNIFICANT_MARK if item.p_holm is not None and item.p_holm < alpha else ""
    tested = [f"{result.difference:+.3f}{mark}", result.interval.text(), f"{result.p_value:.4f}",
              f"{item.p_holm:.4f}"] if result else [f"{item.score_a - item.score_b:+.3f}", "-", "-", "-"]  # fmt: skip
    return [item.slot, item.task, item.metric or "-", f"{item.score_a:.3f}", f"{item.score_b:.3f}", *tested]


HEADER = ["head", "task", "metric", "A", "B", "A - B", "interval", "p", "p (Holm)"]
ALIGN = "lllrrrrrr"


def comparison_table(a: Column, b: Column, comparisons: list[TaskComparison], alpha: float) -> Table:
    return rich_table(
        f"A = {escape(a.label)} vs B = {escape(b.label)}",
        HEADER,
        ([escape(text) for text in _row(item, alpha)] for item in comparisons),
        ALIGN,
        caption=f"{SIGNIFICANT_MARK}: Holm-adjusted p < {alpha} over the tasks of a head",
    )


def write_comparison(
    a: Column, b: Column, comparisons: list[TaskComparison], statistics: StatisticsSettings, folder: Path
) -> Path:
    lines = [
        f"# {a.label} (A) vs {b.label} (B)",
        "",
        *markdown_table(HEADER, (_row(item, statistics.alpha) for item in comparisons), ALIGN),
        "",
        f"A - B: difference of the scores (mean over seeds); interval: paired bootstrap over the test clips "
        f"({statistics.resamples} resamples, {statistics.confidence:.0%}); p: paired permutation test; "
        f"p (Holm): adjusted over the tasks of a head; {SIGNIFICANT_MARK}: p (Holm) < {statistics.alpha}.",
        "",
    ]
    path = folder / f"compare-{file_part(a.label)}-vs-{file_part(b.label)}.md"
    write_text(path, "\n".join(lines))
    return path
