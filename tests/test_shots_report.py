"""The data-efficiency report (``shots.*``): score against shots per task, a line and band per encoder."""

import csv
import io
import json

import pytest
from helpers.records import record_document
from matplotlib.collections import PolyCollection

from xares_hydra.report.cli import main as report_main
from xares_hydra.report.record import Record
from xares_hydra.report.shots import shot_curves, shots_figure

DRAWS = 3


def few_shot_record(encoder: str, shots: int | None, mlp: float, std: float, knn: float | None = None) -> dict:
    head = {"lr": 1e-3, "hidden_dim": None, "seed": 0}
    if shots is not None:
        head |= {"shots": shots, "draws": DRAWS}
    record = record_document("demo_timbre", encoder, mlp, knn, head=head, created=f"2025-01-0{1 + (shots or 0) % 8}")
    if shots is not None:
        for score in record["scores"].values():
            score["std"] = std
            score["draws"] = [score["score"] - std, score["score"], score["score"] + std]
    record["schema"] = 2
    return record


RECORDS = [
    *(few_shot_record("mel", k, 0.3 + 0.1 * i, 0.05, knn=0.2 + 0.1 * i) for i, k in enumerate((1, 2, 4))),
    *(few_shot_record("noise", k, 0.2, 0.02) for k in (1, 2, 4)),
    few_shot_record("mel", None, 0.9, 0.0),
    few_shot_record("mel", None, 0.5, 0.0) | {"head": {"lr": 1e-2, "hidden_dim": None, "seed": 0}},
]
LOADED = [Record.model_validate(record) for record in RECORDS]


def test_curves_group_records_by_encoder_and_head_with_the_whole_split_score():
    curves = {(curve.encoder, curve.slot): curve for curve in shot_curves(LOADED)}
    assert sorted(curves) == [("mel", "knn"), ("mel", "mlp"), ("noise", "mlp")]
    mel = curves["mel", "mlp"]
    assert list(mel.scores) == [1, 2, 4] and mel.scores[4] == pytest.approx(0.5) and mel.stds[1] == 0.05
    assert mel.full == 0.9, "the same setting on the whole training split, not the lr=0.01 one"
    assert curves["noise", "mlp"].full is None and curves["mel", "mlp"].draws == {1: 3, 2: 3, 4: 3}


def test_the_figure_has_a_band_per_line_on_a_log_axis():
    figure, legend = shots_figure(shot_curves(LOADED))
    mlp_panel, knn_panel = figure.axes
    assert mlp_panel.get_xscale() == knn_panel.get_xscale() == "log"
    bands = [item for item in mlp_panel.collections if isinstance(item, PolyCollection)]
    assert len(mlp_panel.lines) - 1 == len(bands) == 2  # mel and noise, and mel's dashed whole-split line
    assert sorted(legend) == ["mel", "noise"]
    low, high = bands[0].get_paths()[0].vertices[:, 1].min(), bands[0].get_paths()[0].vertices[:, 1].max()
    assert (low, high) == pytest.approx((0.3 - 0.05, 0.5 + 0.05))


def test_xares_report_writes_the_curve_and_its_table(tmp_path):
    for index, record in enumerate(RECORDS):
        path = tmp_path / "results" / record["encoder"]["name"] / "demo_timbre" / f"{index}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "results"), "--out", str(out), "--resamples", "0"]) == 0
    assert (out / "shots.png").stat().st_size > 10_000
    rows = list(csv.DictReader(io.StringIO((out / "shots.csv").read_text())))
    assert [(row["encoder"], row["head"], row["shots"]) for row in rows] == [
        *(("mel", "knn", k) for k in ("1", "2", "4")),
        *(("mel", "mlp", k) for k in ("1", "2", "4", "all")),
        *(("noise", "mlp", k) for k in ("1", "2", "4")),
    ]
    markdown = (out / "shots.md").read_text()
    assert "| Encoder | Head | 1 shot | 2 shots | 4 shots | all clips |" in markdown
    assert "| mel | MLP | **0.300 ± 0.050** | **0.400 ± 0.050** | **0.500 ± 0.050** | 0.900 |" in markdown
    assert "| noise | MLP | 0.200 ± 0.020 | 0.200 ± 0.020 | 0.200 ± 0.020 | - |" in markdown
    assert "shots" not in (out / "selection.md").read_text(), "few-shot records are no trials of the lr search"
    assert "0.300 ± 0.050" in (out / "leaderboard.md").read_text(), "the leaderboard cell has the draws' std"
    assert json.loads((out / "shots.json").read_text())["curves"][1]["scores"] == {"1": 0.3, "2": 0.4, "4": 0.5}
