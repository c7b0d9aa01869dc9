"""Summary tables and weighted averages (sum(score x weight) / sum(weight)) from result records, per setting."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xares_hydra.console import stdout_console
from xares_hydra.encode.eta import duration
from xares_hydra.errors import Status
from xares_hydra.report.identity import column_key, column_labels, flattened, variant_of
from xares_hydra.report.record import RECORD_FILE, RECORD_SCHEMA, Record, TaskInfo, load_records
from xares_hydra.report.statistics import Interval
from xares_hydra.report.table import csv_text, markdown_table, rich_table, write_files

if TYPE_CHECKING:
    from xares_hydra.encode.checker import CheckResult
    from xares_hydra.encode.plan import EncodePlan

HEAD_SLOTS = ("mlp", "knn")
# stage=plan's output in the run folder (EncodePlan.to_dict)
PLAN_FILE = "plan.json"
# overrides that select what runs or where, not how it is scored: left out of a job's log title
_GROUPING_OVERRIDE_KEYS = (
    *("task=", "encoder=", "encoder._target_", "stage=", "benchmark=", "search=", "compat="),
    *("paths.", "hydra.", "device=", "head.device", "encode.decode_threads", "encode.check", "encode.force"),
    *("encode.layers", "encode.frame_layers", "logger="),
    *("data.zenodo_api", "data.timeout", "data.retries", "data.force_download", "data.allow_http"),
    *("data.allowed_hosts", "record.", "report."),
)
# heads that fit without a seed: one record of a seed sweep stands for all
SEEDLESS_HEADS = ("knn",)


def distinguishing_overrides(overrides: Iterable[str]) -> str:
    """The overrides worth naming in a job's log line (reports label columns by ``identity.column_labels``)."""
    kept = [item for item in overrides if not item.lstrip("+~").startswith(_GROUPING_OVERRIDE_KEYS)]
    return " ".join(sorted(kept))


def setting_key(record: Record) -> tuple[str, str, str]:
    """(task, column, seed): records with the same key are reruns of the same thing (devices included)."""
    return record.task.name, column_key(record), str(record.seed)


