"""The trained clip probes: X-ARES's "MLP", LayerNorm + Linear on pooled clip embeddings trained from in-memory
tensors, and MAEB's logistic regression (``logreg``, at the end).

With ``head.layer=weighted`` (SUPERB) the probe sits behind a softmax-normalised learnable weight per hidden layer,
trained with it on every layer's clip vectors (pooling is linear, so the cached ``[N, L, D]`` vectors suffice).
Regression: targets standardised on the training split (the probe learns unit-variance targets; its outputs are
mapped back), every score in the targets' own units, with the other regression metrics and each target's scores
beside the task metric.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xares_hydra.data.labels import MULTI, REGRESSION, SINGLE, LabelSpec, target_keys
from xares_hydra.encode.cache import WEIGHTED, EmbeddingSet
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadContext, HeadSettings, RoundData, RoundScore, head
from xares_hydra.heads.metrics import REGRESSION_METRICS, get_metric
from xares_hydra.heads.predictions import clip_predictions
from xares_hydra.heads.training import fit, seeded, shuffled_batches

CRITERIA = {name: getattr(torch.nn, name) for name in ("CrossEntropyLoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss")}


def stack_targets(targets: list, kind: str) -> np.ndarray:
    if kind == SINGLE:
        return np.asarray(targets, dtype=np.int64)
    if kind == MULTI:
        return np.stack(targets).astype(np.float32)
    if kind == REGRESSION:  # [N, targets], one column per target
        return np.asarray(targets, dtype=np.float32).reshape(len(targets), -1)
    raise ConfigError(f"label kind {kind!r} has no clip-level targets")


def build_probe(in_dim: int, out_dim: int, hidden_dim: int | None) -> torch.nn.Module:
    """LayerNorm + Linear (X-ARES), or with a GELU hidden layer of ``hidden_dim`` between."""
    if hidden_dim is None:
        return torch.nn.Sequential(torch.nn.LayerNorm(in_dim), torch.nn.Linear(in_dim, out_dim))
    hidden = [torch.nn.Linear(in_dim, hidden_dim), torch.nn.GELU()]
    return torch.nn.Sequential(torch.nn.LayerNorm(in_dim), *hidden, torch.nn.Linear(hidden_dim, out_dim))


def clip_probe(features: torch.Tensor, out_dim: int, hidden_dim: int | None) -> torch.nn.Module:
    """The probe for ``[N, D]`` clip vectors, or for ``[N, L, D]`` behind a learned layer weighting."""
    probe = build_probe(features.shape[-1], out_dim, hidden_dim)
    return torch.nn.Sequential(LayerWeightedSum(features.shape[1]), probe) if features.ndim == 3 else probe


def make_criterion(name: str, args: dict) -> torch.nn.Module:
    if name not in CRITERIA:
        raise ConfigError(f"task.criterion={name!r} is not supported for clip tasks; use one of {list(CRITERIA)}")
    kwargs = dict(args)
    if "pos_weight" in kwargs:
        kwargs["pos_weight"] = torch.tensor(float(kwargs["pos_weight"]))
    return CRITERIA[name](**kwargs)


class LayerWeightedSum(torch.nn.Module):
    """``[B, L, D] -> [B, D]``: sum over layers with weights softmax(logits), the logits starting equal."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_layers))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        return torch.einsum("l,bld->bd", torch.softmax(self.logits, dim=0), layers)

    def weights(self) -> list[float]:
        return [round(float(weight), 6) for weight in torch.softmax(self.logits.detach(), dim=0).cpu()]


def clip_features(embeddings: EmbeddingSet, settings: HeadSettings) -> np.ndarray:
    """What a clip head trains on: every layer's clip vectors ``[N, L, D]`` for ``weighted``, else ``[N, D]``."""
    if settings.layer == WEIGHTED:
        assert embeddings.layers is not None, "head.layer=weighted loads every layer's clip vectors"
        return embeddings.layers
    return embeddings.pooled


