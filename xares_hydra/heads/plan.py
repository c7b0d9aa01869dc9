"""The evaluation rounds of a task: one for split tasks, one per held-out fold for k-fold tasks.

Model selection never looks at test data by default: the next fold validates (as HEAR), or, where a
split task validates on its test split, a hashed share of the training clips. ``select_on_test``
restores X-ARES 0.1.3.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from xares_hydra.data.taskspec import TaskSpec

EXCLUDE_HOLDOUT, ONLY_HOLDOUT = "exclude", "only"


@dataclass(frozen=True)
class Subset:
    partitions: tuple[str, ...]
    holdout: str | None = None

    def describe(self) -> str:
        names = "+".join(self.partitions)
        if self.holdout == ONLY_HOLDOUT:
            return f"held-out share of {names}"
        if self.holdout == EXCLUDE_HOLDOUT:
            return f"{names} minus held-out share"
        return names


@dataclass(frozen=True)
class Round:
    """``reference`` is what heads without model selection (kNN) fit on: all non-test data."""

    name: str
    train: Subset
    valid: Subset
    test: Subset
    reference: Subset


def evaluation_rounds(task: TaskSpec, select_on_test: bool = False) -> list[Round]:
    if task.is_kfold:
        return [_fold_round(task.folds, index, select_on_test) for index in range(len(task.folds))]
    return [_split_round(task, select_on_test)]


def _fold_round(folds: tuple[str, ...], index: int, select_on_test: bool) -> Round:
    test = folds[index]
    valid = test if select_on_test else folds[(index + 1) % len(folds)]
    train = tuple(fold for fold in folds if fold not in (test, valid))
    reference = Subset(tuple(fold for fold in folds if fold != test))
    return Round(test, Subset(train), Subset((valid,)), Subset((test,)), reference)


def _split_round(task: TaskSpec, select_on_test: bool) -> Round:
    train, valid, test = (task.roles[role] for role in ("train", "valid", "test"))
    if valid != test or select_on_test:
        return Round("test", Subset((train,)), Subset((valid,)), Subset((test,)), Subset((train,)))
    return Round(
        "test", Subset((train,), EXCLUDE_HOLDOUT), Subset((train,), ONLY_HOLDOUT), Subset((test,)), Subset((train,))
    )


def in_holdout(clip_key: str, fraction: float = 0.1) -> bool:
    digest = hashlib.md5(clip_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
