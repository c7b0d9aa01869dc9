"""Audio preparation: decode bytes with soundfile, mix to mono, resample, cut into crops."""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio

_UNKNOWN_LENGTH = 2**63 - 1  # libsndfile's frame count when a header gives none
_BLOCK_FRAMES = 1 << 16


class AudioProblem(ValueError):
    """The audio member cannot be used; the message says why (counted as a skip)."""


@dataclass
class DecodedAudio:
    samples: np.ndarray  # mono float32 at the target rate
    source_rate: int
    channels: int
    clipped: bool
    silent: bool


def decode_audio(data: bytes, target_rate: int, max_seconds: float | None = None) -> DecodedAudio:
    """One audio file's bytes as mono float32 at ``target_rate``; a clip over ``max_seconds`` is refused from its
    header before decoding and again from the decoded length (headers can lie). Decoded block by block, mixed to
    mono as it goes: the clip is held once, as mono, whatever its channels."""
    if not data:
        raise AudioProblem("empty audio member (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(data)) as audio_file:
            rate, channels, frames = audio_file.samplerate, audio_file.channels, audio_file.frames
            if max_seconds is not None:  # the header already says more than max_seconds, or gives no length to check
                limit = f"data.max_clip_seconds={max_seconds:g}"
                if frames >= _UNKNOWN_LENGTH:
                    raise AudioProblem(f"audio of unknown length (its header gives none; {limit} cannot be checked)")
                if frames > max_seconds * rate:
                    raise AudioProblem(f"clip too long (header: {frames / rate:.1f} s > {limit})")
            mono, peak = _read_mono(audio_file, max_seconds)
    except AudioProblem:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exn:
        raise AudioProblem(f"corrupt or unsupported audio ({exn})") from exn
    if mono.shape[0] == 0:
        raise AudioProblem("empty audio (0 samples)")
    if not math.isfinite(peak):
        raise AudioProblem("audio contains NaN or infinite values")
    return DecodedAudio(
        samples=resample(mono, rate, target_rate),
        source_rate=rate,
        channels=channels,
        clipped=peak >= 0.999,
        silent=peak == 0.0,
    )


def _read_mono(audio_file: sf.SoundFile, max_seconds: float | None) -> tuple[np.ndarray, float]:
    """The samples mixed to mono block by block (channels never held whole) and their peak (NaN if not finite)."""
    known = audio_file.frames if audio_file.frames < _UNKNOWN_LENGTH else 0
    max_frames = None if max_seconds is None else int(max_seconds * audio_file.samplerate)
    mono, filled, peak = np.empty(known, np.float32), 0, 0.0
    for block in audio_file.blocks(_BLOCK_FRAMES, dtype="float32", always_2d=True):
        if max_frames is not None and filled + len(block) > max_frames:
            raise AudioProblem(f"clip too long (decodes to more than data.max_clip_seconds={max_seconds:g})")
        if len(block):
            peak = max(peak, float(np.abs(block).max())) if np.isfinite(block).all() else math.nan
        if filled + len(block) > len(mono):  # the header said fewer frames
            mono = np.concatenate([mono[:filled], np.empty(len(block), np.float32)])
        mono[filled : filled + len(block)] = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        filled += len(block)
        if math.isnan(peak):
            break
    return mono[:filled], peak


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return samples
    with torch.no_grad():
        return _resampler(source_rate, target_rate, samples.dtype.name)(torch.from_numpy(samples)).numpy()


@functools.lru_cache(maxsize=32)
def _resampler(source_rate: int, target_rate: int, dtype: str) -> torchaudio.transforms.Resample:
    """``torchaudio.functional.resample``'s filter, computed once per pair of rates (as much time per clip as
    the filtering); in the samples' dtype, so the output is the function's to the last bit."""
    return torchaudio.transforms.Resample(source_rate, target_rate, dtype=getattr(torch, dtype))


def crop(samples: np.ndarray, crop_samples: int | None, pad_short: bool = False) -> list[np.ndarray]:
    """Non-overlapping crops of ``crop_samples``, the remainder dropped (X-ARES); a shorter clip is kept whole, or
    zero-padded to one crop when ``pad_short``."""
    if crop_samples is None:
        return [samples]
    if len(samples) < crop_samples:
        return [np.pad(samples, (0, crop_samples - len(samples)))] if pad_short else [samples]
    return [samples[start : start + crop_samples] for start in range(0, len(samples) - crop_samples + 1, crop_samples)]
