"""The pipeline of one job: task data -> encode into the embedding cache -> heads -> result record.

Imported by the ``xares`` entry point only once Hydra has parsed the command line, so that
``xares --help`` does not load torch, the encoders or the heads.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from xares_hydra.console import stdout_console
from xares_hydra.data.prepare import TaskData, prepare_task_data
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.checker import run_checks
from xares_hydra.encode.embed import ensure_encoded
from xares_hydra.errors import XaresError
from xares_hydra.heads import HeadContext
from xares_hydra.heads.evaluate import evaluate_heads, load_partitions
from xares_hydra.heads.metrics import get_metric
from xares_hydra.heads.plan import evaluation_rounds
from xares_hydra.report.record import STATUS_OK, RunRecord, StageClock, recorded
from xares_hydra.report.summary import check_table, record_table
from xares_hydra.settings import (
    data_options,
    device,
    encode_settings,
    encoder_spec,
    head_settings,
    plain,
)

log = logging.getLogger("xares")


def run_task(
    cfg: DictConfig,
    encoder: torch.nn.Module | None = None,
    encoder_name: str | None = None,
    output_dir: Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one task end to end and return its result record (also written to disk)."""
    task = TaskSpec.from_config(plain(cfg.task))
    record = RunRecord(
        task=task_summary(task),
        encoder={"name": encoder_name or "encoder"},
        head=plain(cfg.head),
        mode=cfg.compat.mode,
        overrides=list(overrides),
        config=plain(cfg),
    )
    results_root = Path(cfg.paths.results_root) if cfg.stage == "all" else None
    with recorded(record, output_dir, results_root) as clock:
        run_stages(cfg, task, record, clock, encoder, encoder_name)
    document = record.written
    if record.status == STATUS_OK and record.scores:
        stdout_console().print(record_table(document))
    return document


def run_stages(
    cfg: DictConfig,
    task: TaskSpec,
    record: RunRecord,
    clock: StageClock,
    encoder: torch.nn.Module | None = None,
    encoder_name: str | None = None,
) -> None:
    """data -> encode -> heads, each stage filling its part of the record; stops after ``cfg.stage``."""
    spec = encoder_spec(cfg, task, encoder, encoder_name)
    record.encoder = spec.summary()
    with clock("data"):
        data = prepare_task_data(task, data_options(cfg))
    record.data = data.provenance
    if cfg.stage == "download":
        return
    cache = EncoderCache(Path(cfg.paths.cache_root) / task.name / spec.cache_name)
    with clock("encode"):
        info = ensure_encoded(
            spec, cache, data.shards_used(), encode_settings(cfg, task), device(cfg), cfg.encode.check
        )
    record.encoder.update(info)
    record.counts = encode_counts(cache, data)
    if cfg.stage == "encode":
        return
    with clock("heads"):
        partitions, label_skips = load_partitions(cache, data.shards, task.label)
        rounds = evaluation_rounds(task, select_on_test=cfg.compat.select_on_test)
        context = HeadContext(task, head_settings(cfg), get_metric(task.metric), info, plain(cfg.compat))
        results = evaluate_heads(partitions, rounds, context)
    record.scores = {slot: result.to_dict() for slot, result in results.items()}
    record.counts["label_skips"] = label_skips


def task_summary(task: TaskSpec) -> dict[str, Any]:
    return {
        "name": task.name,
        "formal_name": task.formal_name,
        "task_type": task.task_type,
        "metric": task.metric,
        "higher_is_better": get_metric(task.metric).higher_is_better,
        "eval_weight": task.eval_weight,
        "private": task.private,
        "tags": list(task.tags),
        "version": task.version,
        "zenodo_id": task.zenodo_id,
        "kfold": task.is_kfold,
    }


def encode_counts(cache: EncoderCache, data: TaskData) -> dict[str, Any]:
    """Per partition: clips decoded, crops encoded, audio seconds, skips and warnings by reason."""
    counts = {}
    for partition, shards in data.shards.items():
        merged: dict[str, Any] = {"clips": 0, "crops": 0, "audio_seconds": 0.0, "skipped": {}, "warnings": {}}
        for shard in shards:
            shard_counts = cache.shard_counts(shard)
            merged["clips"] += shard_counts["samples"]
            merged["crops"] += shard_counts["crops"]
            merged["audio_seconds"] += shard_counts["audio_seconds"]
            for kind in ("skipped", "warnings"):
                for reason, number in shard_counts[kind].items():
                    merged[kind][reason] = merged[kind].get(reason, 0) + number
        counts[partition] = merged
    return counts


def check_encoder(cfg: DictConfig, name: str) -> int:
    """``xares stage=check``: the full contract report for an encoder; exit code 1 if a check fails."""
    try:
        spec = encoder_spec(cfg, TaskSpec.from_config(plain(cfg.task)), name=name)
        encoder = spec.build(device(cfg))
    except XaresError as error:
        log.error("%s", error)
        return 1
    results = run_checks(encoder, device(cfg), long_seconds=cfg.check.long_seconds, autocast=cfg.encode.autocast)
    stdout_console().print(check_table(results, name))
    return 0 if all(result.passed for result in results) else 1
