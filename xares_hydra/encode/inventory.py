"""The caches under ``<cache_root>``: one folder per (task, encoder fingerprint), what it holds, which result
records use it, and removing the ones asked for; a cache a running job holds (any shard lock taken) is never
removed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import Timeout

from xares_hydra.atomic import read_json
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.report.record import Record, load_records


@dataclass
class CacheEntry:
    task: str
    folder: Path
    size: int
    modified: float  # newest file's mtime
    fingerprint: dict[str, Any] | None
    used_by: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def encoder(self) -> str:
        return self.name.rsplit("-", 1)[0]

    @property
    def age_days(self) -> float:
        return (time.time() - self.modified) / 86400

    def inputs(self) -> str:
        """The fingerprint's inputs in short: the encoder class and the settings that change its embeddings."""
        if self.fingerprint is None:
            return "?"
        encoder = self.fingerprint.get("encoder") or {}
        target = encoder.get("_target_", "?") if isinstance(encoder, dict) else "?"
        settings = ", ".join(f"{key}={value}" for key, value in (self.fingerprint.get("settings") or {}).items())
        return f"{target} [{settings}]"


def find_caches(cache_root: Path, records: Sequence[Record] = ()) -> list[CacheEntry]:
    """Every cache folder (one with ``shards/`` or ``encoder.json``) under ``cache_root``, with the records using it."""
    users: dict[tuple[str, str], list[str]] = {}
    for record in records:
        key = (record.task.name, f"{record.encoder.name}-{record.encoder.fingerprint}")
        users.setdefault(key, []).append(str(record.path or "?"))
    entries = []
    for folder in sorted(cache_root.glob("*/*")):
        if not folder.is_dir() or not ((folder / "shards").is_dir() or (folder / "encoder.json").exists()):
            continue
        files = [path.stat() for path in folder.rglob("*") if path.is_file()]
        document = folder / "fingerprint.json"
        entries.append(
            CacheEntry(
                task=folder.parent.name,
                folder=folder,
                size=sum(stat.st_size for stat in files),
                modified=max((stat.st_mtime for stat in files), default=folder.stat().st_mtime),
                fingerprint=read_json(document) if document.exists() else None,
                used_by=users.get((folder.parent.name, folder.name), []),
            )
        )
    return entries


def records_under(folders: Sequence[Path]) -> list[Record]:
    return [record for folder in folders if folder.is_dir() for record in load_records(folder)]


def _shard_locks(entry: CacheEntry) -> list[Path]:
    """The shards whose lock a job takes while it encodes them (``EncoderCache.lock``)."""
    shards = entry.folder / "shards"
    names = {path.name for path in shards.iterdir() if path.is_dir()} if shards.is_dir() else set()
    names |= {path.name.removesuffix(".lock") for path in shards.glob("*.lock")}
    return [Path(name) for name in sorted(names)]


@contextmanager
def held_by_nobody(entry: CacheEntry) -> Iterator[bool]:
    """Takes every shard lock of the cache without waiting; True (locks kept for the block) when all were free."""
    cache = EncoderCache(entry.folder)
    with ExitStack() as stack:
        try:
            for shard in _shard_locks(entry):
                stack.enter_context(cache.lock(shard, blocking=False))
        except Timeout:
            yield False
            return
        yield True


def is_held(entry: CacheEntry) -> bool:
    with held_by_nobody(entry) as free:
        return not free


def remove(entry: CacheEntry) -> bool:
    """Removes the cache unless a job holds it; whether it was removed."""
    with held_by_nobody(entry) as free:
        if free:
            shutil.rmtree(entry.folder)
    if free and not any(entry.folder.parent.iterdir()):
        entry.folder.parent.rmdir()
    return free
