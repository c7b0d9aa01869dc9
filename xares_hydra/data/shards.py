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
    # the archive ends here unread: ``key`` is the clip it cut ("" when it cut none); the clips after it, estimated
    # from the unread bytes (None when nothing of the archive could be read)
    truncated: bool = False
    unread_clips: int | None = None


def iter_shard(path: str | Path, limits: ReadLimits | None = None) -> Iterator[ShardSample]:
    """The samples of one tar shard in file order; a repeated key, an oversized member (never read) or a truncated
    archive (which ends the shard) gives a sample with a ``problem``."""
    path = Path(path)
    limits = limits or ReadLimits()
    seen: set[str] = set()
    group: dict[str, Any] = {}
    reading, last_member, read_bytes = None, "<start of archive>", 0
    archive: tarfile.TarFile | None = None  # for the position reached when reading fails
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                archive.members = []  # type: ignore[attr-defined]  # a streamed tar need not remember its members
                if member.isreg() and not _ignored(member.name):
                    key, extension = _key_and_extension(member.name)
                    if group and (key != group["__key__"] or extension in group):
                        yield _to_sample(group, path.name, seen)
                        group = {}
                    reading = member.name
                    group.setdefault("__key__", key)
                    group[extension] = _member_content(archive, member, key, extension, limits, group)
                    reading, last_member = None, member.name
                read_bytes = member.offset_data + member.size
            if _stream_position(archive) is not None and not _ends_cleanly(path, read_bytes):
                raise tarfile.ReadError("the file ends without the tar's end blocks, cut short")
    except (tarfile.TarError, EOFError, OSError) as error:
        if group and reading is None:
            yield _to_sample(group, path.name, seen)
        where = f"in member {reading}" if reading else f"after member {last_member}"
        unread = _unread_clips(path, read_bytes, _stream_position(archive), len(seen))
        if read_bytes == 0 and reading is None:
            problem = f"unreadable tar (not a tar archive from its first bytes: {error}; none of it could be read)"
        else:
            rest = "a cut file, its missing clips unknown" if unread is None else f"about {unread} more clips there"
            problem = f"truncated tar ({where}: {error}; nothing after it can be read: {rest})"
        yield ShardSample(
            key=_key_and_extension(reading)[0] if reading else "",
            shard=path.name,
            problem=problem,
            truncated=True,
            unread_clips=unread,
        )
        return
    if group:
        yield _to_sample(group, path.name, seen)


def _ends_cleanly(path: Path, read_bytes: int) -> bool:
    """Whether only zero blocks follow the last member (tarfile takes a tar cut at or in a header for its end)."""
    with open(path, "rb") as stream:
        stream.seek(-(-read_bytes // 512) * 512)
        rest = stream.read(1 << 16)
    return bool(rest) and not rest.strip(b"\0")


def _stream_position(archive: tarfile.TarFile | None) -> int | None:
    """The bytes of an uncompressed tar read so far (None for a compressed one: its offsets are not the file's)."""
    stream = getattr(archive, "fileobj", None)
    return int(stream.pos) if getattr(stream, "comptype", None) == "tar" else None  # type: ignore[union-attr]


def _unread_clips(path: Path, read_bytes: int, failed_at: int | None, clips_read: int) -> int | None:
    """The clips in the bytes after a tar's unreadable point, at the read part's bytes per clip (a tar lists no
    count); None where nothing follows it (a cut file) or nothing before it was read."""
    unread_bytes = path.stat().st_size - (failed_at or 0)
    if failed_at is None or read_bytes == 0 or unread_bytes < 512:
        return None
    return max(1, round(unread_bytes * max(clips_read, 1) / read_bytes))


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
    audio_exts = [ext for ext in group if ext.split(".")[-1] in AUDIO_EXTENSIONS]
    if sample.problem:
        return sample
    if len(audio_exts) != 1:
        several = f"several audio members: {', '.join(sorted(audio_exts))}"
        sample.problem = several if audio_exts else f"no audio member (expected one of {', '.join(AUDIO_EXTENSIONS)})"
        return sample
    sample.audio_ext, sample.audio = audio_exts[0].split(".")[-1], group[audio_exts[0]]
    try:
        sample.labels = json.loads(group["json"])
    except KeyError:
        sample.problem = "no .json label member"
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
