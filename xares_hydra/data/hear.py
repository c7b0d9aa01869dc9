"""A task folder in HEAR's released format as a task source (``task.hear``): ``task_metadata.json``, one label file
per split or fold (``train.json``, ``fold00.json``: file name -> labels, or -> events for ``event`` tasks),
``labelvocabulary.csv`` and the audio resampled per rate (``<rate>/<split>/<file>``). Scene tasks become clip tasks,
event (timestamp) tasks our frame tasks; HEAR's folds are the task's folds."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import MISSING

from xares_hydra.data.clips import SourceClip, source_clip, write_partitions
from xares_hydra.errors import ConfigError, DataUnavailable

if TYPE_CHECKING:
    from xares_hydra.data.taskspec import TaskSpec

FETCH_HINT = (
    "HEAR's task folders are published on Zenodo (record 5887964, hear-2021.0.6-<task>-<rate>.tar.gz); "
    "extract one and point task.hear.path at its <task>-<version>-full folder"
)


@dataclass
class HearSchema:
    """``task.hear``: the task folder and which of its resampled copies to read."""

    # the <task>-<version>-<mode> folder (relative: under paths.data_root)
    path: str = MISSING
    # the resampled copy to read (a folder named by its rate); null: the highest rate present
    sample_rate: int | None = None
    # event tasks: the label files' start and end in units per second (HEAR writes milliseconds)
    units_per_second: float = 1000.0
    clips_per_shard: int = 1000


def build_hear(task: TaskSpec, directory: Path, data_root: Path) -> dict[str, Any]:
    """Write the HEAR folder's clips as the task's shards in ``directory``; returns the provenance."""
    config = HearSchema(**(task.hear or {}))
    folder = data_root / Path(config.path).expanduser()
    metadata = _json(folder / "task_metadata.json", task.name)
    events = metadata.get("embedding_type") == "event"
    if events != (task.task_type == "frame"):
        raise ConfigError(
            f"task {task.name}: {folder} holds a HEAR {metadata.get('embedding_type')} task; "
            f"task.task_type={task.task_type} should be {'frame' if events else 'clip'}"
        )
    audio_root = folder / str(config.sample_rate or _highest_rate(folder, task.name))
    partitions = dict.fromkeys([*task.roles.values(), *task.folds], 0)
    routed = (
        (partition, clip)
        for partition in partitions
        for clip in _clips(_json(folder / f"{partition}.json", task.name), audio_root / partition, events, config)
    )
    counts = partitions | write_partitions(directory, routed, config.clips_per_shard)
    return {
        "hear_task": metadata.get("task_name"),
        "hear_version": metadata.get("version"),
        "audio": audio_root.name,
        "clips": counts,
        "classes": _vocabulary(folder / "labelvocabulary.csv", task.name),
    }


def _present(path: Path, task_name: str) -> Path:
    if not path.is_file():
        raise DataUnavailable(f"task {task_name}: {path} is missing. {FETCH_HINT}.")
    return path


def _json(path: Path, task_name: str) -> Any:
    try:
        return json.loads(_present(path, task_name).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataUnavailable(f"task {task_name}: {path} is not valid JSON ({error})") from error


def _highest_rate(folder: Path, task_name: str) -> int:
    if not (rates := [int(path.name) for path in folder.iterdir() if path.is_dir() and path.name.isdigit()]):
        raise DataUnavailable(
            f"task {task_name}: {folder} has no resampled audio folder (16000/, 48000/, ...). {FETCH_HINT}."
        )
    return max(rates)


def _vocabulary(path: Path, task_name: str) -> list[str]:
    with _present(path, task_name).open(newline="") as stream:
        rows = sorted(csv.DictReader(stream), key=lambda row: int(row["idx"]))
    return [str(row["label"]) for row in rows]


def _clips(labels: dict[str, Any], audio_folder: Path, events: bool, config: HearSchema) -> Iterator[SourceClip]:
    per_second = config.units_per_second
    for name, value in labels.items():
        if events:
            fields: dict[str, Any] = {"events": []}
            for event in value:
                onset, offset = float(event["start"]) / per_second, float(event["end"]) / per_second
                fields["events"].append({"onset": onset, "offset": offset, "label": str(event["label"])})
        else:
            names = [str(item) for item in value]
            fields = {"labels": names, **({"label": names[0]} if len(names) == 1 else {})}
        yield source_clip(Path(name).stem, fields, None, str(audio_folder / name))
