"""Shareable records: ``record.redact=true`` and ``xares-report --redact`` leave no home folder, host name or
absolute path of the machine, and keep every score and setting needed to compare."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xares_hydra import api
from xares_hydra.report.bundle import stored
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.record import load_records

MACHINE_STRINGS = ("alice", platform.node())


@dataclass
class Runs:
    """One demo run written plainly and once more with ``record.redact=true``, from a home folder of 'alice'."""

    tmp: Path
    root: Path
    elsewhere: Path
    plain: dict
    shared: dict


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("redact")
    home = tmp / "home" / "alice"
    home.mkdir(parents=True)
    root, elsewhere = home / ".xares-hydra", tmp / "scratch" / "cache"
    overrides = [f"paths.root={root}", f"paths.cache_root={elsewhere}", "head.epochs=3"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        (plain,) = api.evaluate("mel", overrides=overrides)
        (shared,) = api.evaluate(
            "mel", overrides=[*overrides, "record.redact=true", f"paths.results_root={root}/shared"]
        )
        yield Runs(tmp, root, elsewhere, plain, shared)


def leaks(text: str, tmp_path: Path) -> list[str]:
    return [secret for secret in (str(tmp_path), *MACHINE_STRINGS) if secret in text]


def without_seconds(value: object) -> object:
    if isinstance(value, dict):
        return {key: without_seconds(item) for key, item in value.items() if key != "seconds"}
    return value


def comparable(record: dict) -> dict:
    """What results are compared by (run times aside)."""
    kept = {key: record[key] for key in ("status", "task", "mode", "head", "scores", "counts", "versions")}
    encoder = {key: value for key, value in record["encoder"].items() if key != "cache"}
    if encoder.get("code"):  # the code's digest compares; its folder is the machine's
        encoder["code"] = {key: value for key, value in encoder["code"].items() if key != "path"}
    return without_seconds(kept | {"encoder": encoder})


def test_redacted_run_record_keeps_scores_and_drops_machine_strings(runs: Runs) -> None:
    (loaded,) = load_records(runs.root / "shared")
    written = stored(loaded)
    text = json.dumps(written)
    assert leaks(text, runs.tmp) == [] and leaks(json.dumps(runs.shared), runs.tmp) == []
    plain = runs.plain
    assert str(runs.elsewhere) in json.dumps(plain) and platform.node() in json.dumps(plain)  # what is redacted
    assert written["host"] == "<host>"
    assert written["config"]["paths"]["data_root"] == "<data_root>"
    assert written["config"]["paths"]["cache_root"] == "<cache_root>"
    assert comparable(written) == comparable(plain) and written["scores"]


def test_xares_report_redact_writes_shareable_records_and_reports(runs: Runs, tmp_path: Path) -> None:
    results, home = runs.root / "results", runs.root.parent
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        assert report_main([str(results), "--out", str(tmp_path / "plain")]) == 0
        assert report_main([str(results), "--redact"]) == 0
    out = results.with_name("results-redacted")
    copied = list((out / "records").rglob("*.json"))
    assert [path.relative_to(out / "records") for path in copied] == [
        path.relative_to(results) for path in results.rglob("*.json")
    ]
    for path in out.rglob("*"):
        if path.is_file() and path.suffix not in (".png", ".npz"):  # images; clip keys and model outputs
            assert leaks(path.read_text(), runs.tmp) == [], path
    plain_summary = json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert json.loads((out / "summary.json").read_text())["averages"] == plain_summary["averages"]
    (record,) = load_records(out / "records")
    (original,) = load_records(results)
    assert comparable(stored(record)) == comparable(stored(original))


def test_xares_report_redact_refuses_to_write_inside_the_folder(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"schema": 1, "scores": {}, "task": {"name": "t"}}))
    assert report_main([str(tmp_path), "--redact", "--out", str(tmp_path / "shareable")]) == 2


def test_xares_report_redact_redacts_every_file_it_writes_the_selection_too(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for lr in ("1e-2", "1e-1"):  # two settings of one task: a head search, so selection.json is written
        api.evaluate("mel", overrides=[f"paths.root={tmp_path}", "head.epochs=1", f"head.lr={lr}"])
    assert report_main([str(results), "--redact"]) == 0
    out = results.with_name("results-redacted")
    selection = json.loads((out / "selection.json").read_text())
    paths = [trial["path"] for entry in selection["selections"] for trial in entry["trials"]]
    assert len(paths) == 2 and all(path.startswith("<report>/records/mel/") for path in paths)
    for path in out.rglob("*"):
        if path.is_file() and path.suffix not in (".png", ".npz"):
            assert leaks(path.read_text(), tmp_path) == [], path
