"""Typed schemas for the config groups, registered in Hydra's ConfigStore.

They live in the ``schema`` group, which is never swept; YAML files pull them in through their
defaults list (``- /schema/task@_here_``), so a typo or a wrong type (``head.lr=abc``) fails at
compose time. Each default is written once: a group read by one stage takes its schema from that stage
(``TaskSchema`` in ``data/taskspec.py``, ``HeadSettings`` in ``heads/``, ``StatisticsSettings`` in
``report/leaderboard.py``), and the others name the stage's own defaults. Range checks run where the
typed objects are built (``OmegaConf.to_object``, in ``validate``): ``__post_init__``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING, OmegaConf

from xares_hydra.config.suites import suite_sweep
from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.shards import ReadLimits
from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.encode.embed import EncodeSettings
from xares_hydra.errors import ConfigError, require_number
from xares_hydra.heads import TASK_DEFAULTS, HeadSettings
from xares_hydra.report.leaderboard import StatisticsSettings


@dataclass
class PathsSchema:
    """Every filesystem root, each also set by its environment variable (``conf/paths/default.yaml``)."""

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


class Choice(str, Enum):
    """A closed choice written as its plain value (``encode.batching=exact``)."""

    def __str__(self) -> str:
        return self.value


class Batching(Choice):
    auto = "auto"  # bucketed where the encoder is told the padding or proved invariant to it, else exact
    bucketed = "bucketed"  # crops sorted by length, zero-padded to the batch's longest, each keeps its own frames
    exact = "exact"  # only crops of identical length share a batch (bit-identical to encoding each alone; slower)


class Autocast(Choice):
    bf16 = "bf16"
    fp16 = "fp16"


class Layers(Choice):
    auto = "auto"  # all when head.layer is set
    all = "all"  # also cache every hidden layer's clip vectors (encoder.hidden_layers) for head.layer=N|weighted
    last = "last"  # the encoder's output only


# the values of encode.keep_frames: auto = only for task types whose heads need them
KEEP_FRAMES = ("auto", True, False)


@dataclass
class EncodeSchema:
    """The ``encode`` settings; their defaults are the encode stage's (``EncodeSettings``)."""

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
        if self.keep_frames not in KEEP_FRAMES:
            raise ConfigError(f"encode.keep_frames={self.keep_frames!r}: use one of auto, true, false")


def choice(key: str, value: Any, choices: type[Choice], *others: str) -> Any:
    """``value`` as a member of ``choices``, or a ``ConfigError`` naming the key and what is allowed."""
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
class DataSchema:
    """The ``data`` settings; their defaults are the data stage's (``DataOptions``, ``ReadLimits``)."""

    # re-download even when the ready marker exists
    force_download: bool = DataOptions.force_download
    # X-ARES publishes mini versions of some datasets; true uses them where they exist
    mini: bool = DataOptions.mini
    zenodo_api: str = DataOptions.zenodo_api
    # seconds to wait for a server before giving up
    timeout: float = DataOptions.timeout
    retries: int = DataOptions.retries
    # downloads speak HTTPS only, and only with the API's host (redirects included); plain HTTP and
    # other hosts (e.g. a mirror the API redirects to) only when allowed here (SECURITY.md)
    allow_http: bool = DataOptions.allow_http
    allowed_hosts: list[str] = field(default_factory=list)
    # bounds on untrusted data (null = none): a longer clip, or a bigger tar member / .json label member,
    # is skipped and counted, never decoded or read whole. The longest X-ARES clips (MAESTRO's piano
    # performances) stay well under an hour.
    max_clip_seconds: float | None = ReadLimits.max_clip_seconds
    max_member_bytes: int | None = ReadLimits.max_member_bytes
    max_label_bytes: int | None = ReadLimits.max_label_bytes

    def __post_init__(self) -> None:
        for key in ("max_clip_seconds", "max_member_bytes", "max_label_bytes"):
            if getattr(self, key) is not None:
                require_number(f"data.{key}", getattr(self, key))


@dataclass
class RecordSchema:
    # true: result records are written shareable: home folder, host name and absolute paths replaced by
    # placeholders (<data_root>, <cache_root>, ~, <host>, <path>/); scores and settings are kept
    redact: bool = False
    # write each head's per-sample test predictions next to the result record (<key>.<head>.npz);
    # confidence intervals, paired tests, confusion matrices and per-class lists are computed from them
    predictions: bool = True


@dataclass
class ReportSchema:
    """The sweep report's statistics; their defaults are the report's (``StatisticsSettings``)."""

    # bootstrap resamples for confidence intervals and paired tests; seeded, so reports repeat exactly
    resamples: int = StatisticsSettings.resamples
    seed: int = StatisticsSettings.seed
    confidence: float = StatisticsSettings.confidence


@dataclass
class RootSchema:
    """The root of the composed config; the groups (task, encoder, head, ...) carry their own schemas."""

    paths: PathsSchema = MISSING
    task: TaskSchema = MISSING
    encoder: Any = MISSING  # untyped: its keys are the arguments of the encoder its _target_ names
    head: HeadSettings = MISSING
    compat: CompatSchema = MISSING
    logger: Any = None
    # all | download | check | encode : stop after that stage (download = fetch data only, e.g. on a login node)
    stage: Stage = Stage.all
    seed: int = HeadSettings.seed
    # auto = cuda when available, else cpu
    device: str = HeadSettings.device
    # the groups' nodes are built from their classes, so their checks run only on the composed values
    encode: EncodeSchema = field(default_factory=lambda: OmegaConf.structured(EncodeSchema))
    check: CheckSchema = field(default_factory=lambda: OmegaConf.structured(CheckSchema))
    data: DataSchema = field(default_factory=lambda: OmegaConf.structured(DataSchema))
    record: RecordSchema = field(default_factory=lambda: OmegaConf.structured(RecordSchema))
    report: ReportSchema = field(default_factory=lambda: OmegaConf.structured(ReportSchema))


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
    # the head follows the task (``TASK_DEFAULTS``) and the root's seed and device until overridden
    follows = {key: f"${{task.{task_key}}}" for key, task_key in TASK_DEFAULTS.items()}
    head = OmegaConf.merge(OmegaConf.structured(HeadSettings), follows, {"seed": "${seed}", "device": "${device}"})
    store.store(group="schema", name="head", node=head)
    store.store(group="schema", name="paths", node=PathsSchema)
    store.store(group="schema", name="compat", node=CompatSchema)
    store.store(group="schema", name="root", node=RootSchema)


register_schemas()
register_resolvers()
