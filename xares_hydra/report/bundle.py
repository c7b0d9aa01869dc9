"""Result bundles: a shareable folder of redacted result records in a versioned layout, one encoder card per
encoder identity, the per-sample predictions optional (README, "Sharing results").

    <bundle>/bundle.json                                      kind, layout version, what wrote it
    <bundle>/<encoder>/<identity>/encoder.json                 the encoder's card (the records' encoder block)
    <bundle>/<encoder>/<identity>/<task>/<mode>-<hash>.json    a result record, redacted
    <bundle>/<encoder>/<identity>/<task>/<mode>-<hash>.<head>.npz   its predictions (``--predictions``)
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from xares_hydra import __version__
from xares_hydra.atomic import read_json, write_json
from xares_hydra.errors import ConfigError
from xares_hydra.report.diagnostics import file_part
from xares_hydra.report.identity import record_identity
from xares_hydra.report.record import EncoderInfo, Record
from xares_hydra.report.redact import redact_record

BUNDLE_FILE = "bundle.json"
ENCODER_CARD = "encoder.json"
BUNDLE_KIND = "xares-hydra result bundle"
BUNDLE_LAYOUT = 1
LAYOUT = "<encoder>/<identity>/<task>/<mode>-<hash>.json; <encoder>/<identity>/encoder.json"
UNVERSIONED = "unversioned"


def encoder_folder(encoder: EncoderInfo) -> Path:
    """``<encoder>/<identity>``: the encoder's identity (config, weights and code), else its cache fingerprint."""
    return Path(file_part(encoder.name)) / file_part(str(encoder.identity or encoder.fingerprint or UNVERSIONED))


def bundle_path(record: Record) -> Path:
    """Where a record lies in a bundle, relative to its top."""
    return encoder_folder(record.encoder) / file_part(record.task.name) / f"{record_identity(record)}.json"


def stored(record: Record) -> dict[str, Any]:
    """The record as its file has it (key order and numbers as written); a record made in memory as the model
    dumps it."""
    if record.path is None:
        return record.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {key: value for key, value in read_json(Path(record.path)).items() if key != "path"}


def prediction_files(record: Record) -> list[Path]:
    """Every head's prediction files that exist next to the loaded record: the ``.npz`` and the ASR texts
    (``.jsonl``) beside it."""
    folder = None if record.path is None else Path(record.path).parent
    npz = [folder / score.predictions for score in record.scores.values() if folder and score.predictions]
    return [path for file in npz for path in (file, file.with_suffix(".jsonl")) if path.exists()]


def copy_record(record: Record, target: Path, predictions: bool = True) -> list[Path]:
    """The record redacted into ``target``, with its prediction files beside it (else without their names)."""
    copy = redact_record(stored(record))
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = prediction_files(record) if predictions else []
    written = [Path(shutil.copyfile(source, target.parent / source.name)) for source in sources]
    for score in [] if predictions else copy["scores"].values():
        score.pop("predictions", None)
    write_json(target, copy)
    return [*written, target]


def export_bundle(records: Iterable[Record], out: Path, predictions: bool = False) -> list[Path]:
    """Every record (oldest first) into the bundle at ``out`` (new, or a bundle to add to), its encoders' cards
    from their newest record; the files written."""
    if out.exists() and any(out.iterdir()) and not (out / BUNDLE_FILE).exists():
        raise ConfigError(f"{out} is neither empty nor a result bundle (no {BUNDLE_FILE}); choose another --export")
    written, cards = [], {}
    for record in records:
        if record.crashed:  # a job that died without a record: nothing to share
            continue
        written += copy_record(record, out / bundle_path(record), predictions)
        cards[encoder_folder(record.encoder)] = redact_record(stored(record)["encoder"])
    for folder, card in sorted(cards.items()):
        write_json(out / folder / ENCODER_CARD, card)
        written.append(out / folder / ENCODER_CARD)
    header = {"kind": BUNDLE_KIND, "layout": BUNDLE_LAYOUT, "files": LAYOUT, "written_by": f"xares-hydra {__version__}",
              "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}  # fmt: skip
    write_json(out / BUNDLE_FILE, header)
    return [*written, out / BUNDLE_FILE]


def header_problems(folder: Path) -> list[str]:
    """What is wrong with a bundle's ``bundle.json``, one line each (the file named relative to ``folder``)."""
    if not (folder / BUNDLE_FILE).is_file():
        return [f"{BUNDLE_FILE}: missing: a submission is a result bundle; write it with xares-report DIR --export OUT"]
    try:
        header = read_json(folder / BUNDLE_FILE)
    except (OSError, ValueError) as error:
        return [f"{BUNDLE_FILE}: cannot read: {error}"]
    if not isinstance(header, dict) or header.get("kind") != BUNDLE_KIND:
        return [f"{BUNDLE_FILE}: kind is not {BUNDLE_KIND!r}"]
    if header.get("layout") != BUNDLE_LAYOUT:
        return [f"{BUNDLE_FILE}: layout {header.get('layout')!r}; this xares-hydra reads layout {BUNDLE_LAYOUT}"]
    return []
