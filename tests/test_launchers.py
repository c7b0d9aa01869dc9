"""Sweeps through the Hydra launchers: local parallel jobs (joblib) and submitit's local executor.

Each ends in one summary and one leaderboard with every job; jobs of the same task and encoder
that run at the same time encode each shard once.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from helpers.cli import SMALL_TIMBRE, encoded_shards, run_xares
from helpers.records import record_document
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from matplotlib.image import imread
from omegaconf import OmegaConf

from xares_hydra.config import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.compose_memo import ComposedJobs
from xares_hydra.config.parallel_jobs import limit_parallel_jobs, release_workers
from xares_hydra.encode.placement import jobs_at_once
from xares_hydra.report import callbacks
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.record import write_record
from xares_hydra.report.summary import records_in


def summary_rows(sweep: Path) -> list[dict]:
    return json.loads((sweep / "summary.json").read_text())["rows"]


def test_jobs_beyond_the_cores_wait_on_a_machine_without_a_gpu():
    assert jobs_at_once(4, cores=2, on_gpu=False) == 2
    assert jobs_at_once(4, cores=2, on_gpu=True) == 4, "GPU jobs are not bound by the cores"
    assert jobs_at_once(3, cores=8, on_gpu=False) == 3
    assert jobs_at_once(-1, cores=8, on_gpu=False) == 8, "joblib's -1: one per core"


def test_a_parallel_sweep_on_the_cpu_runs_at_most_one_job_per_core(caplog):
    cores = len(os.sched_getaffinity(0))
    overrides = ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={cores + 2}", "device=cpu"]
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        config = compose("config", overrides=overrides, return_hydra_config=True)
    with caplog.at_level(logging.WARNING, logger="xares"):
        limit_parallel_jobs(config)
    assert config.hydra.launcher.n_jobs == cores
    assert f"hydra.launcher.n_jobs={cores + 2} on {cores} CPU cores and no GPU: running {cores} jobs" in caplog.text


def test_a_sweep_composes_each_job_config_once_and_hands_out_copies():
    """Checks, sweeper and launcher each ask for every job's config: Hydra composes it once per sweep."""
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        master = compose("config", return_hydra_config=True)
        loader = GlobalHydra.instance().config_loader()
        composed: list[list[str]] = []
        hydra_compose = loader.load_sweep_config

        def counted(config, overrides):
            composed.append(overrides)
            return hydra_compose(config, overrides)

        loader.load_sweep_config = counted
        ComposedJobs.install(loader)
        jobs = [["task=demo/timbre", "head.lr=0.1"], ["task=demo/mixtures"]]
        first = [loader.load_sweep_config(master, job) for job in jobs]
        first[0].head.lr = 0.5  # the launcher writes into the config it is given
        again = [loader.load_sweep_config(master, job) for job in jobs]
        assert composed == jobs
        assert [config.task.name for config in again] == ["demo_timbre", "demo_mixtures"]
        assert again[0].head.lr == 0.1, "each call gets its own copy"
        assert OmegaConf.to_yaml(again[1]) == OmegaConf.to_yaml(hydra_compose(master, jobs[1]))
        ComposedJobs.install(loader)  # the next sweep starts afresh
        loader.load_sweep_config(master, jobs[0])
        assert composed == [*jobs, jobs[0]]


def test_the_hydra_internals_the_compose_memo_replaces_are_unchanged():
    """``ComposedJobs`` stands in for ``load_sweep_config`` on Hydra's loader: its name and arguments, and that the
    sweeper and every launcher we ship compose through the loader, are Hydra internals; this fails when they change."""
    import inspect

    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.core_plugins import basic_launcher
    from hydra.plugins import sweeper
    from hydra_plugins.hydra_joblib_launcher import _core as joblib_core
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher

    assert list(inspect.signature(ConfigLoaderImpl.load_sweep_config).parameters) == [
        "self",
        "master_config",
        "sweep_overrides",
    ]
    for module in (sweeper, basic_launcher, joblib_core, submitit_launcher):
        assert "config_loader.load_sweep_config(" in inspect.getsource(module), module.__name__


def test_a_sweeps_workers_are_sent_away_when_its_jobs_are_done():
    """``release_workers`` shuts down the executor loky keeps for reuse (``reusable_executor._executor``, a loky
    internal; this fails when it changes): its workers take no more work, and a new sweep gets new ones."""
    from joblib.externals.loky import get_reusable_executor, reusable_executor

    executor = get_reusable_executor(max_workers=1)
    assert executor.submit(int, "7").result() == 7 and reusable_executor._executor is executor
    release_workers()
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit(int, "7")
    assert get_reusable_executor(max_workers=1) is not executor


def test_a_sweeps_records_come_in_launch_order_however_its_parallel_jobs_finished(tmp_path):
    """Job 11 finished first, job 0 last: the summary and the leaderboard still list job 0 first (then 1, 2, ... 11,
    numbers not text), so a parallel sweep's reports are those of the same sweep run one job after another."""
    encoders = [f"enc{job}" for job in range(12)]
    for job, encoder in enumerate(encoders):
        finished = f"2025-01-01T00:00:{59 - job:02d}+00:00"
        write_record(record_document("demo_sounds", encoder, 0.5, created=finished), tmp_path / f"{job}_sounds_x", None)
    assert [record.encoder.name for record in records_in(tmp_path)] == encoders
    results = tmp_path / "results"  # a results folder keeps its records oldest first
    for encoder, finished in (("late", "2025-01-02T00:00:00+00:00"), ("early", "2025-01-01T00:00:00+00:00")):
        write_record(record_document("demo_sounds", encoder, 0.5, created=finished), None, results)
    assert [record.encoder.name for record in records_in(results)] == ["early", "late"]


