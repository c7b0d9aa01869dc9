"""Few-shot draws (``head.shots``): K training clips per class, or for multi-label tasks K positives per label
picked greedily. A draw depends only on the clips' keys and labels, the seed and the draw's number, never on the
encoder or the order clips were cached in, so every encoder trains on the same clips (paired tests stay valid)."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict

import numpy as np

from xares_hydra.data.labels import MULTI, SINGLE, LabelSpec
from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.errors import ConfigError

log = logging.getLogger(__name__)


def draw_rank(clip_key: str, seed: int, draw: int) -> int:
    """A clip's place in draw ``draw``: a hash of the seed, the draw and its key."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{draw}/{clip_key}".encode()).digest()[:8], "big")


def few_shot_clips(clip_labels: dict[str, np.ndarray], kind: str, shots: int, seed: int, draw: int) -> list[str]:
    """The clip keys of one draw. ``clip_labels``: per clip its class index (single-label) or multi-hot vector."""
    order = sorted(clip_labels, key=lambda key: (draw_rank(key, seed, draw), key))
    chosen: list[str] = []
    if kind == SINGLE:
        taken: dict[int, int] = defaultdict(int)
        for key in order:
            label = int(clip_labels[key])
            if taken[label] < shots:
                taken[label] += 1
                chosen.append(key)
        return chosen
    hot = np.stack([clip_labels[key] for key in order]) > 0.5
    counts = np.zeros(hot.shape[1], dtype=np.int64)
    picked = np.zeros(len(order), dtype=bool)
    for label in np.argsort(hot.sum(axis=0), kind="stable"):  # rarest label first, so common ones fill up on the way
        for row in np.flatnonzero(hot[:, label] & ~picked):
            if counts[label] >= shots:
                break
            picked[row] = True
            counts += hot[row]
    return [order[row] for row in np.flatnonzero(picked)]


def few_shot_subset(
    train: EmbeddingSet, label: LabelSpec, shots: int, seed: int, draw: int, task_name: str = "task"
) -> EmbeddingSet:
    """The training samples (every crop) of the clips that draw ``draw`` picks."""
    if label.kind not in (SINGLE, MULTI):
        raise ConfigError(
            f"head.shots draws clips per class: task {task_name} has {label.kind} targets (use head.shots=null)"
        )
    clip_labels: dict[str, np.ndarray] = {}
    for clip_key, target in zip(train.clip_keys, train.known_targets):
        clip_labels.setdefault(clip_key, np.asarray(target))
    chosen = set(few_shot_clips(clip_labels, label.kind, shots, seed, draw))
    if draw == 0:
        _log_short_classes(clip_labels, label, shots, task_name)
    return train.subset([row for row, key in enumerate(train.clip_keys) if key in chosen])


def _log_short_classes(clip_labels: dict[str, np.ndarray], label: LabelSpec, shots: int, task_name: str) -> None:
    labels = np.stack(list(clip_labels.values()))
    per_class = np.bincount(labels.astype(np.int64)) if label.kind == SINGLE else (labels > 0.5).sum(axis=0)
    short = np.flatnonzero((per_class > 0) & (per_class < shots))
    if len(short):
        names = [str(label.classes[index]) if label.classes else str(index) for index in short[:10]]
        log.warning("%s: %d class(es) have fewer than %d training clips (all of them are used): %s", task_name,
                    len(short), shots, ", ".join(names))  # fmt: skip
