"""Experiment loggers (logger=csv|mlflow|...): per-epoch validation metric and loss of every head, final scores."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

DEMO = ["task=demo/sounds", "head.epochs=3"]


def only_run_dir(root: Path) -> Path:
    (run_dir,) = (root / "outputs" / "runs").glob("*/*")
    return run_dir


def test_csv_logger_writes_epochs_and_scores_of_every_head(xares_root: Path, xares_command) -> None:
    assert xares_command(*DEMO, "logger=csv", root=xares_root)[0] == 0
    run_dir = only_run_dir(xares_root)
    record = json.loads((run_dir / "result.json").read_text())
    with open(run_dir / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    valid = [row for row in rows if row["name"] == "mlp/fold1/valid_accuracy"]
    assert [int(row["step"]) for row in valid] == [1, 2, 3]
    history = record["scores"]["mlp"]["rounds"]["fold1"]["valid_history"]
    assert [float(row["value"]) for row in valid] == pytest.approx(history)
    losses = [row for row in rows if row["name"] == "mlp/fold5/train_loss"]
    assert len(losses) == 3 and all(float(row["value"]) > 0 for row in losses)
    finals = {row["name"]: float(row["value"]) for row in rows if row["step"] == ""}
    assert finals["mlp/score"] == pytest.approx(record["scores"]["mlp"]["score"])
    assert finals["knn/score"] == pytest.approx(record["scores"]["knn"]["score"])
    params = json.loads((run_dir / "params.json").read_text())
    assert params["task"] == "demo_sounds" and params["head.epochs"] == 3


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_a_logger_without_its_package_names_the_extra(xares_root: Path, xares_command) -> None:
    code, out, err = xares_command(*DEMO, "logger=tensorboard", root=xares_root)
    assert code != 0
    assert "pip install 'xares-hydra[tensorboard]'" in out + err


@pytest.mark.slow
def test_mlflow_logger_to_a_local_store(xares_root: Path, xares_command) -> None:
    mlflow = pytest.importorskip("mlflow")
    assert xares_command(*DEMO, "logger=mlflow", root=xares_root)[0] == 0
    record = json.loads((only_run_dir(xares_root) / "result.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{xares_root / 'outputs' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("xares").experiment_id])
    assert run.data.params["task"] == "demo_sounds" and run.data.params["head.epochs"] == "3"
    assert run.data.metrics["mlp/score"] == pytest.approx(record["scores"]["mlp"]["score"])
    history = client.get_metric_history(run.info.run_id, "mlp/fold2/valid_accuracy")
    assert [(point.step, point.value) for point in history] == [
        (epoch, pytest.approx(value))
        for epoch, value in enumerate(record["scores"]["mlp"]["rounds"]["fold2"]["valid_history"], start=1)
    ]


@pytest.mark.slow
def test_wandb_logger_offline(xares_root: Path, xares_command) -> None:
    pytest.importorskip("wandb")
    assert xares_command(*DEMO, "logger=wandb", root=xares_root)[0] == 0
    assert list((xares_root / "outputs" / "wandb").glob("offline-run-*"))
