"""What a result record is the result of, from its resolved settings (never from how overrides were typed)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from xares_hydra.data.huggingface import READ_OPTIONS, which_data
from xares_hydra.digest import canonical_json, json_sha256
from xares_hydra.heads import TASK_DEFAULTS

if TYPE_CHECKING:
    from xares_hydra.report.record import EncoderInfo, Record

TASK_DEFAULT = "task default"
# task config keys that describe the data without changing a run (added later: old records' identities stay)
TASK_FACTS = ("corpus",)
# head values that are not settings: the seed is aggregated over, the device and threads do not change a score's
# meaning
_NOT_SETTINGS = ("seed", "device", "name", "cpu_threads")
# head values added later, left out at their default so that records written before them keep their identity
_LEFT_OUT_AT = {"probe": "linear", "shots": None}

DEFAULT_MODE = "default"  # also the mode of records written before modes existed


def setting_of(record: Record, leave_out: Collection[str] = ()) -> dict[str, Any]:
    """The record's setting; head values named in ``leave_out`` (``layer``) left out."""
    config = record.config  # the resolved Hydra config: free-form, so looked up with ``get``
    task = config.get("task") or {}
    changed_task_keys = _changed_task_keys(record.overrides)
    head = {}
    for key, value in sorted(record.head.items()):
        if key in _NOT_SETTINGS or key in leave_out or _left_out_at_default(key, record.head):
            continue
        task_key = TASK_DEFAULTS.get(key)
        is_default = task_key in task and normalised(task[task_key]) == normalised(value)
        head[key] = TASK_DEFAULT if is_default and task_key not in changed_task_keys else normalised(value)
    task_changes = {
        key: normalised(value_at(task, key))
        for key in sorted(changed_task_keys)
        if key not in TASK_DEFAULTS.values() and key != "name" and key.removeprefix("huggingface.") not in READ_OPTIONS
    }
    compat = config.get("compat") or {}
    return {
        "encoder": record.encoder.name,
        "encoder_identity": record.encoder.identity,
        "mode": record.mode,
        "embedding": {key: normalised(compat[key]) for key in ("pad_short_crops", "pad_batches") if key in compat}
        | {"autocast": (config.get("encode") or {}).get("autocast")},
        "head": head,
        "task": task_changes,
    }


def _left_out_at_default(key: str, head: dict[str, Any]) -> bool:
    """``probe=linear`` and ``shots=null`` (with its ``draws``) are what every run did before they existed."""
    if key == "draws":
        key = "shots"
    return key in _LEFT_OUT_AT and head.get(key, _LEFT_OUT_AT[key]) == _LEFT_OUT_AT[key]


def column_key(record: Record, leave_out: Collection[str] = ()) -> str:
    """The report column of a record: its setting without seed and device (and the head values in ``leave_out``)."""
    return _digest(setting_of(record, leave_out))


def record_identity(record: Record) -> str:
    """Everything that makes a record a different run: its file name below ``<results_root>/<encoder>/<task>/``."""
    task_config, device = record.config.get("task"), record.device or record.head.get("device")
    identity = {
        "column": column_key(record),
        "task": record.task.name,
        "version": record.task.version,
        # the task config without what does not change a run: facts about its data (its source corpus) and how
        # the data is read
        "task_config": None if task_config is None else run_task_config(task_config),
        "fingerprint": record.encoder.fingerprint,
        "seed": record.seed,
        "device": None if device is None else str(device).split(":")[0],  # the type: cuda:1 is cuda
    }
    return f"{record.mode}-{_digest(identity)}"


def run_task_config(task_config: dict[str, Any]) -> dict[str, Any]:
    """``task_config`` without :data:`TASK_FACTS` and how its data are read (``huggingface.READ_OPTIONS``)."""
    kept = {key: value for key, value in task_config.items() if key not in TASK_FACTS}
    if isinstance(kept.get("huggingface"), dict):
        kept["huggingface"] = which_data(kept["huggingface"])
    return kept


