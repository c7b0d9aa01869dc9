"""The leaderboard and ``xares-report`` on hand-made result records."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.records import make_record, record_document
from matplotlib.container import ErrorbarContainer
from matplotlib.image import imread

from xares_hydra.config.suites import suite_tasks
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.leaderboard import (
    build_leaderboard,
    leaderboard_csv,
    leaderboard_figure,
    leaderboard_markdown,
    write_leaderboard,
)
from xares_hydra.report.published import PUBLISHED_ORDER, published_averages, published_scores
from xares_hydra.report.record import write_record
from xares_hydra.report.statistics import Interval


def table(board, slot: str):
    return next(item for item in board.tables if item.slot == slot)


def cell(board, slot: str, task: str, label: str):
    return table(board, slot).cells.get((task, label))


def average(board, slot: str, scope: str, label: str):
    return table(board, slot).averages[scope, label]


def test_weighted_averages_over_public_and_all_tasks_use_the_eval_weights():
    records = [
        make_record("esc50", "mine", 0.8, 0.5, weight=400),
        make_record("cremad", "mine", 0.6, 0.4, weight=1116),
        make_record("subway_broadcast", "mine", 1.0, 0.9, weight=5000, private=True),
    ]
    board = build_leaderboard(records, published=False)
    public = (0.8 * 400 + 0.6 * 1116) / (400 + 1116)
    everything = (0.8 * 400 + 0.6 * 1116 + 1.0 * 5000) / (400 + 1116 + 5000)
    assert average(board, "mlp", "public", "mine").score == pytest.approx(public)
    assert average(board, "mlp", "all", "mine").score == pytest.approx(everything)
    assert (average(board, "mlp", "public", "mine").tasks, average(board, "mlp", "all", "mine").tasks) == (2, 3)
    assert average(board, "knn", "public", "mine").score == pytest.approx((0.5 * 400 + 0.4 * 1116) / 1516)
    markdown = leaderboard_markdown(board)
    assert f"| **Weighted Average (public tasks)** | {public:.3f} |" in markdown
    assert f"| **Weighted Average (all tasks)** | {everything:.3f} |" in markdown
    assert "| Tasks averaged (public / all) | 2 / 3 |" in markdown
    assert "| Subway broadcast[^priv] |" in markdown
    assert "[^priv]: Private task" in markdown


def test_fold_std_is_shown_for_kfold_tasks_only():
    records = [make_record("esc50", "mine", 0.7, folds=[0.6, 0.7, 0.8]), make_record("cremad", "mine", 0.5)]
    board = build_leaderboard(records, published=False)
    assert cell(board, "mlp", "esc50", "mine").std == pytest.approx(0.0816, abs=1e-4)
    assert cell(board, "mlp", "cremad", "mine").std is None
    markdown = leaderboard_markdown(board)
    assert "| ESC-50 | 0.700 ± 0.082 |" in markdown
    assert "| CREMA-D | 0.500 |" in markdown


def test_the_newest_record_of_a_setting_wins_and_a_newer_failure_does_not_hide_a_score():
    records = [
        make_record("esc50", "mine", 0.5, created="2025-01-01T00:00:00+00:00"),
        make_record("esc50", "mine", 0.9, created="2025-03-01T00:00:00+00:00"),
        make_record("esc50", "mine", None, created="2025-04-01T00:00:00+00:00", status="failed"),
        make_record("cremad", "mine", None, status="unavailable"),
    ]
    board = build_leaderboard(records, published=False)
    assert cell(board, "mlp", "esc50", "mine").score == 0.9
    assert [(entry["task"], entry["status"]) for entry in board.not_scored] == [("cremad", "unavailable")]
    assert "- cremad (mine): unavailable: cremad is unavailable for a reason" in leaderboard_markdown(board)


def test_modes_are_never_mixed_and_settings_get_their_own_columns():
    records = [
        make_record("esc50", "mine", 0.8),
        make_record("esc50", "mine", 0.7, head={"lr": 0.01, "hidden_dim": None}),
        make_record("esc50", "mine", 0.3, mode="xares", overrides=("compat=xares",)),
    ]
    default = build_leaderboard(records, mode="default", published=False)
    xares = build_leaderboard(records, mode="xares", published=False)
    assert [column.label for column in table(default, "mlp").columns] == ["mine", "mine [lr=0.01]"]
    assert cell(default, "mlp", "esc50", "mine").score == 0.8
    assert cell(default, "mlp", "esc50", "mine [lr=0.01]").score == 0.7
    assert [column.label for column in table(xares, "mlp").columns] == ["mine"]
    assert cell(xares, "mlp", "esc50", "mine").score == 0.3
    assert "(xares mode)" in leaderboard_markdown(xares)


def test_rows_follow_the_xares_readme_order_under_its_names_then_other_tasks():
    records = [
        make_record(task, "mine", 0.5)
        for task in ("demo_timbre", "subway_broadcast", "liveenv", "esc50", "asvspoof2015")
    ]
    labels = [row.label for row in table(build_leaderboard(records), "mlp").rows]
    assert labels == ["ASV2015", "ESC-50", "Live Env", "Subway broadcast", "Demo_Timbre"]


# numbers copied by hand from the X-ARES README tables
README_NUMBERS = [
    ("mlp", "esc50", "dasheng", 0.857),
    ("mlp", "voxlingua33", "whisper", 0.873),
    ("mlp", "fluentspeechcommands", "data2vec", 0.978),
    ("mlp", "liveenv", "wav2vec2", 0.955),
    ("knn", "voxceleb1", "dasheng", 0.262),
    ("knn", "speechcommandsv1", "whisper", 0.096),
    ("knn", "inside_outside_car", "data2vec", 0.588),
]


@pytest.mark.parametrize(("slot", "task", "encoder", "score"), README_NUMBERS)
def test_published_columns_hold_the_readme_numbers(slot, task, encoder, score):
    board = build_leaderboard([make_record(task, "mine", 0.5, 0.5)])
    assert cell(board, slot, task, f"{encoder} (published)").score == score


def test_published_librispeech_keeps_both_readme_numbers_and_compares_with_v013():
    librispeech = published_scores("mlp")["librispeech"]
    assert (librispeech["dasheng"].score, librispeech["dasheng"].note) == (0.724, "0.608 (0.724 v0.1.3)†")
    assert (librispeech["data2vec"].score, librispeech["data2vec"].note) == (0.866, "0.893 (0.866 v0.1.3)†")
    assert "librispeech" not in published_scores("knn")
    assert published_averages("mlp", "public") == {
        "dasheng": 0.699,
        "wav2vec2": 0.490,
        "whisper": 0.632,
        "data2vec": 0.598,
    }
    assert published_averages("knn", "all")["dasheng"] == 0.683
    assert len(PUBLISHED_ORDER) == 27
    assert set(PUBLISHED_ORDER) <= set(suite_tasks("xares")), "every published row names a task tagged xares"
    board = build_leaderboard([make_record("librispeech", "mine", 0.7)])
    markdown = leaderboard_markdown(board)
    row = (
        "| LibriSpeech-100h | 0.700 | 0.608 (0.724 v0.1.3)† | 0.405 (0.545 v0.1.3)† | 0.721 (0.815 v0.1.3)† "
        "| **0.893 (0.866 v0.1.3)†** |"
    )
    assert row in markdown, "the best of the row is chosen on the v0.1.3 numbers"
    assert "| **Weighted Average (all tasks)** | 0.700 | 0.801 | 0.664 | 0.740 | 0.694 |" in markdown
    assert "v0.1.3 number is the comparable one" in markdown


def test_published_numbers_that_need_a_download_besides_the_encoder_say_so_next_to_the_number():
    board = build_leaderboard([make_record("clotho", "mine", 0.02), make_record("esc50", "mine", 0.5, 0.4)])
    markdown = leaderboard_markdown(board)
    assert "| Clotho | 0.020 | 0.029† | 0.014† | **0.038†** | 0.008† |" in markdown
    assert "| ESC-50 | 0.500 | **0.857** | 0.510 | 0.528 | 0.229 |" in markdown
    (note,) = [line for line in markdown.splitlines() if line.startswith("- †")]
    assert "Clotho: the bert-base-uncased tokenizer" in note and "LibriSpeech" not in note
    assert cell(board, "mlp", "clotho", "whisper (published)").score == 0.038


def test_demo_only_records_get_no_published_columns():
    board = build_leaderboard([make_record("demo_timbre", "mine", 0.5)])
    assert not board.has_published
    assert "published" not in leaderboard_markdown(board)


def test_writes_markdown_csv_json_and_a_figure(tmp_path):
    records = [
        make_record("esc50", encoder, score, score - 0.2, folds=[score - 0.05, score + 0.05])
        for encoder, score in (("mine", 0.8), ("theirs", 0.6))
    ]
    paths = write_leaderboard(build_leaderboard(records), tmp_path)
    assert [path.name for path in paths] == [f"leaderboard.{ext}" for ext in ("md", "csv", "json", "png")]
    image = imread(tmp_path / "leaderboard.png")
    assert image.ndim == 3
    assert image.shape[0] > 100
    assert image.shape[1] > 100
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    esc50 = next(row for row in rows if row["head"] == "mlp" and row["task"] == "esc50")
    assert float(esc50["mine"]) == 0.8
    assert float(esc50["mine std"]) == pytest.approx(0.05)
    assert float(esc50["dasheng (published)"]) == 0.857
    document = json.loads((tmp_path / "leaderboard.json").read_text())
    assert document["heads"]["knn"]["rows"][0]["cells"]["theirs"]["score"] == pytest.approx(0.4)
    published_average = {"score": 0.801, "tasks": 27, "interval": None}
    assert document["heads"]["mlp"]["averages"]["all"]["dasheng (published)"] == published_average
    assert leaderboard_csv(build_leaderboard(records)) == (tmp_path / "leaderboard.csv").read_text()


def results_folder(root: Path) -> Path:
    """``<results_root>/<encoder>/<task>/<mode>-<hash>.json``, as runs leave it."""
    for record in (
        record_document("esc50", "mine", 0.81, 0.6, folds=[0.8, 0.82], created="2025-01-01T00:00:00+00:00"),
        record_document("cremad", "mine", 0.55, 0.3),
        record_document("esc50", "theirs", 0.5, 0.2, folds=[0.4, 0.6]),
        record_document("esc50", "mine", 0.2, mode="xares", overrides=("compat=xares",)),
    ):
        write_record(record, None, root)
    return root


def test_xares_report_rebuilds_the_same_files_from_a_results_folder(tmp_path, capsys):
    root = results_folder(tmp_path / "results")
    assert report_main([str(root), "--out", str(tmp_path / "a")]) == 0
    assert report_main([str(root), "--out", str(tmp_path / "b")]) == 0
    names = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard-xares.md", "summary.csv")
    for name in names:
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name
    assert (imread(tmp_path / "a" / "leaderboard.png") == imread(tmp_path / "b" / "leaderboard.png")).all()
    assert "| ESC-50 | 0.810 ± 0.010 | 0.500 ± 0.100 | **0.857** |" in (tmp_path / "a" / "leaderboard.md").read_text()
    assert "| ESC-50 | 0.200 |" in (tmp_path / "a" / "leaderboard-xares.md").read_text()
    assert report_main([str(root), "--out", str(tmp_path / "c"), "--mode", "xares"]) == 0
    assert not (tmp_path / "c" / "leaderboard.md").exists()
    assert (tmp_path / "c" / "leaderboard-xares.md").exists()
    assert "MLP Result" in capsys.readouterr().out


def test_xares_report_command_line(tmp_path):
    root = results_folder(tmp_path / "results")
    command = Path(sys.executable).parent / "xares-report"
    result = subprocess.run([str(command), str(root), "--no-published"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "published" not in (root / "leaderboard.md").read_text()
    assert (root / "leaderboard.png").exists()
    (tmp_path / "empty").mkdir()
    empty = subprocess.run([str(command), str(tmp_path / "empty")], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1
    assert "no result records" in empty.stderr


def test_demo_tasks_never_count_as_public_xares_tasks():
    demo = make_record("demo_sounds", "mine", 0.9, weight=1000)
    demo.task.tags = ["demo"]
    esc50 = make_record("esc50", "mine", 0.5, weight=400)
    esc50.task.tags = ["xares", "xares_public"]
    board = build_leaderboard([demo, esc50], published=False)
    assert average(board, "mlp", "public", "mine").score == pytest.approx(0.5)
    assert (average(board, "mlp", "public", "mine").tasks, average(board, "mlp", "all", "mine").tasks) == (1, 2)


def test_the_average_bar_says_over_how_many_tasks_and_knn_columns_ignore_the_learning_rate():
    records = [make_record(task, "wide", 0.5, 0.4) for task in ("esc50", "gtzan_genre", "vocalsound")]
    for lr in (1e-3, 1e-2):  # kNN scores do not depend on the probe's learning rate
        head = {"lr": lr, "hidden_dim": None}
        records.append(make_record("esc50", "narrow", 0.6, 0.3, head=head, overrides=(f"head.lr={lr}",)))
    board = build_leaderboard(records, published=False)
    assert [column.label for column in table(board, "mlp").columns] == ["narrow", "narrow [lr=0.01]", "wide"]
    assert [column.label for column in table(board, "knn").columns] == ["narrow", "wide"]
    figure = leaderboard_figure(board)
    mlp_axes, knn_axes = figure.axes
    assert sorted(text.get_text() for text in mlp_axes.texts) == ["1 task", "1 task", "3 tasks"]
    assert sorted(text.get_text() for text in knn_axes.texts) == ["1 task", "3 tasks"]


def test_a_list_valued_setting_keeps_its_brackets_in_every_report(tmp_path):
    root = tmp_path / "results"
    for layers, score in (([1, 2], 0.7), ([3], 0.6)):  # an encoder argument that is a list: two columns
        encoder = {"name": "mine", "config": {"layers": layers}, "identity": f"mine-{layers}"}
        record = record_document("esc50", "mine", score, 0.5, valid=score)
        write_record(record | {"encoder": encoder}, None, root)
    failed = record_document("cremad", "mine", None, status="failed")
    write_record(failed | {"encoder": {"name": "mine", "config": {"layers": [1, 2]}, "identity": "mine-[1, 2]"}},
                 None, root)  # fmt: skip
    out = tmp_path / "out"
    assert report_main([str(root), "--out", str(out), "--resamples", "0", "--no-published"]) == 0
    variants = ["encoder.layers=[1, 2]", "encoder.layers=[3]"]
    board = json.loads((out / "leaderboard.json").read_text())
    assert [column["variant"] for column in board["heads"]["mlp"]["columns"]] == variants
    assert board["not_scored"][0]["variant"] == variants[0]
    assert "- cremad (mine [encoder.layers=[1, 2]]): failed:" in (out / "leaderboard.md").read_text()
    summary = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
    assert {row["variant"] for row in summary} == set(variants)
    selection = json.loads((out / "selection.json").read_text())["selections"][0]
    assert [trial["variant"] for trial in selection["trials"]] == variants


def test_the_figure_draws_a_score_that_lies_just_outside_its_interval():
    """A percentile interval need not hold its score: a score of 1.0 over an interval whose bounds came out a rounding
    error above it (an average over tasks), or a skewed metric. The bar on that side is empty; the figure is drawn."""
    board = build_leaderboard([make_record(task, "mine", 1.0, 0.5) for task in ("esc50", "cremad")], published=False)
    cells = table(board, "mlp").cells
    for key, cell in cells.items():
        cells[key] = dataclasses.replace(cell, interval=Interval(1.0 + 2e-16, 1.0 + 4e-16))
    axes = leaderboard_figure(board).axes[0]
    (bars,) = [container for container in axes.containers if isinstance(container, ErrorbarContainer)]
    _, _, (lines,) = bars.lines
    assert [min(segment[:, 0]) for segment in lines.get_segments()] == [1.0] * 3, "tasks and average: none below"
