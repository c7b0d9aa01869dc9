"""Typed schemas of the config groups (ConfigStore group ``schema``, never swept, pulled in by the YAMLs'
defaults); a group read by one stage is that stage's dataclass (data) or takes its defaults from it (encode)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, OmegaConf

from xares_hydra.choice import Choice
from xares_hydra.config.suites import suite_tasks
from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.encode.settings import EncodeSettings
from xares_hydra.heads import TASK_DEFAULTS, HeadSettings
from xares_hydra.report.leaderboard import StatisticsSettings


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


class Stage(Choice):
    all = "all"
    download = "download"
    check = "check"
    encode = "encode"  # type: ignore[assignment]  # shadows str.encode on purpose: the stage's name
    plan = "plan"  # what the run will encode and write, and how long it takes (nothing is encoded)


@dataclass
class CheckSchema:
    # stage=check also encodes one clip this long (memory and chunking)
    long_seconds: float = 600.0


@dataclass
class RecordSchema:
    # true: records are shareable (home folder, host name and absolute paths replaced by placeholders)
    redact: bool = False
    # each head's per-sample test predictions next to the record (<key>.<head>.npz), for intervals and tests
    predictions: bool = True


def _encode_group() -> Any:
    """The encode group, its batch size following the task's until overridden."""
    return OmegaConf.merge(EncodeSettings, {"batch_size": II("task.batch_size_encode")})


@dataclass
class RootSchema:
    paths: PathsSchema = MISSING
    task: TaskSchema = MISSING
    encoder: Any = MISSING  # untyped: its keys are the arguments of the encoder its _target_ names
    head: HeadSettings = MISSING
    compat: CompatSchema = MISSING
    logger: Any = None
    # all | download | check | encode | plan: stop after that stage (download = fetch data only, e.g. on a login
    # node; plan = what the run will encode, write and take, before any work)
    stage: Stage = Stage.all
    seed: int = HeadSettings.seed
    # auto = cuda when available, else cpu
    device: str = HeadSettings.device
    # the groups' nodes are built from their classes, so their checks run only on the composed values
    encode: EncodeSettings = field(default_factory=lambda: _encode_group())
    check: CheckSchema = field(default_factory=lambda: OmegaConf.structured(CheckSchema))
    data: DataOptions = field(default_factory=lambda: OmegaConf.structured(DataOptions))
    record: RecordSchema = field(default_factory=lambda: OmegaConf.structured(RecordSchema))
    report: StatisticsSettings = field(default_factory=lambda: OmegaConf.structured(StatisticsSettings))


def register() -> None:
    """The schemas in Hydra's ConfigStore, and the ``xares_suite`` and ``xares_unique`` resolvers."""
    # the head follows the task (``TASK_DEFAULTS``) and the root's seed and device until overridden
    follows = {key: f"${{task.{task_key}}}" for key, task_key in TASK_DEFAULTS.items()}
    head = OmegaConf.merge(OmegaConf.structured(HeadSettings), follows, {"seed": "${seed}", "device": "${device}"})
    for name, node in dict(task=TaskSchema, head=head, paths=PathsSchema, compat=CompatSchema, root=RootSchema).items():
        ConfigStore.instance().store(group="schema", name=name, node=node)
    OmegaConf.register_new_resolver("xares_suite", lambda tag: ",".join(suite_tasks(tag)), replace=True)
    OmegaConf.register_new_resolver("xares_unique", lambda: secrets.token_hex(2), use_cache=True, replace=True)


register()
