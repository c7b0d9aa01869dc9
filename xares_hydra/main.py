"""The ``xares`` command: one task x one encoder x one head setting, as a Hydra app.

task data -> encode into the embedding cache -> heads -> result record -> report
(the work is in ``pipeline``, imported once the command line is parsed: ``xares --help`` stays fast)
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from xares_hydra import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.encode.placement import device_for_job, visible_gpu_count
from xares_hydra.quick_help import quick_help
from xares_hydra.report.record import STATUS_FAILED, STATUS_UNAVAILABLE
from xares_hydra.report.selection import objective

log = logging.getLogger("xares")


def main() -> None:
    """The ``xares`` command; a bare ``xares --help`` is answered from the config files, quickly."""
    if sys.argv[1:] in (["--help"], ["-h"]):
        print(quick_help())
        return
    xares_app()


@hydra.main(version_base="1.3", config_path="pkg://xares_hydra.conf", config_name="config")
def xares_app(cfg: DictConfig) -> float:
    """Runs one job; returns the mean validation score, the objective of sweepers such as Optuna."""
    # the pipeline (torch, encoders, heads) loads only once Hydra has parsed the command line
    from xares_hydra.encode.encoder_spec import default_name
    from xares_hydra.pipeline import check_encoder, run_task
    from xares_hydra.settings import plain

    hydra_cfg = HydraConfig.get()
    name = default_name(hydra_cfg.runtime.choices.get("encoder"), plain(cfg.encoder))
    if cfg.stage == "check":
        sys.exit(check_encoder(cfg, name))
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    if sweeping and cfg.device == "auto":
        cfg.device = device_for_job(cfg.device, hydra_cfg.job.num, visible_gpu_count())
    try:
        record = run_task(
            cfg,
            encoder_name=name,
            output_dir=Path(hydra_cfg.runtime.output_dir),
            overrides=list(hydra_cfg.overrides.task),
        )
    except Exception:
        if not sweeping:
            raise
        # the record says failed; the sweep goes on and its summary (exit code 1) reports this job
        log.exception("%s x %s: unexpected error", cfg.task.name, name)
        return math.nan
    if not sweeping and record["status"] in (STATUS_FAILED, STATUS_UNAVAILABLE):
        sys.exit(1)
    return objective(record)


if __name__ == "__main__":
    main()
