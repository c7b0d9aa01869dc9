"""Encode stage: tar shards -> audio crops -> encoder -> embedding cache, once per shard.

Audio is decoded and resampled in worker threads (soundfile and torch release the GIL) ahead of the
encoder, and the cache is written by another thread behind it. ``batching`` chooses the batches:

- ``bucketed`` (default): crops sorted by length within ``buffer_seconds`` of audio, batches of at
  most ``batch_size`` crops and ``max_batch_seconds`` of padded audio, zero-padded to the batch's
  longest crop. The encoder is told the padding (``lengths`` or an attention mask) when its forward
  takes it; each crop keeps only its own frames and is pooled over those.
- ``exact``: only crops of identical length share a batch: no padding, bit-identical to alone.
- ``xares``: X-ARES's batches (``batch_size`` crops in tar order, zero-padded, padding pooled).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xares_hydra.console import shard_progress
from xares_hydra.data.audio import AudioProblem, crop, decode_audio
from xares_hydra.data.shards import ShardSample, iter_shard
from xares_hydra.encode.cache import EncoderCache, ShardCounts, ShardWriter
from xares_hydra.encode.contract import EncodedBatch, check_output, forward, forward_padded
from xares_hydra.encode.encoder_spec import EncoderSpec
from xares_hydra.encode.loaded import loaded_encoder
from xares_hydra.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeSettings:
    batch_size: int = 16
    max_batch_seconds: float = 600.0
    buffer_seconds: float = 1800.0
    decode_threads: int = 2
    keep_frames: bool = False
    autocast: str | None = None
    crop_length: float | None = None
    pad_short_crops: bool = False
    batching: str = "bucketed"


@dataclass
class Crop:
    key: str
    clip_key: str
    index: int
    audio: np.ndarray
    labels: Any

    def meta(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "clip_key": self.clip_key,
            "crop": self.index,
            "n_samples": len(self.audio),
            "labels": self.labels,
        }


def encode_shards(
    encoder: torch.nn.Module,
    shards: Iterable[Path],
    cache: EncoderCache,
    settings: EncodeSettings,
    device: torch.device,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, ShardCounts]:
    """Encode every shard not yet complete in the cache; concurrent callers encode each shard once."""
    encoded = {}
    for shard in shards:
        with cache.lock(shard):
            if cache.is_complete(shard, need_frames=settings.keep_frames):
                continue
            log.info("Encoding %s", shard.name)
            writer = cache.writer(shard, int(encoder.output_dim), settings.keep_frames)
            try:
                encoded[shard.name] = encode_shard(encoder, shard, writer, settings, device, on_progress)
            except BaseException:
                writer.abort()
                raise
    return encoded


def encode_shard(
    encoder: torch.nn.Module,
    shard: Path,
    writer: ShardWriter,
    settings: EncodeSettings,
    device: torch.device,
    on_progress: Callable[[str, int], None] | None = None,
) -> ShardCounts:
    counts = ShardCounts()
    started = time.perf_counter()
    rate = int(encoder.sampling_rate)
    crops = _decoded_crops(shard, rate, settings, counts)
    with WriteBehind(writer) as behind:
        for batch in batches(crops, settings, rate):
            behind.add(batch, _run_encoder(encoder, batch, settings, device, shard))
            counts.crops += len(batch)
            if on_progress is not None:
                on_progress(shard.name, len(batch))
    counts.encode_seconds = time.perf_counter() - started
    writer.finish(counts)
    _log_problems(shard, counts)
    return counts


def _decoded_crops(shard: Path, rate: int, settings: EncodeSettings, counts: ShardCounts) -> Iterator[Crop]:
    crop_samples = round(settings.crop_length * rate) if settings.crop_length else None
    with ThreadPoolExecutor(max(1, settings.decode_threads)) as pool:
        pending: deque[tuple[ShardSample, Future]] = deque()
        for sample in iter_shard(shard):
            if sample.problem is not None:
                _skip(counts, shard, sample.key, sample.problem)
                continue
            pending.append((sample, pool.submit(decode_audio, sample.audio, rate)))
            if len(pending) >= 8 * max(1, settings.decode_threads):
                yield from _finish_decode(pending.popleft(), shard, rate, crop_samples, settings, counts)
        while pending:
            yield from _finish_decode(pending.popleft(), shard, rate, crop_samples, settings, counts)


def _finish_decode(
    job: tuple[ShardSample, Future],
    shard: Path,
    rate: int,
    crop_samples: int | None,
    settings: EncodeSettings,
    counts: ShardCounts,
) -> Iterator[Crop]:
    sample, future = job
    try:
        decoded = future.result()
    except AudioProblem as problem:
        _skip(counts, shard, sample.key, str(problem))
        return
    counts.samples += 1
    counts.audio_seconds += len(decoded.samples) / rate
    if decoded.silent:
        counts.warn("silent audio")
    if decoded.clipped:
        counts.warn("clipped audio")
    if decoded.channels > 1:
        counts.warn("multi-channel audio mixed to mono")
    pieces = crop(decoded.samples, crop_samples, settings.pad_short_crops)
    for index, piece in enumerate(pieces):
        key = sample.key if len(pieces) == 1 else f"{sample.key}#{index}"
        yield Crop(key=key, clip_key=sample.key, index=index, audio=piece, labels=sample.labels)


def _skip(counts: ShardCounts, shard: Path, key: str, reason: str) -> None:
    category = reason.split(" (")[0].split(":")[0]
    counts.skip(category)
    log.warning("Skipping %s in %s: %s", key, shard.name, reason)


def batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    if settings.batching not in BATCHERS:
        raise ConfigError(f"encode.batching={settings.batching!r}; use {', '.join(sorted(BATCHERS))}")
    return BATCHERS[settings.batching](crops, settings, rate)


def _bucketed_batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    """Crops sorted by length within ``buffer_seconds`` of audio, cut into batches within the limits."""
    buffer: list[Crop] = []
    buffered = 0
    for item in crops:
        buffer.append(item)
        buffered += len(item.audio)
        if buffered > settings.buffer_seconds * rate:
            yield from _sorted_batches(buffer, settings, rate)
            buffer, buffered = [], 0
    yield from _sorted_batches(buffer, settings, rate)


def _sorted_batches(buffer: list[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    # longest first: a batch that does not fit in memory fails at the start, not after an hour
    ordered = sorted(buffer, key=lambda item: (-len(item.audio), item.key))
    limit = _batch_limit(settings, rate)
    start = 0
    while start < len(ordered):
        size = limit(len(ordered[start].audio))
        yield ordered[start : start + size]
        start += size


def _equal_length_batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    """Group crops of identical length, holding at most ``buffer_seconds`` of audio at a time."""
    buckets: dict[int, list[Crop]] = {}
    buffered = 0
    limit = _batch_limit(settings, rate)
    for item in crops:
        bucket = buckets.setdefault(len(item.audio), [])
        bucket.append(item)
        buffered += len(item.audio)
        if len(bucket) >= limit(len(item.audio)):
            buffered -= sum(len(c.audio) for c in bucket)
            yield buckets.pop(len(item.audio))
        if buffered > settings.buffer_seconds * rate:
            yield from (buckets[length] for length in sorted(buckets))
            buckets, buffered = {}, 0
    yield from (buckets[length] for length in sorted(buckets))


def _padded_batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    """X-ARES: consecutive crops in tar order, ``batch_size`` at a time."""
    batch: list[Crop] = []
    for item in crops:
        batch.append(item)
        if len(batch) == settings.batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _batch_limit(settings: EncodeSettings, rate: int) -> Callable[[int], int]:
    def limit(length: int) -> int:
        by_seconds = int(settings.max_batch_seconds * rate // max(length, 1))
        return max(1, min(settings.batch_size, by_seconds))

    return limit


BATCHERS = {"bucketed": _bucketed_batches, "exact": _equal_length_batches, "xares": _padded_batches}


@dataclass
class EncodedCrops:
    pooled: np.ndarray  # [B, D]
    frame_counts: list[int]
    frames: np.ndarray | None  # [B, T', D] when frames are kept


def _run_encoder(
    encoder: torch.nn.Module, batch: list[Crop], settings: EncodeSettings, device: torch.device, shard: Path
) -> EncodedCrops:
    lengths = [len(item.audio) for item in batch]
    where = f"{shard.name}: {batch[0].key}"
    if settings.batching == "xares":
        output = forward(encoder, _padded_audio(batch, device), settings.autocast)
        check_output(output, len(batch), int(encoder.output_dim), where)
        encoded = EncodedBatch(output, [output.shape[1]] * len(batch))  # X-ARES pools the padding too
    else:
        encoded = forward_padded(encoder, _padded_audio(batch, device), lengths, settings.autocast, where)
    frames = encoded.frames.float()
    counts = torch.tensor(encoded.frame_counts, device=frames.device)
    kept = torch.arange(frames.shape[1], device=frames.device)[None, :] < counts[:, None]
    pooled = (frames * kept[..., None]).sum(dim=1) / counts[:, None]
    return EncodedCrops(
        pooled=pooled.cpu().numpy(),
        frame_counts=encoded.frame_counts,
        frames=frames.cpu().numpy() if settings.keep_frames else None,
    )


def _padded_audio(batch: list[Crop], device: torch.device) -> torch.Tensor:
    """``[B, longest]`` zero-padded; on CUDA built in pinned memory and copied without blocking."""
    audio = torch.zeros(len(batch), max(len(item.audio) for item in batch), pin_memory=device.type == "cuda")
    for row, item in enumerate(batch):
        audio[row, : len(item.audio)] = torch.from_numpy(item.audio)
    return audio.to(device, non_blocking=True)


class WriteBehind:
    """Adds encoded batches to a ShardWriter in a thread, so the encoder does not wait on the disk."""

    def __init__(self, writer: ShardWriter, depth: int = 4) -> None:
        self.writer = writer
        self.depth = depth
        self.pending: deque[Future] = deque()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="cache-writer")

    def add(self, batch: list[Crop], encoded: EncodedCrops) -> None:
        self.pending.append(self.pool.submit(_add_batch, self.writer, batch, encoded))
        if len(self.pending) > self.depth:
            self.pending.popleft().result()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        try:
            while self.pending and kind is None:
                self.pending.popleft().result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _add_batch(writer: ShardWriter, batch: list[Crop], encoded: EncodedCrops) -> None:
    for row, item in enumerate(batch):
        frames = encoded.frames[row, : encoded.frame_counts[row]] if encoded.frames is not None else None
        writer.add(item.meta(), encoded.frame_counts[row], frames, encoded.pooled[row])


def _log_problems(shard: Path, counts: ShardCounts) -> None:
    if counts.skipped:
        log.warning("%s: skipped %s", shard.name, ", ".join(f"{n} x {r}" for r, n in counts.skipped.items()))
    if counts.warnings:
        log.info("%s: %s", shard.name, ", ".join(f"{n} x {r}" for r, n in counts.warnings.items()))


def encoder_attributes(encoder: torch.nn.Module) -> dict[str, Any]:
    attributes = {
        "sampling_rate": int(encoder.sampling_rate),
        "output_dim": int(encoder.output_dim),
        "hop_size_in_ms": float(encoder.hop_size_in_ms),
        "class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
    }
    if isinstance(getattr(encoder, "behaviour", None), str):  # our wrappers: ours or X-ARES's (compat=xares)
        attributes["behaviour"] = encoder.behaviour
    return attributes


def ensure_encoded(
    spec: EncoderSpec,
    cache: EncoderCache,
    shards: list[Path],
    settings: EncodeSettings,
    device: torch.device,
    check_first: bool = True,
) -> dict[str, Any]:
    """Encode what the cache lacks; returns the encoder's attributes. Builds the encoder only if needed."""
    todo = [shard for shard in shards if not cache.is_complete(shard, settings.keep_frames)]
    info = cache.encoder_info()
    if not todo and info is not None:
        log.info("All %d shards are in the cache %s", len(shards), cache.root)
        return info
    encoder = loaded_encoder(spec, device, settings.autocast, check_first)
    info = encoder_attributes(encoder)
    cache.save_encoder_info(info, spec.fingerprint_document)
    with shard_progress(f"Encoding with {spec.name}", [shard.name for shard in todo]) as on_progress:
        encode_shards(encoder, todo, cache, settings, device, on_progress)
    return info
