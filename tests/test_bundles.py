"""Result bundles: ``xares-report --export`` writes them, ``xares-report A B`` merges bundles and results folders
as if they were one, ``--validate`` names every problem of a submission."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.records import make_record

from xares_hydra.report.bundle import BUNDLE_FILE, ENCODER_CARD
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.leaderboard import build_leaderboard
from xares_hydra.report.merge import merge, versions_apart
from xares_hydra.report.record import load_records

COMPARED = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "summary.json", "classes.md")


def export(source: Path, bundle: Path, *flags: str) -> int:
    return report_main([str(source), "--export", str(bundle), *flags])


@pytest.mark.slow
def test_a_bundle_merged_with_a_results_folder_reports_as_both_folders_together(roots, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    assert export(roots.first, bundle, "--predictions") == 0
    assert report_main([str(bundle), str(roots.second), "--out", str(tmp_path / "merged"), "--resamples", "50"]) == 0
    assert report_main([str(roots.first), str(roots.second), "--out", str(tmp_path / "both"), "--resamples", "50"]) == 0
    for name in COMPARED:
        assert (tmp_path / "merged" / name).read_text() == (tmp_path / "both" / name).read_text(), name
    board = json.loads((tmp_path / "merged" / "leaderboard.json").read_text())
    (row,) = board["heads"]["mlp"]["rows"]
    assert row["cells"]["mel"]["seeds"] == 2 and row["cells"]["mel"]["interval"] is not None
    assert "note:" not in capsys.readouterr().out  # different seeds: nothing to decide


def test_the_bundle_layout_holds_redacted_records_encoder_cards_and_optional_predictions(roots, tmp_path):
    assert export(roots.first, tmp_path / "plain") == 0
    assert export(roots.first, tmp_path / "full", "--predictions") == 0
    header = json.loads((tmp_path / "plain" / BUNDLE_FILE).read_text())
    assert (header["kind"], header["layout"]) == ("xares-hydra result bundle", 1)
    (record,) = load_records(tmp_path / "plain")
    folder = tmp_path / "plain" / "mel" / str(record.encoder.identity)
    assert Path(str(record.path)) == folder / "demo_timbre" / Path(str(load_records(roots.first)[0].path)).name
    assert json.loads((folder / ENCODER_CARD).read_text())["fingerprint"] == record.encoder.fingerprint
    assert str(roots.first.parent) not in Path(str(record.path)).read_text() and record.host == "<host>"
    assert not list((tmp_path / "plain").rglob("*.npz")) and record.scores["mlp"].predictions is None
    assert len(list((tmp_path / "full").rglob("*.npz"))) == 2  # mlp and knn
    assert report_main(["--validate", str(tmp_path / "plain"), str(tmp_path / "full")]) == 0


def test_the_same_setting_from_two_places_counts_once_newest_first_with_a_note(roots, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(roots.first, copy)
    (path,) = copy.rglob("default-*.json")
    newer = json.loads(path.read_text()) | {"created": "2999-01-01T00:00:00+00:00"}
    newer["scores"]["mlp"]["score"] = 0.123
    path.write_text(json.dumps(newer))
    assert report_main([str(roots.first), str(copy), "--out", str(tmp_path / "out"), "--resamples", "0"]) == 0
    out = capsys.readouterr().out
    assert f"scored in {roots.first} and {copy}; the newest (2999-01-01T00:00:00+00:00, {copy}) counts" in out
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert board["heads"]["mlp"]["rows"][0]["cells"]["mel"]["score"] == 0.123


def test_one_folder_keeps_its_order_several_are_merged_oldest_first():
    # a sweep's records come in launch order; its parallel jobs may finish in another
    launched = [
        make_record("esc50", "mine", 0.8, created="2025-02-01"),
        make_record("fsd", "mine", 0.6, created="2025-01-01"),
    ]
    assert merge([("sweep", launched)]).records == launched
    assert merge([("a", launched[:1]), ("b", launched[1:])]).records == launched[::-1]


def test_results_of_different_task_versions_are_kept_apart_and_flagged():
    old, new = (
        make_record("esc50", "mine", 0.8, created="2025-01-01"),
        make_record("esc50", "mine", 0.6, created="2025-02-01"),
    )
    old.task.version, new.task.version = 1, 2
    merged = merge([("a", [old]), ("b", [new])])
    apart = versions_apart(merged.records)
    assert merged.notes == [] and apart.notes == [
        "esc50: results of task versions 1, 2 do not compare; each version is its own row (esc50@v1, esc50@v2)"
    ]
    board = build_leaderboard(apart.records, published=False)
    mlp = next(table for table in board.tables if table.slot == "mlp")
    assert {row.name: mlp.cells[row.name, "mine"].score for row in mlp.rows} == {"esc50@v1": 0.8, "esc50@v2": 0.6}
    assert old.task.name == "esc50"  # the records themselves are left as they are


@pytest.fixture
def bundle(roots, tmp_path) -> Path:
    assert export(roots.first, tmp_path / "bundle", "--predictions") == 0
    return tmp_path / "bundle"


def edit(bundle: Path, change) -> Path:
    (path,) = bundle.rglob("default-*.json")
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    return path.relative_to(bundle)


def test_validate_names_a_missing_field_a_wrong_task_version_and_an_unredacted_path(bundle, capsys):
    def spoil(record):
        del record["scores"]["mlp"]["score"]
        record["task"]["version"] = 7
        record["config"]["paths"]["data_root"] = "/home/alice/xares/data"

    relative = edit(bundle, spoil)
    assert report_main(["--validate", str(bundle)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"{bundle}/{relative}: scores.mlp.score: missing (required by the record schema)" in lines
    # the other checks read what the schema requires: fix the score, and the next problems show
    edit(bundle, lambda record: record["scores"]["mlp"].update(score=0.5))
    assert report_main(["--validate", str(bundle)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        f"{bundle}/{relative}: task.version: 7, but the task YAML of demo_timbre is version 1: rerun with the "
        "current task definition"
    ) in lines
    assert f"{bundle}/{relative}: config.paths.data_root: not redacted: '/home/alice/xares/data'" in lines
    # and its place: the identity (which holds the version) names another file
    assert len(lines) == 3 and "the bundle layout puts this record at" in lines[2]


def test_validate_wants_the_bundle_header_encoder_cards_and_submission_metadata(bundle, capsys):
    (bundle / BUNDLE_FILE).unlink()
    (card,) = bundle.rglob(ENCODER_CARD)
    card.unlink()
    (bundle / "mel" / "other").mkdir()
    (bundle / "mel" / "other" / ENCODER_CARD).write_text("[]")
    relative = edit(bundle, lambda record: record["versions"].pop("xares-hydra"))
    (bundle / "notes.json").write_text("{}")
    assert report_main(["--validate", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert f"{bundle}/{BUNDLE_FILE}: missing: a submission is a result bundle" in out
    assert f"{bundle}/{relative}: versions.xares-hydra: missing (a shared record must have it)" in out
    assert f"{bundle}/notes.json: not a result record" in out
    assert f"{bundle}/{card.relative_to(bundle)}: missing: the encoder's card" in out
    assert f"{bundle}/mel/other/{ENCODER_CARD}: not an encoder card (no encoder name)" in out


def test_export_refuses_a_folder_that_is_not_a_bundle_and_one_inside_a_source(roots, tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("")
    assert export(roots.first, tmp_path / "busy") == 2
    assert export(roots.first, roots.first / "bundle") == 2
    err = capsys.readouterr().err
    assert "is neither empty nor a result bundle" in err and "give a folder outside" in err


@pytest.mark.slow
def test_the_validate_command_exits_0_for_a_valid_bundle_and_1_for_a_problem(bundle):
    command = [str(Path(sys.executable).parent / "xares-report"), "--validate", str(bundle)]
    valid = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (valid.returncode, valid.stdout.strip()) == (0, f"xares-report: {bundle}: valid")
    edit(bundle, lambda record: record.pop("created"))
    spoiled = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert spoiled.returncode == 1 and "created: missing (required by the record schema)" in spoiled.stdout
    assert f"1 problem(s) in {bundle}" in spoiled.stderr
