"""Real audio and real X-ARES tar shards for the tests."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from xares_hydra.demo.shards import write_clips


def tone(seconds: float, rate: int = 16000, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


clip_shard = write_clips  # (key, audio, rate, labels) clips as an X-ARES tar shard: the demo's writer


# lengths that fill a padded batch unevenly (every one a whole number of 10 ms frames)
MIXED_SECONDS = (0.5, 2.0, 1.37, 1.0, 0.73, 3.0, 0.31, 2.0)


def tone_clip(index: int, seconds: float, gain: float = 1.0, rate: int = 16000) -> tuple[str, np.ndarray, int, dict]:
    """Clip ``clip<index>``: a tone of its own pitch (200 + 50 * index Hz), labelled ``index % 2``."""
    return f"clip{index}", tone(seconds, rate, 200 + 50 * index) * gain, rate, {"label": index % 2}


def tone_shard(
    path: Path, seconds: Sequence[float] = MIXED_SECONDS, loud: Collection[int] = (), rate: int = 16000
) -> Path:
    """One shard of ``tone_clip``s of these lengths; the clips numbered in ``loud`` three times as loud."""
    return clip_shard(path, [tone_clip(i, s, 3.0 if i in loud else 1.0, rate) for i, s in enumerate(seconds)])
