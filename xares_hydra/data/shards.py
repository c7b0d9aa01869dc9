"""X-ARES-format webdataset tar shards: read them sample by sample, write new ones.

A sample is the group of tar members sharing a key (the file name up to its first dot):
one audio member (``<key>.flac``, ``.wav``, ``.mp3``, ``.ogg``, ...) and ``<key>.json`` with the
label fields. Problems are not raised: a sample carries a ``problem`` string instead, so the
caller can skip it, name it and count it. Members above the byte limits of ``ReadLimits`` are
never read: the tar stream skips over them and the sample says so.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import webdataset as wds
from webdataset import tariterators

from xares_hydra.atomic import atomic_path

AUDIO_EXTENSIONS = ("flac", "wav", "mp3", "ogg", "opus", "sox", "m4a", "wma", "aiff", "aif", "au")
_WEBDATASET_META = re.compile(r"__[^/]*__($|/)")
SOUNDFILE_FORMATS = {"flac": "FLAC", "wav": "WAV", "mp3": "MP3", "ogg": "OGG"}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what one sample may make us read (``data.max_*``); ``None`` = no bound."""

    max_clip_seconds: float | None = 3600.0
    max_member_bytes: int | None = 1 << 30
    max_label_bytes: int | None = 1 << 20

    def member_limit(self, extension: str) -> tuple[int | None, str]:
        if extension == "json":
            return self.max_label_bytes, "data.max_label_bytes"
        return self.max_member_bytes, "data.max_member_bytes"


@dataclass(frozen=True)
class OversizedMember:
    """Stands in for the content of a tar member that was too large to read."""

    size: int
    limit: int
    setting: str


@dataclass
class ShardSample:
    key: str
    shard: str
    audio_ext: str | None = None
    audio: bytes | None = None
    labels: Any = None
    problem: str | None = None


def iter_shard(path: str | Path, limits: ReadLimits | None = None) -> Iterator[ShardSample]:
    """Yield the samples of one tar shard in file order; a truncated tar ends with a problem sample."""
    path = Path(path)
    errors: list[Exception] = []

    def keep_error(exn: Exception) -> bool:
        errors.append(exn)
        return False

    with open(path, "rb") as stream:
        tar_members = _bounded_members(stream, limits or ReadLimits(), keep_error)
        members = (dict(member, __url__=str(path)) for member in tar_members)
        try:
            for group in tariterators.group_by_keys(members, keys=_key_and_extension, handler=keep_error):
                yield _to_sample(group, path.name)
        except Exception as exn:  # tarfile raises on truncated or garbled archives
            errors.append(exn)
    if errors:
        yield ShardSample(key="<shard>", shard=path.name, problem=f"unreadable tar data: {errors[0]}")


def _bounded_members(
    stream: io.BufferedReader, limits: ReadLimits, handler: Callable[[Exception], bool]
) -> Iterator[dict[str, Any]]:
    """Regular tar members as ``{fname, data}`` (webdataset's member stream); a member above its byte limit
    gets an ``OversizedMember`` as data and its bytes are skipped in blocks, never held in memory."""
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for info in archive:
            if not info.isreg() or _WEBDATASET_META.match(info.name):
                continue
            limit, setting = limits.member_limit(_key_and_extension(info.name)[1].lower())
            try:
                if limit is not None and info.size > limit:
                    yield {"fname": info.name, "data": OversizedMember(info.size, limit, setting)}
                else:
                    yield {"fname": info.name, "data": archive.extractfile(info).read()}
            except (tarfile.TarError, OSError) as exn:
                if not handler(exn):
                    return
            archive.members = []  # a streamed tar keeps no member list


def _key_and_extension(name: str) -> tuple[str, str]:
    """Split at the last dot, so keys may contain dots (webdataset's default splits at the first)."""
    stem, _, extension = name.rpartition(".")
    return (stem, extension) if stem else (name, "")


def _to_sample(group: dict[str, Any], shard: str) -> ShardSample:
    sample = ShardSample(key=group["__key__"], shard=shard)
    oversized = [(ext, value) for ext, value in group.items() if isinstance(value, OversizedMember)]
    if oversized:
        ext, member = oversized[0]
        sample.problem = (
            f"tar member too large ({sample.key}.{ext}: {member.size} bytes > {member.setting}={member.limit})"
        )
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
    """Encode float audio ([T] or [T, C], in [-1, 1]) as bytes of the given container format."""
    buffer = io.BytesIO()
    subtype = {"flac": "PCM_16", "wav": "PCM_16", "mp3": "MPEG_LAYER_III", "ogg": "VORBIS"}[fmt]
    sf.write(buffer, audio, sampling_rate, format=SOUNDFILE_FORMATS[fmt], subtype=subtype)
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
