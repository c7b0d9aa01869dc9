"""Memory back-off: an encoder call that runs out of memory (CUDA or CPU allocation) is retried on half the
batch, by crops and by seconds of padded audio, down to one crop; a crop that does not fit alone is encoded in
chunks of half its length (a multiple of the hop), halved again until they fit. The sizes that worked are kept
for the rest of the run (``MemoryLimits`` lives with the loaded encoder) and written into the record."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xares_hydra.encode.contract import Crop, EncodedCrops

log = logging.getLogger(__name__)

# CPU allocators say so in a RuntimeError (DefaultCPUAllocator) rather than a MemoryError
OUT_OF_MEMORY_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(text in str(error).lower() for text in OUT_OF_MEMORY_MESSAGES)


def release_memory(device: torch.device) -> None:
    """What the failed call left allocated goes back to the device before the retry."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


@dataclass
class MemoryLimits:
    """The largest encoder calls known to fit, once one did not (None: as the settings say)."""

    batch_size: int | None = None
    max_batch_seconds: float | None = None
    # a crop longer than this is encoded in chunks of it
    chunk_samples: int | None = None
    out_of_memory: int = 0
    rate: int = 16000

    def next_part(self, batch: Sequence[Crop], width: int | None = None) -> list[Crop]:
        """The first crops of ``batch`` (longest first, or of one length) that one call within the limits takes;
        ``width``: every call is padded to it (X-ARES's batches), else to its own longest crop."""
        size = 1
        while size < len(batch) and not self.chunked(batch[0]) and self._fits(batch[: size + 1], width):
            size += 1
        return list(batch[:size])

    def _fits(self, part: Sequence[Crop], width: int | None) -> bool:
        if self.batch_size is not None and len(part) > self.batch_size:
            return False
        padded = len(part) * (width or max(len(item.audio) for item in part))
        return self.max_batch_seconds is None or padded <= self.max_batch_seconds * self.rate

    def chunked(self, item: Crop) -> bool:
        return self.chunk_samples is not None and len(item.audio) > self.chunk_samples

    def halve(self, part: Sequence[Crop], width: int | None, error: BaseException) -> None:
        """After ``part`` (several crops) ran out of memory: at most half its crops and half its padded seconds."""
        self.out_of_memory += 1
        seconds = len(part) * (width or max(len(item.audio) for item in part)) / self.rate
        self.batch_size = max(1, len(part) // 2)
        self.max_batch_seconds = min(self.max_batch_seconds or math.inf, seconds / 2)
        log.warning("Out of memory encoding %d crops (%.1f s of padded audio: %s); from now on at most %d crops and "
                    "%.1f s per encoder call", len(part), seconds, _first_line(error), self.batch_size,
                    self.max_batch_seconds)  # fmt: skip

    def summary(self) -> dict[str, Any] | None:
        if not self.out_of_memory:
            return None
        return {
            "out_of_memory": self.out_of_memory,
            "batch_size": self.batch_size,
            "max_batch_seconds": self.max_batch_seconds,
            "chunk_seconds": None if self.chunk_samples is None else self.chunk_samples / self.rate,
        }


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


class CropDoesNotFit(Exception):
    """A crop that runs out of memory alone, in chunks down to the shortest allowed."""


def encode_in_chunks(
    item: Crop,
    run: Callable[[list[Crop]], EncodedCrops],
    limits: MemoryLimits,
    hop_samples: int,
    shortest: int,
    device: torch.device,
) -> EncodedCrops:
    """One crop encoded in chunks of ``limits.chunk_samples`` (or half its length), halved until they fit; the
    chunks' frames are joined and the clip vector is their mean over all of them."""
    chunk = limits.chunk_samples or _hop_multiple(len(item.audio) // 2, hop_samples)
    while True:
        if chunk < max(shortest, hop_samples):
            raise CropDoesNotFit(f"alone and in chunks down to {2 * chunk / limits.rate:.2f} s")
        try:
            pieces = [run([piece]) for piece in chunk_crops(item, chunk, shortest)]
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            release_memory(device)
            limits.out_of_memory += 1
            log.warning("Out of memory encoding %s alone in chunks of %.1f s (%s); halving the chunks", item.key,
                        chunk / limits.rate, _first_line(error))  # fmt: skip
            chunk = _hop_multiple(chunk // 2, hop_samples)
            continue
        if limits.chunk_samples != chunk:
            limits.chunk_samples = chunk
            seconds = chunk / limits.rate
            log.warning("Crops longer than %.1f s are encoded in chunks of that length from now on", seconds)
        return joined(pieces)


def _hop_multiple(samples: int, hop_samples: int) -> int:
    return samples - samples % max(1, hop_samples)


def chunk_crops(item: Crop, chunk: int, shortest: int) -> list[Crop]:
    """The crop cut into consecutive pieces of ``chunk`` samples; a short last piece is zero-padded to
    ``shortest`` and keeps only its own frames, as a short clip does."""
    pieces = []
    for start in range(0, len(item.audio), chunk):
        audio = item.audio[start : start + chunk]
        own = len(audio) if len(audio) < shortest else None
        audio = audio if own is None else np.pad(audio, (0, shortest - own))
        pieces.append(Crop(item.key, item.clip_key, item.index, audio, item.labels, n_samples=own))
    return pieces


def joined(pieces: Sequence[EncodedCrops]) -> EncodedCrops:
    """The encodings of one crop's chunks (one row each) as one row: frames joined, means weighted by frames."""
    counts = np.array([piece.frame_counts[0] for piece in pieces])
    weights = counts / counts.sum()

    def mean(name: str) -> np.ndarray | None:
        values = [getattr(piece, name) for piece in pieces]
        return None if values[0] is None else sum(w * v for w, v in zip(weights, values)).astype(np.float32)

    def frames(name: str, axis: int) -> np.ndarray | None:
        values = [getattr(piece, name) for piece in pieces]
        if values[0] is None:
            return None
        return np.concatenate([np.take(v, range(n), axis=axis) for v, n in zip(values, counts)], axis=axis)

    pooled = mean("pooled")
    assert pooled is not None, "every encoding has clip vectors"
    return EncodedCrops(
        pooled=pooled,
        frame_counts=[int(counts.sum())],
        frames=frames("frames", 1),
        layer_pooled=mean("layer_pooled"),
        layer_frames=frames("layer_frames", 2),
    )
