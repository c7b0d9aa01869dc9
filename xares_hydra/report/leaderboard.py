"""The leaderboard: tasks as rows, a column per encoder and setting, one table per head, as the X-ARES README."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from xares_hydra.errors import Status
from xares_hydra.heads import TRAINED_HEAD_ONLY
from xares_hydra.report.curves import colours_of, error_bars, png_figure, save_png
from xares_hydra.report.identity import DEFAULT_MODE, column_key, column_labels, variant_of
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
from xares_hydra.report.record import Record, predictions_of
from xares_hydra.report.statistics import (
    Interval,
    NotComparable,
    Run,
    bootstrap_scores,
    holm,
    percentile_interval,
    permutation_p,
)
from xares_hydra.report.summary import (
    HEAD_SLOTS,
    by_seed,
    format_score,
    is_public_xares_task,
    latest_scored,
    setting_key,
    weighted_mean,
)
from xares_hydra.report.table import csv_text, markdown_table, rich_table, write_files

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HEAD_TITLES = {"mlp": "MLP", "knn": "kNN"}
AVERAGE_SCOPES = {"public": "Weighted Average (public tasks)", "all": "Weighted Average (all tasks)"}
PUBLISHED_MARK = "(published)"
NOT_WORSE_MARK = "≈"
OVERLAP_MARK = "†"
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
    public: bool = False  # counted in the public average (tag xares_public)
    weight: float | None = None
    metric: str | None = None
    higher_is_better: bool = True
    chance: float | None = None


@dataclass(frozen=True)
class Cell:
    score: float
    std: float | None = None  # over seeds; with one seed over folds (k-fold tasks) or few-shot draws
    printed: str | None = None  # published cells: the README's text where it is more than the score
    seeds: int = 1
    interval: Interval | None = None

    def text(self) -> str:
        return self.printed or format_score(self.score, self.std, self.seeds, self.interval, zero_std=True)


@dataclass(frozen=True)
class Average:
    score: float | None
    tasks: int
    interval: Interval | None = None

    def text(self) -> str:
        return format_score(self.score, interval=self.interval)


@dataclass
class StatisticsSettings:
    """The ``report`` config group and ``xares-report``'s options: bootstrap resamples for confidence intervals and
    paired tests (0: none), their seed (so reports repeat exactly), the interval's level, the tests' alpha."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05


