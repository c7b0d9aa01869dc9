"""Before its first job a sweep estimates the disk its jobs' caches need (the ``stage=plan`` estimate) and warns,
in one line with what to do, when the cache's disk will not hold it; each job's first time left is the plan's, and
after each shard the sweep's progress.log gets the time left."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from helpers.audio import tone_shard
from helpers.cli import SMALL_TIMBRE, run_xares
from helpers.encoders import CPU, BlockMeans

from xares_hydra.config.sweep_checks import CHECKS_FILE, disk_check
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings
from xares_hydra.encode.plan import plan_encode
from xares_hydra.report.summary import human_bytes


def test_the_sweep_warns_when_the_caches_disk_will_not_hold_them(tmp_path, caplog):
    shards = [tone_shard(tmp_path / f"part_{i}.tar", [0.5, 1.0, 2.0]) for i in range(2)]
    cache = EncoderCache(tmp_path / "cache" / "task" / "enc-0")
    plan = plan_encode("task", "enc", BlockMeans(), shards, cache, EncodeSettings(keep_frames=True), CPU)
    assert plan.bytes_to_write > 0 and plan.free_bytes > plan.bytes_to_write

    with caplog.at_level("INFO"):
        assert disk_check([plan], unplanned=1)
    assert f"need about {human_bytes(plan.bytes_to_write)}" in caplog.text and "not counting 1 jobs" in caplog.text
    caplog.clear()

    short = dataclasses.replace(plan, free_bytes=plan.bytes_to_write // 3)
    with caplog.at_level("INFO"):
        assert not disk_check([short, dataclasses.replace(short, cache_dir=str(tmp_path / "cache" / "b" / "x"))], 0)
    [warning] = [record for record in caplog.records if record.levelname == "WARNING"]
    line = warning.getMessage()
    assert f"need about {human_bytes(2 * plan.bytes_to_write)} (estimate, 2 cache folders)" in line
    assert f"only {human_bytes(short.free_bytes)} is free at {tmp_path / 'cache'}" in line
    assert "paths.cache_root" in line and "encode.store_dtype=float16" in line


@pytest.fixture(scope="module")
def encode_sweep(tmp_path_factory) -> tuple[Path, str]:
    """A one-job ``stage=encode`` sweep over data already downloaded: its folder and what it printed."""
    root = tmp_path_factory.mktemp("sweep-disk")
    run_xares(*SMALL_TIMBRE, "encoder=mel", "stage=download", root=root)
    result = run_xares("-m", *SMALL_TIMBRE, "encoder=mel", "stage=encode", f"hydra.sweep.dir={root}/sweep", root=root)
    return root, result.stderr + result.stdout


@pytest.mark.slow
def test_a_sweep_estimates_its_caches_before_the_first_job(encode_sweep):
    root, output = encode_sweep
    assert "the sweep's caches need about" in output and f"free at {root / 'cache'}" in output
    [seconds] = json.loads((root / "sweep" / CHECKS_FILE).read_text())["encode_seconds"].values()
    lines = (root / "sweep" / "progress.log").read_text().splitlines()
    assert " started: demo_timbre · mel [task.epochs=3 " in lines[0]  # then the rest of the job's overrides
    assert lines[1].split("job 0 ")[1].startswith("demo_timbre: 3 shards to encode, about ") and seconds > 0


@pytest.mark.slow
def test_a_sweep_writes_each_tasks_time_left_into_progress_log(encode_sweep):
    root, _ = encode_sweep
    lines = (root / "sweep" / "progress.log").read_text().splitlines()
    left = [line for line in lines if "shards encoded" in line]
    assert [line.split("job 0 ")[1].split(" shards")[0] for line in left] == [
        f"demo_timbre: {i} of 3" for i in (1, 2, 3)
    ]
    assert all(" left" in line for line in left)
