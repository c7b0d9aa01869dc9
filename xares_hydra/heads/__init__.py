"""Heads trained or fitted on cached embeddings: one registered function per head kind takes one evaluation
round (train / valid / test embedding sets with their targets) and returns a ``RoundScore``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xares_hydra.choice import Choice
from xares_hydra.data.labels import REGRESSION, SINGLE
from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.encode.cache import WEIGHTED
from xares_hydra.errors import ConfigError, require_number
from xares_hydra.registry import Registry

if TYPE_CHECKING:  # the config schema imports HeadSettings: torch and scikit-learn load where used
    import torch

    from xares_hydra.data.taskspec import TaskSpec
    from xares_hydra.encode.cache import EmbeddingSet
    from xares_hydra.heads.metrics import Metric
    from xares_hydra.heads.predictions import Predictions


# head.probe: linear trains the task type's own head on clip tasks; any other probe is the head of its name
class Probe(Choice):
    linear = "linear"
    logreg = "logreg"


# head value -> the task value it defaults to (``head=probe`` interpolates them; the report's column identity
# writes a head value equal to its task's as "task default")
TASK_DEFAULTS = {"lr": "learning_rate", "epochs": "epochs", "batch_size": "batch_size_train", "knn": "do_knn"}


# head settings the kNN head does not read (only the trained head does): kNN results do not differ by them
TRAINED_HEAD_ONLY = ("mlp", "lr", "epochs", "batch_size", "weight_decay", "hidden_dim", "decay_fraction")


@dataclass
class HeadSettings:
    """Probe settings (the ``head`` config group; also its typed schema). The task-derived values default to the
    task schema's (in the config, to the task's own: ``TASK_DEFAULTS``); seed and device to the root's."""

    name: str = "probe"
    mlp: bool = True
    knn: bool = TaskSchema.do_knn
    lr: float = TaskSchema.learning_rate
    epochs: int = TaskSchema.epochs
    batch_size: int = TaskSchema.batch_size_train
    weight_decay: float = 0.0
    # null = LayerNorm + Linear (X-ARES); an int adds one hidden layer of that width
    hidden_dim: int | None = None
    # cosine decay per epoch from lr to decay_fraction * lr
    decay_fraction: float = 0.1
    k: int = 10
    temperature: float = 0.07
    seed: int = 42
    # auto = cuda when available, else cpu
    device: str = "auto"
    # which hidden layer the heads read: null = the encoder's output, N (negative from the end), or
    # "weighted" (learned softmax weights over every layer, trained with the probe, as SUPERB does)
    layer: Any = None
    # torch threads of the heads on the CPU; null = the job's. Small heads' operations are too small to split:
    # a second thread mostly waits for the first (ten times slower on a busy machine); not part of a result's identity
    cpu_threads: int | None = None
    # the trained clip probe: linear (LayerNorm + Linear, Adam: X-ARES's) or logreg (scikit-learn's
    # LogisticRegression, MAEB's); its result is the "mlp" slot either way
    probe: Probe = Probe.linear
    # few-shot: train on this many clips per class (multi-label: positives per label), null = the whole training
    # split; over ``draws`` seeded draws, the same for every encoder (README "Few-shot")
    shots: int | None = None
    draws: int = 5

    def __post_init__(self) -> None:
        optional = [key for key in ("cpu_threads", "shots", "hidden_dim") if getattr(self, key) is not None]
        for key in ("epochs", "batch_size", "lr", "k", "temperature", "draws", *optional):
            require_number(f"head.{key}", getattr(self, key))
        for key in ("weight_decay", "decay_fraction"):
            require_number(f"head.{key}", getattr(self, key), inclusive=True)
        layer = self.layer
        if not (layer is None or layer == WEIGHTED or (isinstance(layer, int) and not isinstance(layer, bool))):
            raise ConfigError(f"head.layer={layer!r}; use null (the encoder's output), a layer number or weighted")

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
    """One round's splits (``vars`` of it: each by name, in this order)."""

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


@dataclass(frozen=True)
class Head:
    name: str
    run: Callable[[RoundData, HeadContext], RoundScore]
    selects_model: bool = True


def _register_builtin_heads() -> None:
    from xares_hydra.heads import asr, frame, knn, linear_probe, retrieval  # noqa: F401  (they register)


# the built-in heads (torch, scikit-learn, faiss) register on the first lookup
HEADS: Registry[Head] = Registry("head", "head", loader=_register_builtin_heads)
TRAINED_HEAD_OF_TASK_TYPE = {
    "clip": "linear_probe", "regression": "linear_probe", "frame": "frame_probe", "contrastive": "retrieval",
    "asr": "asr",
}  # fmt: skip


# ``@head(name)`` registers a head; ``selects_model=False`` for heads that fit without validation (kNN)
head = HEADS.decorator(Head)


def heads_for(task: TaskSpec, settings: HeadSettings) -> dict[str, str]:
    """Result slot ("mlp" for the trained head, as X-ARES names it; "knn") -> registered head."""
    chosen = {}
    if settings.mlp:
        chosen["mlp"] = TRAINED_HEAD_OF_TASK_TYPE[task.task_type]
        if settings.probe != Probe.linear:
            if task.task_type != "clip" or task.label.kind == REGRESSION:
                raise ConfigError(f"head.probe={settings.probe} classifies clips; task {task.name} is "
                                  f"{task.task_type} (use head.probe=linear)")  # fmt: skip
            chosen["mlp"] = str(settings.probe)
    if settings.knn and task.task_type in ("clip", "regression") and task.label.kind in (SINGLE, REGRESSION):
        chosen["knn"] = "knn"
    return chosen
