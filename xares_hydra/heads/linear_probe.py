"""X-ARES's "MLP": LayerNorm + Linear on pooled clip embeddings.

Adam, learning rate decayed per epoch on a cosine from ``lr`` to ``decay_fraction * lr``;
after every epoch the validation metric is computed and the best epoch's weights are tested.
Training runs from in-memory tensors with a seeded generator, so scores repeat exactly.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.labels import MULTI, REGRESSION, SINGLE
from xares_hydra.metrics import Metric

CRITERIA = {
    "CrossEntropyLoss": torch.nn.CrossEntropyLoss,
    "BCEWithLogitsLoss": torch.nn.BCEWithLogitsLoss,
    "MSELoss": torch.nn.MSELoss,
    "L1Loss": torch.nn.L1Loss,
}


def stack_targets(targets: list, kind: str) -> np.ndarray:
    if kind == SINGLE:
        return np.asarray(targets, dtype=np.int64)
    if kind == MULTI:
        return np.stack(targets).astype(np.float32)
    if kind == REGRESSION:
        return np.asarray(targets, dtype=np.float32)
    raise ConfigError(f"label kind {kind!r} has no clip-level targets")


def build_probe(in_dim: int, out_dim: int, hidden_dim: int | None) -> torch.nn.Module:
    if hidden_dim is None:
        return torch.nn.Sequential(torch.nn.LayerNorm(in_dim), torch.nn.Linear(in_dim, out_dim))
    return torch.nn.Sequential(
        torch.nn.LayerNorm(in_dim),
        torch.nn.Linear(in_dim, hidden_dim),
        torch.nn.GELU(),
        torch.nn.Linear(hidden_dim, out_dim),
    )


def cosine_lr(epoch: int, epochs: int, lr: float, decay_fraction: float) -> float:
    """Learning rate of 0-based ``epoch``: cosine from lr (first epoch) towards decay_fraction * lr."""
    if epochs <= 1:
        return lr
    floor = lr * decay_fraction
    return floor + (lr - floor) * (1 + math.cos(math.pi * epoch / epochs)) / 2


def make_criterion(name: str, args: dict) -> torch.nn.Module:
    if name not in CRITERIA:
        raise ConfigError(f"task.criterion={name!r} is not supported for clip tasks; use one of {list(CRITERIA)}")
    kwargs = dict(args)
    if "pos_weight" in kwargs:
        kwargs["pos_weight"] = torch.tensor(float(kwargs["pos_weight"]))
    return CRITERIA[name](**kwargs)


@head("linear_probe")
def linear_probe(data: RoundData, context: HeadContext) -> RoundScore:
    kind = context.task.label.kind
    out_dim = 1 if kind == REGRESSION else context.task.label.n_classes
    device = context.settings.torch_device
    splits = {
        name: (
            torch.from_numpy(np.ascontiguousarray(subset.pooled, dtype=np.float32)).to(device),
            torch.from_numpy(stack_targets(subset.targets, kind)).to(device),
        )
        for name, subset in (("train", data.train), ("valid", data.valid), ("test", data.test))
    }
    return train_probe(
        splits,
        out_dim,
        make_criterion(context.task.criterion, context.task.criterion_args),
        context.metric,
        context,
        kind,
    )


def train_probe(
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    out_dim: int,
    criterion: torch.nn.Module,
    metric: Metric,
    context: HeadContext,
    kind: str,
) -> RoundScore:
    settings = context.settings
    train_x, train_y = splits["train"]
    torch.manual_seed(settings.seed)
    model = build_probe(train_x.shape[1], out_dim, settings.hidden_dim).to(train_x.device)
    criterion = criterion.to(train_x.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    shuffle = torch.Generator().manual_seed(settings.seed)
    best_state, best_valid, best_epoch, history = None, None, None, []
    for epoch in range(settings.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(epoch, settings.epochs, settings.lr, settings.decay_fraction)
        model.train()
        order = torch.randperm(len(train_x), generator=shuffle).to(train_x.device)
        for start in range(0, len(order), settings.batch_size):
            batch = order[start : start + settings.batch_size]
            optimizer.zero_grad()
            loss = criterion(_squeeze(model(train_x[batch]), kind), train_y[batch])
            loss.backward()
            optimizer.step()
        valid_score = _score(model, splits["valid"], metric, kind)
        history.append(valid_score)
        if metric.better(valid_score, best_valid):
            best_state, best_valid, best_epoch = copy.deepcopy(model.state_dict()), valid_score, epoch + 1
    if best_state is not None:
        model.load_state_dict(best_state)
    return RoundScore(
        test=_score(model, splits["test"], metric, kind),
        valid=best_valid,
        best_epoch=best_epoch,
        extra={"valid_history": history},
    )


def _squeeze(outputs: torch.Tensor, kind: str) -> torch.Tensor:
    return outputs.squeeze(-1) if kind == REGRESSION else outputs


@torch.no_grad()
def _score(model: torch.nn.Module, split: tuple[torch.Tensor, torch.Tensor], metric: Metric, kind: str) -> float:
    model.eval()
    features, targets = split
    outputs = torch.cat([model(chunk) for chunk in features.split(4096)])
    if kind == MULTI:
        outputs = torch.sigmoid(outputs)
    return metric(targets.cpu().numpy(), _squeeze(outputs, kind).float().cpu().numpy())
