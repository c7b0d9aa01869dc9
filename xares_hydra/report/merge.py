"""Result records from several places (results folders, sweep folders, bundles) as one set, with what the
merge decided: the same setting from two places (the newest counts) and a task scored under several versions
(kept apart as one row per version)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from xares_hydra.errors import Status
from xares_hydra.report.record import Record
from xares_hydra.report.summary import setting_key


@dataclass
class Merged:
    records: list[Record]  # oldest first, as ``load_records`` gives them
    notes: list[str] = field(default_factory=list)


def merge(sources: Sequence[tuple[str, list[Record]]]) -> Merged:
    """The records of every (name, records) source, oldest first (one source: as given), and a note per setting
    (and task version) scored in several."""
    origin = {id(record): name for name, records in sources for record in records}
    order = [name for name, _ in sources]
    merged = [record for _, records in sources for record in records]
    if len(sources) > 1:  # one folder keeps its own order: a sweep's is launch order, as the sweep's reports
        merged.sort(key=lambda record: record.created)
    places: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for record in merged:
        if not record.crashed and record.status == Status.OK:
            key = (*setting_key(record), str(record.task.version))
            places[key].append(record)
    notes = []
    for members in places.values():
        found = sorted({origin[id(record)] for record in members}, key=order.index)
        if len(found) > 1:
            newest = members[-1]
            notes.append(
                f"{newest.task.name} · {newest.encoder.name} · seed {newest.seed}: scored in "
                f"{' and '.join(found)}; the newest ({newest.created or 'undated'}, "
                f"{origin[id(newest)]}) counts"
            )
    return Merged(merged, notes)


def versions_apart(records: list[Record]) -> Merged:
    """Records of a task scored under several task versions renamed ``<task>@v<version>`` (a row each, never
    averaged together), with a note per such task; the records themselves are left as they are."""
    versions: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if not record.crashed:
            versions[record.task.name].add(str(record.task.version))
    split = {task: sorted(found) for task, found in versions.items() if len(found) > 1}
    apart = [_versioned(record) if record.task.name in split and not record.crashed else record
             for record in records]  # fmt: skip
    notes = [
        f"{task}: results of task versions {', '.join(found)} do not compare; each version is its own row "
        f"({', '.join(f'{task}@v{version}' for version in found)})"
        for task, found in sorted(split.items())
    ]
    return Merged(apart, notes)


def _versioned(record: Record) -> Record:
    task = record.task
    renamed = {
        "name": f"{task.name}@v{task.version}",
        "formal_name": f"{task.formal_name or task.name} (v{task.version})",
    }
    return record.model_copy(update={"task": task.model_copy(update=renamed)})
