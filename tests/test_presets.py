"""Benchmark, launcher and search presets: composed as users write them, and the X-ARES suite run offline."""

from __future__ import annotations

import json

import pytest
from conftest import run_xares
from hydra import compose, initialize_config_module

from xares_hydra import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.encode.placement import device_for_job
from xares_hydra.report.published import XARES_TASK_ORDER

PRIVATE = ["key_scratching", "finger_snap", "inside_outside_car", "liveenv", "subway_broadcast"]
PUBLIC = [task for task in XARES_TASK_ORDER if task not in PRIVATE]


def composed(*overrides: str):
    with initialize_config_module(config_module="xares_hydra.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def swept_tasks(cfg) -> list[str]:
    return cfg.hydra.sweeper.params.task.split(",")


def test_the_xares_suites_list_every_xares_task_once():
    public = composed("+benchmark=xares")
    assert sorted(swept_tasks(public)) == sorted(PUBLIC) and len(PUBLIC) == 22
    assert public.hydra.mode.name == "MULTIRUN", "one word runs the suite, -m is optional"
    everything = composed("+benchmark=xares_all")
    assert sorted(swept_tasks(everything)) == sorted(XARES_TASK_ORDER)
    demo = swept_tasks(composed("+benchmark=demo"))
    assert demo == [f"demo/{name}" for name in ("captions", "digits", "events", "mixtures", "sounds", "timbre")]


def test_the_download_preset_fetches_the_whole_suite_and_stops():
    cfg = composed("+benchmark=xares_download")
    assert cfg.stage == "download" and sorted(swept_tasks(cfg)) == sorted(XARES_TASK_ORDER)
    assert cfg.hydra.runtime.choices.encoder == "mel", "no encoder weights are needed to download"


def test_the_parallel_launcher_is_joblib_with_a_job_count():
    cfg = composed("hydra/launcher=parallel")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 4
    assert composed("hydra/launcher=parallel", "hydra.launcher.n_jobs=8").hydra.launcher.n_jobs == 8


def test_the_slurm_launcher_has_overridable_resources():
    launcher = composed("hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min) == (1, 8, 64, 240)
    overridden = composed(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=30",
        "hydra.launcher.gpus_per_node=2",
    ).hydra.launcher
    assert (overridden.partition, overridden.timeout_min, overridden.gpus_per_node) == ("gpu", 30, 2)


def test_the_grid_search_sweeps_lr_and_hidden_dim_without_knn():
    cfg = composed("+search=grid", "task=demo/timbre")
    params = cfg.hydra.sweeper.params
    assert params["head.lr"].split(",") == ["1e-4", "3.2e-4", "1e-3", "3.2e-3", "1e-2"]
    assert params["head.hidden_dim"] == "null,1024"
    assert cfg.head.knn is False and cfg.hydra.mode.name == "MULTIRUN"


def test_the_optuna_search_maximises_the_returned_validation_score():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweeper = composed("+search=optuna", "task=demo/timbre").hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert "head.lr" in sweeper.params and sweeper.max_failure_rate == 1.0


@pytest.mark.parametrize(
    ("requested", "job", "gpus", "expected"),
    [
        ("auto", 0, 4, "cuda:0"),
        ("auto", 5, 4, "cuda:1"),
        ("auto", 7, 2, "cuda:1"),
        ("auto", 3, 1, "auto"),  # one GPU (or a SLURM job's own): auto picks it
        ("auto", 3, 0, "auto"),  # CPU only
        ("cpu", 3, 4, "cpu"),  # an explicit device is kept
        ("cuda:2", 0, 4, "cuda:2"),
        ("auto", None, 4, "auto"),  # not a sweep job
    ],
)
def test_sweep_jobs_spread_over_the_visible_gpus(requested, job, gpus, expected):
    assert device_for_job(requested, job, gpus) == expected


def test_the_whole_xares_suite_offline_ends_skipped_or_unavailable_and_exits_zero(xares_root):
    sweep = xares_root / "sweep"
    result = run_xares(
        "+benchmark=xares_all",
        "data.retries=0",
        "data.zenodo_api=http://127.0.0.1:9/api",
        "data.allow_http=true",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
    )
    rows = json.loads((sweep / "summary.json").read_text())["rows"]
    status = {row["task"]: row["status"] for row in rows}
    assert sorted(status) == sorted(XARES_TASK_ORDER), "one row per task"
    assert {status[task] for task in PUBLIC} == {"unavailable"}
    assert {status[task] for task in PRIVATE} == {"skipped"}
    for row in rows:
        expected = "could not reach http://127.0.0.1:9" if row["task"] in PUBLIC else "private data that is never"
        assert expected in row["reason"], row
        assert f"{row['task']} (mel) {row['status']}:" in result.stdout.replace("\n", " ")
    assert "Traceback" not in result.stdout + result.stderr
    leaderboard = (sweep / "leaderboard.md").read_text()
    assert "| ESC-50 | - | **0.857** |" in leaderboard, "published baselines, nothing of ours scored"
    assert "- subway_broadcast (mel): skipped: task subway_broadcast uses private data" in leaderboard
    assert len((sweep / "progress.log").read_text().splitlines()) == 2 * len(XARES_TASK_ORDER)


def test_task_glob_star_is_exactly_the_xares_benchmark_and_tags_agree_with_privacy():
    from hydra.core.global_hydra import GlobalHydra

    from xares_hydra.suites import task_tags

    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        globbed = GlobalHydra.instance().config_loader().get_group_options("task")
    assert sorted(globbed) == sorted(XARES_TASK_ORDER), "task=glob(*) sweeps the X-ARES tasks and nothing else"
    for option, tags in task_tags().items():
        if option.startswith("demo/"):
            assert tags == ("demo",), option
            continue
        cfg = composed(f"task={option}")
        expected = ("xares", "xares_private" if cfg.task.private else "xares_public")
        assert tags == expected, option
        assert cfg.task.version >= 1, option
