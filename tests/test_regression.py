"""Regression tasks: the ``targets`` label rule, the regression metrics, standardised targets scored in their own
units, kNN regression, and the generated demo_pitch task end to end."""

import json
import tarfile

import numpy as np
import pytest
from helpers.heads import embedding_set
from scipy import stats

from xares_hydra.data.labels import LabelSpec, convert_labels, validate_spec
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData, heads_for
from xares_hydra.heads.knn import knn_outputs
from xares_hydra.heads.linear_probe import TargetScaler
from xares_hydra.heads.metrics import get_metric
from xares_hydra.heads.predictions import clip_predictions

SCORES = LabelSpec(rule="targets", args={"keys": ["accuracy", "fluency"]})


def regression_task(**changes) -> TaskSpec:
    config = {"name": "scores", "task_type": "regression", "label": {"rule": "targets", "args": {"keys": ["a", "b"]}},
              "metric": "mse", "criterion": "MSELoss", **changes}  # fmt: skip
    return TaskSpec.from_config(config)


def test_targets_rule_reads_one_float_per_key_in_order_and_counts_bad_samples():
    targets, problems = convert_labels(
        [{"fluency": 7, "accuracy": "8.5"}, {"accuracy": 3.0}, {"accuracy": "nan", "fluency": 1}, "text"], SCORES
    )
    assert targets[0].tolist() == [8.5, 7.0]
    assert targets[1:] == [None, None, None]
    assert [index for index, _ in problems] == [1, 2, 3]
    assert "'fluency' missing" in problems[0][1] and "not all finite" in problems[1][1]


def test_targets_rule_needs_its_keys_and_a_regression_task_a_regression_rule():
    with pytest.raises(ConfigError, match=r"needs task\.label\.args\.keys"):
        validate_spec(LabelSpec(rule="targets"), "t")
    with pytest.raises(ConfigError, match="non-empty list"):
        validate_spec(LabelSpec(rule="targets", args={"keys": "accuracy"}), "t")
    with pytest.raises(ConfigError, match="regression task needs a regression label rule"):
        regression_task(label={"rule": "class_map", "key": "y", "classes": [0, 1]})


def test_regression_metrics_average_over_targets():
    truth = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    predicted = np.array([[1.0, 12.0], [2.0, 18.0], [4.0, 30.0], [3.0, 44.0]])
    assert get_metric("mse")(truth, predicted) == pytest.approx(np.mean([(0 + 0 + 1 + 1) / 4, (4 + 4 + 0 + 16) / 4]))
    assert get_metric("mae")(truth, predicted) == pytest.approx(np.mean([0.5, 2.0]))
    pearson = np.mean([stats.pearsonr(truth[:, i], predicted[:, i])[0] for i in range(2)])
    assert get_metric("pearson")(truth, predicted) == pytest.approx(pearson)
    assert get_metric("spearman")(truth, predicted) == pytest.approx(np.mean([0.8, 1.0]))
    assert get_metric("spearman").higher_is_better and not get_metric("mse").higher_is_better
    assert get_metric("MSE") is get_metric("mse"), "metric names are found whatever their case"


def test_scaler_standardises_on_training_targets_and_maps_back():
    train = np.array([[100.0, 1.0], [300.0, 1.0]])
    scaler = TargetScaler.fit(train)
    assert scaler.standardise(train).tolist() == [[-1.0, 0.0], [1.0, 0.0]], "a constant target keeps scale 1"
    assert scaler.original(np.array([[0.5, 2.0]])).tolist() == [[250.0, 3.0]]


def scored_targets(seed: int, n: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features and two targets of very different scale, each a linear function of the features plus noise."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 8))
    targets = features @ weights + rng.normal(scale=0.05, size=(n, 2)) * [1.0, 1000.0]
    return features, targets + np.array([5.0, 20000.0])


def test_probe_on_targets_of_different_scales_scores_in_their_own_units():
    weights = np.random.default_rng(0).normal(size=(8, 2)) * [1.0, 1000.0]
    sets = [embedding_set(*scored_targets(seed, n, weights)) for seed, n in ((1, 200), (2, 50), (3, 80))]
    data, spec = RoundData(*sets), regression_task()
    context = HeadContext(spec, HeadSettings(lr=0.01, epochs=40, device="cpu"), get_metric("mse"), {})
    score = HEADS["linear_probe"].run(data, context)
    truth = np.stack(data.test.known_targets)
    chance = get_metric("mse")(truth, np.broadcast_to(np.stack(data.train.known_targets).mean(axis=0), truth.shape))
    assert score.test < 0.2 * chance
    assert score.extra["per_target"]["a"]["pearson"] > 0.8 and score.extra["per_target"]["b"]["pearson"] > 0.8, (
        "the large target does not swamp the small"
    )
    assert score.extra["metrics"]["mse"] == pytest.approx(score.test)
    assert score.predictions.arrays["outputs"].shape == (80, 2)
    assert abs(score.predictions.arrays["outputs"][:, 1].mean() - 20000) < 1000, "outputs in the targets' units"


def test_knn_regression_is_the_softmax_weighted_mean_of_the_neighbours_targets():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    targets = np.array([[10.0], [20.0], [30.0]])
    predicted = knn_outputs(train, targets, np.array([[1.0, 0.1]]), k=2, temperature=0.1)
    similarity = np.array([1 / np.sqrt(1.01), 1.1 / np.sqrt(2 * 1.01)])  # to train rows 0 and 2
    weights = np.exp(similarity / 0.1) / np.exp(similarity / 0.1).sum()
    assert predicted[0, 0] == pytest.approx(weights @ [10.0, 30.0], rel=1e-5)
    assert heads_for(regression_task(), HeadSettings()) == {"mlp": "linear_probe", "knn": "knn"}


def test_chance_of_a_regression_metric_predicts_each_targets_mean():
    truth = np.array([[1.0, 10.0], [3.0, 30.0]])
    predictions = clip_predictions("mse", ["a", "b"], truth, truth)
    assert predictions.chance() == pytest.approx(np.mean([1.0, 100.0]))
    assert predictions.per_class() is None


def training_mean(data_folder) -> np.ndarray:
    """The mean targets of the demo_pitch training clips, read from the generated shards."""
    values = []
    for shard in sorted(data_folder.glob("*train*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    labels = json.loads(tar.extractfile(member).read())
                    values.append([labels["pitch"], labels["snr_db"]])
    return np.mean(values, axis=0)


@pytest.mark.slow
def test_demo_pitch_beats_predicting_the_training_mean(xares_run, xares_root):
    record, _ = xares_run("task=demo/pitch", "task.generator.args.scale=0.5", root=xares_root)
    assert record["status"] == "ok" and record["task"]["task_type"] == "regression"
    npz = np.load(next((xares_root / "results").rglob("*.mlp.npz")))
    truth = npz["test:targets"]
    baseline = get_metric("mse")(truth, np.broadcast_to(training_mean(xares_root / "data" / "demo_pitch"), truth.shape))
    for slot in ("mlp", "knn"):
        score = record["scores"][slot]
        assert score["score"] < 0.5 * baseline, slot
        assert set(score["rounds"]["test"]["per_target"]) == {"pitch", "snr_db"}
        assert score["rounds"]["test"]["metrics"]["pearson"] > 0.5
