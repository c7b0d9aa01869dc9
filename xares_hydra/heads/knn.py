"""k-nearest-neighbour classification on pooled clip embeddings (no training).

Default: true cosine kNN through faiss (vectors L2-normalised per sample, inner-product search),
the k neighbours vote with weights softmax(similarity / temperature).

``feature_normalisation`` reproduces X-ARES 0.1.3, which normalises the *training* matrix per
feature dimension (``normalize(train.T, dim=1)``) and each test vector per sample before
``test @ train``; that ranking is not cosine similarity.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from xares_hydra.data.labels import SINGLE
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.linear_probe import stack_targets
from xares_hydra.heads.predictions import clip_predictions


def knn_scores(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    n_classes: int,
    k: int,
    temperature: float,
    feature_normalisation: bool = False,
) -> np.ndarray:
    """Class scores [N_test, n_classes]: the softmax-weighted votes of the k nearest training vectors."""
    k = min(k, len(train))
    if feature_normalisation:
        similarity, neighbours = _xares_neighbours(train, test, k)
    else:
        similarity, neighbours = _cosine_neighbours(train, test, k)
    weights = torch.softmax(torch.from_numpy(similarity).double() / temperature, dim=1).numpy()
    scores = np.zeros((len(test), n_classes), dtype=np.float64)
    np.add.at(scores, (np.arange(len(test))[:, None], train_labels[neighbours]), weights)
    return scores


def _cosine_neighbours(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    train = np.array(train, dtype=np.float32, order="C")
    test = np.array(test, dtype=np.float32, order="C")
    faiss.normalize_L2(train)
    faiss.normalize_L2(test)
    index = faiss.IndexFlatIP(train.shape[1])
    index.add(train)
    similarity, neighbours = index.search(test, k)
    return similarity, neighbours


def _xares_neighbours(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    train_t = torch.nn.functional.normalize(torch.from_numpy(np.asarray(train, np.float32)).T, dim=1, p=2)
    test_t = torch.nn.functional.normalize(torch.from_numpy(np.asarray(test, np.float32)), dim=1, p=2)
    similarity, neighbours = (test_t @ train_t).topk(k, dim=1, largest=True, sorted=True)
    return similarity.numpy(), neighbours.numpy()


@head("knn", selects_model=False)
def knn(data: RoundData, context: HeadContext) -> RoundScore:
    settings = context.settings
    n_classes = context.task.label.class_count
    scores = knn_scores(
        data.train.pooled,
        stack_targets(data.train.known_targets, SINGLE),
        data.test.pooled,
        n_classes,
        k=settings.k,
        temperature=settings.temperature,
        feature_normalisation=bool(context.compat.get("knn_feature_normalisation")),
    )
    targets = stack_targets(data.test.known_targets, SINGLE)
    predictions = clip_predictions(context.metric.name, data.test.clip_keys, targets, scores)
    return RoundScore(test=context.metric(targets, scores), predictions=predictions)
