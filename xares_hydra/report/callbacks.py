"""Hydra callbacks: a log line per job start and end (in the job), one report per sweep (in the launcher)."""

from __future__ import annotations

import datetime as dt
import logging
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from xares_hydra.config.parallel_jobs import limit_parallel_jobs, release_workers
from xares_hydra.config.sweep_checks import check_sweep
from xares_hydra.demo.prefetch import DataPrefetch
from xares_hydra.encode.encoder_spec import default_name
from xares_hydra.errors import Status, XaresError
from xares_hydra.report.leaderboard import StatisticsSettings
from xares_hydra.report.record import RECORD_FILE, Record, read_or_none
from xares_hydra.report.reports import write_reports
from xares_hydra.report.summary import PLAN_FILE, distinguishing_overrides, human_bytes, plan_line, records_in

log = logging.getLogger("xares")

PROGRESS_FILE = "progress.log"
SWEEP_STATUSES = (Status.OK, Status.SKIPPED, Status.UNAVAILABLE, Status.FAILED)


class SweepChecks(Callback):
    """Before the first job: the network and each encoder with work to do, checked once (``sweep_checks``)."""

    def __init__(self) -> None:
        self.prefetch = DataPrefetch()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        limit_parallel_jobs(config)
        try:
            check_sweep(config, self.prefetch)
        except XaresError as error:
            self.prefetch.wait()  # the data being generated are finished, not cut off
            log.error("%s", error)
            log.error("sweep not started: a check every job depends on failed")
            sys.exit(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.prefetch.wait()


class SweepSummary(Callback):
    """Prints and writes the sweep's reports; exits non-zero when no job succeeded or any failed or was unavailable."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release_workers()
        try:
            self.summarise(config)
        except Exception:  # Hydra would turn it into a warning, and a sweep without its reports would exit 0
            log.exception("the sweep's reports could not be written")
            sys.exit(1)

    def summarise(self, config: DictConfig) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if config.stage == "plan":
            _plan_summary(sweep_dir)
            return
        records = records_in(sweep_dir)
        if not records:
            log.error("No result records under %s", sweep_dir)
            sys.exit(1)
        statistics = StatisticsSettings(**config.report)
        for path in write_reports(records, sweep_dir, title=f"xares sweep {sweep_dir}", statistics=statistics):
            log.info("Wrote %s", path)
        counts = Counter(record.status for record in records)
        line = f"sweep: {len(records)} jobs: " + ", ".join(f"{counts[status]} {status}" for status in SWEEP_STATUSES)
        if not counts[Status.OK] or counts[Status.FAILED] or counts[Status.UNAVAILABLE]:
            log.error("%s", line)
            sys.exit(1)
        log.info("%s", line)


class JobProgress(Callback):
    """A log line per job start and end; in a sweep also appended to ``<sweep dir>/progress.log`` (one for all jobs)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._report(config, f"started: {_job_title(config)}")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        output_dir = Path(config.hydra.runtime.output_dir)
        record = read_or_none(output_dir / RECORD_FILE, Record.model_validate)
        if config.stage == "plan" and (plan := read_or_none(output_dir / PLAN_FILE)):
            status, detail = "planned", plan_line(plan)
        elif record is not None:
            status, detail = record.status, _outcome(record)
        elif job_return.status == JobStatus.FAILED:  # return_value would re-raise the job's exception
            status, detail = Status.FAILED, _first_line(str(job_return._return_value))
        else:
            status, detail = Status.FAILED, "no result record"
        self._report(config, f"ended: {_job_title(config)}: {status} · {detail}")

    def _report(self, config: DictConfig, message: str) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            log.info("%s", message)  # a single run has no job number and no sweep folder
            return
        line = f"job {config.hydra.job.num} {message}"
        log.info("%s", line)
        _append_progress(Path(config.hydra.sweep.dir), line)


def _plan_summary(sweep_dir: Path) -> None:
    """The plans of a ``stage=plan`` sweep added up: what the whole sweep writes, against the free space."""
    plans = [plan for path in sorted(sweep_dir.glob(f"*/{PLAN_FILE}")) if (plan := read_or_none(path))]
    if not plans:
        log.error("No plans under %s", sweep_dir)
        sys.exit(1)
    keys = ("audio_hours", "cache_bytes", "bytes_to_write", "encode_seconds", "shards", "shards_cached")
    totals = {key: sum(plan[key] or 0 for plan in plans) for key in keys}  # encode_seconds: null where unknown
    line = plan_line(dict(totals, fits=True))
    free = {plan["cache_dir"].rsplit("/", 2)[0]: plan["free_bytes"] for plan in plans}
    if totals["bytes_to_write"] > min(free.values()):
        log.warning("sweep plan: %d jobs: %s; the disk will NOT hold it (%s free)", len(plans), line,
                    ", ".join(f"{folder}: {human_bytes(space)}" for folder, space in free.items()))  # fmt: skip
    else:
        log.info("sweep plan: %d jobs: %s", len(plans), line)


def sweep_progress(message: str) -> None:
    """``message`` as a line of the sweep's ``progress.log`` from inside a job (nothing outside a sweep)."""
    if HydraConfig.initialized() and (hydra := HydraConfig.get()).mode == RunMode.MULTIRUN:
        _append_progress(Path(hydra.sweep.dir), f"job {hydra.job.num} {message}")


def _append_progress(sweep_dir: Path, line: str) -> None:
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    with open(sweep_dir / PROGRESS_FILE, "a", encoding="utf-8") as progress:
        progress.write(f"{stamp} {platform.node()} {line}\n")


def _job_title(config: DictConfig) -> str:
    fields = {str(key): value for key, value in config.encoder.items_ex(resolve=False)}  # interpolations unresolved
    encoder = default_name(config.hydra.runtime.choices.get("encoder"), fields)
    variant = distinguishing_overrides(config.hydra.overrides.task)
    return f"{config.task.name} · {encoder}" + (f" [{variant}]" if variant else "")


def _outcome(record: Record) -> str:
    times = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in record.timings.items())
    scores = " ".join(f"{slot} {result.score:.3f}" for slot, result in record.scores.items())
    reason = _first_line(record.reason) if record.reason else ""
    return " · ".join(part for part in (times, scores, reason) if part)


def _first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"
