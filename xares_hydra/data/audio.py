"""Audio preparation: decode bytes with soundfile, mix to mono, resample, cut into crops."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
import torchaudio

_UNKNOWN_LENGTH = 2**63 - 1  # libsndfile's frame count when a header gives none


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
    header before decoding and again from the decoded length (headers can lie)."""
    if not data:
        raise AudioProblem("empty audio member (0 bytes)")
    try:
        audio, rate = _read_bounded(data, max_seconds)
    except AudioProblem:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exn:
        raise AudioProblem(f"corrupt or unsupported audio ({exn})") from exn
    if audio.shape[0] == 0:
        raise AudioProblem("empty audio (0 samples)")
    if not np.isfinite(audio).all():
        raise AudioProblem("audio contains NaN or infinite values")
    peak = float(np.abs(audio).max())
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    return DecodedAudio(
        samples=resample(np.ascontiguousarray(mono), rate, target_rate),
        source_rate=rate,
        channels=audio.shape[1],
        clipped=peak >= 0.999,
        silent=peak == 0.0,
    )


def _read_bounded(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as audio_file:
        rate = audio_file.samplerate
        if max_seconds is None:
            return audio_file.read(dtype="float32", always_2d=True), rate
        limit = f"data.max_clip_seconds={max_seconds:g}"
        if audio_file.frames >= _UNKNOWN_LENGTH:
            raise AudioProblem(f"audio of unknown length (its header gives none; {limit} cannot be checked)")
        if audio_file.frames > max_seconds * rate:
            raise AudioProblem(f"clip too long (header: {audio_file.frames / rate:.1f} s > {limit})")
        max_frames = int(max_seconds * rate)
        audio = audio_file.read(frames=max_frames + 1, dtype="float32", always_2d=True)
        if len(audio) > max_frames:
            raise AudioProblem(f"clip too long (decodes to more than {limit})")
        return audio, rate


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
