"""The result record: one JSON per (task, encoder, head settings). Reports read only these.

Written twice: into the Hydra job's output folder (``result.json``) and into the results folder
as ``<results_root>/<encoder>/<task>/<mode>-<head settings hash>.json`` so runs accumulate
across sweeps and can be rebuilt into a leaderboard without running anything. Each head's per-sample
test predictions go next to both copies as ``<mode>-<head settings hash>.<slot>.npz`` (named in
``scores.<slot>.predictions``). The fields are documented in ``record.schema.json`` (shipped here).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from xares_hydra.atomic import read_json, write_json
from xares_hydra.errors import XaresError
from xares_hydra.heads.predictions import Predictions, load_predictions, predictions_file, save_predictions

log = logging.getLogger("xares")

RECORD_SCHEMA = 2
# schema 1 records (before per-sample predictions) still load; they get no intervals or tests
READABLE_SCHEMAS = (1, 2)
SCHEMA_FILE = Path(__file__).with_name("record.schema.json")
STATUS_OK, STATUS_SKIPPED, STATUS_FAILED, STATUS_UNAVAILABLE = "ok", "skipped", "failed", "unavailable"
RECORD_FILE = "result.json"
_VERSIONED_PACKAGES = ("xares-hydra", "torch", "torchaudio", "numpy", "scikit-learn", "faiss-cpu", "hydra-core",
                       "webdataset", "soundfile", "transformers")  # fmt: skip


@dataclass
class RunRecord:
    task: dict[str, Any]
    encoder: dict[str, Any]
    head: dict[str, Any]
    mode: str
    status: str = STATUS_OK
    reason: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    written: dict[str, Any] | None = field(default=None, repr=False)
    # head slot -> round -> per-sample test predictions; empty when record.predictions=false
    predictions: dict[str, dict[str, Predictions]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RECORD_SCHEMA,
            "status": self.status,
            "reason": self.reason,
            "task": self.task,
            "encoder": self.encoder,
            "mode": self.mode,
            "head": self.head,
            "scores": self.scores,
            "counts": self.counts,
            "data": self.data,
            "timings": {name: round(seconds, 3) for name, seconds in self.timings.items()},
            "overrides": self.overrides,
            "versions": package_versions(),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "config": self.config,
        }


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def head_settings_key(head: dict[str, Any], mode: str) -> str:
    canonical = json.dumps({"head": head, "mode": mode}, sort_keys=True, default=str)
    return f"{mode}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:10]}"


def write_record(
    record: dict[str, Any],
    output_dir: Path | None,
    results_root: Path | None,
    predictions: dict[str, dict[str, Predictions]] | None = None,
) -> list[Path]:
    """The record in each place, its prediction files (named in ``scores.<slot>.predictions``) first."""
    targets = []
    if output_dir is not None:
        targets.append(output_dir / RECORD_FILE)
    if results_root is not None:
        name = head_settings_key(record["head"], record["mode"]) + ".json"
        targets.append(results_root / record["encoder"]["name"] / record["task"]["name"] / name)
    stem = head_settings_key(record["head"], record["mode"])
    for slot in predictions or {}:
        record["scores"][slot]["predictions"] = predictions_file(stem, slot)
    written = []
    for path in targets:
        for slot, rounds in (predictions or {}).items():
            written += save_predictions(path.parent / record["scores"][slot]["predictions"], rounds)
        write_json(path, record)
        written.append(path)
    return written


def predictions_of(record: dict[str, Any], slot: str) -> dict[str, Predictions] | None:
    """The per-sample predictions a loaded record names for ``slot``; None where it has none."""
    name = record.get("scores", {}).get(slot, {}).get("predictions")
    if not name or "path" not in record:
        return None
    path = Path(record["path"]).parent / name
    return load_predictions(path) if path.exists() else None


def load_records(folder: Path) -> list[dict[str, Any]]:
    """Every result record below ``folder`` (a sweep folder or a results folder), oldest first."""
    records = []
    for path in sorted(folder.rglob("*.json")):
        try:
            document = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and document.get("schema") in READABLE_SCHEMAS and "scores" in document:
            document.setdefault("path", str(path))
            records.append(document)
    return sorted(records, key=lambda record: record.get("created", ""))


class StageClock:
    """Wall-clock seconds per pipeline stage, for the record."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - started

    def total(self) -> dict[str, float]:
        return dict(self.timings, total=time.perf_counter() - self._started)


@contextmanager
def recorded(record: RunRecord, output_dir: Path | None, results_root: Path | None) -> Iterator[StageClock]:
    """Bookkeeping around a run's stages: times them, turns errors into the record's status, writes it.

    An expected failure (``XaresError``) ends the run with its status; anything else is marked
    failed and re-raised. A scored record also goes to ``results_root``.
    """
    clock = StageClock()
    try:
        yield clock
    except XaresError as error:
        record.status, record.reason = error.status, str(error)
        level = logging.WARNING if error.status == STATUS_SKIPPED else logging.ERROR
        log.log(level, "%s (%s): %s", record.task.get("name"), error.status, error)
    except Exception as error:
        record.status, record.reason = STATUS_FAILED, f"{type(error).__name__}: {error}"
        raise
    finally:
        record.timings = clock.total()
        record.written = record.to_dict()
        keep = results_root if record.status == STATUS_OK else None
        predictions = record.predictions if record.status == STATUS_OK else None
        for path in write_record(record.written, output_dir, keep, predictions):
            log.info("Wrote %s", path)