def by_seed(records: Iterable[Record], slot: str) -> list[list[Record]]:
    """Records grouped by seed, in seed order; a seedless head's records (kNN) as one seed."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[str(record.seed)].append(record)
    ordered = [groups[seed] for seed in sorted(groups)]
    return ordered[:1] if slot in SEEDLESS_HEADS else ordered


def latest_scored(records: Iterable[Record]) -> list[Record]:
    """The newest scored record per setting key (``records`` oldest first, as ``load_records`` gives them)."""
    latest = {setting_key(record): record for record in records if record.status == Status.OK}
    return list(latest.values())


def records_in(folder: Path, unreadable: list[str] | None = None) -> list[Record]:
    """The result records below a sweep or results folder, plus sweep jobs that died without one; a sweep's jobs
    in launch order (however parallel jobs finished), other records oldest first."""
    crashed = []  # jobs that left no record (killed, out of memory): shown as failed with their overrides
    for job_dir in sorted(path.parent.parent for path in folder.glob("*/.hydra/overrides.yaml")):
        if (job_dir / RECORD_FILE).exists():
            continue
        overrides = (job_dir / ".hydra" / "overrides.yaml").read_text().replace("\n", " ")
        reason = f"job in {job_dir} ended without a result record (overrides: {overrides.strip()})"
        task = {"name": job_dir.name, "formal_name": job_dir.name, "eval_weight": 0}
        crashed.append(Record.model_validate({"schema": RECORD_SCHEMA, "status": Status.FAILED, "reason": reason,
                                              "task": task, "scores": {}, "crashed": True}))  # fmt: skip
    return sorted(load_records(folder, unreadable), key=_job_number) + crashed


def _job_number(record: Record) -> int:
    """The number of the sweep job folder (``<number>_<task>_<encoder>``) holding the record; others sort last."""
    number = Path(record.path or "").parent.name.split("_", 1)[0]
    return int(number) if number.isdigit() else sys.maxsize


def is_public_xares_task(task: TaskInfo) -> bool:
    """Public X-ARES tasks by their tags (demo tasks are in no X-ARES suite); untagged old records by ``private``."""
    if task.tags is not None:
        return "xares_public" in task.tags
    return not task.private and not task.name.startswith("demo_")


SCOPES = {
    "public": is_public_xares_task,
    "all": lambda task: True,
    # X-ARES 0.1.3 labels this average "public" but computes it over the private tasks
    "public as X-ARES computes it": lambda task: task.private,
}


def weighted_mean(scores: Sequence[float], weights: ArrayLike) -> float | None:
    """sum(score x weight) / sum(weight); None when the weights sum to 0."""
    total = float(np.sum(weights))
    return float(np.dot(weights, scores) / total) if total else None


def seed_averaged(
    records: Sequence[Record], slot: str, scope: str = "all"
) -> tuple[float | None, float | None, int, int]:
    """(mean over seeds of the weighted average of one head slot over the tasks in ``scope``, its std over seeds,
    number of seeds, tasks counted)."""
    averages = []
    for members in by_seed(records, slot):
        counted = [r for r in members if r.status == Status.OK and slot in r.scores and SCOPES[scope](r.task)]
        weights = [float(record.task.eval_weight or 0) for record in counted]
        averages.append((weighted_mean([record.scores[slot].score for record in counted], weights), len(counted)))
    values = [value for value, _ in averages if value is not None]
    if not values:
        return None, None, 0, 0
    return float(np.mean(values)), float(np.std(values)), len(values), max(counted for _, counted in averages)


@dataclass
class Summary:
    rows: list[dict[str, Any]] = field(default_factory=list)
    averages: list[dict[str, Any]] = field(default_factory=list)


def summarise(records: Sequence[Record]) -> Summary:
    labels = column_labels(records)
    summary = Summary(rows=[_row(record, labels) for record in records])
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        groups[record.encoder.name, record.mode, column_key(record)].append(record)
    for (encoder, mode, column), members in sorted(groups.items()):
        for scope in list(SCOPES) if mode == "xares" else ["public", "all"]:
            variant = variant_of(labels[column])
            entry: dict[str, Any] = {"encoder": encoder, "mode": mode, "variant": variant, "scope": scope}
            for slot in HEAD_SLOTS:
                keys = (slot, f"{slot}_std", f"{slot}_seeds", f"{slot}_tasks")
                entry |= dict(zip(keys, seed_averaged(members, slot, scope)))
            summary.averages.append(entry)
    return summary


def _row(record: Record, labels: dict[str, str]) -> dict[str, Any]:
    task = record.task
    row = {"task": task.name, "encoder": record.encoder.name, "mode": record.mode,
           "variant": variant_of(labels[column_key(record)]), "seed": record.seed, "status": record.status,
           "metric": task.metric, "weight": task.eval_weight, "private": task.private,
           "reason": record.reason}  # fmt: skip
    for slot in HEAD_SLOTS:
        score = record.scores.get(slot)
        row[slot], row[f"{slot}_std"] = (score.score, score.std) if score else (None, None)
    return row


def format_score(
    value: float | None,
    std: float | None = None,
    seeds: int = 1,
    interval: Interval | None = None,
    zero_std: bool = False,
) -> str:
    """``0.853``, ``0.853 ± 0.004`` (std over folds or seeds; a std of 0 only with ``zero_std``, as the
    leaderboard prints it), `` [low, high]`` (the interval) and `` (3 seeds)`` when there are several."""
    if value is None:
        return "-"
    text = f"{value:.3f} ± {std:.3f}" if std or (zero_std and std is not None) else f"{value:.3f}"
    text += f" {interval.text()}" if interval else ""
    return f"{text} ({seeds} seeds)" if seeds > 1 else text


def _names(entry: dict[str, Any]) -> list[str]:
    """The encoder, mode and variant cells of a summary row or weighted average."""
    return [entry["encoder"], entry["mode"], entry["variant"] or "-"]


def _row_texts(row: dict[str, Any], terminal: bool) -> list[str]:
    """A summary row as text; the terminal's also has the seed, a status other than ok in red and the weight as
    ``%g``."""
    status, weight = row["status"], row["weight"]
    seed = ["-" if row["seed"] is None else str(row["seed"])] if terminal else []
    if terminal and status != Status.OK:
        status = f"[red]{status}[/red]"
    weight_text = "-" if weight is None else f"{weight:g}" if terminal else str(weight)
    scores = [format_score(row[slot], row[f"{slot}_std"]) for slot in HEAD_SLOTS]
    task = f"{row['task']}{' (private)' if row['private'] else ''}"
    return [task, *_names(row), *seed, status, row["metric"] or "-", weight_text, *scores]


def _average_text(entry: dict[str, Any], slot: str, counted: bool = False) -> str:
    """The weighted average of ``slot`` (± over seeds), with ``counted`` followed by the number of tasks."""
    seeds = entry[f"{slot}_seeds"]
    text = format_score(entry[slot], entry[f"{slot}_std"] if seeds > 1 else None, seeds)
    return f"{text} ({entry[f'{slot}_tasks']})" if counted else text


def print_summary(summary: Summary, console: Console | None = None, title: str = "xares results") -> None:
    console = console or stdout_console()
    rows = [_row_texts(row, terminal=True) for row in summary.rows]
    header = ["task", "encoder", "mode", "variant", "seed", "status", "metric", "weight", "MLP", "kNN"]
    console.print(rich_table(title, header, rows, "lllllllrrr"))
    averages = [
        [*_names(entry), entry["scope"], *(_average_text(entry, slot, counted=True) for slot in HEAD_SLOTS)]
        for entry in summary.averages
    ]
    title = "weighted averages: sum(score x weight) / sum(weight) (tasks counted)"
    console.print(rich_table(title, ["encoder", "mode", "variant", "over tasks", "MLP", "kNN"], averages, "llllrr"))
    for row in summary.rows:
        if row["status"] != Status.OK and row["reason"]:
            console.print(f"[yellow]{row['task']} ({row['encoder']}) {row['status']}:[/yellow] {row['reason']}")


def write_summary(summary: Summary, folder: Path) -> list[Path]:
    """``summary.json``, ``.csv`` and ``.md``: a row per record, then the weighted averages."""
    columns = list(summary.rows[0]) if summary.rows else ["task"]
    averages = [{"task": f"weighted average ({entry['scope']})"}
                | {key: entry[key] for key in ("encoder", "mode", "variant", "mlp", "knn")}
                for entry in summary.averages]  # fmt: skip
    csv = csv_text(columns, [[row.get(column) for column in columns] for row in [*summary.rows, *averages]])
    rows: list[Sequence[str | None]] = [_row_texts(row, terminal=False) for row in summary.rows]
    for entry in summary.averages:
        texts = [_average_text(entry, slot) for slot in HEAD_SLOTS]
        rows.append([f"**Weighted average ({entry['scope']} tasks)**", *_names(entry), None, None, None, *texts])
    header = ["Task", "Encoder", "Mode", "Variant", "Status", "Metric", "Weight", "MLP", "kNN"]
    markdown = "\n".join(markdown_table(header, rows, "llllllrrr")) + "\n"
    document = {"rows": summary.rows, "averages": summary.averages}
    return write_files(folder / "summary", {".json": document, ".csv": csv, ".md": markdown})


def record_table(record: Record) -> Table:
    """One run: the score of each head, per round (fold) and overall."""
    rows = []
    for slot, result in record.scores.items():
        for name, entry in result.rounds.items():
            rows.append([slot, name, format_score(entry.test), format_score(entry.valid),
                         str(entry.best_epoch or "-"), entry.select_on or "-"])  # fmt: skip
        mean = format_score(result.score, result.std)
        rows.append([f"[bold]{slot}[/bold]", "[bold]mean[/bold]", f"[bold]{mean}[/bold]", "", "", ""])
    title = f"{record.task.formal_name} · {record.encoder.name} · {record.task.metric} ({record.mode} mode)"
    return rich_table(title, ["head", "round", "test", "valid", "best epoch", "selected on"], rows, "llrrrl")


def check_table(results: Sequence[CheckResult], encoder_name: str) -> Table:
    rows = [[result.name, "[green]pass[/green]" if result.passed else "[red]FAIL[/red]", result.detail]
            for result in results]  # fmt: skip
    return rich_table(f"encoder contract checks: {encoder_name}", ["check", "result", "detail"], rows)


def plan_line(plan: dict[str, Any]) -> str:
    """A plan (``plan.json``) in one line, for the log and ``progress.log``."""
    line = (f"{plan['audio_hours']:.2f} h of audio, {plan['shards_cached']} of {plan['shards']} shards cached, cache "
            f"{human_bytes(plan['cache_bytes'])} ({human_bytes(plan['bytes_to_write'])} to write), encode about "
            f"{duration(plan['encode_seconds'] or 0)}")  # fmt: skip
    return line if plan["fits"] else f"{line}; DOES NOT FIT: {human_bytes(plan['free_bytes'])} free"


def plan_table(plan: EncodePlan) -> Table:
    """``xares stage=plan``: one task's work and cache, in units a person reads."""
    eta = "-" if plan.encode_seconds is None else duration(plan.encode_seconds)
    rows = [
        ["clips (crops)", f"{plan.clips:,} ({plan.crops:,})"],
        ["audio", f"{plan.audio_hours:.2f} h"],
        ["shards cached", f"{plan.shards_cached} of {plan.shards}"],
        ["cache size (estimate)", f"{human_bytes(plan.cache_bytes)}, {human_bytes(plan.bytes_to_write)} to write"],
        ["free space", f"{human_bytes(plan.free_bytes)} at {escape(plan.cache_dir)}"],
        ["encode time (estimate)", eta],
    ]
    if not plan.fits:
        rows.append(["[red]does not fit[/red]", "free space in paths.cache_root, or encode.store_dtype=float16"])
    return rich_table(f"plan: {plan.task} x {plan.encoder}", ["", ""], rows)


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def fingerprint_table(fingerprint: str, document: dict[str, Any]) -> Table:
    """What the encoder's cache fingerprint was computed from, one input per row."""
    title = f"cache fingerprint {fingerprint}: its inputs (README, 'Cache key and results layout')"
    rows = [[key, escape(str(value))] for key, value in flattened(document).items()]
    return rich_table(title, ["input", "value"], rows)


def meta_table(meta: dict[str, Any], encoder_name: str) -> Table:
    """The encoder YAML's facts (its ``meta`` block: a catalog entry's family, parameters, licence, paper,
    training data)."""
    texts = {key: "-" if value is None else ", ".join(map(str, value)) if isinstance(value, list) else str(value)
             for key, value in meta.items()}  # fmt: skip
    rows = [[key, escape(text)] for key, text in texts.items()]
    return rich_table(f"encoder facts: {encoder_name}", ["fact", "value"], rows)
