"""The encode stage's settings: the ``encode`` config group's typed schema (its defaults and checks, written once)
and, filled in by ``config.settings.encode_settings``, the stage's argument. Fields marked ``STAGE`` are not config
keys: the task, compat and data groups and the loaded encoder decide them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from xares_hydra.choice import Choice
from xares_hydra.data.shards import ReadLimits
from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.encode.cache import LayerNeeds
from xares_hydra.encode.storage import FLOAT32, StoreDtype
from xares_hydra.errors import ConfigError, require_number

STAGE: dict[str, Any] = {"omegaconf_ignore": True}


class Batching(Choice):
    """encode.batching: auto, bucketed or exact (``encode.embed`` says what each does)."""

    auto = "auto"
    bucketed = "bucketed"
    exact = "exact"
    xares = "xares"  # set by compat=xares (``encode_settings``), not typed: X-ARES's tar-order padded batches


class Autocast(Choice):
    bf16 = "bf16"
    fp16 = "fp16"


# auto: all when head.layer is set; all: also cache every hidden layer's clip vectors (encoder.hidden_layers) for
# head.layer=N|weighted; last: the encoder's output only
LAYERS = ("auto", "all", "last")


@dataclass
class EncodeSettings:
    # most crops per encoder call (the config follows task.batch_size_encode)
    batch_size: int = TaskSchema.batch_size_encode
    # auto | bucketed | exact (Batching); the record's encoder.batching says what auto chose
    batching: Batching = Batching.auto
    # most seconds of padded audio in one encoder call (protects memory on long clips)
    max_batch_seconds: float = 600.0
    # decoded audio held and sorted by length before it is encoded
    buffer_seconds: float = 1800.0
    # threads decoding and resampling audio
    decode_threads: int = 2
    # store per-frame embeddings: auto (only for task types whose heads need them), true or false
    keep_frames: Any = "auto"
    # null | bf16 | fp16: autocast for the encoder forward (part of the cache fingerprint)
    autocast: Autocast | None = None
    # run the encoder contract checks before encoding
    check: bool = True
    # re-encode every shard even when the cache holds it (e.g. after changing code the fingerprint cannot see)
    force: bool = False
    # a run fails only when more than this share of one partition's clips was skipped (and at least min_failed_clips)
    max_skipped_share: float = 0.01
    min_failed_clips: int = 3
    # auto | all | last (LAYERS); resolved: whether every hidden layer is cached
    layers: Any = "auto"
    # with encode.layers=all: hidden layers whose frames are kept too (frame and ASR tasks), e.g. [4,8,-1]
    frame_layers: list[int] = field(default_factory=list)
    # with encode.layers=all: the hidden layers whose clip vectors are cached, e.g. [0,6,-1] (empty: every layer)
    keep_layers: list[int] = field(default_factory=list)
    # float32 | float16 | bfloat16 (storage.py): the cached frames and hidden layers' vectors (part of the cache key)
    store_dtype: StoreDtype = FLOAT32
    # the same for the cached clip vectors
    clip_dtype: StoreDtype = FLOAT32
    # clips shorter than this are zero-padded to it and keep ceil(length / hop) frames
    min_samples: int = field(default=1, metadata=STAGE)
    crop_length: float | None = field(default=None, metadata=STAGE)
    pad_short_crops: bool = field(default=False, metadata=STAGE)
    # the setting that asked for the layers, as the user typed it (for messages)
    layers_asked_by: str = field(default="encode.layers=all", metadata=STAGE)
    limits: ReadLimits = field(default_factory=ReadLimits, metadata=STAGE)

    def __post_init__(self) -> None:
        for key in ("batch_size", "max_batch_seconds", "buffer_seconds", "decode_threads"):
            require_number(f"encode.{key}", getattr(self, key))
        require_number("encode.min_failed_clips", self.min_failed_clips, inclusive=True)
        require_number("encode.max_skipped_share", self.max_skipped_share, inclusive=True)
        if self.max_skipped_share > 1:
            raise ConfigError(f"encode.max_skipped_share={self.max_skipped_share!r}: must be a share between 0 and 1")
        if not isinstance(self.layers, bool) and self.layers not in LAYERS:
            raise ConfigError(f"encode.layers={self.layers!r}: use one of {', '.join(LAYERS)}")
        if self.keep_frames not in ("auto", True, False):
            raise ConfigError(f"encode.keep_frames={self.keep_frames!r}: use one of auto, true, false")

    @property
    def frames(self) -> bool:
        """Whether frames are kept (``auto`` keeps them only where ``encode_settings`` decided so)."""
        return self.keep_frames is True

    @property
    def all_layers(self) -> bool:
        """Whether every hidden layer is cached (``auto`` only where ``encode_settings`` decided so)."""
        return self.layers is True or self.layers == "all"

    @property
    def layer_needs(self) -> LayerNeeds:
        frame_layers = tuple(self.frame_layers) if self.all_layers and self.frames else ()
        return LayerNeeds(self.all_layers, frame_layers, tuple(self.keep_layers) if self.all_layers else ())


def config_keys(schema: type) -> list[str]:
    """A schema's config keys (``STAGE`` fields left out)."""
    return [item.name for item in dataclasses.fields(schema) if item.metadata.get("omegaconf_ignore") is not True]
