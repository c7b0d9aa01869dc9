"""Metrics by name, each with its direction; model selection and reports use the direction.

A metric takes the targets and the head's outputs (class scores, multi-label scores or
predicted values) and returns one float.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from xares_hydra.errors import ConfigError


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[..., float]
    higher_is_better: bool = True

    def __call__(self, targets: Any, outputs: Any, **kwargs: Any) -> float:
        return float(self.compute(targets, outputs, **kwargs))

    def better(self, candidate: float, incumbent: float | None) -> bool:
        """Strictly better (ties keep the earlier epoch, as X-ARES's checkpointing does)."""
        if incumbent is None or np.isnan(incumbent):
            return not np.isnan(candidate)
        return candidate > incumbent if self.higher_is_better else candidate < incumbent

    @property
    def worst(self) -> float:
        return -np.inf if self.higher_is_better else np.inf


METRICS: dict[str, Metric] = {}


def metric(name: str, higher_is_better: bool = True):
    def register(compute: Callable[..., float]) -> Callable[..., float]:
        METRICS[name] = Metric(name, compute, higher_is_better)
        return compute

    return register


def get_metric(name: str) -> Metric:
    if name not in METRICS:
        raise ConfigError(f"task.metric={name!r} is not a metric; known metrics: {', '.join(METRICS)}")
    return METRICS[name]


@metric("accuracy")
def accuracy(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(targets)))


@metric("mAP")
def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """Macro average precision over the classes that have at least one positive."""
    targets = np.asarray(targets)
    present = targets.sum(axis=0) > 0
    if not present.any():
        return float("nan")
    return float(skm.average_precision_score(targets[:, present], np.asarray(scores)[:, present], average="macro"))


@metric("EER", higher_is_better=False)
def equal_error_rate(targets: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate of a two-class task; scores are class scores, the positive class is 1."""
    scores = np.asarray(scores)
    positive = scores[:, 1] - scores[:, 0] if scores.ndim == 2 else scores
    false_positive, true_positive, _ = skm.roc_curve(np.asarray(targets), positive)
    false_negative = 1 - true_positive
    at = np.nanargmin(np.abs(false_negative - false_positive))
    return float((false_positive[at] + false_negative[at]) / 2)


@metric("MAE", higher_is_better=False)
def mean_absolute_error(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(skm.mean_absolute_error(np.asarray(targets), np.asarray(predictions).reshape(len(targets))))


@metric("MSE", higher_is_better=False)
def mean_squared_error(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(skm.mean_squared_error(np.asarray(targets), np.asarray(predictions).reshape(len(targets))))
