"""The ``xares`` command: one task x one encoder x one head setting, as a Hydra app.

task data -> encode into the embedding cache -> heads -> result record -> report
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from xares_hydra.atomic import write_json
from xares_hydra.config import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.choices import unknown_choice_message
from xares_hydra.config.instantiate import build_loggers
from xares_hydra.config.settings import (
    cache_of,
    data_options,
    data_root,
    device,
    encode_settings,
    encoder_spec,
    head_settings,
    plain,
)
from xares_hydra.config.sweep_checks import contract_checked, planned_encode_seconds
from xares_hydra.config.validate import (
    check_output_folders,
    output_folder_problem,
    unknown_setting_problem,
    validate_config,
)
from xares_hydra.console import stdout_console
from xares_hydra.data.prepare import data_root_warning, prepare_task_data, read_ready_marker
from xares_hydra.data.taskspec import TaskSpec, training_overlap
from xares_hydra.encode.checker import run_checks
from xares_hydra.encode.embed import ensure_encoded, require_complete, require_few_skips
from xares_hydra.encode.encoder_spec import default_name
from xares_hydra.encode.loaded import loaded_encoder
from xares_hydra.encode.placement import device_for_job, limit_threads, threads_for_job, usable_cores, visible_gpu_count
from xares_hydra.encode.plan import plan_encode
from xares_hydra.errors import Interrupted, OutputNotWritten, Status, XaresError
from xares_hydra.heads import HeadContext
from xares_hydra.heads.evaluate import evaluate_heads, load_partitions
from xares_hydra.heads.metrics import get_metric
from xares_hydra.heads.plan import evaluation_rounds
from xares_hydra.report.callbacks import sweep_progress
from xares_hydra.report.loggers import log_to_experiments
from xares_hydra.report.record import (
    RECORD_SCHEMA,
    EncoderInfo,
    HeadScore,
    Record,
    StageClock,
    recorded,
    task_info,
    typed,
)
from xares_hydra.report.selection import objective
from xares_hydra.report.summary import (
    PLAN_FILE,
    check_table,
    fingerprint_table,
    meta_table,
    plan_line,
    plan_table,
    record_table,
)

log = logging.getLogger("xares")


def main() -> None:
    """The ``xares`` command: unknown task/encoder names and interrupts end with one line, no traceback."""
    if message := unknown_choice_message(sys.argv[1:]) or unknown_setting_problem(sys.argv[1:]):
        print(f"xares: {message}", file=sys.stderr)
        sys.exit(2)
    if message := output_folder_problem(sys.argv[1:], os.environ):  # a config mistake, as the README's table says
        print(f"xares: {message}", file=sys.stderr)
        sys.exit(1)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    # a log file on a full disk drops its lines (the console still shows them) instead of a traceback for each
    logging.raiseExceptions = False
    try:
        run_job()
    except Interrupted as interrupt:
        log.error("%s", interrupt)
        sys.exit(interrupt.exit_code)


def _raise_interrupted(signal_number: int, frame: Any) -> None:
    raise Interrupted("start-up", signal_number)


@hydra.main(version_base="1.3", config_path="pkg://xares_hydra.conf", config_name="config")
def run_job(cfg: DictConfig) -> float:
    """Runs one job; returns the mean validation score, the objective of sweepers such as Optuna."""
    hydra_cfg = HydraConfig.get()
    name = default_name(hydra_cfg.runtime.choices.get("encoder"), plain(cfg.encoder))
    output_dir = Path(hydra_cfg.runtime.output_dir)
    if cfg.stage == "check":
        sys.exit(check_encoder(cfg, name))
    if cfg.stage == "plan":
        return plan_run(cfg, name, output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    if sweeping and cfg.device == "auto":
        cfg.device = device_for_job(cfg.device, hydra_cfg.job.num, visible_gpu_count())
    if sweeping and cfg.encode.check:
        cfg.encode.check = not contract_checked(cfg, name, Path(hydra_cfg.sweep.dir))
    if not sweeping and (warning := data_root_warning(data_root(cfg), [cfg.task.name])):
        log.warning("%s", warning)
    parallel_jobs = hydra_cfg.launcher.get("n_jobs") if sweeping else None
    if parallel_jobs is not None:  # joblib: jobs share this machine's cores
        threads = threads_for_job(int(parallel_jobs), usable_cores())
        limit_threads(threads)
        log.info("%d threads for this job (%d cores / %s parallel jobs)", threads, usable_cores(), parallel_jobs)
    try:
        record = run_task(cfg, encoder_name=name, output_dir=output_dir, overrides=list(hydra_cfg.overrides.task))
    except OutputNotWritten:  # each place logged in one line; the record went wherever it could
        if not sweeping:
            sys.exit(1)
        return math.nan
    except Exception:
        if not sweeping:
            raise
        # the record says failed; the sweep goes on and its summary (exit code 1) reports this job
        log.exception("%s x %s: unexpected error", cfg.task.name, name)
        return math.nan
    # a single run that produced nothing is an error; in a sweep, skipped tasks are expected
    if not sweeping and record["status"] != Status.OK:
        sys.exit(1)
    return objective(typed(record))


def run_task(
    cfg: DictConfig,
    encoder: torch.nn.Module | None = None,
    encoder_name: str | None = None,
    output_dir: Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one task end to end and return its result record (also written to disk)."""
    task = TaskSpec.from_config(plain(cfg.task))
    info = task_info(task, get_metric(task.metric).higher_is_better)
    record = Record.model_validate({"schema": RECORD_SCHEMA, "task": info, "scores": {}, "head": plain(cfg.head),
                                    "encoder": {"name": encoder_name or "encoder"}, "mode": cfg.compat.mode,
                                    "device": device(cfg).type, "overrides": list(overrides), "config": plain(cfg),
                                    "threads": torch.get_num_threads()})  # fmt: skip
    results_root = Path(cfg.paths.results_root) if cfg.stage == "all" else None
    with recorded(record, output_dir, results_root, bool(cfg.record.redact)) as clock:
        run_stages(cfg, task, record, clock, encoder, encoder_name, run_dir=output_dir)
    document = record.document
    assert document is not None, "recorded() writes the record before it returns"
    if record.write_problems:
        raise OutputNotWritten("; ".join(record.write_problems))
    if record.status == Status.OK and record.scores:
        stdout_console().print(record_table(typed(document)))
    return document


