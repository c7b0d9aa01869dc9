"""X-ARES-format webdataset tar shards: read them sample by sample (problems carried, not raised), write new ones.

A sample is the group of tar members sharing a key: one audio member and ``<key>.json`` with the label fields.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import webdataset as wds

from xares_hydra.atomic import atomic_path

AUDIO_EXTENSIONS = ("flac", "wav", "mp3", "ogg", "opus", "sox", "m4a", "wma", "aiff", "aif", "au")
_WEBDATASET_META = re.compile(r"__[^/]*__($|/)")
SUBTYPES = {"flac": "PCM_16", "wav": "PCM_16", "mp3": "MPEG_LAYER_III", "ogg": "VORBIS"}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one sample may make us read (``data.max_*``); ``None`` = no bound."""

    max_clip_seconds: float | None = 3600.0
    max_member_bytes: int | None = 1 << 30
    max_label_bytes: int | None = 1 << 20


@dataclass
class ShardSample:
    key: str
    shard: str
    audio_ext: str | None = None
    audio: bytes | None = None
    labels: Any = None
    problem: str | None = None


def iter_shard(path: str | Path, limits: ReadLimits | None = None) -> Iterator[ShardSample]:
    """The samples of one tar shard in file order; a repeated key, an oversized member (never read) or a truncated
    archive (which ends the shard) gives a sample with a ``problem``."""
    path = Path(path)
    limits = limits or ReadLimits()
    seen: set[str] = set()
    group: dict[str, Any] = {}
    reading, last_member = None, "<start of archive>"
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                archive.members = []  # type: ignore[attr-defined]  # a streamed tar need not remember its members
                if not member.isreg() or _ignored(member.name):
                    continue
                key, extension = _key_and_extension(member.name)
                if group and (key != group["__key__"] or extension in group):
                    yield _to_sample(group, path.name, seen)
                    group = {}
                reading = member.name
                group.setdefault("__key__", key)
                group[extension] = _member_content(archive, member, key, extension, limits, group)
                reading, last_member = None, member.name
    except (tarfile.TarError, EOFError, OSError) as error:
        if group and reading is None:
            yield _to_sample(group, path.name, seen)
        where = f"in member {reading}" if reading else f"after member {last_member}"
        yield ShardSample(
            key=_key_and_extension(reading or last_member)[0],
            shard=path.name,
            problem=f"truncated tar ({where}: {error}; nothing after it can be read)",
        )
        return
    if group:
        yield _to_sample(group, path.name, seen)


def _member_content(
    archive: tarfile.TarFile, member: tarfile.TarInfo, key: str, extension: str, limits: ReadLimits, group: dict
) -> bytes | None:
    """The member's bytes; None (and the group's ``__problem__``) when it is above its byte limit."""
    setting = "max_label_bytes" if extension.lower() == "json" else "max_member_bytes"
    limit = getattr(limits, setting)
    if limit is not None and member.size > limit:
        problem = f"tar member too large ({key}.{extension}: {member.size} bytes > data.{setting}={limit})"
        group.setdefault("__problem__", problem)
        return None
    stream = archive.extractfile(member)
    return stream.read() if stream is not None else b""


def _ignored(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.startswith(".") or "__MACOSX" in name or _WEBDATASET_META.match(name) is not None


def _key_and_extension(name: str) -> tuple[str, str]:
    """Split at the last dot, so keys may contain dots (webdataset's default splits at the first)."""
    stem, _, extension = name.rpartition(".")
    return (stem, extension) if stem else (name, "")


def _to_sample(group: dict[str, Any], shard: str, seen: set[str]) -> ShardSample:
    key = group["__key__"]
    duplicate = "duplicate key (an earlier sample of this shard has it)" if key in seen else None
    seen.add(key)
    sample = ShardSample(key=key, shard=shard, problem=duplicate or group.get("__problem__"))
    if sample.problem:
        return sample
    audio_exts = [ext for ext in group if ext.split(".")[-1] in AUDIO_EXTENSIONS]
    if not audio_exts:
        sample.problem = "no audio member (expected one of " + ", ".join(AUDIO_EXTENSIONS) + ")"
        return sample
    if len(audio_exts) > 1:
        sample.problem = f"several audio members: {', '.join(sorted(audio_exts))}"
        return sample
    sample.audio_ext = audio_exts[0].split(".")[-1]
    sample.audio = group[audio_exts[0]]
    if "json" not in group:
        sample.problem = "no .json label member"
        return sample
    try:
        sample.labels = json.loads(group["json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as exn:
        sample.problem = f"invalid .json labels: {exn}"
    return sample


def encode_audio(audio: np.ndarray, sampling_rate: int, fmt: str = "flac") -> bytes:
    """Float audio ([T] or [T, C], in [-1, 1]) as the bytes of a ``fmt`` file."""
    buffer = io.BytesIO()
    sf.write(buffer, audio, sampling_rate, format=fmt.upper(), subtype=SUBTYPES[fmt])
    return buffer.getvalue()


def write_shard(path: str | Path, samples: Iterable[tuple[str, bytes, str, Any]]) -> int:
    """Write (key, audio bytes, audio extension, labels) samples to a tar shard atomically."""
    count = 0
    with atomic_path(Path(path)) as partial, open(partial, "wb") as stream:
        writer = wds.TarWriter(stream, encoder=False, mtime=0.0)
        for key, audio, ext, labels in samples:
            writer.write({"__key__": key, ext: audio, "json": json.dumps(labels).encode("utf-8")})
            count += 1
        writer.close()
    return count
