"""Translate the composed Hydra config into the plain settings each stage takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig, OmegaConf

from xares_hydra.config.instantiate import build_encoder, target_object
from xares_hydra.config.schema import EncodeSchema, Layers
from xares_hydra.data.prepare import DataOptions
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
from xares_hydra.encode.storage import FLOAT32
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadSettings, resolve_device

T = TypeVar("T")


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True, enum_to_str=True) if OmegaConf.is_config(node) else node


def typed(node: Any, schema: type[T]) -> T:
    """A group's typed object (its schema's range and choice checks run as it is built)."""
    return schema(**plain(node))


def data_options(cfg: DictConfig) -> DataOptions:
    return typed(cfg.data, DataOptions)


def data_root(cfg: DictConfig) -> Path:
    return Path(cfg.paths.data_root).expanduser()


def embedding_settings(cfg: DictConfig, task: TaskSpec, padding_invariant: bool) -> dict[str, Any]:
    """What changes the embeddings besides the encoder (part of the cache fingerprint); the batching only where
    it changes a clip's embedding (X-ARES's padded batches; bucketed ones unless the encoder is padding-invariant).
    ``auto`` gives each clip its frames alone (exact, or padded batches proved not to move them): exact's key."""
    settings = {
        "crop_length": task.crop_length,
        "pad_short_crops": bool(cfg.compat.pad_short_crops),
        "pad_batches": bool(cfg.compat.pad_batches),
        "autocast": cfg.encode.autocast,
    }
    # float32 adds nothing, so caches written before the setting existed keep their key
    for key in ("store_dtype", "clip_dtype"):
        if cfg.encode[key] != FLOAT32:
            settings[key] = str(cfg.encode[key])
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
    """The encode stage's settings: the encode group's, with what the task, head, compat and data groups decide."""
    encode = typed(cfg.encode, EncodeSchema)
    return EncodeSettings(
        batch_size=encode.batch_size,
        max_batch_seconds=encode.max_batch_seconds,
        buffer_seconds=encode.buffer_seconds,
        decode_threads=encode.decode_threads,
        force=encode.force,
        # frame and ASR heads read frames whatever the setting; auto keeps them for those only
        keep_frames=encode.keep_frames is True or task.task_type in ("frame", "asr"),
        autocast=cfg.encode.autocast,
        crop_length=task.crop_length,
        pad_short_crops=bool(cfg.compat.pad_short_crops),
        # every hidden layer: encode.layers=all, or auto with a head.layer set
        layers=encode.layers == Layers.all or (encode.layers == Layers.auto and cfg.head.layer is not None),
        layers_asked_by="encode.layers=all" if encode.layers == Layers.all else f"head.layer={cfg.head.layer}",
        frame_layers=tuple(encode.frame_layers),
        keep_layers=tuple(encode.keep_layers),
        limits=data_options(cfg).limits,
        batching=batching(cfg),
        store_dtype=encode.store_dtype,
        clip_dtype=encode.clip_dtype,
    )


def head_settings(cfg: DictConfig) -> HeadSettings:
    return typed(cfg.head, HeadSettings)


def encoder_spec(
    cfg: DictConfig, task: TaskSpec, encoder: torch.nn.Module | None = None, name: str | None = None
) -> EncoderSpec:
    config = plain(cfg.encoder)
    if not cfg.data.allow_http:
        refuse_plain_http(config, "encoder.")
    invariant = padding_invariant(encoder if encoder is not None else target_object(canonical_target(config)))
    settings = embedding_settings(cfg, task, invariant)
    if encoder is not None:
        return spec_from_instance(encoder, settings, name)
    name = name or default_name(None, config)
    return spec_from_config(name, config, settings, Path(cfg.paths.cache_root), builder=build_encoder)


def refuse_plain_http(config: Any, key: str) -> None:
    """``ConfigError`` naming the first ``http://`` address in an encoder's config (a checkpoint URL): weights
    travel over HTTPS only unless ``data.allow_http``, as downloads do."""
    if isinstance(config, dict):
        for name, value in config.items():
            refuse_plain_http(value, f"{key}{name}.")
    elif isinstance(config, list):
        for index, value in enumerate(config):
            refuse_plain_http(value, f"{key}{index}.")
    elif isinstance(config, str) and config.lower().startswith("http://"):
        raise ConfigError(
            f"{key.rstrip('.')}={config}: a plain-HTTP address, refused (data.allow_http=false): use its https:// "
            "address or a local file, or set data.allow_http=true only for a server you trust"
        )


def device(cfg: DictConfig) -> torch.device:
    return resolve_device(str(cfg.device))
