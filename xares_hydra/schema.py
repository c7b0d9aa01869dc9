"""Typed schemas for the config groups, registered in Hydra's ConfigStore.

They live in the ``schema`` group, which is never swept; YAML files pull them in through their
defaults list (``- /schema/task@_here_``), so a typo or a wrong type (``head.lr=abc``) fails at
compose time. The task and head schemas live beside the code that reads them (``TaskSchema`` in
``data/taskspec.py``, ``HeadSettings`` in ``heads/``), so each default is written once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.heads import HeadSettings
from xares_hydra.suites import suite_sweep


@dataclass
class PathsSchema:
    root: str = MISSING
    data_root: str = MISSING
    cache_root: str = MISSING
    results_root: str = MISSING
    output_root: str = MISSING


@dataclass
class CompatSchema:
    mode: str = "default"
    knn_feature_normalisation: bool = False
    pad_batches: bool = False
    pad_short_crops: bool = False
    select_on_test: bool = False
    xares_retrieval_loss: bool = False
    xares_wrappers: bool = False


class Stage(str, Enum):
    """Where a run stops; a ``str`` so ``cfg.stage == "encode"`` reads naturally."""

    all = "all"
    download = "download"
    check = "check"
    encode = "encode"  # type: ignore[assignment]  # shadows str.encode on purpose: the stage's name


@dataclass
class EncodeSchema:
    batch_size: int = MISSING
    # auto | bucketed | exact (compat=xares: X-ARES's tar-order batches)
    batching: str = "auto"
    max_batch_seconds: float = 600.0
    buffer_seconds: float = 1800.0
    decode_threads: int = 2
    keep_frames: Any = "auto"
    autocast: str | None = None
    check: bool = True
    force: bool = False
    # a run fails only when more than this share of one partition's clips was skipped (and at least min_failed_clips)
    max_skipped_share: float = 0.01
    min_failed_clips: int = 3
    # auto | all | last: cache every hidden layer's clip vectors (head.layer=N|weighted)
    layers: str = "auto"
    frame_layers: list[int] = field(default_factory=list)


@dataclass
class CheckSchema:
    long_seconds: float = 600.0


@dataclass
class DataSchema:
    force_download: bool = False
    mini: bool = False
    zenodo_api: str = "https://zenodo.org/api"
    timeout: float = 60.0
    retries: int = 3
    # HTTPS only, and only the API's host, unless allowed here (SECURITY.md)
    allow_http: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    # bounds on untrusted data (null: none); a sample beyond one is skipped and counted
    max_clip_seconds: float | None = 3600.0
    max_member_bytes: int | None = 1 << 30
    max_label_bytes: int | None = 1 << 20


@dataclass
class RecordSchema:
    redact: bool = False
    predictions: bool = True


@dataclass
class ReportSchema:
    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


@dataclass
class RootSchema:
    """The root of the composed config; the groups (task, encoder, head, ...) carry their own schemas."""

    paths: Any = MISSING
    task: Any = MISSING
    encoder: Any = MISSING
    head: Any = MISSING
    compat: Any = MISSING
    logger: Any = None
    stage: Stage = Stage.all
    seed: int = 42
    device: str = "auto"
    encode: EncodeSchema = field(default_factory=EncodeSchema)
    check: CheckSchema = field(default_factory=CheckSchema)
    data: DataSchema = field(default_factory=DataSchema)
    record: RecordSchema = field(default_factory=RecordSchema)
    report: ReportSchema = field(default_factory=ReportSchema)


def unique_suffix() -> str:
    """Four hex digits keeping run and sweep folders started in the same second apart (cached per sweep)."""
    return secrets.token_hex(2)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("xares_suite"):
        OmegaConf.register_new_resolver("xares_suite", suite_sweep)
    if not OmegaConf.has_resolver("xares_unique"):
        OmegaConf.register_new_resolver("xares_unique", unique_suffix, use_cache=True)


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="task", node=TaskSchema)
    store.store(group="schema", name="head", node=HeadSettings)
    store.store(group="schema", name="paths", node=PathsSchema)
    store.store(group="schema", name="compat", node=CompatSchema)
    store.store(group="schema", name="root", node=RootSchema)


register_schemas()
register_resolvers()