def learned_weights(model: torch.nn.Module) -> dict[str, list[float]]:
    """``{"layer_weights": [...]}`` for a weighted model (for the record), else nothing."""
    if isinstance(model, torch.nn.Sequential) and isinstance(model[0], LayerWeightedSum):
        return {"layer_weights": model[0].weights()}
    return {}


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


@head("linear_probe")
def linear_probe(data: RoundData, context: HeadContext) -> RoundScore:
    kind, label = context.task.label.kind, context.task.label
    out_dim = len(target_keys(label)) if kind == REGRESSION else label.class_count
    settings = context.settings
    device = settings.torch_device
    splits = {
        name: (
            torch.from_numpy(np.ascontiguousarray(clip_features(subset, settings), dtype=np.float32)).to(device),
            torch.from_numpy(stack_targets(subset.known_targets, kind)).to(device),
        )
        for name, subset in vars(data).items()
    }
    train_x, train_y = splits["train"]
    scaler = TargetScaler.fit(train_y.cpu().numpy()) if kind == REGRESSION else None
    if scaler is not None:  # the probe learns standardised targets; _outputs maps its outputs back
        train_y = torch.from_numpy(scaler.standardise(train_y.cpu().numpy())).to(device)
    model = seeded(settings.seed, lambda: clip_probe(train_x, out_dim, settings.hidden_dim), device)
    criterion = make_criterion(context.task.criterion, context.task.criterion_args).to(device)

    history = fit(
        model,
        context,
        lambda generator: shuffled_batches(len(train_x), settings.batch_size, generator),
        lambda rows: criterion(model(train_x[rows]), train_y[rows]),
        lambda: context.metric(*_outputs(model, splits["valid"], kind, scaler)),
    )
    targets, outputs = _outputs(model, splits["test"], kind, scaler)
    predictions = clip_predictions(context.metric.name, data.test.clip_keys, targets, outputs)
    extra = regression_scores(targets, outputs, label) if kind == REGRESSION else {}
    return history.score(context.metric(targets, outputs), predictions, **extra, **learned_weights(model))


@torch.no_grad()
def _outputs(
    model: torch.nn.Module, split: tuple[torch.Tensor, torch.Tensor], kind: str, scaler: TargetScaler | None
) -> tuple[np.ndarray, ...]:
    """(targets, outputs) of a split: class scores, probabilities (multi-label) or predicted values (in the
    targets' own units)."""
    model.eval()
    features, targets = split
    outputs = torch.cat([model(chunk) for chunk in features.split(4096)])
    if kind == MULTI:
        outputs = torch.sigmoid(outputs)
    values = outputs.float().cpu().numpy()
    return targets.cpu().numpy(), scaler.original(values) if scaler is not None else values


# MAEB's probe (MTEB's ``AbsTaskClassification``): scikit-learn's ``LogisticRegression(max_iter=100)`` on the
# pooled clip vectors, one per label for multi-label tasks; no epochs, so nothing is selected on validation data
# (its validation score is recorded all the same).
MAX_ITER = 100


@head("logreg")
def logreg(data: RoundData, context: HeadContext) -> RoundScore:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    kind, n_classes = context.task.label.kind, context.task.label.class_count
    model = LogisticRegression(max_iter=MAX_ITER, random_state=context.settings.seed)
    classifier = OneVsRestClassifier(model) if kind == MULTI else model
    with warnings.catch_warnings():  # as MTEB: 100 iterations, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(data.train.pooled, stack_targets(data.train.known_targets, kind))

    def outputs(pooled: np.ndarray) -> np.ndarray:
        """Class probabilities [N, classes]; a class the training clips lack scores 0."""
        if kind == MULTI:
            return classifier.predict_proba(pooled)
        scores = np.zeros((len(pooled), n_classes))
        scores[:, classifier.classes_] = classifier.predict_proba(pooled)
        return scores

    valid = context.metric(stack_targets(data.valid.known_targets, kind), outputs(data.valid.pooled))
    targets, scores = stack_targets(data.test.known_targets, kind), outputs(data.test.pooled)
    predictions = clip_predictions(context.metric.name, data.test.clip_keys, targets, scores)
    return RoundScore(test=context.metric(targets, scores), valid=valid, predictions=predictions)
