"""Experiment loggers (``logger`` group): a finished record's histories and scores to CSV, TensorBoard, MLflow, W&B."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_json, write_text
from xares_hydra.encoders._optional import require
from xares_hydra.report.identity import column_key
from xares_hydra.report.record import Record
from xares_hydra.report.table import csv_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Point:
    """One logged value: ``step`` is the 1-based epoch, None for final scores."""

    name: str
    value: float
    step: int | None = None


def run_name(record: Record) -> str:
    """``task · encoder [column key]``: runs of one setting (seeds aside) share the key (``identity.column_key``)."""
    return f"{record.task.name} · {record.encoder.name} [{column_key(record)}]"


def run_params(record: Record) -> dict[str, Any]:
    """Flat parameters of the run: task, encoder, mode and every head setting."""
    return {
        "task": record.task.name,
        "task_version": record.task.version,
        "encoder": record.encoder.name,
        "encoder_fingerprint": record.encoder.fingerprint,
        "mode": record.mode,
        **{f"head.{key}": value for key, value in record.head.items()},
    }


def record_points(record: Record) -> Iterator[Point]:
    """Per head slot and round: ``<slot>/<round>/valid_<metric>`` and ``.../train_loss`` per epoch, the
    round's test score; per slot the final ``<slot>/score`` and ``<slot>/std``."""
    metric = record.task.metric or "metric"
    for slot, result in record.scores.items():
        for round_name, entry in result.rounds.items():
            prefix = f"{slot}/{round_name}"
            for epoch, value in enumerate(entry.valid_history or [], start=1):
                yield Point(f"{prefix}/valid_{metric}", float(value), epoch)
            for epoch, value in enumerate(entry.train_loss_history or [], start=1):
                yield Point(f"{prefix}/train_loss", float(value), epoch)
            yield Point(f"{prefix}/test_{metric}", float(entry.test))  # type: ignore[arg-type]
        yield Point(f"{slot}/score", float(result.score))
        yield Point(f"{slot}/std", float(result.std))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CSVLogger:
    """``metrics.csv`` (name, step, value; step empty for final scores) and ``params.json`` in ``save_dir``
    (null: the run's output folder)."""

    save_dir: str | None = None

    def log_record(self, record: Record, run_dir: Path) -> None:
        folder = Path(self.save_dir).expanduser() if self.save_dir else run_dir
        rows = ([point.name, "" if point.step is None else point.step, point.value] for point in record_points(record))
        write_text(folder / "metrics.csv", csv_text(["name", "step", "value"], rows))
        write_json(folder / "params.json", {"run": run_name(record), **run_params(record)})


class TensorBoardLogger:
    """Event files under ``save_dir/<run name>`` (``torch.utils.tensorboard``; the ``tensorboard`` extra)."""

    def __init__(self, save_dir: str) -> None:
        require("tensorboard", extra="tensorboard", what="logger=tensorboard")
        self.save_dir = save_dir

    def log_record(self, record: Record, run_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(Path(self.save_dir).expanduser() / run_dir.name)) as writer:  # closed at the end
            for point in record_points(record):
                writer.add_scalar(point.name, point.value, point.step or 0)
            writer.add_text("params", "\n".join(f"{key}: {value}" for key, value in run_params(record).items()))


class MLflowLogger:
    """One MLflow run per job in ``experiment_name`` at ``tracking_uri`` (e.g. ``file:/path/mlruns``)."""

    def __init__(self, tracking_uri: str, experiment_name: str = "xares") -> None:
        self.mlflow = require("mlflow", extra="mlflow", what="logger=mlflow")
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name

    def log_record(self, record: Record, run_dir: Path) -> None:
        self.mlflow.set_tracking_uri(self.tracking_uri)
        self.mlflow.set_experiment(self.experiment_name)
        with self.mlflow.start_run(run_name=run_name(record)):
            self.mlflow.log_params({key: str(value) for key, value in run_params(record).items()})
            for point in record_points(record):
                # MLflow allows letters, digits, _ - . space / only
                key = "".join(c if c.isalnum() or c in "_-. /" else "_" for c in point.name)
                self.mlflow.log_metric(key, point.value, step=point.step or 0)


class WandbLogger:
    """A W&B run per job; ``mode: offline`` (the default) writes under ``save_dir`` for ``wandb sync``."""

    def __init__(self, project: str = "xares", save_dir: str | None = None, mode: str = "offline") -> None:
        self.wandb = require("wandb", extra="wandb", what="logger=wandb")
        self.project, self.save_dir, self.mode = project, save_dir, mode

    def log_record(self, record: Record, run_dir: Path) -> None:
        folder = Path(self.save_dir).expanduser() if self.save_dir else run_dir
        folder.mkdir(parents=True, exist_ok=True)
        run = self.wandb.init(
            project=self.project, name=run_name(record), config=run_params(record), dir=str(folder), mode=self.mode
        )
        try:
            for point in record_points(record):
                if point.step is None:
                    run.summary[point.name] = point.value
                else:
                    run.log({point.name: point.value, "epoch": point.step})
        finally:
            run.finish()


def log_to_experiments(loggers: list[Any], record: Record, run_dir: Path) -> None:
    """Hand the finished record to every configured logger."""
    for logger in loggers:
        logger.log_record(record, run_dir)
        log.info("Logged %s to %s", run_name(record), type(logger).__name__)