def run_stages(
    cfg: DictConfig,
    task: TaskSpec,
    record: Record,
    clock: StageClock,
    encoder: torch.nn.Module | None = None,
    encoder_name: str | None = None,
    run_dir: Path | None = None,
) -> None:
    """data -> encode -> heads, each filling its part of the record, until ``cfg.stage``; then the loggers."""
    validate_config(plain(cfg))
    check_output_folders(cfg)
    loggers = build_loggers(plain(cfg.get("logger")))
    spec = encoder_spec(cfg, task, encoder, encoder_name)
    encoder_info = spec.summary() | {"training_overlap": training_overlap(spec.meta.get("training_data"), task.corpus)}
    record.encoder = EncoderInfo.model_validate(encoder_info)
    with clock("data"):
        data = prepare_task_data(task, data_root(cfg), data_options(cfg))
    record.data = data.provenance
    task = task.with_classes(data.provenance.get("classes"))  # a Hugging Face dataset's or a HEAR folder's list
    if cfg.stage == "download":
        return
    cache = cache_of(cfg, task, spec)
    with clock("encode"):
        encoding = encode_settings(cfg, task)
        estimate = planned_encode_seconds(cache.root)
        info = ensure_encoded(spec, cache, data.shards_used(), encoding, device(cfg), cfg.encode.check, sweep_progress,
                              estimate)  # fmt: skip
    record.encoder = EncoderInfo.model_validate(encoder_info | info)
    record.counts = cache.partition_counts(data.shards)
    require_complete(record.counts, data_options(cfg).allow_incomplete)
    require_few_skips(record.counts, cfg.encode.max_skipped_share, cfg.encode.min_failed_clips)
    if cfg.stage == "encode":
        return
    with clock("heads"):
        settings = head_settings(cfg)
        partitions, label_skips = load_partitions(cache, data.shards, task.label, settings.layer)
        rounds = evaluation_rounds(task, select_on_test=cfg.compat.select_on_test)
        context = HeadContext(task, settings, get_metric(task.metric), info, plain(cfg.compat))
        results = evaluate_heads(partitions, rounds, context)
    record.scores = {slot: HeadScore.model_validate(result.to_dict()) for slot, result in results.items()}
    if cfg.record.predictions:
        record.predictions = {slot: result.predictions for slot, result in results.items() if result.predictions}
    record.counts["label_skips"] = label_skips
    log_to_experiments(loggers, typed(record.written()), run_dir or Path(cfg.paths.output_root))


def check_encoder(cfg: DictConfig, name: str) -> int:
    """``xares stage=check``: the full contract report for an encoder; exit code 1 if a check fails."""
    try:
        validate_config(plain(cfg))
        spec = encoder_spec(cfg, TaskSpec.from_config(plain(cfg.task)), name=name)
        encoder = spec.build(device(cfg))
    except XaresError as error:
        log.error("%s", error)
        return 1
    results = run_checks(encoder, device(cfg), long_seconds=cfg.check.long_seconds, autocast=cfg.encode.autocast)
    if spec.meta:
        stdout_console().print(meta_table(spec.meta, name))
    stdout_console().print(fingerprint_table(spec.fingerprint, spec.fingerprint_document))
    stdout_console().print(check_table(results, name))
    return 0 if all(result.passed for result in results) else 1


def plan_run(cfg: DictConfig, name: str, output_dir: Path) -> float:
    """``xares stage=plan``: the task's encode plan, printed and written to ``plan.json`` in the run folder."""
    task = TaskSpec.from_config(plain(cfg.task))
    spec = encoder_spec(cfg, task, name=name)
    directory = data_root(cfg) / task.name
    if task.generator is None and read_ready_marker(directory) is None:
        log.warning("%s: its data is not downloaded yet (xares stage=download task=%s), so it cannot be planned",
                    task.name, task.name)  # fmt: skip
        return math.nan
    data = prepare_task_data(task, data_root(cfg), data_options(cfg))
    settings = encode_settings(cfg, task)
    encoder = loaded_encoder(spec, device(cfg), settings.autocast, check=False).encoder
    cache = cache_of(cfg, task, spec)
    plan = plan_encode(task.name, name, encoder, data.shards_used(), cache, settings, device(cfg))
    write_json(output_dir / PLAN_FILE, plan.to_dict())
    stdout_console().print(plan_table(plan))
    if not plan.fits:
        log.warning("%s: the cache will not fit: %s", task.name, plan_line(plan.to_dict()))
    return plan.encode_seconds or 0.0


if __name__ == "__main__":
    main()
