"""Embeddings and task specs made by hand, for the heads' tests."""

from __future__ import annotations

import numpy as np

from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.heads import RoundData


def embedding_set(features: np.ndarray, targets: list) -> EmbeddingSet:
    n = len(features)
    keys = [f"clip{i:04d}" for i in range(n)]
    return EmbeddingSet(
        keys=keys,
        clip_keys=keys,
        crops=np.zeros(n, np.int64),
        pooled=features.astype(np.float32),
        n_frames=np.ones(n, np.int64),
        labels=[None] * n,
        targets=list(targets),
    )


def clusters(n_per_class: int, n_classes: int, dim: int, seed: int, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(n_classes, dim)) * 3
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)) * spread, labels


def task(metric="accuracy", rule="class_map", n_classes=4, criterion="CrossEntropyLoss") -> TaskSpec:
    return TaskSpec.from_config(
        {
            "name": "t",
            "task_type": "clip",
            "label": {"rule": rule, "classes": list(range(n_classes))},
            "metric": metric,
            "criterion": criterion,
        }
    )


def round_data(seed_offset=0, n_classes=4):
    train = embedding_set(*clusters(40, n_classes, 16, 1 + seed_offset))
    valid = embedding_set(*clusters(10, n_classes, 16, 2 + seed_offset))
    test = embedding_set(*clusters(10, n_classes, 16, 3 + seed_offset))
    return RoundData(train, valid, test)
