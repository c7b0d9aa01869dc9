"""Real audio and real X-ARES tar shards for the tests."""

from __future__ import annotations

import numpy as np

from xares_hydra.demo.shards import write_clips


def tone(seconds: float, rate: int = 16000, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


clip_shard = write_clips  # (key, audio, rate, labels) clips as an X-ARES tar shard: the demo's writer
