"""Hand-made result records, shaped as ``run_task`` writes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import yaml

from helpers.cli import REPO
from xares_hydra.report.record import Record


def formal_name(task: str) -> str:
    """The task YAML's formal name (as records carry it), or a made-up one for a task without a YAML."""
    path = REPO / "conf" / "task" / f"{task}.yaml"
    return yaml.safe_load(path.read_text())["formal_name"] if path.exists() else task.title()


def make_record(*args: Any, **kwargs: Any) -> Record:
    """``record_document`` read back as reports read it (``load_records``)."""
    return Record.model_validate(record_document(*args, **kwargs))


def record_document(
    task: str,
    encoder: str,
    mlp: float | None,
    knn: float | None = None,
    *,
    weight: float = 100,
    private: bool = False,
    folds: list[float] | None = None,
    mode: str = "default",
    overrides: tuple[str, ...] = (),
    created: str = "2025-01-01T00:00:00+00:00",
    status: str = "ok",
    valid: float | None = None,
    head: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result record as ``run_task`` writes it, with only the fields reports read."""
    scores = {}
    if mlp is not None:
        rounds = {f"fold{i + 1}": {"test": score, "valid": valid} for i, score in enumerate(folds or [mlp])}
        std = float(np.std(folds)) if folds else 0.0
        scores["mlp"] = {"head": "linear_probe", "score": mlp, "std": std, "rounds": rounds}
    if knn is not None:
        scores["knn"] = {"head": "knn", "score": knn, "std": 0.0, "rounds": {"test": {"test": knn, "valid": None}}}
    return {
        "schema": 1,
        "status": status,
        "reason": None if status == "ok" else f"{task} is {status} for a reason",
        "task": {
            "name": task,
            "formal_name": formal_name(task),
            "metric": "accuracy",
            "higher_is_better": True,
            "eval_weight": weight,
            "private": private,
            "kfold": folds is not None,
        },
        "encoder": {"name": encoder},
        "mode": mode,
        "head": head or {"lr": 1e-3, "hidden_dim": None},
        "scores": scores if status == "ok" else {},
        "overrides": [f"task={task}", f"encoder={encoder}", *overrides],
        "created": created,
        "config": {"task": {"name": task, "learning_rate": 1e-3}},
    }


def without_timings(value: Any) -> Any:
    """``value`` (a record's part) without its ``seconds`` entries, at every depth."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key != "seconds"}
    return value
