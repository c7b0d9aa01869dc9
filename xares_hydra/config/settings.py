"""Translate the composed Hydra config into the plain settings each stage takes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig, OmegaConf

from xares_hydra.config.instantiate import build_encoder, target_object
from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.contract import padding_invariant
from xares_hydra.encode.encoder_spec import (
    EncoderSpec,
    canonical_target,
    default_name,
    spec_from_config,
    spec_from_instance,
)
from xares_hydra.encode.settings import Batching, EncodeSettings
from xares_hydra.encode.storage import FLOAT32
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadSettings, resolve_device

T = TypeVar("T")


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True, enum_to_str=True) if OmegaConf.is_config(node) else node


def typed(node: DictConfig, schema: type[T]) -> T:
    """A group's typed object (its schema's range checks run as it is built; its closed choices, enum members,
    were checked while composing)."""
    return schema(**OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]


def data_options(cfg: DictConfig) -> DataOptions:
    return typed(cfg.data, DataOptions)


def data_root(cfg: DictConfig) -> Path:
    return Path(cfg.paths.data_root).expanduser()


def embedding_settings(cfg: DictConfig, task: TaskSpec, padding_invariant: bool) -> dict[str, Any]:
    """What changes the embeddings besides the encoder (part of the cache fingerprint); the batching only where
    it changes a clip's embedding (X-ARES's padded batches; bucketed ones unless the encoder is padding-invariant).
    ``auto`` gives each clip its frames alone (exact, or padded batches proved not to move them): exact's key."""
    encode = encode_settings(cfg, task)
    settings: dict[str, Any] = {
        "crop_length": encode.crop_length,
        "pad_short_crops": encode.pad_short_crops,
        "pad_batches": encode.batching == Batching.xares,
        "autocast": encode.autocast,
    }
    # float32 adds nothing, so caches written before the setting existed keep their key
    settings.update({key: value for key in ("store_dtype", "clip_dtype") if (value := getattr(encode, key)) != FLOAT32})
    if settings["pad_batches"]:
        settings["batch_size"] = encode.batch_size
    elif encode.batching == Batching.bucketed and not padding_invariant:
        keys = ("batch_size", "max_batch_seconds", "buffer_seconds")
        settings["batching"] = {"mode": "bucketed", **{key: float(getattr(encode, key)) for key in keys}}
    return settings


def encode_settings(cfg: DictConfig, task: TaskSpec) -> EncodeSettings:
    """The encode stage's settings: the encode group's, its ``auto`` values decided by the task and head, with what
    the task, compat and data groups set."""
    encode, layer = typed(cfg.encode, EncodeSettings), cfg.head.layer
    return dataclasses.replace(
        encode,
        # frame and ASR heads read frames whatever the setting; auto keeps them for those only
        keep_frames=encode.keep_frames is True or task.task_type in ("frame", "asr"),
        # every hidden layer: encode.layers=all, or auto with a head.layer set
        layers=encode.layers == "all" or (encode.layers == "auto" and layer is not None),
        layers_asked_by="encode.layers=all" if encode.layers == "all" else f"head.layer={layer}",
        batching=Batching.xares if cfg.compat.pad_batches else encode.batching,
        crop_length=task.crop_length,
        pad_short_crops=bool(cfg.compat.pad_short_crops),
        limits=data_options(cfg).limits,
    )


def cache_of(cfg: DictConfig, task: TaskSpec, spec: EncoderSpec) -> EncoderCache:
    return EncoderCache(Path(cfg.paths.cache_root) / task.name / spec.cache_name)


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
    if isinstance(config, (dict, list)):
        for name, value in config.items() if isinstance(config, dict) else enumerate(config):
            refuse_plain_http(value, f"{key}{name}.")
    elif isinstance(config, str) and config.lower().startswith("http://"):
        raise ConfigError(
            f"{key.rstrip('.')}={config}: a plain-HTTP address, refused (data.allow_http=false): use its https:// "
            "address or a local file, or set data.allow_http=true only for a server you trust"
        )


def device(cfg: DictConfig) -> torch.device:
    return resolve_device(str(cfg.device))