@dataclass
class HeadTable:
    slot: str
    rows: list[TaskRow]
    columns: list[Column]
    cells: dict[tuple[str, str], Cell]  # (task, column label)
    averages: dict[tuple[str, str], Average]  # (scope, column label)
    alpha: float  # the paired tests' (StatisticsSettings.alpha)
    # (task, column label) -> Holm-adjusted p of the paired test against the row's best, where tested
    versus_best: dict[tuple[str, str], float] = field(default_factory=dict)
    # (task, column label) where the encoder was trained on the task's corpus (record encoder.training_overlap)
    overlaps: set[tuple[str, str]] = field(default_factory=set)
    overlap_excluded: bool = False
    # (task, column label) -> the cell's records: the newest of each seed, in seed order (``seeded``)
    seeds: dict[tuple[str, str], list[Record]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"{HEAD_TITLES.get(self.slot, self.slot)} Result"

    def average(self, scope: str, column: Column) -> Average:
        return self.averages.get((scope, column.label), Average(None, 0))

    def counts(self) -> list[str]:
        """Per column: ``public / all`` tasks averaged."""
        return [f"{self.average('public', c).tasks} / {self.average('all', c).tasks}" for c in self.columns]

    def cell_text(self, row: TaskRow, column: Column, marked: bool = False) -> str:
        """The cell's score as text; ``marked``: followed by ``≈`` where ``not_worse`` and ``†`` where the encoder
        was trained on the task's corpus."""
        cell = self.cells.get(key := (row.name, column.label))
        marks = (
            [NOT_WORSE_MARK] * self.not_worse(row, column) + [OVERLAP_MARK] * (key in self.overlaps) if marked else []
        )
        return " ".join([cell.text() if cell else "-", *marks])

    def row_cells(self, row: TaskRow) -> list[tuple[Column, Cell]]:
        """The row's cells, in column order (columns without a score left out)."""
        return [(c, cell) for c in self.columns if (cell := self.cells.get((row.name, c.label)))]

    def best_in_row(self, row: TaskRow) -> set[str]:
        scores = {column.label: cell.score for column, cell in self.row_cells(row)}
        if len(scores) < 2:
            return set()
        best = max(scores.values()) if row.higher_is_better else min(scores.values())
        return {label for label, score in scores.items() if score == best}

    def not_worse(self, row: TaskRow, column: Column) -> bool:
        """Not the best, yet not significantly worse than it (``≈``)."""
        p_value = self.versus_best.get((row.name, column.label))
        return p_value is not None and p_value >= self.alpha


@dataclass
class Leaderboard:
    mode: str
    tables: list[HeadTable]
    not_scored: list[dict[str, Any]]
    in_mode: list[Record]  # the mode's records, oldest first
    labels: dict[str, str]  # the records' column labels by column key (``column_labels``)

    @property
    def has_published(self) -> bool:
        return any(column.published for table in self.tables for column in table.columns)


def build_leaderboard(
    records: list[Record],
    mode: str = DEFAULT_MODE,
    published: bool = True,
    statistics: StatisticsSettings | None = None,
    exclude_overlap: bool = False,
) -> Leaderboard:
    """The leaderboard of one mode from result records (oldest first, as ``load_records`` returns them);
    ``exclude_overlap``: averages leave out the cells whose encoder was trained on the task's corpus."""
    in_mode = [record for record in records if record.mode == mode and not record.crashed]
    scored = latest_scored(in_mode)
    labels = column_labels(in_mode)
    statistics = statistics or StatisticsSettings(resamples=0)
    tasks = _task_rows(in_mode)
    tables = [_head_table(slot, in_mode, tasks, scored, published, statistics, exclude_overlap) for slot in HEAD_SLOTS]
    crashed = [record for record in records if record.crashed]
    not_scored = _not_scored(in_mode, scored, labels) + _not_scored(crashed, [], column_labels(crashed))
    return Leaderboard(mode, [table for table in tables if table.rows], not_scored, in_mode, labels)


def column_of(record: Record, labels: dict[str, str], leave_out: Collection[str] = ()) -> Column:
    """The record's column, labelled from ``labels`` (``column_labels`` of the records shown, same ``leave_out``)."""
    label = labels[column_key(record, leave_out)]
    return Column(label, record.encoder.name, variant_of(label))


def _task_rows(records: list[Record]) -> list[TaskRow]:
    rows: dict[str, TaskRow] = {}
    for record in records:
        if (task := record.task).name not in rows:
            chance = next((score.chance for score in record.scores.values() if score.chance is not None), None)
            rows[task.name] = TaskRow(task.name, task.formal_name or task.name, task.private,
                                      is_public_xares_task(task), task.eval_weight, task.metric,
                                      task.higher_is_better, chance)  # fmt: skip
    order = {name: (index, "") for index, name in enumerate(PUBLISHED_ORDER)}  # then the others by label
    return sorted(rows.values(), key=lambda row: order.get(row.name, (len(order), row.label)))


def _head_table(
    slot: str,
    in_mode: list[Record],
    tasks: list[TaskRow],
    scored: list[Record],
    published: bool,
    statistics: StatisticsSettings,
    exclude_overlap: bool,
) -> HeadTable:
    """MLP: every task and every column of the mode; kNN: only the tasks and columns that have kNN scores, its
    columns not split by settings only the trained head reads (kNN has no learning rate)."""
    leave_out = TRAINED_HEAD_ONLY if slot == "knn" else ()
    labels = column_labels(in_mode, leave_out)
    columns = sorted({column_of(record, labels, leave_out) for record in in_mode}, key=lambda column: column.label)
    members = seeded(scored, slot, labels, leave_out)
    seeds = {(task, column.label): records for (task, column), records in members.items()}
    overlaps = {key for key, records in seeds.items()
                if any(record.encoder.training_overlap for record in records)}  # fmt: skip
    left_out = overlaps if exclude_overlap else set()
    cells, runs, resampled = {}, {}, {}
    for key, records in seeds.items():
        cells[key], runs[key], resampled[key] = seeds_cell(records, slot, statistics)
    used = {column for _, column in members}
    ours = columns if slot == "mlp" else [column for column in columns if column in used]

    def average(column: Column, scope: str) -> Average:
        """sum(score x weight) / sum(weight) over the column's cells in scope, but ``left_out``; its interval from
        the cells' resamples."""
        counted = [(row, cells[key]) for row in tasks if (key := (row.name, column.label)) in cells
                   and (scope == "all" or row.public) and key not in left_out]  # fmt: skip
        weights = np.array([float(row.weight or 0) for row, _ in counted])
        score = weighted_mean([cell.score for _, cell in counted], weights)
        if score is None:
            return Average(None, 0)
        draws = [draw for row, _ in counted if (draw := resampled.get((row.name, column.label))) is not None]
        interval = None
        if statistics.resamples and len(draws) == len(counted):
            combined = np.tensordot(weights, np.stack(draws), axes=1) / weights.sum()
            interval = percentile_interval(combined, statistics.confidence)
        return Average(score, len(counted), interval)

    averages = {(scope, column.label): average(column, scope) for column in ours for scope in AVERAGE_SCOPES}
    # per row: each column tested against the row's best (paired), Holm-adjusted over the row's tests
    versus_best: dict[tuple[str, str], float] = {}
    resampling = (statistics.resamples, statistics.seed)
    for row in tasks if statistics.resamples else ():
        present = [column.label for column in ours if runs.get((row.name, column.label))]
        if len(present) < 2:
            continue
        sign = 1 if row.higher_is_better else -1
        best = max(present, key=lambda label: sign * cells[row.name, label].score)
        tested = {}
        for label in present:
            with suppress(NotComparable):
                if label != best:
                    tested[label] = permutation_p(runs[row.name, best], runs[row.name, label], *resampling)
        versus_best |= {(row.name, label): p for label, p in zip(tested, holm(list(tested.values())))}
    with_published = published and any(row.name in PUBLISHED_ORDER for row in tasks)
    theirs = _published_columns(slot, tasks, cells, averages) if with_published else []
    rows = [row for row in tasks if slot == "mlp" or any((row.name, c.label) in cells for c in ours + theirs)]
    return HeadTable(slot, rows, ours + theirs, cells, averages, statistics.alpha, versus_best, overlaps,
                     exclude_overlap, seeds)  # fmt: skip


def seeded(
    scored: list[Record], slot: str, labels: dict[str, str], leave_out: Collection[str] = ()
) -> dict[tuple[str, Column], list[Record]]:
    """Per (task, column): the newest record of each seed with a ``slot`` score, in seed order."""
    members: dict[tuple[str, Column], list[Record]] = {}
    for record in scored:
        if slot in record.scores:
            members.setdefault((record.task.name, column_of(record, labels, leave_out)), []).append(record)
    return {key: [group[-1] for group in by_seed(records, slot)] for key, records in members.items()}


def runs_of(seeds: list[Record], slot: str) -> list[Run]:
    """Every seed's per-sample predictions; none when any seed lacks them."""
    runs = [predictions_of(record, slot) for record in seeds]
    return [run for run in runs if run is not None] if all(run is not None for run in runs) else []


def seeds_cell(
    seeds: list[Record], slot: str, statistics: StatisticsSettings
) -> tuple[Cell, list[Run], np.ndarray | None]:
    """The mean over seeds (std over seeds, or for one seed over folds of a k-fold task or over few-shot draws)
    with its bootstrap interval, its runs and their resampled scores (None without resamples, predictions, or
    where the seeds' test clips differ)."""
    scores = [record.scores[slot].score for record in seeds]
    few_shot = seeds[0].head.get("shots") is not None
    one_seed_std = seeds[0].scores[slot].std if seeds[0].task.kfold or few_shot else None
    std = float(np.std(scores)) if len(seeds) > 1 else one_seed_std
    runs, resampled = runs_of(seeds, slot), None
    if statistics.resamples and runs:
        with suppress(NotComparable):
            resampled = bootstrap_scores(runs, statistics.resamples, statistics.seed)
    interval = None if resampled is None else percentile_interval(resampled, statistics.confidence)
    return Cell(float(np.mean(scores)), std, seeds=len(seeds), interval=interval), runs, resampled


def score_limits(scores: Iterable[float]) -> tuple[float, float] | None:
    """The whole 0-1 range where every score lies in it (a zoomed axis makes small gaps look large); else None."""
    return (0.0, 1.0) if all(0.0 <= score <= 1.0 for score in scores) else None


def _published_columns(
    slot: str, tasks: list[TaskRow], cells: dict[tuple[str, str], Cell], averages: dict[tuple[str, str], Average]
) -> list[Column]:
    """Adds the published cells and averages of the tasks in ``tasks``; returns the published columns."""
    scores = published_scores(slot)
    columns = [Column(f"{encoder} {PUBLISHED_MARK}", encoder, published=True) for encoder in PUBLISHED_ENCODERS]
    for column in columns:
        cells |= {(row.name, column.label): Cell(score.score, printed=score.note) for row in tasks
                  if (score := scores.get(row.name, {}).get(column.encoder)) is not None}  # fmt: skip
        for scope in AVERAGE_SCOPES:
            averages[scope, column.label] = Average(published_averages(slot, scope)[column.encoder],
                                                    published_task_count(slot, scope))  # fmt: skip
    return columns


def _not_scored(records: list[Record], scored: list[Record], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Records without a score whose setting has no scored record either (the newest failure wins)."""
    done = {setting_key(record) for record in scored}
    missing = {setting_key(record): {"task": record.task.name, "encoder": record.encoder.name,
                                     "variant": column_of(record, labels).variant, "status": record.status,
                                     "reason": record.reason}
               for record in records if record.status != Status.OK and setting_key(record) not in done}  # fmt: skip
    return list(missing.values())


def leaderboard_markdown(board: Leaderboard) -> str:
    lines = [f"# xares-hydra leaderboard ({board.mode} mode)", ""]
    for table in board.tables:
        header, rows, averages = _grid(table, "markdown")
        counts = ["Tasks averaged (public / all)", *table.counts()]
        lines += [f"### {table.title}", "", *markdown_table(header, [*rows, *averages, counts], _align(table)), ""]
    lines += ["Notes:", "", *(f"- {note}" for note in leaderboard_notes(board)), ""]
    if any(row.private for table in board.tables for row in table.rows):
        lines += ["[^priv]: Private task: its dataset is not publicly available.", ""]
    if board.not_scored:
        lines += ["Not scored:", ""]
        for entry in board.not_scored:
            encoder = f"{entry['encoder']} [{entry['variant']}]" if entry["variant"] else entry["encoder"]
            lines.append(f"- {entry['task']} ({encoder}): {entry['status']}: {entry['reason']}")
        lines.append("")
    return "\n".join(lines)


def _align(table: HeadTable) -> str:
    return "l" + "r" * len(table.columns)


_LATEX_SPECIAL = str.maketrans({"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "±": r"$\pm$", "†": r"$^\dagger$", "≈": r"$\approx$"})  # fmt: skip

# per format: bold, escape, the private task's mark, averages followed by their task count
_FORMATS: dict[str, tuple[Callable[[str], str], Callable[[str], str], str, bool]] = {
    "markdown": (lambda text: f"**{text}**", str, "[^priv]", False),
    "rich": (lambda text: f"[bold]{text}[/bold]", escape, " (private)", True),
    "latex": (lambda text: f"\\textbf{{{text}}}", lambda text: text.translate(_LATEX_SPECIAL), "", False),
}


def _grid(table: HeadTable, form: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The head table as text cells in one format: its header, a row per task (the row's best in bold) and a
    row per weighted average (titled in bold, except in LaTeX)."""
    bold, escaped, private, counted = _FORMATS[form]
    header = ["Task", *(escaped(column.label) for column in table.columns)]
    rows = []
    for row in table.rows:
        best = table.best_in_row(row)
        marked = [
            (escaped(table.cell_text(row, column, marked=True)), column.label in best) for column in table.columns
        ]
        label = escaped(row.label) + (private if row.private else "")
        rows.append([label, *(bold(text) if is_best else text for text, is_best in marked)])
    averages: list[list[str]] = []
    for scope, title in AVERAGE_SCOPES.items():
        cells = [table.average(scope, column) for column in table.columns]
        texts = [escaped(cell.text()) + (f" ({cell.tasks})" if counted else "") for cell in cells]
        averages.append([escaped(title) if form == "latex" else bold(title), *texts])
    return header, rows, averages


def leaderboard_notes(board: Leaderboard) -> list[str]:
    notes = [
        f"{len(board.in_mode)} result records in {board.mode} mode; of several for the same task, encoder, "
        "setting and seed the newest scored one counts. Bold: the best score of the row. Records that differ only "
        "in the seed share a column: the cell is their mean, ± the standard deviation over the seeds, "
        "(n seeds) their number; with one seed ± is the standard deviation over the folds of a k-fold task.",
        "[low, high]: bootstrap confidence interval over the test clips (clips resampled within each fold, the "
        f"same draws for every seed). {NOT_WORSE_MARK}: not significantly worse than the row's best (paired "
        "permutation test on the per-sample predictions, Holm-corrected over the row's comparisons).",
        "Weighted average = sum(score × weight) / sum(weight) over the tasks a column has scores for, with the "
        "tasks' eval weights (X-ARES: about the size of each test set); the last row says how many tasks that is.",
    ]
    if any(table.overlaps for table in board.tables):
        excluded = board.tables[0].overlap_excluded
        averaged = "left out of" if excluded else "counted in (xares-report --exclude-overlap leaves them out of)"
        notes.append(
            f"{OVERLAP_MARK}: the encoder was trained on this task's corpus (its meta.training_data names the task's "
            f"corpus); such scores are {averaged} the averages."
        )
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
        if board.mode == DEFAULT_MODE:
            notes.append(
                "Default mode corrects X-ARES defects (README, 'Comparing with published X-ARES numbers'); for a "
                "like-for-like comparison with the published columns run with compat=xares (xares-report --mode xares)."
            )
    return notes


def leaderboard_csv(board: Leaderboard) -> str:
    labels = list(dict.fromkeys(column.label for table in board.tables for column in table.columns))
    fields = ["head", "task", "Task", "private", "weight", "metric"]
    fields += [name for label in labels for name in (label, f"{label} std", f"{label} low", f"{label} high")]
    entries: list[dict[str, Any]] = []
    for table in board.tables:
        for row in table.rows:
            entry = dict(zip(fields, (table.slot, row.name, row.label, row.private, row.weight, row.metric)))
            for column, cell in table.row_cells(row):
                entry[column.label], entry[f"{column.label} std"] = cell.score, cell.std
                if cell.interval:
                    entry[f"{column.label} low"], entry[f"{column.label} high"] = astuple(cell.interval)
            entries.append(entry)
        for scope, title in AVERAGE_SCOPES.items():
            entry = {"head": table.slot, "task": f"weighted_average_{scope}", "Task": title}
            entries.append(entry | {column.label: table.average(scope, column).score for column in table.columns})
            count = {"head": table.slot, "task": f"tasks_averaged_{scope}", "Task": f"Tasks averaged ({scope})"}
            entries.append(count | {column.label: table.average(scope, column).tasks for column in table.columns})
    return csv_text(fields, ([entry.get(name) for name in fields] for entry in entries), "\n")


def leaderboard_dict(board: Leaderboard) -> dict[str, Any]:
    def cells(table: HeadTable, row: TaskRow) -> dict[str, Any]:
        return {c.label: asdict(cell) | {"versus_best_p_holm": table.versus_best.get((row.name, c.label))}
                for c, cell in table.row_cells(row)}  # fmt: skip

    heads = {table.slot: {"title": table.title, "columns": [asdict(column) for column in table.columns],
                          "rows": [asdict(row) | {"cells": cells(table, row)} for row in table.rows],
                          "averages": {scope: {c.label: asdict(table.average(scope, c)) for c in table.columns}
                                       for scope in AVERAGE_SCOPES}}
             for table in board.tables}  # fmt: skip
    return {
        "kind": LEADERBOARD_KIND,
        "mode": board.mode,
        "records": len(board.in_mode),
        "published_source": PUBLISHED_SOURCE if board.has_published else None,
        "published_comparable_version": COMPARABLE_VERSION if board.has_published else None,
        "heads": heads,
        "not_scored": board.not_scored,
        "notes": leaderboard_notes(board),
    }


def leaderboard_stem(mode: str) -> str:
    return "leaderboard" if mode == DEFAULT_MODE else f"leaderboard-{mode}"


def write_leaderboard(board: Leaderboard, folder: Path, latex: bool = False) -> list[Path]:
    """``<stem>.md``, ``.csv``, ``.json``, when any score exists ``.png``, and with ``latex`` ``.tex`` in ``folder``."""
    stem = folder / leaderboard_stem(board.mode)
    files = {".md": leaderboard_markdown(board), ".csv": leaderboard_csv(board)}
    files |= {".tex": leaderboard_latex(board)} if latex else {}
    paths = write_files(stem, files | {".json": leaderboard_dict(board)})
    if (figure := leaderboard_figure(board)) is not None:
        save_png(figure, stem.with_suffix(".png"))
        paths.append(stem.with_suffix(".png"))
    return paths


def leaderboard_tables(board: Leaderboard) -> list[Table]:
    tables = []
    for head in board.tables:
        header, rows, averages = _grid(head, "rich")
        styles = [None, *("dim" if column.published else None for column in head.columns)]
        title = f"{head.title} · {board.mode} mode"
        tables.append(rich_table(title, header, rows + averages, _align(head), "(n): tasks averaged", styles))
    return tables


def leaderboard_figure(board: Leaderboard) -> Figure | None:
    """Per head a panel of per-task bars (intervals as error bars, chance dotted) and the average with the number
    of tasks it is over; None if no column of ours has a score."""
    tables = [table for table in board.tables if any(not column.published for column in _plotted(table))]
    if not tables:
        return None
    tallest = max((len(table.rows) + 1) * max(1, len(table.columns)) for table in tables)
    figure = png_figure(6.5 * len(tables), 2.2 + 0.16 * tallest)
    labels = list(dict.fromkeys(column.label for table in tables for column in table.columns))
    colours = colours_of(labels, "tab10" if len(labels) <= 10 else "tab20")
    legend: dict[str, Any] = {}
    for axes, table in zip(figure.subplots(1, len(tables), squeeze=False)[0], tables):
        _plot_head(axes, table, colours)
        axes.set_title(f"{table.title} ({board.mode} mode)")
        handles, labels = axes.get_legend_handles_labels()
        legend.update(zip(labels, handles))
    figure.legend(list(legend.values()), list(legend), loc="outside lower center", ncol=min(4, len(legend)), fontsize=8)
    return figure


def _plotted(table: HeadTable) -> list[Column]:
    return [c for c in table.columns if any((row.name, c.label) in table.cells for row in table.rows)]


def _plot_head(axes: Any, table: HeadTable, colours: dict[str, Any]) -> None:
    columns = _plotted(table)
    height = 0.8 / len(columns)
    average_row = len(table.rows)
    for index, column in enumerate(columns):
        bars = [(at, cell) for at, row in enumerate(table.rows) if (cell := table.cells.get((row.name, column.label)))]
        offset = -0.4 + height * (index + 0.5)
        positions = [position + offset for position, _ in bars]
        scores, intervals = [cell.score for _, cell in bars], [cell.interval for _, cell in bars]
        average = table.average("all", column)
        if average.score is not None:
            positions.append(average_row + offset)
            scores.append(average.score)
            intervals.append(average.interval)
            tasks = f"{average.tasks} task" + ("s" if average.tasks != 1 else "")
            end = average.interval.high if average.interval else average.score
            axes.annotate(tasks, (end, average_row + offset), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=6)  # fmt: skip
        axes.barh(positions, scores, height=height, label=column.label, color=colours[column.label],
                  alpha=0.45 if column.published else 1.0, hatch="//" if column.published else None,
                  xerr=error_bars(scores, [(i.low, i.high) if i else None for i in intervals]),
                  error_kw={"elinewidth": 0.8, "capsize": 1.5})  # fmt: skip
    for position, row in enumerate(table.rows):
        if row.chance is not None:
            axes.vlines(row.chance, position - 0.45, position + 0.45, colors="black", linestyles=":", linewidth=1)
    labels = [row.label for row in table.rows] + [f"{AVERAGE_SCOPES['all']}\n(over the tasks written in its bar)"]
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.axhline(average_row - 0.5, color="grey", linewidth=0.5)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    if limits := score_limits(cell.score for cell in table.cells.values()):
        axes.set_xlim(*limits)
    axes.set_xlabel("score (error bars: confidence interval; dotted: chance level)")
    axes.grid(axis="x", alpha=0.3)


def leaderboard_latex(board: Leaderboard) -> str:
    """One booktabs table per head: tasks as rows, columns as in the Markdown, the row's best in bold."""
    parts = [f"% xares-hydra leaderboard ({board.mode} mode); needs \\usepackage{{booktabs}}"]
    for table in board.tables:
        caption = f"{table.title} ({board.mode} mode)".translate(_LATEX_SPECIAL)
        parts += ["\\begin{table}[t]", "\\centering", f"\\caption{{{caption}}}",
                  f"\\begin{{tabular}}{{{_align(table)}}}", "\\toprule"]  # fmt: skip
        header, rows, averages = _grid(table, "latex")
        parts += [_latex_row(header), "\\midrule", *map(_latex_row, rows), "\\midrule", *map(_latex_row, averages)]
        parts += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(parts)


def _latex_row(cells: list[str]) -> str:
    return " & ".join(cells) + " \\\\"