def column_labels(records: Iterable[Record], leave_out: Collection[str] = ()) -> dict[str, str]:
    """``encoder [key=value ...]`` per column key, naming only what differs between that encoder's columns."""
    columns: dict[str, Record] = {}
    for record in sorted(records, key=lambda record: record.created):
        columns.setdefault(column_key(record, leave_out), record)  # the column's first run
    by_encoder: dict[str, list[str]] = defaultdict(list)
    for key, record in columns.items():
        by_encoder[record.encoder.name].append(key)
    labels = {}
    for encoder, keys in by_encoder.items():
        shown = {key: _label_values(columns[key], leave_out) for key in keys}
        names = {name for values in shown.values() for name in values}
        differing = sorted(name for name in names if len({canonical_json(v.get(name)) for v in shown.values()}) > 1)
        for key in keys:
            parts = [f"{name}={setting_text(shown[key][name])}" for name in differing if name in shown[key]]
            labels[key] = f"{encoder} [{', '.join(parts)}]" if parts else encoder
        _tell_apart_by_identity(labels, keys, columns)
    return labels


def variant_of(label: str) -> str:
    """The part of a column's label after the encoder name (``lr=0.01``); empty for the defaults."""
    return label[label.index(" [") + 2 : -1] if " [" in label else ""


def _label_values(record: Record, leave_out: Collection[str]) -> dict[str, Any]:
    """Settings by short name; a head value at its task default is left out (it is the default)."""
    setting = setting_of(record, leave_out)
    config = {key: value for key, value in (record.encoder.config or {}).items() if key != "_target_"}
    head = {key: value for key, value in setting["head"].items() if value != TASK_DEFAULT}
    embedding = {**flattened(setting["embedding"]), **flattened(setting["task"])}
    return {**flattened(config, "encoder."), **embedding, **head}


def _tell_apart_by_identity(labels: dict[str, str], keys: list[str], columns: dict[str, Record]) -> None:
    """Columns that differ only in what no setting shows get what does differ: the encoder's code digest (the
    ``code.sha256`` that ``xares stage=check`` prints), its weights' digest, or else its identity; with the time
    of the column's first run."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_label[labels[key]].append(key)
    for label, same in by_label.items():
        if len(same) > 1:
            encoders = {key: columns[key].encoder for key in same}
            name, digest = next(
                ((name, digest) for name, digest in _DIGESTS if len({digest(e) for e in encoders.values()}) > 1),
                ("encoder identity", lambda encoder: encoder.identity),
            )
            for key in same:
                first_run = columns[key].created[:16].replace("T", " ")
                identity = f"{name} {str(digest(encoders[key]) or key)[:8]}" + f" from {first_run}" * bool(first_run)
                labels[key] = f"{label[:-1]}, {identity}]" if label.endswith("]") else f"{label} [{identity}]"


# what tells apart two encoders of the same name and settings, in this order: the code digest, the weights' digest
# as loaded, else of the files the encoder config names
_DIGESTS: tuple[tuple[str, Callable[[EncoderInfo], str | None]], ...] = (
    ("code", lambda encoder: (encoder.code or {}).get("sha256")),
    ("weights", lambda encoder: encoder.weights_sha256 or next(iter((encoder.weight_files or {}).values()), None)),
)


def flattened(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested values by dotted key (``a.b``); an empty dict stays a value."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def setting_text(value: Any) -> str:
    """A setting's value as labels show it: floats to 4 significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def normalised(value: Any) -> Any:
    """One spelling per number: 0.01, 1e-2 and 0.010000000000000002 are the same setting; 10.0 is 10."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, dict):
            return {key: normalised(item) for key, item in value.items()}
        if isinstance(value, list):
            return [normalised(item) for item in value]
        return value
    number = float(f"{value:.12g}")
    return int(number) if number.is_integer() else number


def _changed_task_keys(overrides: Iterable[str]) -> set[str]:
    """Task values this run set (``task.epochs=3``): the keys come from the overrides, the values from the config."""
    keys = (override.lstrip("+~").split("=", 1)[0] for override in overrides)
    return {key.removeprefix("task.") for key in keys if key.startswith("task.")}


def value_at(values: Any, dotted: str) -> Any:
    """``values["a"]["b"]`` for ``a.b`` (``values`` a dict); None where a part is missing."""
    return functools.reduce(lambda found, part: found.get(part) if isinstance(found, dict) else None,
                            dotted.split("."), values)  # fmt: skip


def _digest(value: Any) -> str:
    return json_sha256(value)[:10]
