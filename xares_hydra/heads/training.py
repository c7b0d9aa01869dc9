"""What every trained head shares: its task arguments, X-ARES's epoch loop (Adam, cosine decay per epoch,
the best validation epoch's weights restored) and seeded batch orders.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadContext, RoundData, RoundScore
from xares_hydra.heads.adam import Adam
from xares_hydra.heads.predictions import Predictions

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Args = TypeVar("Args", bound="DataclassInstance")
Model = TypeVar("Model", bound=torch.nn.Module)
Batch = TypeVar("Batch")

log = logging.getLogger(__name__)
# an epoch's progress line is logged when this long has passed since the last one (fast heads stay quiet;
# a head that logged one also logs its last epoch)
PROGRESS_SECONDS = 2.0


def cosine_lr(epoch: int, epochs: int, lr: float, decay_fraction: float) -> float:
    """Learning rate of 0-based ``epoch``: cosine from lr (first epoch) towards decay_fraction * lr."""
    if epochs <= 1:
        return lr
    floor = lr * decay_fraction
    return floor + (lr - floor) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def head_arguments(cls: type[Args], values: Mapping[str, Any], path: str = "task.head_args") -> Args:
    """``task.head_args`` (or a section of it, at ``path``) as an argument dataclass; unknown keys are config errors."""
    known = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{path} has unknown key(s) {unknown}; known keys: {sorted(known)}")
    return cls(**values)


@dataclass
class TrainingHistory:
    """Per-epoch validation scores and mean training losses; the epoch (1-based) whose weights were kept."""

    valid: float | None = None
    epoch: int | None = None
    valid_history: list[float] = field(default_factory=list)
    loss_history: list[float] = field(default_factory=list)

    def score(self, test: float, predictions: Predictions | None = None, **extra: Any) -> RoundScore:
        history = {"valid_history": self.valid_history, "train_loss_history": self.loss_history}
        return RoundScore(test, self.valid, self.epoch, {**history, **extra}, predictions)


def fit(
    trainable: torch.nn.Module,
    context: HeadContext,
    batches: Callable[[torch.Generator], Iterable[Batch]],
    loss: Callable[[Batch], torch.Tensor],
    validate: Callable[[], float],
) -> TrainingHistory:
    """Train ``trainable``'s parameters for the configured epochs and leave the best epoch's weights in it:
    each epoch one step per ``loss`` of the ``batches`` (shuffled with the generator), then ``validate``."""
    settings = context.settings
    parameters = [parameter for parameter in trainable.parameters() if parameter.requires_grad]
    optimizer = Adam(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    shuffle = torch.Generator().manual_seed(settings.seed)
    history, best_state = TrainingHistory(), None
    last_line, logged = time.monotonic(), False
    for epoch in range(settings.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(epoch, settings.epochs, settings.lr, settings.decay_fraction)
        trainable.train()
        history.loss_history.append(float(np.mean([step(optimizer, loss(batch)) for batch in batches(shuffle)])))
        trainable.eval()
        with torch.no_grad():
            score = float(validate())
        history.valid_history.append(score)
        if context.metric.better(score, history.valid):
            best_state, history.valid, history.epoch = copy.deepcopy(trainable.state_dict()), score, epoch + 1
        if time.monotonic() - last_line >= PROGRESS_SECONDS or (logged and epoch + 1 == settings.epochs):
            best = history.valid if history.valid is not None else float("nan")
            log.info("%s epoch %d/%d: train loss %.4f, valid %s %.4f (best %.4f, epoch %s)", context.task.name,
                     epoch + 1, settings.epochs, history.loss_history[-1], context.metric.name, score, best,
                     history.epoch)  # fmt: skip
            last_line, logged = time.monotonic(), True
    if best_state is not None:
        trainable.load_state_dict(best_state)
    trainable.eval()
    return history


def step(optimizer: Adam, loss: torch.Tensor) -> float:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> list[np.ndarray]:
    order = torch.randperm(n, generator=generator).numpy()
    return [order[start : start + batch_size] for start in range(0, n, batch_size)]


def length_batches(lengths: np.ndarray, batch_size: int, generator: torch.Generator | None = None) -> list[np.ndarray]:
    """Batches of the clips with frames, of similar length (sorted by length, ties by position); in a seeded
    random order if a generator is given, else shortest first."""
    usable = np.flatnonzero(lengths > 0)
    order = usable[np.argsort(lengths[usable], kind="stable")]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if generator is None:
        return batches
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def require_frames(data: RoundData, context: HeadContext) -> None:
    """Frame-reading heads need frame embeddings in every split (``encode.keep_frames``)."""
    for name, subset in vars(data).items():
        if not subset.has_frames:
            if (layer := context.settings.layer) is not None:
                raise ConfigError(
                    f"task {context.task.name}: no frames of hidden layer {layer} are cached; frames are kept only "
                    f"for encode.frame_layers: encode once with encode.layers=all encode.frame_layers=[{layer}] "
                    "(list every layer you will probe)"
                )
            raise ConfigError(
                f"task {context.task.name}: the {name} embeddings were cached without frames; "
                "encode again with encode.keep_frames=true"
            )


def seeded(seed: int, build: Callable[[], Model], device: torch.device) -> Model:
    """The module ``build`` returns, initialised from ``seed`` (the same seed gives the same weights)."""
    torch.manual_seed(seed)
    return build().to(device)
