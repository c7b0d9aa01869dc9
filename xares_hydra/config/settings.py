"""Translate the composed Hydra config into the plain settings each stage takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig, OmegaConf

from xares_hydra.config.instantiate import build_encoder, make_cwd_importable, target_object
from xares_hydra.config.schema import DataSchema, EncodeSchema, Layers
from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.shards import ReadLimits
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.contract import padding_invariant
from xares_hydra.encode.embed import EncodeSettings
from xares_hydra.encode.encoder_spec import (
    EncoderSpec,
    canonical_target,
    default_name,
    spec_from_config,
    spec_from_instance,
)
from xares_hydra.heads import HeadSettings, resolve_device

FRAME_TASK_TYPES = ("frame", "asr")
T = TypeVar("T")


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True, enum_to_str=True) if OmegaConf.is_config(node) else node


def typed(node: Any, schema: type[T]) -> T:
    """A group's typed object (its schema's range and choice checks run as it is built)."""
    return schema(**plain(node))


def picked(target: type[T], values: Mapping[str, Any], **given: Any) -> T:
    """``target`` built from the ``values`` it has a field for, and ``given``."""
    names = {item.name for item in dataclasses.fields(target)}  # type: ignore[arg-type]
    return target(**{key: value for key, value in values.items() if key in names and key not in given}, **given)


def data_options(cfg: DictConfig) -> DataOptions:
    data = plain(cfg.data)
    return picked(DataOptions, data, data_root=Path(cfg.paths.data_root).expanduser(),
                  allowed_hosts=tuple(data["allowed_hosts"]))  # fmt: skip


def embedding_settings(cfg: DictConfig, task: TaskSpec, padding_invariant: bool) -> dict[str, Any]:
    """What changes the embeddings besides the encoder itself (part of the cache fingerprint).

    The batching is part of it only where it changes a clip's embedding: X-ARES's padded batches, and
    bucketed batches for encoders that are not told their padding (or declare that they ignore it).
    ``auto`` gives each clip its frames alone (``exact``, or padded batches proved not to move them), so it
    shares ``exact``'s key.
    """
    settings = {
        "crop_length": task.crop_length,
        "pad_short_crops": bool(cfg.compat.pad_short_crops),
        "pad_batches": bool(cfg.compat.pad_batches),
        "autocast": cfg.encode.autocast,
    }
    if settings["pad_batches"]:
        settings["batch_size"] = int(cfg.encode.batch_size)
    elif batching(cfg) == "bucketed" and not padding_invariant:
        settings["batching"] = {
            "mode": "bucketed",
            **{key: float(cfg.encode[key]) for key in ("batch_size", "max_batch_seconds", "buffer_seconds")},
        }
    return settings


def batching(cfg: DictConfig) -> str:
    return "xares" if cfg.compat.pad_batches else str(typed(cfg.encode, EncodeSchema).batching)


def encode_settings(cfg: DictConfig, task: TaskSpec) -> EncodeSettings:
    encode = typed(cfg.encode, EncodeSchema)
    return picked(
        EncodeSettings,
        dataclasses.asdict(encode),
        # frame and ASR heads read frames whatever the setting; auto keeps them for those only
        keep_frames=encode.keep_frames is True or task.task_type in FRAME_TASK_TYPES,
        autocast=cfg.encode.autocast,
        crop_length=task.crop_length,
        pad_short_crops=bool(cfg.compat.pad_short_crops),
        layers=all_layers(cfg),
        frame_layers=tuple(encode.frame_layers),
        limits=read_limits(cfg),
        batching=batching(cfg),
    )


def read_limits(cfg: DictConfig) -> ReadLimits:
    """The data bounds (checked positive or null by the data schema)."""
    return picked(ReadLimits, dataclasses.asdict(typed(cfg.data, DataSchema)))


def all_layers(cfg: DictConfig) -> bool:
    """Whether to encode every hidden layer: ``encode.layers=all``, or ``auto`` with a ``head.layer`` set."""
    choice = typed(cfg.encode, EncodeSchema).layers
    return choice == Layers.all or (choice == Layers.auto and cfg.head.layer is not None)


def head_settings(cfg: DictConfig) -> HeadSettings:
    return typed(cfg.head, HeadSettings)


def encoder_spec(
    cfg: DictConfig, task: TaskSpec, encoder: torch.nn.Module | None = None, name: str | None = None
) -> EncoderSpec:
    config = plain(cfg.encoder)
    invariant = padding_invariant(encoder if encoder is not None else target_object(canonical_target(config)))
    settings = embedding_settings(cfg, task, invariant)
    if encoder is not None:
        return spec_from_instance(encoder, settings, name)
    name = name or default_name(None, config)
    make_cwd_importable()  # the fingerprint finds a user module's source the way instantiate will
    return spec_from_config(name, config, settings, Path(cfg.paths.cache_root), builder=build_encoder)


def device(cfg: DictConfig) -> torch.device:
    return resolve_device(str(cfg.device))
