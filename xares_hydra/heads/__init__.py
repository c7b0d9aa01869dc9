"""Heads trained or fitted on cached embeddings: one registered function per head kind takes one evaluation
round (train / valid / test embedding sets with their targets) and returns a ``RoundScore``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xares_hydra.data.labels import SINGLE
from xares_hydra.registry import Registry

if TYPE_CHECKING:  # the config schema imports HeadSettings: torch and scikit-learn load where used
    import torch

    from xares_hydra.data.taskspec import TaskSpec
    from xares_hydra.encode.cache import EmbeddingSet
    from xares_hydra.heads.metrics import Metric
    from xares_hydra.heads.predictions import Predictions


@dataclass
class HeadSettings:
    """Probe settings (the ``head`` config group; also its typed schema)."""

    name: str = "probe"
    mlp: bool = True
    knn: bool = True
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    weight_decay: float = 0.0
    hidden_dim: int | None = None
    decay_fraction: float = 0.1
    k: int = 10
    temperature: float = 0.07
    seed: int = 42
    device: str = "auto"
    # which hidden layer the heads read: null = the encoder's output, N (negative from the end), or
    # "weighted" (learned softmax weights over every layer, trained with the probe)
    layer: Any = None

    @property
    def torch_device(self) -> torch.device:
        return resolve_device(self.device)


def resolve_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class RoundData:
    train: EmbeddingSet
    valid: EmbeddingSet
    test: EmbeddingSet


@dataclass
class HeadContext:
    task: TaskSpec
    settings: HeadSettings
    metric: Metric
    encoder_info: dict[str, Any]
    # the compat group's switches (compat=xares: X-ARES 0.1.3 behaviour), e.g. knn_feature_normalisation
    compat: dict[str, Any] = field(default_factory=dict)


@dataclass
class RoundScore:
    test: float
    valid: float | None = None
    best_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # per-sample test predictions the score is recomputed from (``heads/predictions.py``)
    predictions: Predictions | None = None


HeadFunction = Callable[[RoundData, HeadContext], RoundScore]


@dataclass(frozen=True)
class Head:
    name: str
    run: HeadFunction
    selects_model: bool = True


def _register_builtin_heads() -> None:
    from xares_hydra.heads import asr, frame, knn, linear_probe, retrieval  # noqa: F401  (they register)


# the built-in heads (torch, scikit-learn, faiss) register on the first lookup
HEADS: Registry[Head] = Registry("head", "head", loader=_register_builtin_heads)
TRAINED_HEAD_OF_TASK_TYPE = {"clip": "linear_probe", "frame": "frame_probe", "contrastive": "retrieval", "asr": "asr"}


def head(name: str, selects_model: bool = True) -> Callable[[HeadFunction], HeadFunction]:
    """Register a head; ``selects_model=False`` for heads that fit without validation (kNN)."""

    def register(function: HeadFunction) -> HeadFunction:
        HEADS.add(name, Head(name, function, selects_model))
        return function

    return register


def heads_for(task: TaskSpec, settings: HeadSettings) -> dict[str, str]:
    """Result slot ("mlp" for the trained head, as X-ARES names it; "knn") -> registered head."""
    chosen = {}
    if settings.mlp:
        chosen["mlp"] = TRAINED_HEAD_OF_TASK_TYPE[task.task_type]
    if settings.knn and task.task_type == "clip" and task.label.kind == SINGLE:
        chosen["knn"] = "knn"
    return chosen
