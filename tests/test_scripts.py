"""The dataset-preparation and documentation scripts in scripts/, run as users run them."""

from __future__ import annotations

import csv
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from helpers.audio import tone
from helpers.cli import REPO
from helpers.xares_datasets import READY_MARKER, check_scores, closed_port_api, run_in_process

from xares_hydra.data.shards import iter_shard

SCRIPTS = REPO / "scripts"
ESC50_COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
ESC50_CLASSES = ((0, "dog", True), (1, "rooster", True), (10, "rain", True), (37, "clock_alarm", False))
TABLE_START, TABLE_END = "<!-- task-table:start -->", "<!-- task-table:end -->"


def run_script(name: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)  # fmt: skip


def fake_esc50(folder: Path, folds: range = range(1, 6)) -> list[dict[str, str]]:
    """An ESC-50 release folder in miniature: 44.1 kHz wavs of one tone per class, and meta/esc50.csv."""
    rows = []
    for fold in folds:
        for index, (target, category, esc10) in enumerate(ESC50_CLASSES):
            source = f"{100000 + 1000 * fold + target}"
            filename = f"{fold}-{source}-A-{target}.wav"
            (folder / "audio").mkdir(parents=True, exist_ok=True)
            sf.write(folder / "audio" / filename, tone(0.5 + 0.1 * index, 44100, 300.0 * (index + 1)), 44100)
            rows.append({"filename": filename, "fold": str(fold), "target": str(target), "category": category,
                         "esc10": str(esc10), "src_file": source, "take": "A"})  # fmt: skip
    (folder / "meta").mkdir(exist_ok=True)
    with open(folder / "meta" / "esc50.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=ESC50_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


@pytest.mark.slow
def test_prepare_esc50_writes_xares_shards_that_xares_scores_offline(tmp_path, xares_root):
    release, data_root = tmp_path / "ESC-50-master", tmp_path / "data"
    rows = fake_esc50(release)
    result = run_script("prepare_esc50.py", release, data_root / "esc50", "--max-per-shard", 3)
    assert result.returncode == 0, result.stderr

    folder = data_root / "esc50"
    shards = sorted(path.name for path in folder.glob("*.tar"))
    assert shards == sorted(f"wds-audio-fold-{fold}-000000{index}.tar" for fold in range(1, 6) for index in (0, 1))
    assert json.loads((folder / READY_MARKER).read_text())["source"] == "prepared"
    samples = [sample for shard in shards for sample in iter_shard(folder / shard)]
    assert [sample.problem for sample in samples] == [None] * len(rows)
    for sample, row in zip(samples, rows):
        assert sample.key == Path(row["filename"]).stem and sample.audio_ext == "wav"
        assert sample.audio == (release / "audio" / row["filename"]).read_bytes(), "wav bytes are kept as they are"
        assert sample.labels["label"] == int(row["target"]) and sample.labels["category"] == row["category"]
        assert sample.labels["filename"] == row["filename"] and sample.labels["esc10"] == (row["esc10"] == "True")

    record = run_in_process(
        xares_root,
        "esc50",
        f"paths.data_root={data_root}",
        f"data.zenodo_api={closed_port_api()}",
        "data.allow_http=true",
    )
    assert record["status"] == "ok" and record["data"]["source"] == "prepared"
    assert record["counts"]["fold3"]["clips"] == len(ESC50_CLASSES)
    check_scores(record, "esc50")


@pytest.mark.parametrize(
    ("damage", "message"),
    [("meta/esc50.csv", "meta/esc50.csv not found"), ("audio/2-102000-A-0.wav", "which is not in")],
)
def test_prepare_esc50_names_what_is_missing(tmp_path, damage, message):
    release = tmp_path / "ESC-50-master"
    fake_esc50(release, folds=range(1, 3))
    (release / damage).unlink()
    result = run_script("prepare_esc50.py", release, tmp_path / "out")
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / READY_MARKER).exists()


@pytest.mark.slow
def test_readme_task_table_is_the_scripts_current_output(capsys):
    runpy.run_path(str(SCRIPTS / "task_table.py"), run_name="__main__")  # as `python scripts/task_table.py`
    table = capsys.readouterr().out
    packs = ("hear", "maeb", "xares_planned")  # other benchmarks' packs: README "Other benchmarks' tasks"
    tasks = REPO / "conf" / "task"
    listed = [path for path in tasks.rglob("*.yaml") if path.relative_to(tasks).parts[0] not in packs]
    assert table.count("\n| `") == len(listed), "one row per X-ARES and demo task YAML"
    assert "Zenodo [14614287](https://zenodo.org/records/14614287)" in table and "| private |" in table
    readme = (REPO / "README.md").read_text()
    how_to_fix = f"README.md's task table is not current: run `python scripts/task_table.py` and paste its output \
between the lines {TABLE_START} and {TABLE_END}"
    assert TABLE_START in readme and TABLE_END in readme, how_to_fix
    pasted = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    assert pasted.strip() == table.strip(), how_to_fix


def test_benchmark_statistics_times_both_ways_and_checks_they_agree():
    result = run_script("benchmark_statistics.py", "--resamples", "4", "--clips", "300", "--classes", "6",
                        "--accuracy-clips", "200", "--accuracy-classes", "5")  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| mAP") or
            line.startswith("| accuracy")]  # fmt: skip
    assert [(cell.strip()[:3], what.strip()) for cell, what, *_ in rows] == [
        ("mAP", "bootstrap interval"), ("mAP", "paired test"), ("acc", "bootstrap interval"), ("acc", "paired test")
    ]  # fmt: skip
    assert all(float(slow) > 0 and float(fast) > 0 and ratio.strip().endswith("x") for *_, slow, fast, ratio in rows)
