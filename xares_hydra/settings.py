"""Translate the composed Hydra config into the plain settings each stage takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.shards import ReadLimits
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import WEIGHTED
from xares_hydra.encode.contract import padding_invariant
from xares_hydra.encode.embed import EncodeSettings
from xares_hydra.encode.encoder_spec import (
    EncoderSpec,
    canonical_target,
    default_name,
    spec_from_config,
    spec_from_instance,
)
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadSettings, resolve_device
from xares_hydra.instantiate import build_encoder, make_cwd_importable, target_object

FRAME_TASK_TYPES = ("frame", "asr")


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True, enum_to_str=True) if OmegaConf.is_config(node) else node


def data_options(cfg: DictConfig) -> DataOptions:
    return DataOptions(
        data_root=Path(cfg.paths.data_root).expanduser(),
        zenodo_api=cfg.data.zenodo_api,
        timeout=float(cfg.data.timeout),
        retries=int(cfg.data.retries),
        force_download=bool(cfg.data.force_download),
        mini=bool(cfg.data.mini),
        allow_http=bool(cfg.data.allow_http),
        allowed_hosts=tuple(str(host) for host in cfg.data.allowed_hosts),
    )


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
    return "xares" if cfg.compat.pad_batches else str(cfg.encode.batching)


def encode_settings(cfg: DictConfig, task: TaskSpec) -> EncodeSettings:
    keep_frames = cfg.encode.keep_frames
    if keep_frames != "auto" and not isinstance(keep_frames, bool):
        raise ConfigError(f"encode.keep_frames={keep_frames!r}; use auto, true or false")
    return EncodeSettings(
        batch_size=int(cfg.encode.batch_size),
        max_batch_seconds=float(cfg.encode.max_batch_seconds),
        buffer_seconds=float(cfg.encode.buffer_seconds),
        decode_threads=int(cfg.encode.decode_threads),
        # frame and ASR heads read frames whatever the setting; auto keeps them for those only
        keep_frames=keep_frames is True or task.task_type in FRAME_TASK_TYPES,
        autocast=cfg.encode.autocast,
        crop_length=task.crop_length,
        pad_short_crops=bool(cfg.compat.pad_short_crops),
        force=bool(cfg.encode.force),
        layers=all_layers(cfg),
        frame_layers=tuple(int(layer) for layer in cfg.encode.frame_layers),
        limits=read_limits(cfg),
        batching=batching(cfg),
    )


def read_limits(cfg: DictConfig) -> ReadLimits:
    """The data bounds (checked positive or null by ``validate``)."""
    bounds = {key: cfg.data[key] for key in ("max_clip_seconds", "max_member_bytes", "max_label_bytes")}
    return ReadLimits(
        max_clip_seconds=None if bounds["max_clip_seconds"] is None else float(bounds["max_clip_seconds"]),
        max_member_bytes=None if bounds["max_member_bytes"] is None else int(bounds["max_member_bytes"]),
        max_label_bytes=None if bounds["max_label_bytes"] is None else int(bounds["max_label_bytes"]),
    )


def all_layers(cfg: DictConfig) -> bool:
    """Whether to encode every hidden layer: ``encode.layers=all``, or ``auto`` with a ``head.layer`` set."""
    choice = cfg.encode.layers
    if choice not in ("auto", "all", "last"):
        raise ConfigError(f"encode.layers={choice!r}; use auto, all or last")
    return choice == "all" or (choice == "auto" and cfg.head.layer is not None)


def head_settings(cfg: DictConfig) -> HeadSettings:
    settings = HeadSettings(**plain(cfg.head))
    layer = settings.layer
    if not (layer is None or layer == WEIGHTED or (isinstance(layer, int) and not isinstance(layer, bool))):
        raise ConfigError(f"head.layer={layer!r}; use null (the encoder's output), a layer number or weighted")
    return settings


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
