"""Per-sample predictions, bootstrap intervals, paired tests and Holm, on small fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from xares_hydra.heads.metrics import SegmentF1, get_metric
from xares_hydra.heads.predictions import (
    RETRIEVAL,
    SEGMENTS,
    TRANSCRIPTS,
    Predictions,
    clip_predictions,
    load_predictions,
    save_predictions,
)
from xares_hydra.report.statistics import (
    NotComparable,
    bootstrap_scores,
    holm,
    paired_test,
    percentile_interval,
)

KEYS = [f"clip{i:02d}" for i in range(12)]
TARGETS = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
HITS = np.array([1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1], dtype=bool)


def one_hot_outputs(targets: np.ndarray, hits: np.ndarray, n_classes: int = 3) -> np.ndarray:
    predicted = np.where(hits, targets, (targets + 1) % n_classes)
    return np.eye(n_classes)[predicted]


def accuracy_run(hits: np.ndarray = HITS, keys=KEYS, targets=TARGETS) -> dict[str, Predictions]:
    return {"test": clip_predictions("accuracy", keys, targets, one_hot_outputs(targets, hits))}


def test_bootstrap_interval_is_the_percentile_interval_of_hand_drawn_resamples():
    rng = np.random.default_rng(7)
    by_hand = [HITS[rng.integers(0, len(HITS), len(HITS))].mean() for _ in range(300)]
    interval = percentile_interval(bootstrap_scores([accuracy_run()], resamples=300, seed=7), 0.95)
    assert (interval.low, interval.high) == pytest.approx(tuple(np.percentile(by_hand, [2.5, 97.5])))
    assert interval.low < HITS.mean() < interval.high
    assert percentile_interval(bootstrap_scores([accuracy_run()], 300, seed=7), 0.95) == interval, (
        "seeded: repeats exactly"
    )
    assert percentile_interval(bootstrap_scores([accuracy_run()], 300, seed=8), 0.95) != interval


def test_kfold_clips_are_resampled_within_their_fold():
    """A fold all right and a fold all wrong: every resample keeps the per-fold mean at exactly 0.5."""
    keys = [f"c{i}" for i in range(6)]
    targets = np.zeros(6, dtype=np.int64)
    run = {
        "fold1": clip_predictions("accuracy", keys, targets, one_hot_outputs(targets, np.ones(6, bool))),
        "fold2": clip_predictions("accuracy", keys, targets, one_hot_outputs(targets, np.zeros(6, bool))),
    }
    assert set(bootstrap_scores([run], 200, seed=0)) == {0.5}


def test_crops_of_one_clip_are_drawn_together():
    keys = [key for key in KEYS[:6] for _ in range(2)]  # two crops per clip, both right or both wrong
    hits = np.repeat(HITS[:6], 2)
    run = accuracy_run(hits, keys, TARGETS)
    scores = bootstrap_scores([run], 300, seed=1)
    # with whole clips drawn, every resample is a multiple of 1/6 (six clips), never an odd number of crops
    assert np.allclose(np.round(scores * 6), scores * 6)


def test_seeds_share_the_draws_and_their_scores_are_averaged():
    other = HITS.copy()
    other[:4] = ~other[:4]
    same = bootstrap_scores([accuracy_run(), accuracy_run()], 100, seed=3)
    assert np.array_equal(same, bootstrap_scores([accuracy_run()], 100, seed=3))
    mixed = bootstrap_scores([accuracy_run(), accuracy_run(other)], 100, seed=3)
    singles = [bootstrap_scores([accuracy_run(hits)], 100, seed=3) for hits in (HITS, other)]
    assert mixed == pytest.approx((singles[0] + singles[1]) / 2)


def test_paired_permutation_test_matches_scipy_exactly_on_a_small_input():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=8)
    a, b = truth + rng.normal(scale=0.5, size=8), truth + rng.normal(scale=1.0, size=8)
    keys = [f"k{i}" for i in range(8)]
    comparison = paired_test(
        [{"test": clip_predictions("MAE", keys, truth, a)}],
        [{"test": clip_predictions("MAE", keys, truth, b)}],
        300,
        0,
        0.95,
    )

    def mae_difference(x, y):
        return np.mean(np.abs(truth - x)) - np.mean(np.abs(truth - y))

    expected = stats.permutation_test(
        (a, b), mae_difference, permutation_type="samples", vectorized=False, n_resamples=np.inf
    )
    assert comparison.difference == pytest.approx(expected.statistic)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    assert comparison.interval.low < comparison.difference < comparison.interval.high
    assert comparison.n_clips == 8


def test_paired_test_finds_a_clear_difference_and_refuses_different_clips():
    better = accuracy_run(np.ones(12, bool))
    worse = accuracy_run(np.zeros(12, bool))
    comparison = paired_test([better], [worse], 300, 0, 0.95)
    assert comparison.difference == 1.0 and comparison.p_value < 0.01
    assert comparison.interval.low == comparison.interval.high == 1.0
    with pytest.raises(NotComparable):
        paired_test([better], [accuracy_run(keys=[key + "x" for key in KEYS])], 50, 0, 0.95)


@pytest.mark.slow
def test_paired_test_false_positive_rate_under_the_null_is_about_five_percent():
    """Two encoders whose predictions come from the same distribution: p < 0.05 in at most ~5 % of tests."""
    rng = np.random.default_rng(0)
    n, n_classes, trials = 40, 4, 300
    keys = [f"k{i}" for i in range(n)]
    rejected = 0
    for trial in range(trials):
        targets = rng.integers(0, n_classes, n)
        runs = []
        for _ in range(2):
            outputs = rng.normal(size=(n, n_classes))
            outputs[np.arange(n), targets] += 1.0
            runs.append([{"test": clip_predictions("accuracy", keys, targets, outputs)}])
        rejected += paired_test(runs[0], runs[1], 99, trial, 0.95).p_value < 0.05
    assert rejected / trials <= 0.07


def test_holm_adjustment_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_percentile_interval_by_hand():
    interval = percentile_interval(np.arange(101, dtype=float), confidence=0.9)
    assert (interval.low, interval.high) == pytest.approx((5.0, 95.0))
    assert interval.text() == "[5.000, 95.000]"


# ------------------------------------------------------------------ every prediction kind reproduces its metric


def test_saved_predictions_of_every_kind_reproduce_the_metric_exactly(tmp_path):
    rng = np.random.default_rng(1)
    frame_targets = [rng.random((30, 3)) > 0.6 for _ in range(4)]
    frame_scores = [rng.random((30, 3)) for _ in range(4)]
    segment = SegmentF1("macro", hop_size_in_ms=40, segment_length_in_s=0.2)
    counts = np.stack([segment.update(t, s) for t, s in zip(frame_targets, frame_scores)])
    similarity = rng.normal(size=(4, 8))
    caption_clip = np.repeat(np.arange(4), 2)
    from xares_hydra.heads.metrics import retrieval_ranks, word_edits

    audio_rank, text_rank = retrieval_ranks(similarity, caption_clip)
    references, hypotheses = ["one two three", "four five", "six"], ["one too three", "four five six", ""]
    multi_targets = (rng.random((10, 3)) > 0.5).astype(np.float32)
    multi_scores = rng.random((10, 3)).astype(np.float32)
    rounds = {
        "clip": clip_predictions("mAP", [f"m{i}" for i in range(10)], multi_targets, multi_scores),
        "frames": Predictions(SEGMENTS, "segmentf1_macro", np.array(["a", "b", "c", "d"]), {"counts": counts}),
        "captions": Predictions(
            RETRIEVAL,
            "recallatk_r1",
            np.array(["a", "b", "c", "d"]),
            {"audio_rank": audio_rank, "text_rank": text_rank, "caption_clip": caption_clip},
        ),
        "speech": Predictions(
            TRANSCRIPTS,
            "WER_inv",
            np.array(["x", "y", "z"]),
            {
                "edits": np.array([word_edits(r.split(), h.split()) for r, h in zip(references, hypotheses)]),
                "words": np.array([len(r.split()) for r in references]),
            },
            [{"reference": r, "hypothesis": h} for r, h in zip(references, hypotheses)],
        ),
    }
    save_predictions(tmp_path / "run.mlp.npz", rounds)
    loaded = load_predictions(tmp_path / "run.mlp.npz")
    assert list(loaded) == list(rounds)
    assert loaded["clip"].score() == get_metric("mAP")(multi_targets, multi_scores)
    assert loaded["frames"].score() == SegmentF1("macro", 40, 0.2).over(frame_targets, frame_scores)
    assert loaded["captions"].score() == get_metric("recallatk_r1")(caption_clip, similarity)
    assert loaded["speech"].score() == get_metric("WER_inv")(references, hypotheses)
    assert loaded["speech"].texts[1] == {"reference": "four five", "hypothesis": "four five six"}
    assert (tmp_path / "run.mlp.jsonl").read_text().count("\n") == 3


# ------------------------------------------------------------------ the leaderboard's marks from predictions on disk


def record_with_predictions(encoder: str, hits: np.ndarray) -> dict:
    run = accuracy_run(hits)
    return {
        "schema": 2,
        "status": "ok",
        "task": {"name": "demo_sounds", "metric": "accuracy", "higher_is_better": True, "eval_weight": 1},
        "encoder": {"name": encoder},
        "mode": "default",
        "head": {"seed": 0},
        "scores": {"mlp": {"head": "linear_probe", "score": run["test"].score(), "std": 0.0, "rounds": {"test": {}}}},
        "overrides": [f"encoder={encoder}"],
        "created": "2025-01-01T00:00:00+00:00",
    }, run


def test_leaderboard_marks_columns_not_significantly_worse_than_the_best(tmp_path):
    from xares_hydra.report.leaderboard import StatisticsSettings, build_leaderboard, leaderboard_markdown
    from xares_hydra.report.record import load_records, write_record

    worse = HITS.copy()
    worse[0] = False  # one clip fewer right: not significantly worse
    for encoder, hits in (("best", HITS), ("close", worse), ("bad", np.zeros(12, bool))):
        record, run = record_with_predictions(encoder, hits)
        write_record(record, None, tmp_path, {"mlp": run})
    board = build_leaderboard(load_records(tmp_path), statistics=StatisticsSettings(resamples=200))
    table = board.tables[0]
    row = table.rows[0]
    marks = {column.label: table.not_worse(row, column) for column in table.columns}
    assert marks == {"bad": False, "best": False, "close": True}
    assert table.versus_best[row.name, "bad"] < 0.05 <= table.versus_best[row.name, "close"]
    assert table.cells[row.name, "best"].interval.low < HITS.mean() < table.cells[row.name, "best"].interval.high
    assert "≈" in leaderboard_markdown(board)


def _ragged_runs(metric: str, outputs_seed: int) -> list[dict[str, Predictions]]:
    """Two seeds x three folds of different sizes, clips of one to three crops; mAP: multi-label, tied scores."""
    rng = np.random.default_rng(0)
    folds = {
        fold: [f"{fold}-{clip}" for clip in range(n_clips) for _ in range(rng.integers(1, 4))]
        for fold, n_clips in (("fold1", 7), ("fold2", 9), ("fold3", 5))
    }
    if metric == "accuracy":
        targets = {fold: rng.integers(0, 4, len(keys)) for fold, keys in folds.items()}
    else:
        targets = {fold: (rng.random((len(keys), 4)) < 0.3).astype(np.float32) for fold, keys in folds.items()}
    rng = np.random.default_rng(outputs_seed)
    return [
        {
            fold: clip_predictions(metric, keys, targets[fold], rng.integers(0, 5, (len(keys), 4)) / 4)
            for fold, keys in folds.items()
        }
        for _ in range(2)
    ]


@pytest.mark.parametrize("metric", ["accuracy", "mAP"])
def test_resamples_scored_at_once_equal_the_draw_by_draw_scores(monkeypatch, metric):
    """Accuracy to the last bit; mAP up to float rounding (its sums run over other thresholds)."""
    from xares_hydra.report import statistics

    a, b = _ragged_runs(metric, outputs_seed=1), _ragged_runs(metric, outputs_seed=2)
    at_once = (bootstrap_scores(a, 300, seed=4), paired_test(a, b, 300, 4, 0.95))
    monkeypatch.setattr(statistics, "_at_once", lambda item: False)
    draw_by_draw = (bootstrap_scores(a, 300, seed=4), paired_test(a, b, 300, 4, 0.95))
    assert len(set(at_once[0])) > 20, "the draws differ"
    assert 0 < at_once[1].p_value < 1
    if metric == "accuracy":
        assert np.array_equal(at_once[0], draw_by_draw[0])
        assert at_once[1] == draw_by_draw[1]
    else:
        np.testing.assert_allclose(at_once[0], draw_by_draw[0], rtol=0, atol=1e-12)
        assert at_once[1].difference == draw_by_draw[1].difference
        assert at_once[1].p_value == draw_by_draw[1].p_value
        interval, expected = at_once[1].interval, draw_by_draw[1].interval
        assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_layers_figure_follows_the_leaderboard_conventions(tmp_path):
    from xares_hydra.report.layers import layer_curves, layers_figure
    from xares_hydra.report.leaderboard import StatisticsSettings
    from xares_hydra.report.record import load_records, write_record

    worse = HITS.copy()
    worse[:2] = False
    for layer, hits in ((0, HITS), (1, worse)):
        record, run = record_with_predictions("deep", hits)
        record["head"]["layer"] = layer
        record["scores"]["mlp"]["chance"] = 1 / 3
        write_record(record, None, tmp_path, {"mlp": run})
    (curve,) = layer_curves(load_records(tmp_path), StatisticsSettings(resamples=200))
    assert curve.metric == "accuracy" and curve.chance == pytest.approx(1 / 3)
    for layer in (0, 1):
        low, high = curve.intervals[layer]
        assert low < curve.scores[layer] < high
    score_axes = layers_figure([curve])[0].axes[0]
    assert score_axes.get_ylabel() == "accuracy"
    assert score_axes.get_ylim() == (0.0, 1.0), "the whole 0-1 axis, not zoomed to the scores"
    assert any(line.get_linestyle() == ":" and line.get_ydata()[0] == pytest.approx(1 / 3) for line in score_axes.lines)
    (bars,) = score_axes.containers
    assert bars.has_yerr
