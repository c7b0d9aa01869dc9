"""The task as plain values: what its data partitions are and how it is evaluated.

A *partition* is a named set of tar shards (a split such as ``asvspoof_train`` or a fold such as
``fold3``). Splits that share their tar pattern (X-ARES's DESED uses ``wds-audio-eval`` for both
validation and test) share one partition, so their audio is encoded once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xares_hydra.data.labels import LabelSpec, validate_spec
from xares_hydra.errors import ConfigError

TASK_TYPES = ("clip", "frame", "contrastive", "asr")
ROLES = ("train", "valid", "test")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    formal_name: str
    task_type: str
    label: LabelSpec
    partitions: dict[str, str]  # partition name -> tar glob, relative to the task's data folder
    roles: dict[str, str] = field(default_factory=dict)  # split tasks: train/valid/test -> partition
    folds: tuple[str, ...] = ()  # k-fold tasks: partitions in fold order
    private: bool = False
    tags: tuple[str, ...] = ()
    version: int = 1
    license: str = "see source"
    disabled: bool = False
    disabled_reason: str | None = None
    zenodo_id: str | None = None
    mini_patterns: dict[str, str] = field(default_factory=dict)
    generator: dict[str, Any] | None = None
    crop_length: float | None = None
    batch_size_encode: int = 16
    metric: str = "accuracy"
    metric_args: dict[str, Any] = field(default_factory=dict)
    criterion: str = "CrossEntropyLoss"
    criterion_args: dict[str, Any] = field(default_factory=dict)
    do_knn: bool = True
    eval_weight: float = 1.0
    sort_by_length: bool = True
    head_args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_kfold(self) -> bool:
        return bool(self.folds)

    def tar_patterns(self, mini: bool = False) -> dict[str, str]:
        """Partition -> tar pattern; ``mini`` swaps in X-ARES's smaller shard selections."""
        if not mini:
            return dict(self.partitions)
        return {name: self.mini_patterns.get(name, pattern) for name, pattern in self.partitions.items()}

    @property
    def source(self) -> str:
        if self.generator is not None:
            return "generated"
        if self.zenodo_id is not None:
            return "zenodo"
        return "local"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TaskSpec:
        name = cfg["name"]
        if cfg["task_type"] not in TASK_TYPES:
            raise ConfigError(f"task.task_type={cfg['task_type']!r} for {name}; use one of {TASK_TYPES}")
        label_cfg = dict(cfg["label"])
        label = LabelSpec(
            rule=label_cfg["rule"],
            key=label_cfg.get("key"),
            classes=tuple(label_cfg["classes"]) if label_cfg.get("classes") is not None else None,
            num_classes=label_cfg.get("num_classes"),
            args=dict(label_cfg.get("args") or {}),
        )
        validate_spec(label, name)
        partitions, roles, folds = _partitions(cfg)
        return cls(
            name=name,
            formal_name=cfg.get("formal_name") or name,
            task_type=cfg["task_type"],
            label=label,
            partitions=partitions,
            roles=roles,
            folds=folds,
            private=bool(cfg.get("private", False)),
            tags=tuple(cfg.get("tags") or ()),
            version=int(cfg.get("version", 1)),
            license=str(cfg.get("license") or "see source"),
            disabled=bool(cfg.get("disabled", False)),
            disabled_reason=cfg.get("disabled_reason"),
            zenodo_id=_optional_str(cfg.get("zenodo_id")),
            mini_patterns=dict(cfg.get("mini_patterns") or {}),
            generator=dict(cfg["generator"]) if cfg.get("generator") else None,
            crop_length=cfg.get("crop_length"),
            batch_size_encode=int(cfg.get("batch_size_encode", 16)),
            metric=cfg.get("metric", "accuracy"),
            metric_args=dict(cfg.get("metric_args") or {}),
            criterion=cfg.get("criterion", "CrossEntropyLoss"),
            criterion_args=dict(cfg.get("criterion_args") or {}),
            do_knn=bool(cfg.get("do_knn", True)),
            eval_weight=float(cfg.get("eval_weight", 1.0)),
            sort_by_length=bool(cfg.get("sort_by_length", True)),
            head_args=dict(cfg.get("head_args") or {}),
        )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _partitions(cfg: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    if cfg.get("folds"):
        pattern = cfg.get("fold_tar_pattern")
        if not pattern:
            raise ConfigError(f"task {cfg['name']} has folds but no fold_tar_pattern")
        names = tuple(f"fold{fold}" for fold in cfg["folds"])
        partitions = {name: pattern.format(fold=fold) for name, fold in zip(names, cfg["folds"])}
        if len(partitions) < 3:
            raise ConfigError(f"task {cfg['name']}: k-fold evaluation needs at least 3 folds")
        return partitions, {}, names
    splits = cfg.get("splits") or {}
    missing = [role for role in ROLES if role not in splits]
    if missing:
        raise ConfigError(f"task {cfg['name']}: task.splits lacks {', '.join(missing)} (or give folds)")
    pattern = cfg.get("audio_tar_pattern", "{split}*.tar")
    partitions = {splits[role]: pattern.format(split=splits[role]) for role in ROLES}
    roles = {role: splits[role] for role in ROLES}
    return partitions, roles, ()