def test_a_sweep_whose_reports_fail_exits_non_zero_with_the_error(tmp_path, monkeypatch, caplog):
    """Hydra turns an exception in a callback into a warning; the sweep's summary says it and exits 1 instead."""
    write_record(record_document("demo_sounds", "mel", 0.5), tmp_path / "0_sounds_mel", None)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}, "stage": "all", "report": {}})

    def fails(*args, **kwargs):
        raise ValueError("'xerr' must not contain negative values")

    monkeypatch.setattr(callbacks, "write_reports", fails)
    with pytest.raises(SystemExit) as exit_code:
        callbacks.SweepSummary().on_multirun_end(config)
    assert exit_code.value.code == 1
    assert "the sweep's reports could not be written" in caplog.text and "negative values" in caplog.text


def job_lines(sweep: Path) -> tuple[list[str], list[str]]:
    """``progress.log``'s lines of jobs starting and ending, and its other lines (the time left after each shard)."""
    lines = (sweep / "progress.log").read_text().splitlines()
    jobs = [line for line in lines if " started: " in line or " ended: " in line]
    return jobs, [line for line in lines if line not in jobs]


@pytest.mark.slow
def test_parallel_jobs_share_the_cache_and_end_in_one_report(xares_root):
    sweep = xares_root / "sweep"
    result = run_xares(
        "-m",
        *SMALL_TIMBRE,
        "encoder=mel,noise",
        "head.lr=1e-3,1e-2",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
    )
    rows = summary_rows(sweep)
    assert len(rows) == 4 and {row["status"] for row in rows} == {"ok"}
    # columns are labelled by what differs between them; 0.01 is demo_timbre's own learning rate
    assert {(row["encoder"], row["variant"]) for row in rows} == {
        (encoder, label) for encoder in ("mel", "noise") for label in ("lr=0.001", "")
    }
    encoded = encoded_shards(sweep)
    assert len(encoded) == 6 and set(encoded.values()) == {1}, f"each shard encoded once per encoder: {encoded}"
    output = result.stdout + result.stderr
    assert output.count("Generating the demo_timbre demo data") == 1, "generated once (ahead of the jobs)"
    assert "Joblib.Parallel(n_jobs=2" in output
    jobs, eta = job_lines(sweep)
    assert len(jobs) == 8 and sum(": ok · data " in line for line in jobs) == 4
    assert eta, "each encoded shard adds a line with the time left"
    leaderboard = (sweep / "leaderboard.md").read_text()
    assert "| Demo timbre |" in leaderboard
    assert "| Task | mel | mel [lr=0.001] | noise | noise [lr=0.001]" in leaderboard
    assert report_main([str(sweep), "--out", str(xares_root / "rebuilt")]) == 0
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "summary.json", "selection.json"):
        assert (sweep / name).read_text() == (xares_root / "rebuilt" / name).read_text(), name
    assert (imread(sweep / "leaderboard.png") == imread(xares_root / "rebuilt" / "leaderboard.png")).all()


@pytest.mark.slow
def test_submitit_local_launcher_runs_every_job_and_summarises(xares_root):
    sweep = xares_root / "sweep"
    run_xares(
        "-m",
        *SMALL_TIMBRE,
        "encoder=mel,noise",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
    )
    rows = summary_rows(sweep)
    assert sorted((row["encoder"], row["status"]) for row in rows) == [("mel", "ok"), ("noise", "ok")]
    assert list((sweep / ".submitit").iterdir()), "jobs went through submitit"
    assert len(job_lines(sweep)[0]) == 4
    assert (sweep / "leaderboard.png").exists()


BROKEN_ENCODER = """
from xares_hydra.encoders.mel import MelEncoder

class Explodes(MelEncoder):
    def forward(self, audio):
        raise RuntimeError("this encoder blew up")
"""


@pytest.mark.slow
def test_a_crashing_job_does_not_stop_the_sweep_or_its_summary(xares_root):
    (xares_root / "broken_encoder.py").write_text(BROKEN_ENCODER)
    sweep = xares_root / "sweep"
    result = run_xares(
        "-m",
        *SMALL_TIMBRE,
        "encoder=custom",
        "encode.check=false",
        "encoder._target_=broken_encoder.Explodes,xares_hydra.encoders.mel.MelEncoder",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
        check=False,
    )
    assert result.returncode == 1, "a real error fails the sweep"
    status = {row["encoder"]: (row["status"], row["reason"]) for row in summary_rows(sweep)}
    assert status["MelEncoder"] == ("ok", None)
    # the encoder fails on some clips: each is retried alone and skipped, and too many skips fail the run
    assert status["Explodes"][0] == "failed"
    assert "clips skipped" in status["Explodes"][1]
    assert "encoder error" in status["Explodes"][1]
    assert "this encoder blew up" in result.stderr + result.stdout, "the encoder's own error is logged"
    assert "- demo_timbre (Explodes): failed: demo_timbre_train" in (sweep / "leaderboard.md").read_text()
    progress = (sweep / "progress.log").read_text()
    assert "ended: demo_timbre · Explodes" in progress and ": failed · " in progress
