"""k-nearest-neighbour classification and regression on pooled clip embeddings: cosine kNN through faiss, votes
(or the neighbours' targets) weighted softmax(similarity / temperature). ``feature_normalisation`` is X-ARES 0.1.3's
ranking (training matrix normalised per feature dimension), which is not cosine similarity.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from xares_hydra.data.labels import REGRESSION, SINGLE
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.linear_probe import regression_scores, stack_targets
from xares_hydra.heads.predictions import clip_predictions


def knn_outputs(
    train: np.ndarray, targets: np.ndarray, test: np.ndarray, k: int, temperature: float, n_classes: int | None = None,
    feature_normalisation: bool = False,
) -> np.ndarray:  # fmt: skip
    """Per test vector, its k nearest training vectors weighted softmax(similarity / temperature): with
    ``n_classes``, their weighted votes [N_test, n_classes] (``targets``: class indices); else the weighted mean of
    their ``targets`` [N_test, targets] (a weighted mean, so standardising the targets first would change nothing)."""
    neighbours_of = _xares_neighbours if feature_normalisation else _cosine_neighbours
    similarity, neighbours = neighbours_of(train, test, min(k, len(train)))
    weights = torch.softmax(torch.from_numpy(similarity).double() / temperature, dim=1).numpy()
    if n_classes is None:
        return np.einsum("nk,nkt->nt", weights, np.asarray(targets, dtype=np.float64)[neighbours]).astype(np.float32)
    scores = np.zeros((len(test), n_classes), dtype=np.float64)
    np.add.at(scores, (np.arange(len(test))[:, None], targets[neighbours]), weights)
    return scores


def _cosine_neighbours(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    train, test = (np.array(vectors, dtype=np.float32, order="C") for vectors in (train, test))
    faiss.normalize_L2(train)
    faiss.normalize_L2(test)
    index = faiss.IndexFlatIP(train.shape[1])
    index.add(train)
    return index.search(test, k)


def _xares_neighbours(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    train_t = torch.nn.functional.normalize(torch.from_numpy(np.asarray(train, np.float32)).T, dim=1, p=2)
    test_t = torch.nn.functional.normalize(torch.from_numpy(np.asarray(test, np.float32)), dim=1, p=2)
    similarity, neighbours = (test_t @ train_t).topk(k, dim=1, largest=True, sorted=True)
    return similarity.numpy(), neighbours.numpy()


@head("knn", selects_model=False)
def knn(data: RoundData, context: HeadContext) -> RoundScore:
    settings, label = context.settings, context.task.label
    compat = bool(context.compat.get("knn_feature_normalisation"))
    kind = REGRESSION if label.kind == REGRESSION else SINGLE
    train_targets = stack_targets(data.train.known_targets, kind)
    targets = stack_targets(data.test.known_targets, kind)
    n_classes = None if kind == REGRESSION else label.class_count
    outputs = knn_outputs(data.train.pooled, train_targets, data.test.pooled, settings.k, settings.temperature,
                          n_classes, compat)  # fmt: skip
    predictions = clip_predictions(context.metric.name, data.test.clip_keys, targets, outputs)
    extra = regression_scores(targets, outputs, label) if kind == REGRESSION else {}
    return RoundScore(test=context.metric(targets, outputs), predictions=predictions, extra=extra)
