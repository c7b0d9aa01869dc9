"""Hydra callback: one summary table for a whole sweep, written as JSON, CSV and Markdown."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from xares_hydra.record import RECORD_FILE, STATUS_FAILED, load_records
from xares_hydra.report import print_summary, summarise, write_summary

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """Prints the sweep's results (failed jobs included) and exits non-zero if a job failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        records = load_records(sweep_dir) + _crashed_jobs(sweep_dir)
        if not records:
            log.warning("No result records under %s", sweep_dir)
            return
        summary = summarise(records)
        print_summary(summary, title=f"xares sweep {sweep_dir}")
        for path in write_summary(summary, sweep_dir):
            log.info("Wrote %s", path)
        if any(record["status"] == STATUS_FAILED for record in records):
            sys.exit(1)


def _crashed_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Jobs that left no record (killed, out of memory): shown as failed with their overrides."""
    crashed = []
    for job_dir in sorted(path.parent.parent for path in sweep_dir.glob("*/.hydra/overrides.yaml")):
        if (job_dir / RECORD_FILE).exists():
            continue
        overrides = (job_dir / ".hydra" / "overrides.yaml").read_text().replace("\n", " ")
        crashed.append(
            {
                "status": STATUS_FAILED,
                "reason": f"job in {job_dir} ended without a result record (overrides: {overrides.strip()})",
                "task": {"name": job_dir.name, "formal_name": job_dir.name, "eval_weight": 0},
                "encoder": {"name": "?"},
                "scores": {},
                "overrides": [],
            }
        )
    return crashed
