"""Benchmark, launcher and search presets: composed as users write them, and the X-ARES suite run offline."""

from __future__ import annotations

import pytest
from helpers.cli import composed, run_xares
from hydra import initialize_config_module

from xares_hydra.config import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.suites import suite_tasks
from xares_hydra.encode.placement import device_for_job

XARES = suite_tasks("xares")
PUBLIC = suite_tasks("xares_public")
PRIVATE = suite_tasks("xares_private")


def swept_tasks(cfg) -> list[str]:
    return cfg.hydra.sweeper.params.task.split(",")


def test_the_xares_suites_list_every_xares_task_once():
    public = composed("+benchmark=xares", hydra=True)
    assert sorted(swept_tasks(public)) == sorted(PUBLIC)
    assert len(PUBLIC) == 22
    assert public.hydra.mode.name == "MULTIRUN", "one word runs the suite, -m is optional"
    everything = composed("+benchmark=xares_all", hydra=True)
    assert sorted(swept_tasks(everything)) == sorted(XARES)
    assert len(XARES) == 27
    assert set(XARES) == set(PUBLIC) | set(PRIVATE)
    demo = swept_tasks(composed("+benchmark=demo", hydra=True))
    names = ("captions", "digits", "events", "mixtures", "pitch", "sounds", "timbre")
    assert demo == [f"demo/{name}" for name in names]


def test_the_demo_preset_runs_its_small_heads_on_one_thread():
    assert composed("+benchmark=demo", hydra=True).head.cpu_threads == 1
    assert composed().head.cpu_threads is None, "elsewhere the heads use the job's threads"


def test_the_demo_preset_runs_two_jobs_at_a_time_and_one_after_another_when_asked():
    launcher = composed("+benchmark=demo", hydra=True).hydra.launcher
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == 2
    basic = composed("+benchmark=demo", "hydra/launcher=basic", hydra=True).hydra.launcher
    assert basic._target_.endswith("BasicLauncher")


def test_the_download_preset_fetches_the_whole_suite_and_stops():
    cfg = composed("+benchmark=xares_download", hydra=True)
    assert cfg.stage == "download"
    assert sorted(swept_tasks(cfg)) == sorted(XARES)
    assert cfg.hydra.runtime.choices.encoder == "mel", "no encoder weights are needed to download"


def test_the_parallel_launcher_is_joblib_with_a_job_count():
    cfg = composed("hydra/launcher=parallel", hydra=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 4
    assert composed("hydra/launcher=parallel", "hydra.launcher.n_jobs=8", hydra=True).hydra.launcher.n_jobs == 8


def test_the_slurm_launcher_has_overridable_resources():
    launcher = composed("hydra/launcher=slurm", hydra=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.cpus_per_task, launcher.mem_gb, launcher.timeout_min) == (1, 8, 64, 240)
    overridden = composed(
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=30",
        "hydra.launcher.gpus_per_node=2",
        hydra=True,
    ).hydra.launcher
    assert (overridden.partition, overridden.timeout_min, overridden.gpus_per_node) == ("gpu", 30, 2)


def test_the_grid_search_sweeps_lr_and_hidden_dim_without_knn():
    cfg = composed("+search=grid", "task=demo/timbre", hydra=True)
    params = cfg.hydra.sweeper.params
    assert params["head.lr"].split(",") == ["1e-4", "3.2e-4", "1e-3", "3.2e-3", "1e-2"]
    assert params["head.hidden_dim"] == "null,1024"
    assert cfg.head.knn is False
    assert cfg.hydra.mode.name == "MULTIRUN"


def test_the_optuna_search_maximises_the_returned_validation_score():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweeper = composed("+search=optuna", "task=demo/timbre", hydra=True).hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize"
    assert "head.lr" in sweeper.params
    assert sweeper.max_failure_rate == 1.0


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


@pytest.mark.slow
def test_the_whole_xares_suite_offline_stops_before_its_first_job_with_one_message(xares_root):
    sweep = xares_root / "sweep"
    result = run_xares(
        "+benchmark=xares_all",
        "data.retries=0",
        "data.zenodo_api=http://127.0.0.1:9/api",
        "data.allow_http=true",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and output.count("cannot be reached") == 1
    assert f"{len(PUBLIC)} task(s) of this sweep need their data downloaded" in output
    assert all(f"  {task} (record" in output for task in PUBLIC)
    assert not any(f"  {task} (record" in output for task in PRIVATE), "private data is never downloaded"
    assert "Traceback" not in output and not list(sweep.glob("*/result.json")), "no job started"


@pytest.mark.slow
def test_task_glob_star_is_exactly_the_xares_benchmark_and_tags_agree_with_privacy():
    from hydra.core.global_hydra import GlobalHydra

    from xares_hydra.config.suites import task_tags

    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        globbed = GlobalHydra.instance().config_loader().get_group_options("task")
    assert sorted(globbed) == sorted(XARES), "task=glob(*) sweeps the X-ARES tasks and nothing else"
    for option, tags in task_tags().items():
        folder = option.split("/")[0]
        if folder in ("demo", "hear", "maeb", "xares_planned"):  # each pack's folder is its tag (test_packs.py)
            assert tags in ((folder,), ("demo_sources",) if folder == "demo" else ()), option
            continue
        cfg = composed(f"task={option}")
        expected = ("xares", "xares_private" if cfg.task.private else "xares_public")
        assert tags == expected, option
        assert cfg.task.version >= 1, option
