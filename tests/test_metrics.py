import numpy as np
import pytest

from xares_hydra.errors import ConfigError
from xares_hydra.heads.metrics import get_metric


def test_accuracy_from_class_scores():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert get_metric("accuracy")(np.array([0, 1, 1, 1]), scores) == pytest.approx(0.75)


def test_map_is_the_macro_mean_of_per_class_average_precision():
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.1]])
    # class 0: ranking 0.9(+) 0.8(-) 0.3(+) -> AP = (1/1 + 2/3) / 2 ; class 1: 0.7(+) 0.6(+) -> AP = 1
    assert get_metric("mAP")(targets, scores) == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)


def test_map_ignores_classes_without_positives():
    targets = np.array([[1, 0], [0, 0]])
    scores = np.array([[0.9, 0.5], [0.1, 0.6]])
    assert get_metric("mAP")(targets, scores) == pytest.approx(1.0)


def test_equal_error_rate_is_zero_for_separable_and_half_for_reversed_scores():
    targets = np.array([0, 0, 1, 1])
    separable = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert get_metric("EER")(targets, separable) == pytest.approx(0.0)
    assert get_metric("EER")(targets, separable[:, ::-1]) == pytest.approx(1.0)


def test_regression_errors():
    assert get_metric("MAE")(np.array([1.0, 2.0]), np.array([[2.0], [2.5]])) == pytest.approx(0.75)
    assert get_metric("MSE")(np.array([1.0, 2.0]), np.array([2.0, 2.5])) == pytest.approx((1 + 0.25) / 2)


def test_direction_decides_what_is_better():
    assert get_metric("accuracy").better(0.6, 0.5)
    assert not get_metric("accuracy").better(0.5, 0.5), "ties keep the earlier epoch"
    assert get_metric("EER").better(0.1, 0.2)
    assert get_metric("MSE").better(1.0, None)


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ConfigError, match="accuracy"):
        get_metric("f2")


def test_a_misspelt_metric_gets_a_suggestion():
    with pytest.raises(ConfigError, match=r"task\.metric='acuracy'.*Did you mean 'accuracy'"):
        get_metric("acuracy")


def test_only_segment_metrics_stream():
    assert get_metric("segmentf1_macro").accumulator(hop_size_in_ms=40).average == "macro"
    with pytest.raises(ConfigError, match="cannot score frame tasks; use one of segmentf1_macro, segmentf1_micro"):
        get_metric("accuracy").accumulator(hop_size_in_ms=40)


def test_map_equals_scikit_learn_with_ties_and_absent_classes():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    targets = (rng.random((300, 7)) < 0.2).astype(int)
    targets[:, 3] = 0  # a class without positives is left out, as before
    scores = np.round(rng.random((300, 7)), 1)  # many tied scores
    present = targets.sum(axis=0) > 0
    expected = average_precision_score(targets[:, present], scores[:, present], average="macro")
    assert get_metric("mAP")(targets, scores) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", ["accuracy", "mAP"])
def test_weighted_copies_score_as_the_samples_repeated(name):
    """Row r of the weights counts each sample that many times (0: left out): the metric of the repeated samples."""
    rng = np.random.default_rng(3)
    n, classes = 40, 5
    if name == "accuracy":
        targets = rng.integers(0, classes, n)
    else:
        targets = (rng.random((n, classes)) < 0.25).astype(np.float32)
        targets[:, 4] = 0  # a class without positives is left out, as scikit-learn does
    scores = rng.integers(0, 4, (n, classes)) / 3  # many ties
    weights = rng.integers(0, 3, (25, n))
    weights[0] = 1
    metric = get_metric(name)
    expected = [metric(np.repeat(targets, row, axis=0), np.repeat(scores, row, axis=0)) for row in weights]
    np.testing.assert_allclose(metric.weighted(targets, scores, weights), expected, rtol=0, atol=1e-12)
    assert metric.weighted(targets, scores, weights)[0] == pytest.approx(metric(targets, scores), abs=1e-12)
