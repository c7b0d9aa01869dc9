"""``xares-cache``: the embedding caches by task and encoder (size, age, fingerprint inputs, the result records
that use them) and removing them by encoder, age or "no record uses it"; a cache a running job holds stays."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from xares_hydra.console import stdout_console
from xares_hydra.encode.inventory import CacheEntry, find_caches, is_held, records_under, remove
from xares_hydra.report.summary import human_bytes
from xares_hydra.report.table import rich_table


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
    records = records_under(folders)
    entries = selected(find_caches(cache_root, records), arguments)
    total = human_bytes(sum(entry.size for entry in entries))
    if arguments.command == "list":
        show(entries, f"{len(entries)} caches under {cache_root}, {total}")
        return 0
    if arguments.dry_run:
        show(entries, f"would remove {len(entries)} caches, {total} (--dry-run)")
        held = [entry.folder for entry in entries if is_held(entry)]
        for folder in held:
            print(f"xares-cache: {folder} is held by a running job and would be kept", file=sys.stderr)
        return 0
    kept = [entry for entry in entries if not remove(entry)]
    removed = [entry for entry in entries if entry not in kept]
    show(removed, f"removed {len(removed)} caches, {human_bytes(sum(entry.size for entry in removed))}")
    for entry in kept:
        print(f"xares-cache: {entry.folder} is held by a running job: kept", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
