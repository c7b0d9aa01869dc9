"""Typed schemas of the config groups (ConfigStore group ``schema``, never swept, pulled in by the YAMLs'
defaults); a group read by one stage is that stage's dataclass (data) or takes its defaults from it (encode)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, OmegaConf

from xares_hydra.config.suites import suite_tasks
from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.encode.embed import EncodeSettings
from xares_hydra.errors import ConfigError, require_number
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


class Stage(str, Enum):
    all = "all"
    download = "download"
    check = "check"
    encode = "encode"  # type: ignore[assignment]  # shadows str.encode on purpose: the stage's name
    plan = "plan"  # what the run will encode and write, and how long it takes (nothing is encoded)


class Choice(str, Enum):
    def __str__(self) -> str:
        return self.value


class Batching(Choice):
    auto = "auto"  # bucketed where the encoder is told the padding or proved invariant to it, else exact
    bucketed = "bucketed"  # crops sorted by length, zero-padded to the batch's longest, each keeps its own frames
    exact = "exact"  # only crops of identical length share a batch (bit-identical to encoding each alone; slower)


class Autocast(Choice):
    bf16 = "bf16"
    fp16 = "fp16"


class StoreDtype(Choice):
    float32 = "float32"
    float16 = "float16"  # half the bytes; scores change by < 0.005 on the demo suite (README "Long runs")
    bfloat16 = "bfloat16"


class Layers(Choice):
    auto = "auto"  # all when head.layer is set
    all = "all"  # also cache every hidden layer's clip vectors (encoder.hidden_layers) for head.layer=N|weighted
    last = "last"  # the encoder's output only


@dataclass
class EncodeSchema:
    # most crops per encoder call
    batch_size: int = II("task.batch_size_encode")
    # auto | bucketed | exact (Batching; compat=xares uses X-ARES's tar-order padded batches instead); the
    # record's encoder.batching says what auto chose
    batching: str = Batching.auto.value
    # most seconds of padded audio in one encoder call (protects memory on long clips)
    max_batch_seconds: float = EncodeSettings.max_batch_seconds
    # decoded audio held and sorted by length before it is encoded
    buffer_seconds: float = EncodeSettings.buffer_seconds
    # threads decoding and resampling audio
    decode_threads: int = EncodeSettings.decode_threads
    # store per-frame embeddings: auto (only for task types whose heads need them), true or false
    keep_frames: Any = "auto"
    # null | bf16 | fp16: autocast for the encoder forward (part of the cache fingerprint)
    autocast: str | None = EncodeSettings.autocast
    # run the encoder contract checks before encoding
    check: bool = True
    # re-encode every shard even when the cache holds it (e.g. after changing code the fingerprint cannot see)
    force: bool = EncodeSettings.force
    # a run fails only when more than this share of one partition's clips was skipped (and at least min_failed_clips)
    max_skipped_share: float = 0.01
    min_failed_clips: int = 3
    # auto | all | last (Layers)
    layers: str = Layers.auto.value
    # with encode.layers=all: hidden layers whose frames are kept too (frame and ASR tasks), e.g. [4,8,-1]
    frame_layers: list[int] = field(default_factory=list)
    # with encode.layers=all: the hidden layers whose clip vectors are cached, e.g. [0,6,-1] (empty: every layer)
    keep_layers: list[int] = field(default_factory=list)
    # float32 | float16 | bfloat16 (StoreDtype): the cached frames and hidden layers' vectors (part of the cache key)
    store_dtype: str = EncodeSettings.store_dtype
    # the same for the cached clip vectors
    clip_dtype: str = EncodeSettings.clip_dtype

    def __post_init__(self) -> None:
        for key in ("batch_size", "max_batch_seconds", "buffer_seconds", "decode_threads"):
            require_number(f"encode.{key}", getattr(self, key))
        require_number("encode.min_failed_clips", self.min_failed_clips, inclusive=True)
        require_number("encode.max_skipped_share", self.max_skipped_share, inclusive=True)
        if self.max_skipped_share > 1:
            raise ConfigError(f"encode.max_skipped_share={self.max_skipped_share!r}: must be a share between 0 and 1")
        self.batching = choice("encode.batching", self.batching, Batching)
        self.autocast = None if self.autocast is None else choice("encode.autocast", self.autocast, Autocast, "null")
        self.layers = choice("encode.layers", self.layers, Layers)
        self.store_dtype = choice("encode.store_dtype", self.store_dtype, StoreDtype).value
        self.clip_dtype = choice("encode.clip_dtype", self.clip_dtype, StoreDtype).value
        if self.keep_frames not in ("auto", True, False):
            raise ConfigError(f"encode.keep_frames={self.keep_frames!r}: use one of auto, true, false")


def choice(key: str, value: Any, choices: type[Choice], *others: str) -> Any:
    try:
        return choices(value)
    except ValueError:
        allowed = ", ".join([*others, *(member.value for member in choices)])
        raise ConfigError(f"{key}={value!r}: use one of {allowed}") from None


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


@dataclass
class ReportSchema:
    # bootstrap resamples for confidence intervals and paired tests; seeded, so reports repeat exactly
    resamples: int = StatisticsSettings.resamples
    seed: int = StatisticsSettings.seed
    confidence: float = StatisticsSettings.confidence


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
    encode: EncodeSchema = field(default_factory=lambda: OmegaConf.structured(EncodeSchema))
    check: CheckSchema = field(default_factory=lambda: OmegaConf.structured(CheckSchema))
    data: DataOptions = field(default_factory=lambda: OmegaConf.structured(DataOptions))
    record: RecordSchema = field(default_factory=lambda: OmegaConf.structured(RecordSchema))
    report: ReportSchema = field(default_factory=lambda: OmegaConf.structured(ReportSchema))


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
