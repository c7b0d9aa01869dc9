"""Encode stage: tar shards -> audio crops -> encoder -> embedding cache, once per shard.

Audio is decoded and resampled in worker threads (soundfile and torch release the GIL) while
the encoder runs. In the default mode a batch only ever holds crops of identical length, so no
padding enters the encoder and a clip's embedding cannot depend on its batch-mates. X-ARES's
behaviour (fixed-size batches in tar order, zero-padded to the longest clip, padding pooled into
the clip mean) is available with ``pad_batches`` for comparability.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xares_hydra.console import shard_progress
from xares_hydra.data.audio import AudioProblem, crop, decode_audio
from xares_hydra.data.shards import ReadLimits, ShardSample, iter_shard
from xares_hydra.encode.cache import EncoderCache, ShardCounts, ShardWriter
from xares_hydra.encode.checker import require_passing, run_checks
from xares_hydra.encode.contract import check_output, forward
from xares_hydra.encode.encoder_spec import EncoderSpec

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
    pad_batches: bool = False
    limits: ReadLimits = field(default_factory=ReadLimits)


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
    crops = _decoded_crops(shard, int(encoder.sampling_rate), settings, counts)
    batcher = _padded_batches if settings.pad_batches else _equal_length_batches
    for batch in batcher(crops, settings, int(encoder.sampling_rate)):
        for item, frames, pooled in _run_encoder(encoder, batch, settings, device, shard):
            writer.add(item.meta(), frames, pooled)
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
        for sample in iter_shard(shard, settings.limits):
            if sample.problem is not None:
                _skip(counts, shard, sample.key, sample.problem)
                continue
            pending.append((sample, pool.submit(decode_audio, sample.audio, rate, settings.limits.max_clip_seconds)))
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


def _run_encoder(
    encoder: torch.nn.Module, batch: list[Crop], settings: EncodeSettings, device: torch.device, shard: Path
) -> Iterator[tuple[Crop, np.ndarray, np.ndarray]]:
    longest = max(len(item.audio) for item in batch)
    audio = np.zeros((len(batch), longest), dtype=np.float32)
    for row, item in enumerate(batch):
        audio[row, : len(item.audio)] = item.audio
    output = forward(encoder, torch.from_numpy(audio).to(device), settings.autocast)
    check_output(output, len(batch), int(encoder.output_dim), f"{shard.name}: {batch[0].key}")
    embeddings = output.float().cpu().numpy()
    for item, frames in zip(batch, embeddings):
        yield item, frames, frames.mean(axis=0)


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
    encoder = spec.build(device)
    if check_first:
        require_passing(run_checks(encoder, device, autocast=settings.autocast), spec.name)
    info = encoder_attributes(encoder)
    cache.save_encoder_info(info, spec.fingerprint_document)
    with shard_progress(f"Encoding with {spec.name}", [shard.name for shard in todo]) as on_progress:
        encode_shards(encoder, todo, cache, settings, device, on_progress)
    return info
