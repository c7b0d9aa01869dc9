"""Data stage: a task's tar shards under ``<data_root>/<task name>/`` (X-ARES's ``env/<task>/`` layout), downloaded
from Zenodo (a record two tasks share is fetched once and linked), generated (the demo), or placed by the user."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import braceexpand

from xares_hydra.atomic import write_json
from xares_hydra.data.hear import build_hear
from xares_hydra.data.huggingface import build_huggingface, which_data
from xares_hydra.data.shards import ReadLimits
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.errors import DataUnavailable, TaskSkipped, require_number
from xares_hydra.locks import file_lock

log = logging.getLogger(__name__)
READY_MARKER = ".audio_tar_ready"  # X-ARES's marker of a ready task folder (empty there; ours holds the provenance)
_BOUNDS = ("max_clip_seconds", "max_member_bytes", "max_label_bytes", "max_extracted_bytes", "max_archive_ratio")


@dataclass
class DataOptions:
    """The ``data`` config group (its typed schema) and the data stage's argument."""

    # re-download even when the ready marker exists
    force_download: bool = False
    # X-ARES publishes mini versions of some datasets; true uses them where they exist
    mini: bool = False
    zenodo_api: str = "https://zenodo.org/api"
    # seconds to wait for a server before giving up
    timeout: float = 60.0
    retries: int = 3
    # downloads use HTTPS and the API's host only (redirects included) unless allowed here (SECURITY.md)
    allow_http: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    # bounds on untrusted data (null = none): a longer clip or bigger tar / label member is skipped and counted
    max_clip_seconds: float | None = ReadLimits.max_clip_seconds
    max_member_bytes: int | None = ReadLimits.max_member_bytes
    max_label_bytes: int | None = ReadLimits.max_label_bytes
    # evaluate a partition although a shard of it could not be read to its end (its record never replaces a
    # record of complete data in results_root)
    allow_incomplete: bool = False
    # bounds on a downloaded zip or tar.gz besides max_member_bytes: its unpacked total, and that over its size
    max_extracted_bytes: int | None = 1 << 40
    max_archive_ratio: float | None = 200.0

    def __post_init__(self) -> None:
        for key in _BOUNDS:
            if getattr(self, key) is not None:
                require_number(f"data.{key}", getattr(self, key))

    @property
    def limits(self) -> ReadLimits:
        return ReadLimits(self.max_clip_seconds, self.max_member_bytes, self.max_label_bytes)


@dataclass
class TaskData:
    directory: Path
    shards: dict[str, list[Path]]
    provenance: dict[str, Any]

    def shards_used(self) -> list[Path]:
        return sorted({shard for shards in self.shards.values() for shard in shards})


def prepare_task_data(task: TaskSpec, data_root: Path, options: DataOptions) -> TaskData:
    """Make the task's data present (download or generate it when needed) and list its shards."""
    directory = data_root / task.name
    if task.generator is not None and task.source_folder is not None:  # a demo stand-in: it writes the source
        _ensure_generated(task, task.generator, data_root / task.source_folder)
    if task.generator is not None and task.source_folder is None:
        provenance = _ensure_generated(task, task.generator, directory)
    elif task.source in ("huggingface", "hear"):
        # a demo stand-in's generator too, so that shards built from an older generation are rebuilt
        stand_in = {"generator": task.generator} if task.generator is not None else {}
        wanted = {"source": task.source, **which_data(task.huggingface or task.hear or {}), **stand_in}
        if task.huggingface is not None:
            build = partial(build_huggingface, task, directory, data_root, options.timeout)
        else:
            build = partial(build_hear, task, directory, data_root)
        provenance = _ensure_built(task, directory, wanted, build, options.force_download)
    elif task.zenodo_id is not None:
        provenance = _ensure_downloaded(task, task.zenodo_id, directory, options)
    else:
        provenance = _require_local(task, directory, options)
    shards = find_shards(task, directory, options.mini)
    return TaskData(directory, shards, _with_checksums(provenance, shards))


def read_ready_marker(dest: Path) -> dict[str, Any] | None:
    """The provenance in ``dest``'s ready marker; ``{}`` for an empty (X-ARES) marker; None if not ready."""
    marker = Path(dest) / READY_MARKER
    if not marker.is_file():
        return None
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return content if isinstance(content, dict) else {}


def data_root_warning(data_root: Path, task_names: list[str]) -> str | None:
    """A warning when ``data_root`` exists but holds no task folder at all (likely a wrong path), else None."""
    if not data_root.is_dir() or any(read_ready_marker(path) is not None for path in data_root.iterdir()):
        return None
    expected = ", ".join(str(data_root / name) for name in task_names)
    return (
        f"paths.data_root={data_root} exists but holds no task data (expected task folders such as {expected}, "
        "each with its tar shards and a .audio_tar_ready marker). Data will be downloaded or generated into it; "
        "if your data is elsewhere, point paths.data_root at the folder that holds the task folders."
    )


def find_shards(task: TaskSpec, directory: Path, mini: bool = False) -> dict[str, list[Path]]:
    found = {}
    for partition, pattern in task.tar_patterns(mini).items():
        if not (shards := _match(directory, pattern)):
            raise DataUnavailable(
                f"task {task.name}: no tar shards match {pattern!r} (partition {partition}) in {directory}. "
                "The dataset looks incomplete: delete that folder to download it again, "
                "or check the task's tar patterns."
            )
        found[partition] = shards
    return found


