"""compat=xares: X-ARES 0.1.3 behaviour behind one switch; the default stays correct."""

from __future__ import annotations

import json

import pytest
from helpers.audio import clip_shard, tone
from helpers.cli import run_xares

from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.heads.plan import evaluation_rounds
from xares_hydra.report.record import Record
from xares_hydra.report.summary import summarise

SMALL_SOUNDS = ("task=demo/sounds", "task.generator.args.per_class=10", "task.epochs=4")


def sweep_records(sweep) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(sweep.glob("*/result.json"))]


@pytest.mark.slow
def test_model_selection_uses_the_test_fold_only_in_compat_mode(xares_root):
    sweep = xares_root / "sweep"
    result = run_xares("-m", *SMALL_SOUNDS, "compat=default,xares", f"hydra.sweep.dir={sweep}", root=xares_root)
    records = {record["mode"]: record for record in sweep_records(sweep)}
    assert set(records) == {"default", "xares"}
    for name, entry in records["xares"]["scores"]["mlp"]["rounds"].items():
        assert entry["select_on"] == entry["test_on"] == name
    for name, entry in records["default"]["scores"]["mlp"]["rounds"].items():
        assert entry["select_on"] != entry["test_on"] == name
    assert records["default"]["encoder"]["fingerprint"] != records["xares"]["encoder"]["fingerprint"], (
        "padded X-ARES batches are a different embedding cache"
    )
    summary = json.loads((sweep / "summary.json").read_text())
    assert {row["mode"] for row in summary["rows"]} == {"default", "xares"}
    assert {(a["mode"], a["scope"]) for a in summary["averages"]} >= {
        ("default", "all"),
        ("xares", "all"),
        ("xares", "public as X-ARES computes it"),
    }
    assert "public as X-ARES computes it" in result.stdout


def split_task(valid: str) -> TaskSpec:
    return TaskSpec.from_config(
        {
            "name": "t",
            "task_type": "clip",
            "splits": {"train": "dev", "valid": valid, "test": "eval"},
            "label": {"rule": "class_map", "key": "y", "classes": ["a", "b"]},
        }
    )


def test_split_tasks_whose_validation_is_the_test_split_hold_out_training_clips():
    (default,) = evaluation_rounds(split_task(valid="eval"))
    assert default.valid.partitions == ("dev",) and default.valid.holdout == "only"
    assert default.train.holdout == "exclude" and default.reference.holdout is None
    (compat,) = evaluation_rounds(split_task(valid="eval"), select_on_test=True)
    assert compat.valid == compat.test
    (separate,) = evaluation_rounds(split_task(valid="devtest"))
    assert separate.valid.partitions == ("devtest",) and separate.valid.holdout is None


def test_kfold_rounds_rotate_the_validation_fold():
    task = TaskSpec.from_config(
        {
            "name": "k",
            "task_type": "clip",
            "folds": [1, 2, 3, 4],
            "fold_tar_pattern": "f{fold}.tar",
            "label": {"rule": "as_int", "key": "y", "num_classes": 2},
        }
    )
    rounds = evaluation_rounds(task)
    assert [(r.test.partitions, r.valid.partitions) for r in rounds] == [
        (("fold1",), ("fold2",)),
        (("fold2",), ("fold3",)),
        (("fold3",), ("fold4",)),
        (("fold4",), ("fold1",)),
    ]
    assert rounds[0].train.partitions == ("fold3", "fold4") and rounds[0].reference.partitions == (
        "fold2",
        "fold3",
        "fold4",
    )
    compat = evaluation_rounds(task, select_on_test=True)
    assert all(r.valid == r.test for r in compat) and compat[0].train.partitions == ("fold2", "fold3", "fold4")


HOLDOUT_TASK = """
defaults:
  - /schema/task@_here_
  - _self_
name: same_valid_test
splits: {train: dev, valid: eval, test: eval}
label: {rule: class_map, key: pitch, classes: [low, high]}
epochs: 3
"""


@pytest.mark.slow
def test_a_task_validating_on_its_test_split_runs_with_a_held_out_share(xares_root):
    config_dir = xares_root / "conf"
    (config_dir / "task").mkdir(parents=True)
    (config_dir / "task" / "same_valid_test.yaml").write_text(HOLDOUT_TASK)
    data = xares_root / "data" / "same_valid_test"
    for split, count in (("dev", 60), ("eval", 10)):
        clips = [(f"{split}{i}", tone(0.3, 16000, 300 if i % 2 else 3000), 16000, {"pitch": ["high", "low"][i % 2]})
                 for i in range(count)]  # fmt: skip
        clip_shard(data / f"{split}_0000000.tar", clips)
    sweep = xares_root / "sweep"
    run_xares("-m", "--config-dir", str(config_dir), "task=same_valid_test", "compat=default,xares",
              f"hydra.sweep.dir={sweep}", root=xares_root)  # fmt: skip
    rounds = {r["mode"]: r["scores"]["mlp"]["rounds"]["test"] for r in sweep_records(sweep)}
    assert rounds["default"]["select_on"] == "held-out share of dev" and 0 < rounds["default"]["n_valid"] < 60
    assert rounds["default"]["n_train"] + rounds["default"]["n_valid"] == 60
    assert rounds["xares"]["select_on"] == "eval" and rounds["xares"]["n_valid"] == 10


def record(task: str, score: float, weight: float, private: bool, mode: str) -> Record:
    return Record.model_validate({
        "schema": 2,
        "status": "ok",
        "task": {"name": task, "eval_weight": weight, "private": private},
        "encoder": {"name": "enc"},
        "mode": mode,
        "overrides": [f"task={task}"],
        "scores": {"mlp": {"score": score, "std": 0.0}},
    })  # fmt: skip


@pytest.mark.parametrize("mode", ["default", "xares"])
def test_averages_by_scope(mode):
    records = [
        record("a", 0.5, 100, False, mode),
        record("b", 1.0, 300, False, mode),
        record("p", 0.1, 1000, True, mode),
    ]
    averages = {a["scope"]: a["mlp"] for a in summarise(records).averages}
    assert averages["public"] == pytest.approx((0.5 * 100 + 1.0 * 300) / 400)
    assert averages["all"] == pytest.approx((0.5 * 100 + 1.0 * 300 + 0.1 * 1000) / 1400)
    if mode == "xares":
        assert averages["public as X-ARES computes it"] == pytest.approx(0.1)
    else:
        assert "public as X-ARES computes it" not in averages


def test_modes_are_never_averaged_together():
    records = [record("a", 0.2, 100, False, "default"), record("a", 0.8, 100, False, "xares")]
    averages = {(a["mode"], a["scope"]): a["mlp"] for a in summarise(records).averages}
    assert averages["default", "all"] == pytest.approx(0.2) and averages["xares", "all"] == pytest.approx(0.8)
