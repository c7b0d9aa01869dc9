"""Encode stage: tar shards -> audio crops -> encoder -> embedding cache, once per shard.

Audio is decoded and resampled in worker threads (soundfile and torch release the GIL) ahead of the
encoder, and the cache is written by another thread behind it. ``batching`` chooses the batches:

- ``auto`` (the config's default, resolved by ``ensure_encoded``): ``bucketed`` where the encoder is told the
  padding or the padding probe proved its frames do not move with it (``PaddingCheck``), else ``exact``.
- ``bucketed``: crops sorted by length within ``buffer_seconds`` of audio, batches of at
  most ``batch_size`` crops and ``max_batch_seconds`` of padded audio, zero-padded to the batch's
  longest crop. The encoder is told the padding (``lengths`` or an attention mask) when its forward
  takes it; each crop keeps only its own frames and is pooled over those.
- ``exact``: only crops of identical length share a batch: no padding, bit-identical to alone.
- ``xares``: X-ARES's batches (``batch_size`` crops in tar order, zero-padded, padding pooled).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xares_hydra.console import shard_progress
from xares_hydra.data.audio import AudioProblem, crop, decode_audio
from xares_hydra.data.shards import ShardSample, iter_shard
from xares_hydra.encode.backoff import CropDoesNotFit, MemoryLimits, encode_in_chunks, is_out_of_memory, release_memory
from xares_hydra.encode.cache import EncoderCache, ShardCounts, ShardWriter
from xares_hydra.encode.contract import (
    Crop,
    EncodedBatch,
    EncodedCrops,
    auto_batching,
    check_output,
    dim_of,
    forward,
    forward_layers,
    forward_padded,
    frame_count,
    hop_ms_of,
    hop_samples_of,
    padding_invariant,
    rate_of,
)
from xares_hydra.encode.cost import encode_cost, peak_memory
from xares_hydra.encode.encoder_spec import EncoderSpec, weights_identity
from xares_hydra.encode.eta import EncodeClock
from xares_hydra.encode.loaded import LoadedEncoder, loaded_encoder
from xares_hydra.encode.settings import Batching, EncodeSettings
from xares_hydra.encoders.chunking import length_mask
from xares_hydra.errors import ConfigError, XaresError

log = logging.getLogger(__name__)


def encode_shards(
    encoder: torch.nn.Module,
    shards: Sequence[Path],
    cache: EncoderCache,
    settings: EncodeSettings,
    device: torch.device,
    on_progress: Callable[[str, int], None] | None = None,
    memory: MemoryLimits | None = None,
    on_eta: Callable[[str], None] | None = None,
    estimate_seconds: float | None = None,
) -> dict[str, ShardCounts]:
    """Encode every shard not yet complete in the cache; concurrent callers encode each shard once. ``memory``:
    the encoder calls known to fit (kept across calls; a fresh one when not given); ``on_eta`` is told the time
    left (from ``estimate_seconds``, the plan's, before the first shard, then after each shard; it is logged too)."""
    memory = memory or MemoryLimits(rate=rate_of(encoder))
    clock = EncodeClock(cache.root.parent.name, shards, estimate_seconds)

    def tell(line: str) -> None:
        log.info("%s", line)
        if on_eta is not None:
            on_eta(line)

    if estimate_seconds is not None and shards:
        tell(clock.planned())
    encoded = {}
    for shard in shards:
        with cache.lock(shard):
            if not settings.force and cache.is_complete(shard, settings.frames, settings.layer_needs):
                clock.skip(shard)  # another job encoded it meanwhile
                continue
            log.info("Encoding %s", shard.name)
            writer = ShardWriter(cache.shard_dir(shard), shard, dim_of(encoder), settings)
            call = EncoderCall(encoder, settings, device, shard, ShardCounts(), memory)
            try:
                call.encode_shard(writer, on_progress)
            except BaseException:
                writer.abort()
                raise
            encoded[shard.name] = call.counts
        if len(shards) > 1:
            tell(clock.shard_done(shard))
    return encoded


def _skip(counts: ShardCounts, shard: Path, key: str, reason: str) -> None:
    category = reason.split(" (")[0].split(":")[0]
    counts.skip(category, f"{shard.name}/{key}")
    log.warning("Skipping %s in %s: %s", key, shard.name, reason)


def batches(
    crops: Iterable[Crop], settings: EncodeSettings, rate: int, encoder: torch.nn.Module | None = None
) -> Iterator[list[Crop]]:
    """The settings' batches. ``hidden_layers`` is told nothing of the padding: an encoder that would be told it (so
    its cache does not depend on the batching) gets batches of one length while all its layers are encoded."""
    batching = "bucketed" if settings.batching == "auto" else settings.batching  # auto not resolved by a probe
    if settings.all_layers and batching == "bucketed" and padding_invariant(encoder):
        batching = "exact"
    return BATCHERS[batching](crops, settings, rate)


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
    while ordered:
        size = _batch_size(settings, rate, len(ordered[0].audio))
        yield ordered[:size]
        del ordered[:size]


def _equal_length_batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    """Group crops of identical length, holding at most ``buffer_seconds`` of audio at a time."""
    buckets: dict[int, list[Crop]] = {}
    buffered = 0
    for item in crops:
        bucket = buckets.setdefault(len(item.audio), [])
        bucket.append(item)
        buffered += len(item.audio)
        if len(bucket) >= _batch_size(settings, rate, len(item.audio)):
            buffered -= sum(len(c.audio) for c in bucket)
            yield buckets.pop(len(item.audio))
        if buffered > settings.buffer_seconds * rate:
            yield from (buckets[length] for length in sorted(buckets))
            buckets, buffered = {}, 0
    yield from (buckets[length] for length in sorted(buckets))


def _padded_batches(crops: Iterable[Crop], settings: EncodeSettings, rate: int) -> Iterator[list[Crop]]:
    """X-ARES: consecutive crops in tar order, ``batch_size`` at a time."""
    remaining = iter(crops)
    while batch := list(itertools.islice(remaining, settings.batch_size)):
        yield batch


def _batch_size(settings: EncodeSettings, rate: int, length: int) -> int:
    """Crops of ``length`` samples in one batch: at most ``batch_size`` and ``max_batch_seconds`` of audio."""
    return max(1, min(settings.batch_size, int(settings.max_batch_seconds * rate // max(length, 1))))


BATCHERS = {"bucketed": _bucketed_batches, "exact": _equal_length_batches, "xares": _padded_batches}


@dataclass
class EncoderCall:
    """The encoder calls of one shard: within the memory limits, failing crops isolated and skipped (counted)."""

    encoder: torch.nn.Module
    settings: EncodeSettings
    device: torch.device
    shard: Path
    counts: ShardCounts
    memory: MemoryLimits

    def encode_shard(self, writer: ShardWriter, on_progress: Callable[[str, int], None] | None) -> None:
        """Every crop of the shard encoded into ``writer``, which then writes it with its counts."""
        started = time.perf_counter()
        with write_behind(writer) as add:
            for batch in batches(self.decoded_crops(), self.settings, rate_of(self.encoder), self.encoder):
                for crops_done, encoded in self.encode_or_isolate(batch):
                    add(crops_done, encoded)
                if on_progress is not None:
                    on_progress(self.shard.name, len(batch))
        self.counts.encode_seconds = time.perf_counter() - started
        writer.finish(self.counts)
        if skipped := self.counts.skipped:
            log.warning("%s: skipped %s", self.shard.name, ", ".join(f"{n} x {r}" for r, n in skipped.items()))
        if warnings := self.counts.warnings:
            log.info("%s: %s", self.shard.name, ", ".join(f"{n} x {r}" for r, n in warnings.items()))

    def decoded_crops(self) -> Iterator[Crop]:
        """The shard's crops, decoded and resampled in worker threads ahead of the encoder."""
        shard, settings, counts, rate = self.shard, self.settings, self.counts, rate_of(self.encoder)
        longest = settings.limits.max_clip_seconds
        with ThreadPoolExecutor(max(1, settings.decode_threads)) as pool:
            pending: deque[tuple[ShardSample, Future]] = deque()
            for sample in iter_shard(shard, settings.limits):
                if sample.truncated:
                    counts.unread = {"problem": sample.problem, "clips_estimate": sample.unread_clips}
                    if not sample.key:  # it cut no clip; a cut clip is skipped (and logged) below
                        log.warning("%s: %s", shard.name, sample.problem)
                        continue
                if sample.problem is not None or sample.audio is None:
                    _skip(counts, shard, sample.key, sample.problem or "no audio")
                    continue
                pending.append((sample, pool.submit(decode_audio, sample.audio, rate, longest)))
                if len(pending) >= 8 * max(1, settings.decode_threads):
                    yield from self._crops_of(*pending.popleft())
            while pending:
                yield from self._crops_of(*pending.popleft())

    def _crops_of(self, sample: ShardSample, decoding: Future) -> Iterator[Crop]:
        counts, settings, rate = self.counts, self.settings, rate_of(self.encoder)
        try:
            decoded = decoding.result()
        except AudioProblem as problem:
            _skip(counts, self.shard, sample.key, str(problem))
            return
        counts.audio_seconds += len(decoded.samples) / rate
        if decoded.silent:
            counts.warnings["silent audio"] += 1
        if decoded.clipped:
            counts.warnings["clipped audio"] += 1
        if decoded.channels > 1:
            counts.warnings["multi-channel audio mixed to mono"] += 1
        crop_samples = round(settings.crop_length * rate) if settings.crop_length else None
        pieces = crop(decoded.samples, crop_samples, settings.pad_short_crops)
        for index, piece in enumerate(pieces):
            key = sample.key if len(pieces) == 1 else f"{sample.key}#{index}"
            item = Crop(key=key, clip_key=sample.key, index=index, audio=piece, labels=sample.labels)
            if len(piece) < settings.min_samples:
                counts.warnings["shorter than the encoder's minimum input, zero-padded"] += 1
                item.n_samples, item.audio = len(piece), np.pad(piece, (0, settings.min_samples - len(piece)))
            yield item

    def encode_or_isolate(self, batch: list[Crop]) -> list[tuple[list[Crop], EncodedCrops]]:
        """Encode a batch; if the encoder fails on it, retry clip by clip and skip (and count) only failing clips."""
        try:
            return self.within_memory(batch)
        except Exception as error:
            if len(batch) == 1:
                _skip(self.counts, self.shard, batch[0].key, f"encoder error ({type(error).__name__}: {error})")
                return []
            keys = ", ".join(item.key for item in batch[:5]) + (" ..." if len(batch) > 5 else "")
            log.warning("Encoder failed on %d clips of %s (%s): %s; retrying clip by clip", len(batch),
                        self.shard.name, keys, error)  # fmt: skip
        encoded = []
        for item in batch:
            encoded += self.encode_or_isolate([item])
        return encoded

    def within_memory(self, batch: list[Crop], width: int | None = None) -> list[tuple[list[Crop], EncodedCrops]]:
        """The batch in calls that fit (``backoff``); a crop that does not fit alone, even in chunks, is skipped."""
        if self.settings.batching == "xares":  # X-ARES pools the padding: every part keeps the batch's width
            width = width or max(len(item.audio) for item in batch)
        done: list[tuple[list[Crop], EncodedCrops]] = []
        while batch:
            part = self.memory.next_part(batch, width)
            batch = batch[len(part) :]
            try:
                done += self._encoded(part, width)
            except CropDoesNotFit as error:
                _skip(self.counts, self.shard, part[0].key, f"out of memory ({error})")
        return done

    def _encoded(self, part: list[Crop], width: int | None) -> list[tuple[list[Crop], EncodedCrops]]:
        if len(part) == 1 and self.memory.chunked(part[0]):
            return [(part, self._chunked(part[0]))]
        try:
            return [(part, self._run(part, width))]
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            release_memory(self.device)
            if len(part) > 1:
                self.memory.halve(part, width, error)
        return self.within_memory(part, width) if len(part) > 1 else [(part, self._chunked(part[0]))]

    def _chunked(self, item: Crop) -> EncodedCrops:
        hop = round(hop_samples_of(self.encoder))
        return encode_in_chunks(item, self._run, self.memory, hop, self.settings.min_samples, self.device)

    def _run(self, batch: list[Crop], width: int | None = None) -> EncodedCrops:
        """One forward of a batch (zero-padded to ``width`` or its longest crop); each crop's frame count, clip
        vector (mean over its own frames only) and, as the settings ask, its frames and every hidden layer."""
        encoder, settings = self.encoder, self.settings
        lengths = [len(item.audio) for item in batch]
        where = f"{self.shard.name}: {batch[0].key}"
        audio = padded_audio([item.audio for item in batch], self.device, width)
        layers = forward_layers(encoder, audio, settings.autocast, where) if settings.all_layers else None
        if layers is None and settings.batching != "xares":
            encoded = forward_padded(encoder, audio, lengths, settings.autocast, where)
        else:  # the encoder is not told the padding (hidden_layers never is: its batches hold one length)
            output = forward(encoder, audio, settings.autocast) if layers is None else layers[:, -1]
            check_output(output, len(batch), dim_of(encoder), where)
            padded = output.shape[1]
            xares = settings.batching == "xares"  # X-ARES pools the padding too
            counted = [padded if xares else frame_count(encoder, n, audio.shape[1], padded) for n in lengths]
            encoded = EncodedBatch(output, counted)
        # a crop zero-padded to the encoder's minimum input keeps only the frames of its own length
        hop_samples = hop_samples_of(encoder)
        counts = [
            count if item.n_samples is None else min(count, max(1, math.ceil(item.n_samples / hop_samples)))
            for item, count in zip(batch, encoded.frame_counts, strict=True)
        ]
        frames = encoded.frames.float()
        own = torch.tensor(counts, device=frames.device)
        kept = length_mask(own, frames.shape[1])
        if layers is None:
            pooled, layer_pooled = (frames * kept[..., None]).sum(dim=1) / own[:, None], None
        else:  # every layer pooled alike; the last one is the clip vector
            layers = layers.float()
            layer_pooled = (layers * kept[:, None, :, None]).sum(dim=2) / own[:, None, None]
            pooled = layer_pooled[:, -1]
        return EncodedCrops(
            pooled=pooled.cpu().numpy(),
            frame_counts=counts,
            frames=frames.cpu().numpy() if settings.frames else None,
            layer_pooled=None if layer_pooled is None else layer_pooled.cpu().numpy(),
            layer_frames=layers.cpu().numpy() if layers is not None and settings.frames else None,
        )


def padded_audio(clips: Sequence[np.ndarray], device: torch.device, width: int | None = None) -> torch.Tensor:
    """``[B, width or longest]`` zero-padded; on CUDA built in pinned memory and copied without blocking."""
    width = width or max(len(clip) for clip in clips)
    audio = torch.zeros(len(clips), width, pin_memory=device.type == "cuda")
    for row, clip in enumerate(clips):
        audio[row, : len(clip)] = torch.from_numpy(clip)
    return audio.to(device, non_blocking=True)


@contextmanager
def write_behind(writer: ShardWriter, depth: int = 4) -> Iterator[Callable[[list[Crop], EncodedCrops], None]]:
    """Adds encoded batches to a ShardWriter in a thread, so the encoder does not wait on the disk."""
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(1, thread_name_prefix="cache-writer")

    def add(batch: list[Crop], encoded: EncodedCrops) -> None:
        pending.append(pool.submit(_add_batch, writer, batch, encoded))
        if len(pending) > depth:
            pending.popleft().result()

    try:
        yield add
        while pending:  # not after an error: what is pending is cancelled
            pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _add_batch(writer: ShardWriter, batch: list[Crop], encoded: EncodedCrops) -> None:
    for row, item in enumerate(batch):
        count = encoded.frame_counts[row]
        frames = encoded.frames[row, :count] if encoded.frames is not None else None
        layer_pooled = encoded.layer_pooled[row] if encoded.layer_pooled is not None else None
        layer_frames = encoded.layer_frames[row, :, :count] if encoded.layer_frames is not None else None
        writer.add(item.meta(), count, frames, encoded.pooled[row], layer_pooled, layer_frames)


def ensure_encoded(
    spec: EncoderSpec,
    cache: EncoderCache,
    shards: list[Path],
    settings: EncodeSettings,
    device: torch.device,
    check_first: bool = True,
    on_eta: Callable[[str], None] | None = None,
    estimate_seconds: float | None = None,
) -> dict[str, Any]:
    """Encode what the cache lacks; returns the encoder's attributes. Builds the encoder only if needed.
    ``estimate_seconds``: the plan's encode time for the shards it lacks (the first time left said)."""
    todo = shards_to_encode(cache, shards, settings)
    info = cache.encoder_info()
    if not todo and info is not None:
        log.info("All %d shards are in the cache %s", len(shards), cache.root)
        return info
    loaded = loaded_encoder(spec, device, settings.autocast, check_first)
    encoder = loaded.encoder
    if settings.all_layers and not callable(getattr(encoder, "hidden_layers", None)):
        raise ConfigError(
            f"{settings.layers_asked_by}: encoder {spec.name} has one layer, its output (it has no "
            "hidden_layers(audio) -> [B, L, T', D] method); run it without head.layer, or use an encoder with hidden "
            "layers (README 'Layer-wise evaluation' says how an encoder exposes them)"
        )
    batching = chosen_batching(settings, loaded, spec.name)
    info = {
        "sampling_rate": rate_of(encoder),
        "output_dim": dim_of(encoder),
        "hop_size_in_ms": hop_ms_of(encoder),
        "class": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
        **weights_identity(encoder),
    }
    if isinstance(getattr(encoder, "behaviour", None), str):  # our wrappers: ours or X-ARES's (compat=xares)
        info["behaviour"] = encoder.behaviour
    info.update(min_input_samples=loaded.min_samples, batching=batching)
    info.update(store_dtype=settings.store_dtype, clip_dtype=settings.clip_dtype)
    if settings.batching in (Batching.auto, Batching.bucketed):  # the padding chose the batching or says what it costs
        info["padding"] = loaded.padding.summary()
    settings = dataclasses.replace(settings, min_samples=loaded.min_samples, batching=batching)
    cache.save_encoder_info(info, spec.fingerprint_document)
    names = [shard.name for shard in todo]
    with shard_progress(f"Encoding with {spec.name}", names) as on_progress, peak_memory(device) as peak:
        encoded = encode_shards(
            encoder, todo, cache, settings, device, on_progress, loaded.memory, on_eta, estimate_seconds
        )
    if memory := loaded.memory.summary():
        info["memory"] = memory
    audio_seconds = sum(counts.audio_seconds for counts in encoded.values())
    encode_seconds = sum(counts.encode_seconds for counts in encoded.values())
    info["cost"] = encode_cost(loaded.flops, audio_seconds, encode_seconds, peak, device)
    cache.save_encoder_info(info, spec.fingerprint_document)
    return info


def shards_to_encode(cache: EncoderCache, shards: Sequence[Path], settings: EncodeSettings) -> list[Path]:
    """The shards the cache lacks (all of them with ``encode.force``)."""
    return [s for s in shards if settings.force or not cache.is_complete(s, settings.frames, settings.layer_needs)]


def chosen_batching(settings: EncodeSettings, loaded: LoadedEncoder, name: str) -> Batching:
    """``auto`` resolved by the padding probe; where padding moves the encoder's frames, why (once per encoder)."""
    if settings.batching not in (Batching.auto, Batching.bucketed):
        return settings.batching
    padding = loaded.padding
    auto = settings.batching == Batching.auto
    batching = auto_batching(padding, settings.all_layers) if auto else Batching.bucketed
    if not padding.invariant and not loaded.batching_explained:
        loaded.batching_explained = True
        if batching == Batching.exact:
            log.info("%s: %s, so only crops of equal length share a batch (encode.batching=exact: about one encoder "
                     "call per clip where lengths vary); to batch padded crops, take `lengths` or the mask contract "
                     "in forward (README, 'Bring your own encoder')", name, padding.describe())  # fmt: skip
        else:
            log.warning("%s: %s; with encode.batching=bucketed a clip's embedding depends on its batch-mates (cached "
                        "under its own key; the default, auto, encodes exactly)", name, padding.describe())  # fmt: skip
    return batching


def require_complete(counts: dict[str, dict[str, Any]], allow_incomplete: bool) -> None:
    """Fail when a partition's shard could not be read to its end, unless ``data.allow_incomplete``."""
    for partition, partition_counts in counts.items():
        if (incomplete := partition_counts.get("incomplete")) and not allow_incomplete:
            shards = "; ".join(f"{shard}: {unread['problem']}" for shard, unread in incomplete.items())
            raise XaresError(
                f"{partition} is incomplete, a shard could not be read to its end ({shards}); fetch it again "
                "(delete it and rerun, or data.force_download=true), or accept the data as it is with "
                "data.allow_incomplete=true"
            )


def require_few_skips(counts: dict[str, dict[str, Any]], max_share: float, min_clips: int) -> None:
    """Fail when, in some partition, at least ``min_clips`` and more than ``max_share`` of the clips were skipped."""
    for partition, partition_counts in counts.items():
        skipped = sum(partition_counts["skipped"].values())
        total = partition_counts["clips"] + skipped
        if skipped >= max(1, min_clips) and skipped > max_share * total:
            reasons = ", ".join(f"{number} x {reason}" for reason, number in partition_counts["skipped"].items())
            examples = [key for keys in partition_counts.get("skip_examples", {}).values() for key in keys][:3]
            raise XaresError(
                f"{partition}: {skipped} of {total} clips skipped ({skipped / total:.1%} > {max_share:.1%}): {reasons}"
                f" (e.g. {', '.join(examples)}); fix the data, or accept it with encode.max_skipped_share=..."
            )
