"""Real audio and real X-ARES tar shards for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xares_hydra.data.shards import encode_audio, write_shard


def tone(seconds: float, rate: int = 16000, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def clip_shard(path: Path, clips: list[tuple[str, np.ndarray, int, dict]], fmt: str = "flac") -> Path:
    """Write (key, audio, rate, labels) clips as an X-ARES tar shard."""
    write_shard(path, [(key, encode_audio(audio, rate, fmt), fmt, labels) for key, audio, rate, labels in clips])
    return path
