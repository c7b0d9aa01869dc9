"""Head hyper-parameter search: trials chosen on validation, never on test; grid and Optuna presets."""

from __future__ import annotations

import json
import math

import pytest
from helpers.cli import encoded_shards, run_xares
from helpers.records import make_record

from xares_hydra.report.record import Record
from xares_hydra.report.selection import objective, select_trials, selected_averages, validation_score, write_selection


def trial(lr: float, valid: float, test: float, task: str = "esc50", **kwargs) -> Record:
    return make_record(
        task,
        "mine",
        test,
        valid=valid,
        head={"lr": lr, "hidden_dim": None, "epochs": 10},
        **kwargs,
    )


def test_validation_score_is_the_mean_over_folds_and_the_objective_follows_the_metric_direction():
    record = make_record("esc50", "mine", 0.7, folds=[0.6, 0.8], valid=0.5)
    record.scores["mlp"].rounds["fold2"].valid = 0.7
    assert validation_score(record) == pytest.approx(0.6) and objective(record) == pytest.approx(0.6)
    record.task.higher_is_better = False
    assert objective(record) == pytest.approx(-0.6)
    assert math.isnan(objective(make_record("esc50", "mine", None, status="failed")))


def test_the_winner_is_chosen_on_validation_not_on_test(tmp_path):
    records = [
        trial(1e-3, valid=0.60, test=0.90),
        trial(1e-2, valid=0.80, test=0.70),
        trial(1e-4, valid=0.70, test=0.80),
    ]
    records.append(make_record("cremad", "mine", 0.5, valid=0.5, weight=300))
    cremad, esc50 = select_trials(records)  # sorted by task
    assert esc50.winner.head["lr"] == 1e-2 and esc50.winner.test == 0.70
    assert [t.variant for t in esc50.trials] == ["", "lr=0.0001", "lr=0.01"], "the task default (1e-3) is no variant"
    assert esc50.searched_keys() == ["lr"] and len(cremad.trials) == 1
    (average,) = selected_averages([esc50, cremad])
    assert average["all"] == pytest.approx((0.70 * 100 + 0.5 * 300) / 400)
    write_selection([cremad, esc50], tmp_path)
    document = json.loads((tmp_path / "selection.json").read_text())
    chosen = document["selections"][1]
    assert chosen["task"] == "esc50" and chosen["winner"]["head"]["lr"] == 1e-2
    assert sorted(t["valid"] for t in chosen["trials"]) == [0.60, 0.70, 0.80], "every trial's validation score kept"
    assert "| ✓ | 0.01 | 0.800 | 0.700 |" in (tmp_path / "selection.md").read_text()


def test_lower_is_better_metrics_choose_the_smallest_validation_score():
    records = [trial(1e-3, valid=0.2, test=0.3), trial(1e-2, valid=0.1, test=0.4)]
    for record in records:
        record.task.higher_is_better = False
    assert select_trials(records)[0].winner.head["lr"] == 1e-2


@pytest.mark.slow
def test_the_grid_preset_picks_the_clearly_best_learning_rate_from_one_encoding(xares_root):
    sweep = xares_root / "sweep"
    run_xares(
        "+search=grid",
        "task=demo/timbre",
        "head.lr=1e-6,1e-2",
        "head.hidden_dim=null",
        "head.epochs=4",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
    )
    document = json.loads((sweep / "selection.json").read_text())
    (selection,) = document["selections"]
    assert selection["winner"]["head"]["lr"] == 0.01
    trials = {trial["head"]["lr"]: trial for trial in selection["trials"]}
    assert trials[1e-6]["valid"] < trials[0.01]["valid"] - 0.2
    assert all(trial["test"] is not None for trial in trials.values())
    assert set(encoded_shards(sweep).values()) == {1}, "the second trial reuses the cached embeddings"
    assert "| ✓ |" in (sweep / "selection.md").read_text()


@pytest.mark.slow
def test_the_optuna_preset_maximises_the_returned_validation_score(xares_root):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = xares_root / "sweep"
    run_xares(
        "+search=optuna",
        "task=demo/timbre",
        "hydra.sweeper.n_trials=3",
        "head.epochs=3",
        "head.hidden_dim=choice('null',32)",
        f"hydra.sweep.dir={sweep}",
        root=xares_root,
    )
    (selection,) = json.loads((sweep / "selection.json").read_text())["selections"]
    assert len(selection["trials"]) == 3
    best = (sweep / "optimization_results.yaml").read_text()
    assert f"best_value: {selection['winner']['valid']}" in best, "Optuna optimised what selection reads"
    assert set(encoded_shards(sweep).values()) == {1}
