"""Result records read back typed: schema-1 files with the model's defaults, and sweep jobs that left none."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.records import make_record, record_document

from xares_hydra.errors import Status
from xares_hydra.report.bundle import stored
from xares_hydra.report.leaderboard import build_leaderboard
from xares_hydra.report.record import load_records
from xares_hydra.report.summary import records_in


def test_a_schema_1_record_from_before_modes_loads_typed_with_the_defaults(tmp_path: Path) -> None:
    document = record_document("esc50", "mine", 0.7, 0.5)
    del document["mode"]  # written before modes existed
    path = tmp_path / "mine" / "esc50" / "old.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    (record,) = load_records(tmp_path)
    assert (record.schema_, record.mode, record.path, record.seed) == (1, "default", str(path), None)
    assert record.scores["mlp"].chance is None and record.scores["knn"].score == 0.5 and record.task.tags is None
    assert stored(record) == document, "a copy of the record is the file as written"


def test_a_sweep_job_that_left_no_record_is_a_failed_record_outside_the_mode_tables(tmp_path: Path) -> None:
    hydra = tmp_path / "3_esc50_mine" / ".hydra"
    hydra.mkdir(parents=True)
    (hydra / "overrides.yaml").write_text("- task=esc50\n")
    (crashed,) = records_in(tmp_path)
    assert crashed.crashed and crashed.status == Status.FAILED and crashed.path is None
    assert "ended without a result record (overrides: - task=esc50)" in str(crashed.reason)
    board = build_leaderboard([crashed, make_record("esc50", "mine", 0.5)], published=False)
    assert len(board.in_mode) == 1 and [entry["task"] for entry in board.not_scored] == ["3_esc50_mine"]
