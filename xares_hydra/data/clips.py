"""A source's clip stream (key, encoded audio, labels) written as the task's X-ARES-format tar shards, so a Hugging
Face dataset or a HEAR folder is read by the encode stage exactly as Zenodo's shards are: the audio bytes are kept
as the source stores them and decoded later by our audio path (``data/audio.py``), under the same bounds and skips."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xares_hydra.data.labels import MULTI, SINGLE, LabelSpec, split_names
from xares_hydra.data.shards import AUDIO_EXTENSIONS, write_shard

SHARD_NAME = "{partition}-{index:06d}.tar"
SHARD_PATTERN = "{partition}-*.tar"  # what finds them again (TaskSpec's partitions of a built source)
_MAGIC = ((b"fLaC", "flac"), (b"OggS", "ogg"), (b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"\xff\xf3", "mp3"))
_UNSAFE_KEY = re.compile(r"[^\w\-.]+")
log = logging.getLogger(__name__)


@dataclass
class SourceClip:
    key: str
    audio: bytes
    extension: str  # the audio's container (flac, wav, mp3, ...), the tar member's extension
    labels: dict[str, Any]


def source_clip(key: str, labels: dict[str, Any], data: bytes | None, path: str | None = None) -> SourceClip:
    """A clip from its audio bytes or, without them, from its file at ``path`` (a missing file gives no bytes: it is
    counted as a skip with the rest when read). Its key becomes a tar member stem (no folders, no characters a shell
    or a tar reader would trip on); its container is the file name's where that is a known one, else the one the
    bytes' magic number names (wav when none does)."""
    if data is None and path:
        if os.path.isfile(path):
            data = Path(path).read_bytes()
        else:
            log.warning("audio file %s is missing", path)
    data = data or b""
    suffix = path.rsplit(".", 1)[-1].lower() if path and "." in path else ""
    if suffix not in AUDIO_EXTENSIONS:
        suffix = next((extension for magic, extension in _MAGIC if data.startswith(magic)), "wav")
    return SourceClip(_UNSAFE_KEY.sub("_", key).strip("._") or "clip", data, suffix, labels)


def write_partitions(directory: Path, routed: Iterable[tuple[str, SourceClip]], clips_per_shard: int) -> dict[str, int]:
    """Clips routed to their partitions in one pass (a streamed split feeds several), each partition's as
    ``<partition>-000000.tar``, ``-000001.tar``, ... of ``clips_per_shard`` clips in the order they come; returns
    the count per partition."""
    size = max(1, clips_per_shard)
    pending: dict[str, list[SourceClip]] = {}
    counts: dict[str, int] = {}

    def flush(partition: str) -> None:  # every shard but a partition's last is full: the count numbers the next
        members = ((clip.key, clip.audio, clip.extension, clip.labels) for clip in pending.pop(partition))
        path = directory / SHARD_NAME.format(partition=partition, index=counts.get(partition, 0) // size)
        counts[partition] = counts.get(partition, 0) + write_shard(path, members)

    for partition, clip in routed:
        pending.setdefault(partition, []).append(clip)
        if len(pending[partition]) == size:
            flush(partition)
    for partition in list(pending):
        flush(partition)
    return counts


def class_names(values: Iterable[Any], spec: LabelSpec) -> list[str]:
    """The classes a label field's values name, sorted (a single label, or a list or ``args.separator``-joined
    names for multi-label rules); the order a source without a class list of its own gives its classes."""
    names: set[str] = set()
    for value in values:
        if spec.kind == MULTI:
            names.update(split_names(value, spec.args.get("separator", ";")))
        elif spec.kind == SINGLE:
            names.add(str(value).strip())
    return sorted(names)