def _match(directory: Path, pattern: str) -> list[Path]:
    paths: set[Path] = set()
    for expanded in braceexpand.braceexpand(pattern):
        paths.update(path for path in directory.glob(expanded) if path.is_file() and path.suffix == ".tar")
    return sorted(paths)


def _ensure_generated(task: TaskSpec, generator: dict[str, Any], directory: Path) -> dict[str, Any]:
    from xares_hydra.demo.tasks import generate  # the demo's synthesis loads only for a demo task

    def build() -> dict[str, Any]:
        generate(generator["name"], directory, int(generator.get("seed", 0)), dict(generator.get("args") or {}))
        return {}

    return _ensure_built(task, directory, {"source": "generated", **generator}, build)


def _ensure_built(
    task: TaskSpec, directory: Path, wanted: dict[str, Any], build: Callable[[], dict[str, Any]], force: bool = False
) -> dict[str, Any]:
    """The task's shards written by ``build`` (which returns what it built) unless the ready marker says they were
    built from ``wanted`` already; returns the marker's provenance."""
    if not force and _built_from(directory, wanted):
        return read_ready_marker(directory) or wanted
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(Path(str(directory) + ".lock")):
        if force or not _built_from(directory, wanted):
            if wanted["source"] == "generated":
                log.info("Generating the %s demo data in %s", task.name, directory)
            else:
                log.info("Writing the %s shards from its %s source in %s", task.name, wanted["source"], directory)
            (directory / READY_MARKER).unlink(missing_ok=True)
            for stale in directory.glob("*.tar"):
                stale.unlink()
            try:
                built = build()
            except BaseException:  # no half-built task folder is left to look like data
                if created:
                    shutil.rmtree(directory, ignore_errors=True)
                raise
            write_json(directory / READY_MARKER, {**wanted, **built})
    return read_ready_marker(directory) or wanted


def _built_from(directory: Path, wanted: dict[str, Any]) -> bool:
    return (marker := read_ready_marker(directory)) is not None and all(marker.get(k) == v for k, v in wanted.items())


def _ensure_downloaded(task: TaskSpec, record: str, directory: Path, options: DataOptions) -> dict[str, Any]:
    """The ready marker's provenance once the record is in ``directory``: already, linked from a sibling task's
    folder, or downloaded."""
    marker = None if options.force_download else read_ready_marker(directory)
    if marker is None:
        directory.parent.mkdir(parents=True, exist_ok=True)
        created = not directory.exists()
        # one lock per record: two tasks sharing a record (LibriSpeech) in parallel jobs fetch it once
        try:
            with file_lock(directory.parent / f".zenodo-{record}.lock"):
                sibling = None  # another job may have fetched the record, here or for a sibling task, meanwhile
                if not options.force_download and (marker := read_ready_marker(directory)) is None:
                    sibling = _sibling_with_record(directory.parent, record, task.name)
                if sibling is not None:
                    log.info("Record %s is already in %s; linking it for %s", record, sibling, task.name)
                    _link_record(sibling, directory)
                    marker = read_ready_marker(directory) or {}
                elif marker is None:
                    from xares_hydra.data.zenodo import download_record  # requests and urllib3 load only for this

                    marker = download_record(record, directory, options).to_dict()
        except DataUnavailable:  # leave no empty task folder behind after a download that fetched nothing
            if created and directory.is_dir() and not any(directory.iterdir()):
                shutil.rmtree(directory, ignore_errors=True)
            raise
    return {"source": "zenodo", "record": record, **marker}


def _sibling_with_record(data_root: Path, record: str, task_name: str) -> Path | None:
    for candidate in sorted(data_root.iterdir()):
        if candidate.name == task_name or not candidate.is_dir():
            continue
        marker = read_ready_marker(candidate)
        if marker and str(marker.get("record_id", marker.get("record"))) == record:
            return candidate
    return None


def _link_record(source: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(".part"):
            continue
        target = directory / path.name
        if target.exists():
            continue
        try:
            os.link(path, target)
        except OSError:
            target.symlink_to(path.resolve())
    write_json(directory / READY_MARKER, read_ready_marker(source) or {})


def _require_local(task: TaskSpec, directory: Path, options: DataOptions) -> dict[str, Any]:
    patterns = task.tar_patterns(options.mini)
    if directory.is_dir() and all(_match(directory, pattern) for pattern in patterns.values()):
        return {"source": "local"}
    wanted = ", ".join(f"{name}: {pattern}" for name, pattern in patterns.items())
    disabled = " It is also disabled in X-ARES 0.1.3." if task.disabled else ""
    kind = "private data that is never downloaded" if task.private else "local data"
    raise TaskSkipped(
        f"task {task.name} uses {kind}, and it is not present.{disabled} "
        f"Put its X-ARES-format tar shards ({wanted}) into {directory} "
        f"(or point paths.data_root at the folder that holds a {task.name!r} folder)."
    )


def _with_checksums(provenance: dict[str, Any], shards: dict[str, list[Path]]) -> dict[str, Any]:
    used = {shard.name for paths in shards.values() for shard in paths}
    files = provenance.get("files")
    if isinstance(files, list):
        provenance = dict(provenance, files=[entry for entry in files if entry.get("key") in used] or files)
    return dict(provenance, shards=sorted(used))
