import itertools
import math

import numpy as np
import pytest
import torch
from helpers.heads import clusters, embedding_set, round_data, task

from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData
from xares_hydra.heads.knn import knn_outputs
from xares_hydra.heads.metrics import get_metric
from xares_hydra.heads.training import cosine_lr


def run_probe(settings: HeadSettings, data=None, spec=None):
    spec = spec or task()
    context = HeadContext(spec, settings, get_metric(spec.metric), {})
    return HEADS["linear_probe"].run(data or round_data(), context)


def test_linear_probe_learns_separable_clusters_and_keeps_the_best_epoch():
    result = run_probe(HeadSettings(lr=1e-2, epochs=8, device="cpu"))
    assert result.test > 0.9
    history = result.extra["valid_history"]
    assert len(history) == 8
    assert result.valid == max(history)
    assert result.best_epoch == history.index(max(history)) + 1


def test_linear_probe_is_deterministic_for_a_seed_and_varies_with_it():
    settings = HeadSettings(lr=1e-3, epochs=3, device="cpu", seed=7)
    first, second = run_probe(settings), run_probe(settings)
    assert first.extra["valid_history"] == second.extra["valid_history"]
    assert first.test == second.test
    other = run_probe(HeadSettings(lr=1e-3, epochs=3, device="cpu", seed=8))
    assert other.extra["valid_history"] != first.extra["valid_history"]


def test_linear_probe_on_random_labels_is_near_chance():
    data = round_data()
    rng = np.random.default_rng(5)
    for subset in (data.train, data.valid, data.test):
        subset.targets = list(rng.integers(0, 4, len(subset)))
    result = run_probe(HeadSettings(lr=1e-2, epochs=5, device="cpu"), data)
    assert result.test < 0.5


def test_multi_label_probe_with_map():
    features, labels = clusters(30, 3, 8, 4)
    multi_hot = np.eye(3, dtype=np.float32)[labels]
    data = RoundData(*(embedding_set(features, list(multi_hot)) for _ in range(3)))
    spec = task(metric="mAP", rule="multi_hot", n_classes=3, criterion="BCEWithLogitsLoss")
    assert run_probe(HeadSettings(lr=1e-2, epochs=30, device="cpu"), data, spec).test > 0.9


def test_cosine_schedule_goes_from_lr_towards_a_tenth():
    rates = [cosine_lr(epoch, 10, 1e-3, 0.1) for epoch in range(10)]
    assert rates[0] == pytest.approx(1e-3)
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[-1] == pytest.approx(1e-4 + 0.9e-3 * (1 + math.cos(math.pi * 0.9)) / 2)
    assert cosine_lr(0, 1, 1e-3, 0.1) == 1e-3


def brute_force_cosine_knn(train, labels, test, n_classes, k, temperature):
    train_n = train / np.linalg.norm(train, axis=1, keepdims=True)
    test_n = test / np.linalg.norm(test, axis=1, keepdims=True)
    scores = np.zeros((len(test), n_classes))
    for row, similarity in enumerate(test_n @ train_n.T):
        nearest = np.argsort(-similarity)[:k]
        weights = np.exp(similarity[nearest] / temperature)
        weights /= weights.sum()
        for index, weight in zip(nearest, weights):
            scores[row, labels[index]] += weight
    return scores


def test_default_knn_is_true_cosine_knn():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(60, 12)) + 2, rng.normal(size=(15, 12)) + 2
    labels = rng.integers(0, 3, 60)
    ours = knn_outputs(train, labels, test, k=10, temperature=0.07, n_classes=3)
    expected = brute_force_cosine_knn(train, labels, test, 3, 10, 0.07)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert (ours.argmax(1) == expected.argmax(1)).all()


def test_xares_knn_reproduces_its_formula():
    """X-ARES: normalize(train.T, dim=1), test normalised per sample, top-k of test @ train."""
    generator = torch.Generator().manual_seed(1)
    train = torch.randn(50, 8, generator=generator) * torch.arange(1, 9) + 1
    test = torch.randn(20, 8, generator=generator) + 1
    labels = torch.randint(0, 4, (50,), generator=generator)
    train_t = torch.nn.functional.normalize(train.T, dim=1, p=2)
    similarity = torch.nn.functional.normalize(test, dim=1, p=2) @ train_t
    top, index = similarity.topk(10, dim=1)
    votes = torch.nn.functional.one_hot(labels[index], 4) * torch.softmax(top / 0.07, 1).unsqueeze(-1)
    expected = votes.sum(1)
    ours = knn_outputs(
        train.numpy(), labels.numpy(), test.numpy(), k=10, temperature=0.07, n_classes=4, feature_normalisation=True
    )
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-5)
    assert (ours.argmax(1) == expected.argmax(1).numpy()).all()
    default = knn_outputs(train.numpy(), labels.numpy(), test.numpy(), k=10, temperature=0.07, n_classes=4)
    assert not np.allclose(default, ours), "the X-ARES variant is a different ranking"


def test_knn_with_fewer_training_vectors_than_k():
    scores = knn_outputs(np.eye(3), np.array([0, 1, 2]), np.eye(3), k=10, temperature=0.07, n_classes=3)
    assert scores.shape == (3, 3)
    assert (scores.argmax(1) == [0, 1, 2]).all()
