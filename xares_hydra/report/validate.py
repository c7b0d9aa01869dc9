"""``xares-report --validate BUNDLE``: every problem of a submitted result bundle, one line each: records that
do not match the record schema, lack the metadata a shared record needs, were scored under another version of a
task than the one shipped, still hold a machine's paths or host name, or lie outside the bundle layout."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from pydantic import ValidationError as NotARecord

from xares_hydra.atomic import read_json
from xares_hydra.config.suites import task_versions
from xares_hydra.report.bundle import BUNDLE_FILE, ENCODER_CARD, bundle_path, encoder_folder, header_problems
from xares_hydra.report.identity import value_at
from xares_hydra.report.record import EncoderInfo, Record, record_schema
from xares_hydra.report.redact import redact_record

# what a shared record must say besides the schema's required fields: which task definition, which encoder
# (config, weights and code) and which xares-hydra scored it
SUBMISSION_FIELDS = ("task.version", "encoder.identity", "encoder.fingerprint", "versions.xares-hydra")
SHOWN = 80  # characters of an offending value shown


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(record_schema())


def validate_bundle(folder: Path) -> list[str]:
    """Every problem of the bundle at ``folder``, as ``<file>: <where>: <what>`` lines; empty when it is valid."""
    problems = header_problems(folder)
    cards_needed = set()
    for path in sorted(folder.rglob("*.json")):
        relative = path.relative_to(folder)
        if path.name == BUNDLE_FILE:
            continue
        try:
            document = read_json(path)
        except (OSError, ValueError) as error:
            problems.append(f"{relative}: cannot read: {error}")
            continue
        if path.name == ENCODER_CARD:
            if not isinstance(document, dict) or not document.get("name"):
                problems.append(f"{relative}: not an encoder card (no encoder name)")
            continue
        problems += [f"{relative}: {problem}" for problem in record_problems(document, relative, path.parent)]
        with contextlib.suppress(TypeError, KeyError, NotARecord):  # a record without an encoder name needs none
            cards_needed.add(encoder_folder(EncoderInfo.model_validate(document["encoder"])))
    for card in sorted(cards_needed):
        if not (folder / card / ENCODER_CARD).is_file():
            problems.append(f"{card / ENCODER_CARD}: missing: the encoder's card (xares-report --export writes it)")
    return problems


def record_problems(document: Any, relative: Path, folder: Path) -> list[str]:
    """The problems of one record file (at ``relative`` in the bundle, in ``folder``)."""
    if not isinstance(document, dict) or "scores" not in document or "schema" not in document:
        return ["not a result record (no schema and scores); only records, bundle.json and encoder.json belong"]
    errors = sorted(_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    problems = [problem for error in errors for problem in _described(error)]
    if problems:  # the checks below read fields the schema requires
        return problems
    record = Record.model_validate(document)
    problems += [f"{name}: missing (a shared record must have it)" for name in SUBMISSION_FIELDS
                 if value_at(document, name) is None]  # fmt: skip
    problems += _version_problems(record)
    unredacted = _differences(document, redact_record(document), "")
    problems += [f"{where}: not redacted: {str(value)[:SHOWN]!r}" for where, value in unredacted]
    for slot, score in record.scores.items():
        if score.predictions and not (folder / score.predictions).is_file():
            problems.append(f"scores.{slot}.predictions: names {score.predictions}, which is not beside the record")
    expected = bundle_path(record)
    if relative != expected:
        problems.append(f"lies at {relative}, the bundle layout puts this record at {expected}")
    return problems


def _described(error: ValidationError) -> Iterator[str]:
    where = ".".join(map(str, error.absolute_path))
    if error.validator == "required" and isinstance(error.instance, dict):
        for name in error.validator_value:
            if name not in error.instance:
                yield f"{where + '.' if where else ''}{name}: missing (required by the record schema)"
        return
    yield f"{where or '(record)'}: {error.message[:200]}"


def _version_problems(record: Record) -> list[str]:
    name, version = record.task.name, record.task.version
    shipped = task_versions()
    if name not in shipped:
        return [f"task.name: {name!r} is not a task xares-hydra ships, so its version cannot be checked"]
    if version is not None and str(version) != str(shipped[name]):
        return [
            f"task.version: {version!r}, but the task YAML of {name} is version {shipped[name]!r}: "
            "rerun with the current task definition"
        ]
    return []


def _differences(value: Any, redacted: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(dotted place, value) of every string (and key) the redaction changed."""
    if isinstance(value, dict) and isinstance(redacted, dict):
        for (key, item), (new_key, new_item) in zip(value.items(), redacted.items()):
            place = f"{where}.{key}" if where else str(key)
            if key != new_key:
                yield f"{place} (key)", key
            yield from _differences(item, new_item, place)
    elif isinstance(value, list) and isinstance(redacted, list):
        for index, (item, new_item) in enumerate(zip(value, redacted)):
            yield from _differences(item, new_item, f"{where}[{index}]")
    elif value != redacted:
        yield where, value
