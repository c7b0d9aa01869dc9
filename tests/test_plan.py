"""``xares stage=plan``: before any work, what a run will encode and write; its cache size estimate is within
10 % of what the run then writes, on every demo task (clip, frame, ASR and retrieval) and in float16."""

from __future__ import annotations

import json

import pytest
from helpers.cli import composed, run_xares, xares

from xares_hydra.main import plan_run

DEMO_TASKS = ["timbre", "sounds", "mixtures", "events", "digits", "captions"]


def planned(tmp_path, *overrides):
    cfg = composed(f"paths.root={tmp_path}", *overrides)
    folder = tmp_path / f"plan-{len(list(tmp_path.glob('plan-*')))}"
    plan_run(cfg, "mel", folder)
    return json.loads((folder / "plan.json").read_text())


def cache_bytes(folder):
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and path.suffix != ".lock")


@pytest.mark.slow
@pytest.mark.parametrize("task", DEMO_TASKS)
def test_the_plan_estimates_the_cache_a_run_writes_within_ten_percent(tmp_path, task):
    overrides = (f"task=demo/{task}", "encoder=mel")
    plan = planned(tmp_path, *overrides)
    assert not list((tmp_path / "cache").rglob("done.json"))  # nothing encoded

    record = xares(*overrides, "stage=encode", root=tmp_path)
    written = cache_bytes(tmp_path / "cache" / record["task"]["name"])
    assert abs(plan["cache_bytes"] - written) <= 0.1 * written, (plan["cache_bytes"], written)
    assert plan["clips"] == sum(partition["clips"] for partition in record["counts"].values() if "clips" in partition)
    assert plan["shards_cached"] == 0 and plan["encode_seconds"] > 0

    again = planned(tmp_path, *overrides)
    assert again["shards_cached"] == again["shards"] and again["bytes_to_write"] == 0 == again["encode_seconds"]


@pytest.mark.slow
def test_the_plan_of_a_float16_cache_with_frames_is_within_ten_percent(tmp_path):
    overrides = ("task=demo/timbre", "encoder=mel", "encode.keep_frames=true", "encode.store_dtype=float16")
    plan = planned(tmp_path, *overrides)
    full = planned(tmp_path, "task=demo/timbre", "encoder=mel", "encode.keep_frames=true")
    record = xares(*overrides, "stage=encode", root=tmp_path)
    written = cache_bytes(tmp_path / "cache" / record["task"]["name"])
    assert abs(plan["cache_bytes"] - written) <= 0.1 * written, (plan["cache_bytes"], written)
    assert plan["cache_bytes"] < 0.6 * full["cache_bytes"]


@pytest.mark.slow
def test_a_planned_sweep_reports_each_task_in_progress_log_and_encodes_nothing(tmp_path):
    result = run_xares("-m", "task=demo/timbre,demo/sounds", "encoder=mel", "stage=plan",
                       f"hydra.sweep.dir={tmp_path}/sweep", root=tmp_path)  # fmt: skip
    assert "sweep plan: 2 jobs: " in result.stderr + result.stdout
    lines = (tmp_path / "sweep" / "progress.log").read_text().splitlines()
    ended = [line for line in lines if " ended: " in line]
    assert len(ended) == 2 and all("planned · " in line and "h of audio" in line for line in ended)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("done.json"))
