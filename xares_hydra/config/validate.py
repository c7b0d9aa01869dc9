"""Checks of the composed config before any stage works: the typed groups are built (their schemas check
ranges and choices), then what needs the whole config or the file system; each mistake is one ``ConfigError``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from xares_hydra.atomic import existing_folder, free_bytes
from xares_hydra.config.choices import did_you_mean
from xares_hydra.config.schema import CheckSchema, RecordSchema, RootSchema
from xares_hydra.data.prepare import DataOptions
from xares_hydra.encode.settings import EncodeSettings, config_keys
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadSettings
from xares_hydra.heads.asr import AsrArgs
from xares_hydra.heads.retrieval import RetrievalArgs
from xares_hydra.heads.training import head_arguments

# task type -> the dataclass its trained head reads ``task.head_args`` into (no entry: no head_args)
HEAD_ARGS_OF_TASK_TYPE: dict[str, type] = {"asr": AsrArgs, "contrastive": RetrievalArgs}
GROUPS = dict(encode=EncodeSettings, check=CheckSchema, data=DataOptions, record=RecordSchema, head=HeadSettings)


def validate_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first wrong value of the (resolved, plain) config."""
    _check_known_keys(config, RootSchema, "")
    for section, schema in GROUPS.items():
        _check_known_keys(config[section], schema, f"{section}.")
    for section, schema in GROUPS.items():
        schema(**config[section])  # the schema's range and choice checks
    _check_head_args(config["task"])
    _check_device(str(config["device"]))


def _check_known_keys(values: Iterable[str], schema: type, prefix: str) -> None:
    """Keys added with ``+`` that no schema knows (``+encode.batchsize=8``)."""
    known = config_keys(schema)
    for key in values:
        if key not in known:
            hint = f"; {hint}" if (hint := did_you_mean(key, known, prefix.__add__)) else ""
            raise ConfigError(f"{prefix}{key} is not a setting{hint} (known: {', '.join(known)})")


def unknown_setting_problem(arguments: Iterable[str]) -> str | None:
    """One line for ``head.lrr=0.1`` on the raw command line, before Hydra advises adding it with ``+``."""
    for argument in arguments:
        key, equals, _ = argument.partition("=")
        section, dot, name = key.partition(".")
        if equals and dot and section in GROUPS and "." not in name:
            try:
                _check_known_keys([name], GROUPS[section], f"{section}.")
            except ConfigError as error:
                return str(error)
    return None


def _check_head_args(task: dict[str, Any]) -> None:
    args = task.get("head_args") or {}
    args_class = HEAD_ARGS_OF_TASK_TYPE.get(task["task_type"])
    if args_class is not None:
        head_arguments(args_class, args)
    elif args:
        raise ConfigError(
            f"task.head_args {sorted(args)}: {task['task_type']} tasks take no head_args "
            f"(only {', '.join(sorted(HEAD_ARGS_OF_TASK_TYPE))} tasks do)"
        )


def _check_device(name: str) -> None:
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name}: no GPU is visible to torch (CUDA unavailable); use device=cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device={name}: only {torch.cuda.device_count()} GPU(s) visible")


# where Hydra creates the run folder and writes its config (about 10 kB) and log before any of our code runs:
# checked on the raw command line
OUTPUT_KEYS = ("hydra.run.dir", "hydra.sweep.dir", "paths.output_root", "paths.root")
OUTPUT_VARIABLES = ("XARES_OUTPUT_ROOT", "XARES_ROOT")
MIN_OUTPUT_FREE_BYTES = 1 << 20


def output_folder_problem(arguments: Iterable[str], environment: Mapping[str, str]) -> str | None:
    """One line when a folder Hydra must create sits below a file (``paths.output_root=/dev/full/x``) or on a
    full disk (the default, ``~/.xares-hydra``, where nothing names it)."""
    candidates = [(key, environment[key]) for key in OUTPUT_VARIABLES if environment.get(key)]
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if equals and key.lstrip("+") in OUTPUT_KEYS and "$" not in value:
            candidates.append((key.lstrip("+"), value))
    candidates = candidates or [("paths.root", str(Path.home() / ".xares-hydra"))]
    problems = (_file_in_the_way(key, value) or _full_disk(key, value) for key, value in candidates)
    return next(filter(None, problems), None)


def _file_in_the_way(key: str, value: str | Path) -> str | None:
    """The message when an existing path at or above ``value`` is not a folder (so it cannot be made)."""
    existing = existing_folder(Path(value).expanduser())
    if existing is None or existing.is_dir():
        return None
    return f"{key}={value}: {existing} is a file, not a folder; point {key} at a folder"


def _full_disk(key: str, value: str) -> str | None:
    """The message when the disk that would hold the folder ``value`` has (almost) no free space."""
    existing, free = existing_folder(Path(value).expanduser()), free_bytes(Path(value).expanduser())
    if free is None or free >= MIN_OUTPUT_FREE_BYTES:
        return None
    return (
        f"{key}={value}: the disk holding {existing} is full ({free / 1e6:.1f} MB free); "
        f"free space there or point {key} at a larger disk"
    )


def check_output_folders(cfg: DictConfig) -> None:
    """Each folder the run writes (data, then cache and results by stage) must be a writable folder or creatable."""
    keys = ["paths.data_root"] + ([] if cfg.stage == "download" else ["paths.cache_root"])
    for key in keys + (["paths.results_root"] if cfg.stage == "all" else []):
        folder = Path(OmegaConf.select(cfg, key)).expanduser()
        if problem := _file_in_the_way(key, folder):
            raise ConfigError(problem)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=folder).close()  # a file can be written there
        except OSError as error:
            raise ConfigError(f"{key}={folder}: not writable ({error.strerror}); choose a writable folder") from None
