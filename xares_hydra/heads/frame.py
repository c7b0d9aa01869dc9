"""Frame-level probe (DESED, MAESTRO): LayerNorm + Linear on every encoder frame, trained on the events'
frames at the encoder's hop (X-ARES's ``sec_to_frames``), one memory-mapped batch of clips at a time;
padding frames count neither in the loss nor in the metric (X-ARES scores them as silence).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from xares_hydra.encode.cache import EmbeddingSet
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HeadContext, RoundData, RoundScore, head
from xares_hydra.heads.linear_probe import build_probe, make_criterion
from xares_hydra.heads.predictions import SEGMENTS, Predictions
from xares_hydra.heads.training import fit, length_batches, require_frames, seeded, shuffled_batches

Event = tuple[float, float, int]


def seconds_to_frames(seconds: float, hop_s: float) -> int:
    """ceil(seconds / hop), tolerant of float noise (0.07 / 0.01 is 7, not 8)."""
    return math.ceil(seconds / hop_s - 1e-9)


def frame_targets(events: Sequence[Event], n_frames: int, n_classes: int, hop_s: float, start_s: float = 0.0):
    """[n_frames, n_classes] 0/1 float32 activity of the events, times relative to ``start_s`` (a crop's start)."""
    targets = np.zeros((n_frames, n_classes), dtype=np.float32)
    for onset, offset, class_index in events:
        first = max(0, seconds_to_frames(onset - start_s, hop_s))
        last = min(n_frames, seconds_to_frames(offset - start_s, hop_s))
        targets[first:last, class_index] = 1.0
    return targets


@dataclass
class FrameBatch:
    features: torch.Tensor  # [B, T, D], zero-padded
    targets: torch.Tensor  # [B, T, C]
    mask: torch.Tensor  # [B, T] bool, True on real frames
    lengths: list[int]
    indices: np.ndarray


@dataclass
class FrameClips:
    """One split's clips: frames read from the cache per batch, targets built from events per batch."""

    embeddings: EmbeddingSet
    n_classes: int
    hop_s: float
    crop_length: float | None
    device: torch.device

    def targets(self, index: int) -> np.ndarray:
        start = float(self.embeddings.crops[index]) * (self.crop_length or 0.0)
        n_frames = int(self.embeddings.n_frames[index])
        return frame_targets(self.embeddings.known_targets[index], n_frames, self.n_classes, self.hop_s, start)

    def batch(self, indices: np.ndarray) -> FrameBatch:
        lengths = [int(self.embeddings.n_frames[i]) for i in indices]
        frames = [torch.tensor(self.embeddings.frames(i), dtype=torch.float32) for i in indices]
        features = pad_sequence(frames, batch_first=True)
        targets = pad_sequence([torch.from_numpy(self.targets(i)) for i in indices], batch_first=True)
        mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
        return FrameBatch(features.to(self.device), targets.to(self.device), mask.to(self.device), lengths, indices)

    def training_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[FrameBatch]:
        usable = np.flatnonzero(self.embeddings.n_frames > 0)
        return (self.batch(usable[positions]) for positions in shuffled_batches(len(usable), batch_size, generator))


def masked_loss(criterion: torch.nn.Module, logits: torch.Tensor, batch: FrameBatch) -> torch.Tensor:
    """Mean element loss over the real frames (``criterion`` has ``reduction='none'``)."""
    losses = criterion(logits, batch.targets) * batch.mask[..., None]
    return losses.sum() / (batch.mask.sum() * logits.shape[-1])


@torch.no_grad()
def score_frames(
    model: torch.nn.Module, clips: FrameClips, context: HeadContext, batch_size: int
) -> tuple[float, Predictions]:
    """The task metric over every clip, streamed batch by batch, and each clip's segment counts."""
    metric_args = {"hop_size_in_ms": clips.hop_s * 1000, **context.task.metric_args}
    accumulator = context.metric.accumulator(**metric_args)
    model.eval()
    keys, counts = [], []
    for batch in map(clips.batch, length_batches(clips.embeddings.n_frames, batch_size)):
        probabilities = torch.sigmoid(model(batch.features)).float().cpu().numpy()
        targets = batch.targets.cpu().numpy()
        for row, length in enumerate(batch.lengths):
            counts.append(accumulator.update(targets[row, :length], probabilities[row, :length]))
        keys += [clips.embeddings.clip_keys[index] for index in batch.indices]
    stacked = np.stack(counts) if counts else np.zeros((0, 3, clips.n_classes), dtype=np.int64)
    return accumulator.compute(), Predictions(SEGMENTS, context.metric.name, np.asarray(keys), {"counts": stacked})


@head("frame_probe")
def frame_probe(data: RoundData, context: HeadContext) -> RoundScore:
    task, settings = context.task, context.settings
    n_classes, device = task.label.class_count, settings.torch_device
    require_frames(data, context)
    if task.criterion != "BCEWithLogitsLoss":
        raise ConfigError(
            f"frame task {task.name}: task.criterion={task.criterion!r}; frame probes use BCEWithLogitsLoss"
        )
    if (hop_ms := float(context.encoder_info.get("hop_size_in_ms") or 0)) <= 0:
        raise ConfigError("frame tasks need the encoder's hop_size_in_ms (frame rate); the encoder reports none")
    clips = {
        name: FrameClips(subset, n_classes, hop_ms / 1000, task.crop_length, device)
        for name, subset in vars(data).items()
    }
    model = seeded(settings.seed, lambda: build_probe(data.train.dim, n_classes, settings.hidden_dim), device)
    criterion = make_criterion(task.criterion, {**task.criterion_args, "reduction": "none"}).to(device)

    history = fit(
        model,
        context,
        lambda generator: clips["train"].training_batches(settings.batch_size, generator),
        lambda batch: masked_loss(criterion, model(batch.features), batch),
        lambda: score_frames(model, clips["valid"], context, settings.batch_size)[0],
    )
    return history.score(*score_frames(model, clips["test"], context, settings.batch_size))
