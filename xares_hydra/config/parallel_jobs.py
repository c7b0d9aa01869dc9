"""Job throttling: how many jobs of a joblib sweep run at once."""

from __future__ import annotations

import logging

from omegaconf import DictConfig, open_dict, read_write

from xares_hydra.encode.placement import jobs_at_once, usable_cores, visible_gpu_count

log = logging.getLogger("xares")

JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def limit_parallel_jobs(config: DictConfig) -> None:
    """Without a GPU, a joblib sweep runs at most one job per core at a time (``placement.jobs_at_once``)."""
    launcher = config.hydra.launcher
    if launcher.get("_target_") != JOBLIB_LAUNCHER:
        return
    requested = int(launcher.get("n_jobs") or -1)
    cores = usable_cores()
    on_gpu = config.get("device") != "cpu" and visible_gpu_count() > 0
    jobs = jobs_at_once(requested, cores, on_gpu)
    if jobs == requested:
        return
    if requested > 0:
        log.warning(
            "hydra.launcher.n_jobs=%d on %d CPU cores and no GPU: running %d jobs at a time (more CPU-bound jobs "
            "than cores only add start-up and contention); every job still runs",
            requested, cores, jobs,
        )  # fmt: skip
    with read_write(launcher), open_dict(launcher):
        launcher.n_jobs = jobs


def release_workers() -> None:
    """The joblib launcher's worker processes told to exit once its jobs are done, so that they wind down while the
    sweep's report is written (a speed trick: at exit the sweep would wait seconds for them). loky keeps them for
    reuse in ``reusable_executor._executor``, private API that ``tests/test_launchers.py`` pins."""
    from joblib.externals.loky import reusable_executor

    if reusable_executor._executor is not None:
        reusable_executor._executor.shutdown(wait=False)
