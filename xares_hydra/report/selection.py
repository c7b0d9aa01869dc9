"""Head search: each (task, encoder) trial chosen on its mean validation score over rounds and seeds (HEAR)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from xares_hydra.report.identity import column_key, column_labels, setting_text, variant_of
from xares_hydra.report.record import Record
from xares_hydra.report.summary import format_score, latest_scored, seed_averaged
from xares_hydra.report.table import markdown_table, rich_table, write_files

SEARCH_SLOT = "mlp"


def validation_score(record: Record, slot: str = SEARCH_SLOT) -> float | None:
    """Mean over rounds (folds) of the head's validation score; None where the head did not validate."""
    rounds = record.scores[slot].rounds.values() if slot in record.scores else []
    values = [entry.valid for entry in rounds if entry.valid is not None]
    return sum(values) / len(values) if values else None


def objective(record: Record) -> float:
    """What a sweeper maximises: the validation score, negated for lower-is-better metrics; NaN if none."""
    value = validation_score(record)
    if value is None:
        return math.nan
    return value if record.task.higher_is_better else -value


@dataclass(frozen=True)
class Trial:
    variant: str
    head: dict[str, Any]
    valid: float | None
    test: float | None
    test_std: float | None
    path: str | None

    seeds: int = 1

    @classmethod
    def of(cls, records: list[Record], label: str) -> Trial:
        """One setting's records, one per seed: the mean over seeds (std over seeds when there are several)."""
        valid = [value for record in records if (value := validation_score(record)) is not None]
        tests = [record.scores[SEARCH_SLOT].score for record in records]
        head = {key: value for key, value in records[0].head.items() if key != "seed"}
        std = float(np.std(tests)) if len(tests) > 1 else records[0].scores[SEARCH_SLOT].std
        valid_mean = float(np.mean(valid)) if valid else None
        return cls(variant_of(label), head, valid_mean, float(np.mean(tests)), std, records[0].path, len(records))


@dataclass
class Selection:
    task: str
    encoder: str
    mode: str
    metric: str | None
    higher_is_better: bool
    trials: list[Trial] = field(default_factory=list)
    records: list[list[Record]] = field(default_factory=list)  # per trial, one per seed

    @property
    def winner(self) -> Trial | None:
        """The best validation score; ties go to the first trial in variant order."""
        sign = 1 if self.higher_is_better else -1
        validated = [(trial, trial.valid) for trial in self.trials if trial.valid is not None]
        return max(validated, key=lambda candidate: sign * candidate[1], default=(None, 0))[0]

    def searched_keys(self) -> list[str]:
        """Head settings that differ between the trials."""
        keys = sorted({key for trial in self.trials for key in trial.head})
        return [key for key in keys if len({repr(trial.head.get(key)) for trial in self.trials}) > 1]


def select_trials(records: list[Record]) -> list[Selection]:
    """One selection per (task, encoder, mode) over the newest scored record of each setting; few-shot records
    (``head.shots``) are a data-efficiency study (``report/shots.py``), not trials."""
    groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in latest_scored(records):
        if SEARCH_SLOT in record.scores and record.head.get("shots") is None:
            groups[record.task.name, record.encoder.name, record.mode].append(record)
    selections = []
    for (task, encoder, mode), members in sorted(groups.items()):
        labels = column_labels(members)  # what differs between this task's trials
        settings: dict[str, list[Record]] = defaultdict(list)
        for record in members:
            settings[column_key(record)].append(record)
        trials = sorted(settings.values(), key=lambda records: labels[column_key(records[0])])
        first, chosen = members[0].task, [Trial.of(records, labels[column_key(records[0])]) for records in trials]
        selections.append(Selection(task, encoder, mode, first.metric, first.higher_is_better, chosen, trials))
    return selections


def selected_averages(selections: list[Selection]) -> list[dict[str, Any]]:
    """Per encoder and mode: the weighted average of the winners' test scores (public and all tasks)."""
    winners: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for selection in selections:
        if (winner := selection.winner) is not None:  # its records, one per seed
            winners[selection.encoder, selection.mode] += selection.records[selection.trials.index(winner)]
    averages = []
    for (encoder, mode), records in sorted(winners.items()):
        entry: dict[str, Any] = {"encoder": encoder, "mode": mode}
        for scope in ("public", "all"):
            entry[scope], _, _, entry[f"{scope}_tasks"] = seed_averaged(records, SEARCH_SLOT, scope)
        averages.append(entry)
    return averages


def selection_dict(selections: list[Selection]) -> dict[str, Any]:
    return {
        "selected_on": f"mean over rounds of scores.{SEARCH_SLOT}.rounds.*.valid",
        "selections": [
            {key: getattr(selection, key) for key in ("task", "encoder", "mode", "metric", "higher_is_better")}
            | {
                "searched": selection.searched_keys(),
                "winner": asdict(selection.winner) if selection.winner else None,
                "trials": [asdict(trial) for trial in selection.trials],
            }
            for selection in selections
        ],
        "selected_averages": selected_averages(selections),
    }


def selection_markdown(selections: list[Selection]) -> str:
    lines = ["# Head search: trials chosen on the validation score", ""]
    for selection in selections:
        keys = selection.searched_keys()
        rows = [
            ["✓" if trial is selection.winner else "", *(setting_text(trial.head.get(key)) for key in keys),
             format_score(trial.valid), format_score(trial.test, trial.test_std, trial.seeds)]
            for trial in selection.trials
        ]  # fmt: skip
        header = ["chosen", *(f"head.{key}" for key in keys), "valid", "test"]
        lines += [f"### {selection.task} · {selection.encoder} ({selection.mode} mode, {selection.metric})", ""]
        lines += [*markdown_table(header, rows, "c" + "r" * (len(keys) + 2)), ""]
    averages = [
        [entry["encoder"], entry["mode"], *(f"{format_score(entry[scope])} ({entry[f'{scope}_tasks']})"
                                            for scope in ("public", "all"))]
        for entry in selected_averages(selections)
    ]  # fmt: skip
    lines += ["### Weighted average of the chosen trials' test scores", ""]
    lines += markdown_table(["encoder", "mode", "public", "all"], averages, "llrr")
    return "\n".join(lines) + "\n"


def selection_table(selections: list[Selection]) -> Table:
    rows = []
    for selection in selections:
        winner, trials = selection.winner, str(len(selection.trials))
        chosen = [winner.variant or "(defaults)", format_score(winner.valid),
                  format_score(winner.test, winner.test_std)] if winner else ["-"] * 3  # fmt: skip
        rows.append([selection.task, selection.encoder, selection.mode, trials, *chosen])
    header = ["task", "encoder", "mode", "trials", "chosen setting", "valid", "test"]
    return rich_table("head search: chosen on validation", header, rows, "lllrlrr")


def write_selection(selections: list[Selection], folder: Path) -> list[Path]:
    return write_files(
        folder / "selection", {".json": selection_dict(selections), ".md": selection_markdown(selections)}
    )
