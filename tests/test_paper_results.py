"""Results a paper can stand on, through real ``xares`` and ``xares-report`` runs on the demo suite:
per-sample predictions next to the record, seeds grouped, intervals and paired tests."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from helpers.cli import run_xares, xares

from xares_hydra.errors import Status
from xares_hydra.heads.predictions import load_predictions
from xares_hydra.report.bundle import stored
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.diagnostics import confusion_matrix
from xares_hydra.report.record import Record, load_records, record_schema
from xares_hydra.report.selection import select_trials

SCALE = "++task.generator.args.scale=0.5"


def scored_records(folder: Path) -> list[Record]:
    return [record for record in load_records(folder) if record.status == Status.OK]


def assert_predictions_reproduce_scores(record: Record) -> None:
    """Every head's saved predictions give the record's per-round scores exactly."""
    for slot, result in record.scores.items():
        rounds = load_predictions(Path(str(record.path)).parent / str(result.predictions))
        assert list(rounds) == list(result.rounds), slot
        for name, predictions in rounds.items():
            assert predictions.score() == result.rounds[name].test, (record.task.name, slot, name)
            assert len(predictions) == result.rounds[name].n_test or predictions.kind != "clip"


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory) -> Path:
    """The demo suite (every head: MLP, kNN, frame, retrieval, ASR) with two encoders and three seeds: one sweep every
    test here reads."""
    root = tmp_path_factory.mktemp("seeds")
    run_xares("+benchmark=demo", "encoder=mel,noise", "seed=0,1,2", SCALE, "report.resamples=300",
              f"hydra.sweep.dir={root / 'sweep'}", root=root, timeout=3000)  # fmt: skip
    return root


def sounds_records(folder: Path) -> list[Record]:
    """The scored demo_sounds records (k-fold, single-label, MLP and kNN)."""
    return [record for record in scored_records(folder) if record.task.name == "demo_sounds"]


@pytest.mark.slow
def test_predictions_on_disk_reproduce_the_record_exactly_and_the_record_fits_its_schema(seed_sweep):
    records = scored_records(seed_sweep / "results")
    assert len(records) == 7 * 2 * 3
    schema = record_schema()
    for record in records:
        document = stored(record)  # the file as written
        jsonschema.validate(document, schema)
        documented = schema["properties"]
        assert set(document) <= set(documented), "every field of a record is documented"
        for part in ("task", "encoder"):
            model = schema["$defs"][documented[part]["$ref"].rsplit("/", 1)[-1]]
            assert set(document[part]) <= set(model["properties"]), part
        assert record.schema_ == 2
        assert_predictions_reproduce_scores(record)
    sounds = sounds_records(seed_sweep / "results")
    assert len(sounds) == 2 * 3
    for record in sounds:
        per_class = record.scores["mlp"].per_class
        assert per_class is not None and per_class.measure == "accuracy"
        assert len(per_class.classes) == len(per_class.values) == 6
        assert record.scores["mlp"].chance == pytest.approx(1 / 6, abs=0.1)


@pytest.mark.slow
def test_confusion_matrix_sums_to_the_test_count_and_matches_per_class_accuracy(seed_sweep):
    record = sounds_records(seed_sweep / "results")[0]
    matrix = confusion_matrix(record)
    assert matrix is not None and matrix.sum() == sum(
        entry.n_test or 0 for entry in record.scores["mlp"].rounds.values()
    )
    per_class = record.scores["mlp"].per_class
    assert per_class is not None and np.diag(matrix) / matrix.sum(axis=1) == pytest.approx(per_class.values)


@pytest.mark.slow
def test_seeds_share_a_column_and_are_never_selected(seed_sweep):
    sweep = seed_sweep / "sweep"
    board = json.loads((sweep / "leaderboard.json").read_text())
    mlp, knn = board["heads"]["mlp"], board["heads"]["knn"]
    assert [column["label"] for column in mlp["columns"]] == ["mel", "noise"], "no setting differs; seeds never do"
    cells = next(row for row in mlp["rows"] if row["name"] == "demo_sounds")["cells"]
    records = {(r.encoder.name, r.seed): r for r in sounds_records(seed_sweep / "results")}
    mel = next(cell for label, cell in cells.items() if label.startswith("mel"))
    seed_scores = [records["mel", seed].scores["mlp"].score for seed in (0, 1, 2)]
    assert mel["seeds"] == 3 and mel["score"] == pytest.approx(np.mean(seed_scores))
    assert mel["std"] == pytest.approx(np.std(seed_scores))
    assert mel["interval"]["low"] <= mel["score"] <= mel["interval"]["high"]
    assert next(iter(knn["rows"][0]["cells"].values()))["seeds"] == 1, "kNN has no seed: counted once"
    selections = select_trials(load_records(sweep))
    assert all(len(selection.trials) == 1 and selection.trials[0].seeds == 3 for selection in selections)
    markdown = (sweep / "leaderboard.md").read_text()
    assert "(3 seeds)" in markdown and " [0." in markdown
    assert (sweep / "figures").is_dir() and list((sweep / "figures").glob("confusion-demo_sounds-*.png"))
    assert (
        list((sweep / "figures").glob("curves-demo_sounds.png"))
        and "per-class accuracy" in (sweep / "classes.md").read_text()
    )


@pytest.mark.slow
def test_report_compare_and_latex_from_the_results_folder(seed_sweep, tmp_path, capsys):
    results = seed_sweep / "results"
    assert report_main([str(results), "--compare", "mel", "noise", "--resamples", "200", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "demo_sounds" in printed and "p (Holm)" in printed
    assert list(tmp_path.glob("compare-mel*-vs-noise*.md"))
    assert report_main([str(results), "--compare", "dasheng", "noise", "--out", str(tmp_path)]) == 2
    assert "matches no column" in capsys.readouterr().err
    assert report_main([str(results), "--format", "latex", "--resamples", "50", "--out", str(tmp_path)]) == 0
    latex = (tmp_path / "leaderboard.tex").read_text()
    assert "\\toprule" in latex and "\\bottomrule" in latex and "\\textbf{" in latex


@pytest.mark.slow
def test_record_predictions_false_writes_no_prediction_files(seed_sweep):
    run_dir = seed_sweep / "without-predictions"
    # the sweep's data and mel cache; its own results folder, so the sweep's stays as the sweep wrote it
    xares("task=demo/sounds", SCALE, "task.epochs=1", "record.predictions=false",
          f"paths.results_root={run_dir / 'results'}", root=seed_sweep, run_dir=run_dir)  # fmt: skip
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "ok" and "predictions" not in record["scores"]["mlp"]
    assert not list(run_dir.glob("*.npz"))


@pytest.mark.slow
def test_demo_suite_with_three_seeds_marks_mel_significantly_better_than_noise(seed_sweep):
    sweep = seed_sweep / "sweep"
    assert len({record.task.name for record in scored_records(seed_sweep / "results")}) == 7
    board = json.loads((sweep / "leaderboard.json").read_text())
    for row in board["heads"]["mlp"]["rows"]:
        cells = row["cells"]
        mel = next(cell for label, cell in cells.items() if label.startswith("mel"))
        noise = next(cell for label, cell in cells.items() if label.startswith("noise"))
        assert mel["seeds"] == noise["seeds"] == 3, row["name"]
        assert mel["interval"] is not None and noise["interval"] is not None
        assert noise["versus_best_p_holm"] is not None and noise["versus_best_p_holm"] < 0.05, row["name"]
        assert mel["versus_best_p_holm"] is None, f"{row['name']}: mel is the best"
    markdown = (sweep / "leaderboard.md").read_text()
    assert "(3 seeds)" in markdown and "≈" not in markdown.split("Notes:")[0]


# the retrieval and ASR heads' demo tasks: task type and metric (the frame head's: test_demo_frame_text_tasks)
TEXT_DEMOS = {"demo_captions": ("contrastive", "recallatk_r1"), "demo_digits": ("asr", "WER_inv")}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TEXT_DEMOS))
def test_mel_clearly_beats_noise_on_the_retrieval_and_asr_demo_tasks(seed_sweep, task):
    records = [record for record in scored_records(seed_sweep / "results") if record.task.name == task]
    assert {(record.task.task_type, record.task.metric) for record in records} == {TEXT_DEMOS[task]}
    mean = {
        encoder: np.mean([record.scores["mlp"].score for record in records if record.encoder.name == encoder])
        for encoder in ("mel", "noise")
    }
    assert mean["mel"] > 2 * mean["noise"] and mean["mel"] - mean["noise"] > 0.1, mean


def test_a_confusion_matrix_of_voxceleb_size_stays_a_bounded_image(tmp_path):
    from matplotlib.image import imread

    from xares_hydra.report.diagnostics import MAX_FIGURE_INCHES, plot_confusion

    classes = [f"id{index:05d}" for index in range(1251)]
    matrix = np.diag(np.ones(len(classes), dtype=np.int64))
    path = tmp_path / "confusion.png"
    plot_confusion(matrix, classes, "voxceleb1", path)
    height, width = imread(path).shape[:2]
    assert max(height, width) <= MAX_FIGURE_INCHES * 100, "a 1251-class matrix once asked for 44,000 pixels a side"
