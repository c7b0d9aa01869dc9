"""``xares-cache``: the embedding caches by task and encoder (size, age, fingerprint inputs, the result records
that use them) and removing them by encoder, age or "no record uses it"; a cache a running job holds stays."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import Timeout
from rich.markup import escape

from xares_hydra.atomic import read_json
from xares_hydra.console import stdout_console
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.report.record import Record, load_records
from xares_hydra.report.summary import human_bytes
from xares_hydra.report.table import rich_table


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


@contextmanager
def held_by_nobody(entry: CacheEntry) -> Iterator[bool]:
    """Takes every shard lock of the cache (a job holds a shard's while it encodes it, ``EncoderCache.lock``)
    without waiting; True (locks kept for the block) when all were free."""
    cache, shards = EncoderCache(entry.folder), entry.folder / "shards"
    names = {path.name for path in shards.iterdir() if path.is_dir()} if shards.is_dir() else set()
    names |= {path.name.removesuffix(".lock") for path in shards.glob("*.lock")}
    with ExitStack() as stack:
        try:
            for name in sorted(names):
                stack.enter_context(cache.lock(Path(name), blocking=False))
        except Timeout:
            yield False
            return
        yield True


def remove(entry: CacheEntry, dry_run: bool) -> bool:
    """Removes the cache (``dry_run``: nothing) unless a job holds it; whether it was (or would be) removed."""
    with held_by_nobody(entry) as free:
        if free and not dry_run:
            shutil.rmtree(entry.folder)
    if free and not dry_run and not any(entry.folder.parent.iterdir()):
        entry.folder.parent.rmdir()
    return free


def default_paths() -> tuple[Path, Path]:
    """``paths.cache_root`` and ``paths.results_root`` as ``xares`` resolves them (XARES_ROOT and friends)."""
    from hydra import compose, initialize_config_module

    import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)

    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        paths = compose("config").paths
    return Path(paths.cache_root).expanduser(), Path(paths.results_root).expanduser()


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="xares-cache", description=__doc__)
    parser.add_argument("--cache-root", type=Path, help="default: paths.cache_root ($XARES_ROOT/cache)")
    parser.add_argument(
        "--records",
        type=Path,
        action="append",
        help="folders of result records that count as users (default: paths.results_root); repeatable",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every cache, by task and encoder")
    prune = commands.add_parser("prune", help="remove caches (at least one of --encoder, --older-than, --unused)")
    for command in (listing, prune):
        command.add_argument("--task", help="only this task's caches (its name, e.g. esc50)")
        command.add_argument("--encoder", help="only caches of this encoder (its name, e.g. mel)")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="only caches not written for DAYS days")
    prune.add_argument("--unused", action="store_true", help="only caches no result record uses")
    prune.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    arguments = parser.parse_args(argv)
    if arguments.command == "prune" and not (arguments.encoder or arguments.older_than is not None or arguments.unused):
        parser.error("prune needs --encoder, --older-than or --unused (to remove every cache, delete the folder)")
    return arguments


def selected(entries: list[CacheEntry], arguments: argparse.Namespace) -> list[CacheEntry]:
    return [
        entry
        for entry in entries
        if (arguments.task is None or entry.task == arguments.task)
        and (arguments.encoder is None or entry.encoder == arguments.encoder)
        and (getattr(arguments, "older_than", None) is None or entry.age_days > arguments.older_than)
        and (not getattr(arguments, "unused", False) or not entry.used_by)
    ]


def show(entries: list[CacheEntry], title: str) -> None:
    rows = [
        [entry.task, entry.name, human_bytes(entry.size), f"{entry.age_days:.1f} d", str(len(entry.used_by)),
         escape(entry.inputs())]
        for entry in entries
    ]  # fmt: skip
    stdout_console().print(rich_table(title, ["task", "cache", "size", "age", "records", "fingerprint inputs"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    cache_root, folders = arguments.cache_root, arguments.records
    if cache_root is None or folders is None:
        default_cache, default_results = default_paths()
        cache_root, folders = cache_root or default_cache, folders or [default_results]
    records = [record for folder in folders if folder.is_dir() for record in load_records(folder)]
    entries = selected(find_caches(cache_root, records), arguments)
    total = human_bytes(sum(entry.size for entry in entries))
    if arguments.command == "list":
        show(entries, f"{len(entries)} caches under {cache_root}, {total}")
        return 0
    if arguments.dry_run:
        show(entries, f"would remove {len(entries)} caches, {total} (--dry-run)")
    kept = [entry for entry in entries if not remove(entry, arguments.dry_run)]
    if not arguments.dry_run:
        removed = [entry for entry in entries if entry not in kept]
        show(removed, f"removed {len(removed)} caches, {human_bytes(sum(entry.size for entry in removed))}")
    for entry in kept:
        outcome = " and would be kept" if arguments.dry_run else ": kept"
        print(f"xares-cache: {entry.folder} is held by a running job{outcome}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
