"""``xares stage=plan``: what a run will encode and write, before it does: clips, hours of audio, shards already
cached, the cache size (from the audio's length, the encoder's hop and width, the kept layers and the stored
number types) against the free space where it goes, and an encode time from one timed probe batch."""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch

from xares_hydra.atomic import free_bytes
from xares_hydra.data.audio import crop, decode_audio
from xares_hydra.data.shards import iter_shard
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.contract import Crop, dim_of, forward, hop_samples_of, rate_of
from xares_hydra.encode.embed import EncodeSettings, padded_audio, shards_to_encode
from xares_hydra.encode.storage import itemsize

NPY_HEADER = 128
# done.json of a shard (more with many skips), encoder.json and fingerprint.json of a cache: the demo suite's
MARKER_BYTES = 600
CACHE_DOCUMENT_BYTES = 1000


@dataclass
class ShardLengths:
    """One shard as the encoder will see it: each crop's key, labels and length in samples at its rate."""

    crops: list[Crop]
    clips: int
    audio_seconds: float


@dataclass
class EncodePlan:
    task: str
    encoder: str
    clips: int
    crops: int
    audio_hours: float
    shards: int
    shards_cached: int
    cache_bytes: int  # the whole cache, as the run will leave it
    bytes_to_write: int  # what the shards not yet cached add
    cache_dir: str
    free_bytes: int
    probe_seconds_per_audio_hour: float | None = None
    encode_seconds: float | None = None  # for the shards not yet cached

    @property
    def fits(self) -> bool:
        return self.bytes_to_write <= self.free_bytes

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), fits=self.fits)


def shard_lengths(shard: Path, rate: int, settings: EncodeSettings) -> ShardLengths:
    """The crops of a shard from its audio headers (nothing decoded): lengths after resampling to ``rate``."""
    crops, clips, seconds = [], 0, 0.0
    crop_samples = round(settings.crop_length * rate) if settings.crop_length else None
    for sample in iter_shard(shard, settings.limits):
        if sample.problem is not None or sample.audio is None:
            continue
        try:
            info = soundfile.info(io.BytesIO(sample.audio))
        except (soundfile.LibsndfileError, RuntimeError):
            continue
        samples = math.ceil(info.frames * rate / info.samplerate)
        clips, seconds = clips + 1, seconds + samples / rate
        silence = np.broadcast_to(np.float32(0), samples)  # its crops' lengths without holding its audio
        pieces = crop(silence, crop_samples, settings.pad_short_crops)
        for index, piece in enumerate(pieces):
            key = sample.key if len(pieces) == 1 else f"{sample.key}#{index}"  # as ``embed`` names crops
            crops.append(Crop(key, sample.key, index, np.empty(0, np.float32), sample.labels, n_samples=len(piece)))
    return ShardLengths(crops, clips, seconds)


def shard_bytes(lengths: ShardLengths, encoder: torch.nn.Module, settings: EncodeSettings, n_layers: int) -> int:
    """The bytes the encode stage writes for this shard (``cache.ShardWriter``'s files)."""
    dim, hop = dim_of(encoder), hop_samples_of(encoder)
    own_count = getattr(encoder, "frame_count", None)
    total_frames, index_bytes = 0, 0
    for item in lengths.crops:
        n_samples = max(item.n_samples or 1, settings.min_samples)
        frames = int(own_count(n_samples)) if callable(own_count) else math.ceil(n_samples / hop)
        entry = dict(item.meta(), n_frames=frames, frame_offset=total_frames if settings.frames else 0)
        index_bytes += len(json.dumps(entry)) + 1
        total_frames += frames
    crops, store = len(lengths.crops), itemsize(settings.store_dtype)
    written = NPY_HEADER + crops * dim * itemsize(settings.clip_dtype) + index_bytes + MARKER_BYTES
    if settings.frames:
        frame_layers = len(settings.layer_needs.frame_layers)
        written += total_frames * dim * store * (1 + frame_layers)
    if settings.all_layers:
        kept = len({layer % n_layers for layer in settings.keep_layers}) if n_layers else 0
        written += NPY_HEADER + crops * (kept or n_layers) * dim * store
    return written


def probe(encoder: torch.nn.Module, shard: Path, settings: EncodeSettings, device: torch.device) -> tuple[float, int]:
    """One timed batch of the shard's first crops (after an untimed warm-up): encode seconds per audio second,
    and the encoder's hidden layer count (0 without ``encode.layers``)."""
    rate = rate_of(encoder)
    audio = []
    for sample in iter_shard(shard, settings.limits):
        if sample.audio is not None and sample.problem is None:
            decoded = decode_audio(sample.audio, rate, settings.limits.max_clip_seconds).samples
            audio.append(decoded[: round(settings.crop_length * rate)] if settings.crop_length else decoded)
        if len(audio) == settings.batch_size:
            break
    width = max(max(len(clip) for clip in audio), settings.min_samples)
    batch = padded_audio(audio, device, width)
    layers = getattr(encoder, "hidden_layers", None)
    with torch.inference_mode():
        forward(encoder, batch[:1, : min(width, rate)], settings.autocast)
        _synchronise(device)
        started = time.perf_counter()
        forward(encoder, batch, settings.autocast)
        _synchronise(device)
        elapsed = time.perf_counter() - started
        n_layers = int(layers(batch[:1, : min(width, rate)]).shape[1]) if settings.all_layers and layers else 0
    return elapsed / (sum(len(clip) for clip in audio) / rate), n_layers


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plan_encode(
    task: str,
    name: str,
    encoder: torch.nn.Module,
    shards: list[Path],
    cache: EncoderCache,
    settings: EncodeSettings,
    device: torch.device,
) -> EncodePlan:
    lengths = {shard: shard_lengths(shard, rate_of(encoder), settings) for shard in shards}
    todo = shards_to_encode(cache, shards, settings)
    seconds_per_second, n_layers = probe(encoder, shards[0], settings, device) if shards else (0.0, 0)
    written = {shard: shard_bytes(lengths[shard], encoder, settings, n_layers) for shard in shards}
    audio_seconds = sum(item.audio_seconds for item in lengths.values())
    todo_seconds = sum(lengths[shard].audio_seconds for shard in todo)
    # an unreadable disk is an error, not a disk with 0 bytes free
    if (free := free_bytes(cache.root)) is None:
        raise OSError(f"cannot read the free space of the disk holding {cache.root}: check that the path is reachable")
    return EncodePlan(
        task=task,
        encoder=name,
        clips=sum(item.clips for item in lengths.values()),
        crops=sum(len(item.crops) for item in lengths.values()),
        audio_hours=audio_seconds / 3600,
        shards=len(shards),
        shards_cached=len(shards) - len(todo),
        cache_bytes=CACHE_DOCUMENT_BYTES + sum(written.values()),
        bytes_to_write=(CACHE_DOCUMENT_BYTES if todo else 0) + sum(written[shard] for shard in todo),
        cache_dir=str(cache.root),
        free_bytes=free,
        probe_seconds_per_audio_hour=seconds_per_second * 3600,
        encode_seconds=seconds_per_second * todo_seconds,
    )
