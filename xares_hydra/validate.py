"""Checks of the composed config that types alone cannot express, run before any stage does work.

Each mistake is one ``ConfigError`` naming the key, the value and what is allowed, so a typo fails
in the first second instead of after the data download or the encode.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadSettings
from xares_hydra.heads.asr import AsrArgs
from xares_hydra.heads.retrieval import RetrievalArgs
from xares_hydra.heads.training import head_arguments
from xares_hydra.schema import CheckSchema, DataSchema, EncodeSchema, RecordSchema, RootSchema

AUTOCAST_VALUES = (None, "bf16", "fp16")
BATCHING_VALUES = ("auto", "bucketed", "exact")
KEEP_FRAMES_VALUES = ("auto", True, False)
# task type -> the dataclass its trained head reads ``task.head_args`` into (no entry: no head_args)
HEAD_ARGS_OF_TASK_TYPE: dict[str, type] = {"asr": AsrArgs, "contrastive": RetrievalArgs}


def closest(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known names nearest to ``name`` (case-insensitive), best first."""
    by_lower = {item.lower(): item for item in known}
    return [by_lower[match] for match in difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=0.6)]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    matches = closest(name, known)
    return f"did you mean {' or '.join(matches)}?" if matches else ""


def validate_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first wrong value of the (resolved, plain) config."""
    _check_known_keys(config, RootSchema, "")
    for section, schema in (
        ("encode", EncodeSchema),
        ("check", CheckSchema),
        ("data", DataSchema),
        ("record", RecordSchema),
    ):
        _check_known_keys(config[section], schema, f"{section}.")
    _check_encode(config["encode"])
    _check_read_bounds(config["data"])
    _check_head(config["head"])
    _check_head_args(config["task"])
    _check_device(str(config["device"]))


def _check_known_keys(values: dict[str, Any], schema: type, prefix: str) -> None:
    """Keys added with ``+`` that no schema knows (``+encode.batchsize=8``)."""
    known = [item.name for item in dataclasses.fields(schema)]
    for key in values:
        if key not in known:
            hint = f"; {did_you_mean(key, known)}" if closest(key, known) else ""
            raise ConfigError(f"{prefix}{key} is not a setting{hint} (known: {', '.join(known)})")


def _positive(key: str, value: Any, minimum: float = 0, inclusive: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < minimum
        or (value == minimum and not inclusive)
    ):
        allowed = f">= {minimum}" if inclusive else f"> {minimum}"
        raise ConfigError(f"{key}={value!r}: must be a number {allowed}")


def _check_encode(encode: dict[str, Any]) -> None:
    _positive("encode.batch_size", encode["batch_size"])
    _positive("encode.max_batch_seconds", encode["max_batch_seconds"])
    _positive("encode.buffer_seconds", encode["buffer_seconds"])
    _positive("encode.decode_threads", encode["decode_threads"])
    _positive("encode.min_failed_clips", encode["min_failed_clips"], inclusive=True)
    share = encode["max_skipped_share"]
    _positive("encode.max_skipped_share", share, inclusive=True)
    if share > 1:
        raise ConfigError(f"encode.max_skipped_share={share!r}: must be a share between 0 and 1")
    if encode["batching"] not in BATCHING_VALUES:
        raise ConfigError(f"encode.batching={encode['batching']!r}: use one of {', '.join(BATCHING_VALUES)}")
    if encode["autocast"] not in AUTOCAST_VALUES:
        raise ConfigError(f"encode.autocast={encode['autocast']!r}: use one of null, bf16, fp16")
    if encode["keep_frames"] not in KEEP_FRAMES_VALUES:
        raise ConfigError(f"encode.keep_frames={encode['keep_frames']!r}: use one of auto, true, false")


def _check_read_bounds(data: dict[str, Any]) -> None:
    for key in ("max_clip_seconds", "max_member_bytes", "max_label_bytes"):
        if data[key] is not None:
            _positive(f"data.{key}", data[key])


def _check_head(head: dict[str, Any]) -> None:
    _check_known_keys(head, HeadSettings, "head.")
    _positive("head.epochs", head["epochs"])
    _positive("head.batch_size", head["batch_size"])
    _positive("head.lr", head["lr"])
    _positive("head.k", head["k"])
    _positive("head.temperature", head["temperature"])
    _positive("head.weight_decay", head["weight_decay"], inclusive=True)
    _positive("head.decay_fraction", head["decay_fraction"], inclusive=True)
    if head["hidden_dim"] is not None:
        _positive("head.hidden_dim", head["hidden_dim"])


def _check_head_args(task: dict[str, Any]) -> None:
    args = task.get("head_args") or {}
    args_class = HEAD_ARGS_OF_TASK_TYPE.get(task["task_type"])
    if args_class is None:
        if args:
            raise ConfigError(
                f"task.head_args {sorted(args)}: {task['task_type']} tasks take no head_args "
                f"(only {', '.join(sorted(HEAD_ARGS_OF_TASK_TYPE))} tasks do)"
            )
        return
    head_arguments(args_class, args)


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


# where Hydra creates the run folder before any of our code runs: checked on the raw command line
OUTPUT_KEYS = ("hydra.run.dir", "hydra.sweep.dir", "paths.output_root", "paths.root")
OUTPUT_VARIABLES = ("XARES_OUTPUT_ROOT", "XARES_ROOT")


def output_folder_problem(arguments: Iterable[str], environment: Mapping[str, str]) -> str | None:
    """One line when a folder Hydra must create sits below a file (``paths.output_root=/dev/full/x``)."""
    candidates = [(key, environment[key]) for key in OUTPUT_VARIABLES if environment.get(key)]
    for argument in arguments:
        key, equals, value = argument.partition("=")
        if equals and key.lstrip("+") in OUTPUT_KEYS and "$" not in value:
            candidates.append((key.lstrip("+"), value))
    for key, value in candidates:
        blocker = file_in_the_way(Path(value).expanduser())
        if blocker is not None:
            return f"{key}={value}: {blocker} is a file, not a folder; point {key} at a folder"
    return None


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing path at or above ``folder`` when it is not a folder (so ``folder`` cannot be made)."""
    existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def check_output_folders(paths: Iterable[tuple[str, Path]]) -> None:
    """Each folder the run writes must be a folder (or creatable) and writable, before work starts."""
    for key, folder in paths:
        folder = folder.expanduser()
        blocker = file_in_the_way(folder)
        if blocker is not None:
            raise ConfigError(f"{key}={folder}: {blocker} is a file, not a folder; point {key} at a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".xares-write-test-{id(folder)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise ConfigError(f"{key}={folder}: not writable ({error.strerror}); choose a writable folder") from None
