"""Typed schemas for the config groups, registered in Hydra's ConfigStore.

They live in the ``schema`` group, which is never swept; YAML files pull them in through their
defaults list (``- /schema/task@_here_``), so a typo or a wrong type (``head.lr=abc``) fails at
compose time. Defaults here are X-ARES 0.1.3's (``reference/xares_tasks.json``, ``_defaults``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from xares_hydra.heads import HeadSettings
from xares_hydra.suites import suite_sweep


@dataclass
class LabelSchema:
    rule: str = "class_index"
    key: str | None = None
    classes: list[Any] | None = None
    num_classes: int | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class GeneratorSchema:
    name: str = MISSING
    seed: int = 0
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskSchema:
    name: str = MISSING
    formal_name: str | None = None
    task_type: str = "clip"
    private: bool = False
    # suites (xares, xares_public, xares_private, demo): the +benchmark presets are built from these
    tags: list[str] = field(default_factory=list)
    # the task definition's revision; part of every result record's identity
    version: int = 1
    # the dataset's licence, recorded beside the version
    license: str = "see source"
    disabled: bool = False
    disabled_reason: str | None = None
    zenodo_id: str | None = None
    generator: GeneratorSchema | None = None
    splits: dict[str, str] | None = field(default_factory=lambda: {"train": "train", "valid": "valid", "test": "test"})
    audio_tar_pattern: str = "{split}*.tar"
    folds: list[Any] | None = None
    fold_tar_pattern: str | None = None
    # X-ARES's mini variants: partition (split name) -> literal tar pattern, used with data.mini=true
    mini_patterns: dict[str, str] | None = None
    label: LabelSchema = field(default_factory=LabelSchema)
    crop_length: float | None = None
    batch_size_train: int = 32
    batch_size_encode: int = 16
    learning_rate: float = 1e-3
    epochs: int = 10
    metric: str = "accuracy"
    metric_args: dict[str, Any] = field(default_factory=dict)
    criterion: str = "CrossEntropyLoss"
    criterion_args: dict[str, Any] = field(default_factory=dict)
    do_knn: bool = True
    eval_weight: float = 1.0
    sort_by_length: bool = True
    head_args: dict[str, Any] = field(default_factory=dict)


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


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("xares_suite"):
        OmegaConf.register_new_resolver("xares_suite", suite_sweep)


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="task", node=TaskSchema)
    store.store(group="schema", name="head", node=HeadSettings)
    store.store(group="schema", name="paths", node=PathsSchema)
    store.store(group="schema", name="compat", node=CompatSchema)


register_schemas()
register_resolvers()
