"""Regression on clip embeddings: targets standardised on the training split (the probe learns unit-variance
targets; its outputs are mapped back), every score in the targets' own units, with the other regression metrics
and each target's scores beside the task metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xares_hydra.data.labels import LabelSpec, target_keys
from xares_hydra.heads.metrics import REGRESSION_METRICS, get_metric


@dataclass(frozen=True)
class TargetScaler:
    """Per target: the training split's mean and standard deviation (1 where a target is constant)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, targets: np.ndarray) -> TargetScaler:
        values = np.asarray(targets, dtype=np.float64)
        scale = values.std(axis=0)
        return cls(values.mean(axis=0), np.where(scale > 0, scale, 1.0))

    def standardise(self, targets: np.ndarray) -> np.ndarray:
        return ((np.asarray(targets, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def original(self, outputs: np.ndarray) -> np.ndarray:
        return (np.asarray(outputs, dtype=np.float64) * self.scale + self.mean).astype(np.float32)


def regression_scores(targets: np.ndarray, predictions: np.ndarray, label: LabelSpec) -> dict[str, Any]:
    """For the record's round: ``metrics`` (mse, mae, pearson, spearman over all targets) and ``per_target``."""
    truth = np.asarray(targets).reshape(len(targets), -1)
    predicted = np.asarray(predictions).reshape(truth.shape)
    names = target_keys(label)
    per_target = {
        name: {metric: get_metric(metric)(truth[:, [i]], predicted[:, [i]]) for metric in REGRESSION_METRICS}
        for i, name in enumerate(names)
    }
    overall = {metric: get_metric(metric)(truth, predicted) for metric in REGRESSION_METRICS}
    return {"metrics": overall, "per_target": per_target}
