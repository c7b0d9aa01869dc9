"""The task: its typed schema (the only place task defaults live) and the plain values built from it. A partition
is a named set of tar shards (a split or a fold); splits with one tar pattern share one, so it is encoded once."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from xares_hydra.data.clips import SHARD_PATTERN
from xares_hydra.data.hear import HearSchema
from xares_hydra.data.huggingface import HuggingFaceSchema
from xares_hydra.data.labels import REGRESSION, LabelSpec, validate_spec
from xares_hydra.errors import ConfigError

TASK_TYPES = ("clip", "regression", "frame", "contrastive", "asr")
ROLES = ("train", "valid", "test")


@dataclass
class LabelSchema:
    rule: str = MISSING
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
    """The ``task`` config group's schema; defaults are X-ARES 0.1.3's."""

    name: str = MISSING
    formal_name: str | None = None
    task_type: str = "clip"
    private: bool = False
    # suites (xares, xares_public, xares_private, demo): the +benchmark presets are built from these
    tags: list[str] = field(default_factory=list)
    # the task definition's revision; part of every result record's identity
    version: int = 1
    license: str = "see source"
    # the corpora the task's audio comes from (matched against an encoder's meta.training_data); optional
    corpus: list[str] | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    zenodo_id: str | None = None
    generator: GeneratorSchema | None = None
    # other sources, written as the task's shards once (data/clips.py): a Hugging Face dataset, a HEAR task folder
    huggingface: HuggingFaceSchema | None = None
    hear: HearSchema | None = None
    splits: dict[str, str] | None = field(default_factory=lambda: {"train": "train", "valid": "valid", "test": "test"})
    audio_tar_pattern: str = "{split}*.tar"
    folds: list[Any] | None = None
    fold_tar_pattern: str | None = None
    # X-ARES's mini variants: partition (split name) -> literal tar pattern, used with data.mini=true
    mini_patterns: dict[str, str] | None = None
    label: LabelSchema = field(default_factory=LabelSchema)
    crop_length: float | None = None
    # read by the head group (head.batch_size, head.lr, head.epochs interpolate them)
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
    head_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskSpec(TaskSchema):
    """What the stages need from a task: the schema's values (``from_config``) with what follows from them: the
    label rule checked, the sources as plain dicts, the partitions (splits or folds) and their tar globs."""

    formal_name: str = ""
    label: LabelSpec = None  # type: ignore[assignment]
    folds: tuple[str, ...] = ()  # type: ignore[assignment]  # k-fold tasks: partitions in fold order
    generator: dict[str, Any] | None = None  # type: ignore[assignment]
    huggingface: dict[str, Any] | None = None  # type: ignore[assignment]
    hear: dict[str, Any] | None = None  # type: ignore[assignment]
    # partition name -> tar glob, relative to the task's data folder; split tasks: train/valid/test -> partition
    partitions: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def is_kfold(self) -> bool:
        return bool(self.folds)

    def tar_patterns(self, mini: bool = False) -> dict[str, str]:
        """Partition -> tar pattern; ``mini`` swaps in X-ARES's smaller shard selections."""
        swapped = (self.mini_patterns or {}) if mini else {}
        return {name: swapped.get(name, pattern) for name, pattern in self.partitions.items()}

    @property
    def source_folder(self) -> str | None:
        """The local folder a Hugging Face or HEAR source reads (relative: under the data root), if any."""
        if self.huggingface is not None:
            return self.huggingface.get("local_dir")
        return self.hear.get("path") if self.hear is not None else None

    @property
    def source(self) -> str:
        named = dict(huggingface=self.huggingface, hear=self.hear, generated=self.generator, zenodo=self.zenodo_id)
        return next((name for name, given in named.items() if given is not None), "local")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TaskSpec:
        """The task of a config (composed or plain), checked against the schema, every default filled in."""
        try:
            schema = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(TaskSchema), cfg))
        except OmegaConfBaseException as error:
            key = f"task.{error.full_key}" if getattr(error, "full_key", None) else "task"
            raise ConfigError(f"task {cfg.get('name', '?')}: {key}: {str(error).splitlines()[0]}") from error
        assert isinstance(schema, TaskSchema)
        if schema.task_type not in TASK_TYPES:
            raise ConfigError(f"task.task_type={schema.task_type!r} for {schema.name}; use one of {TASK_TYPES}")
        classes = tuple(schema.label.classes) if schema.label.classes is not None else None
        label = LabelSpec(**dict(dataclasses.asdict(schema.label), classes=classes))
        # a Hugging Face dataset or a HEAR folder names its classes itself (``with_classes``)
        validate_spec(label, schema.name, classes_from_source=schema.huggingface is not None or schema.hear is not None)
        if schema.task_type == "regression" and label.kind != REGRESSION:
            raise ConfigError(
                f"task {schema.name}: a regression task needs a regression label rule (targets or as_float), "
                f"not {label.rule!r}"
            )
        names = ("generator", "huggingface", "hear")  # as plain dicts; an absent one stays None
        sources = {name: dataclasses.asdict(value) for name in names if (value := getattr(schema, name)) is not None}
        partitions, roles, folds = _partitions(schema)
        formal_name = schema.formal_name or schema.name
        derived = dict(formal_name=formal_name, label=label, partitions=partitions, roles=roles, folds=folds)
        return cls(**vars(schema) | sources | derived)

    def with_classes(self, classes: list[str] | None) -> TaskSpec:
        """The task with the class list its source gave, where its YAML names no classes."""
        if classes is None or self.label.n_classes is not None:
            return self
        return dataclasses.replace(self, label=dataclasses.replace(self.label, classes=tuple(classes)))


def _partitions(schema: TaskSchema) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    built = schema.huggingface is not None or schema.hear is not None  # shards named by partition (data/clips.py)
    if schema.folds:
        pattern = SHARD_PATTERN.replace("{partition}", "fold{fold}") if built else schema.fold_tar_pattern
        if not pattern:
            raise ConfigError(f"task {schema.name} has folds but no fold_tar_pattern")
        names = tuple(f"fold{fold}" for fold in schema.folds)
        partitions = {name: pattern.format(fold=fold) for name, fold in zip(names, schema.folds)}
        if len(partitions) < 3:
            raise ConfigError(f"task {schema.name}: k-fold evaluation needs at least 3 folds")
        return partitions, {}, names
    splits = schema.splits or {}
    if missing := [role for role in ROLES if role not in splits]:
        raise ConfigError(f"task {schema.name}: task.splits lacks {', '.join(missing)} (or give folds)")
    pattern = SHARD_PATTERN.replace("{partition}", "{split}") if built else schema.audio_tar_pattern
    partitions = {splits[role]: pattern.format(split=splits[role]) for role in ROLES}
    roles = {role: splits[role] for role in ROLES}
    return partitions, roles, ()


def _corpus_key(name: str) -> str:
    """A corpus name compared without case, spaces or punctuation (``Libri-Light`` = ``librilight``)."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def training_overlap(training_data: Sequence[str] | None, corpus: Sequence[str] | None) -> list[str] | None:
    """The task's corpora (``task.corpus``) an encoder saw in training (its ``meta.training_data``), as MTEB flags
    models trained on the evaluation data: [] for none; None where either side is not declared."""
    if training_data is None or corpus is None:
        return None
    seen = {_corpus_key(name) for name in training_data}
    return [name for name in corpus if _corpus_key(name) in seen]
