"""What the encode stage passes around: decoded crops, and the encoder's output for a batch of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Crop:
    key: str
    clip_key: str
    index: int
    audio: np.ndarray
    labels: Any
    # the audio's own length when it was zero-padded to the encoder's minimum
    n_samples: int | None = None

    def meta(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "clip_key": self.clip_key,
            "crop": self.index,
            "n_samples": self.n_samples or len(self.audio),
            "labels": self.labels,
        }


@dataclass
class EncodedCrops:
    pooled: np.ndarray  # [B, D]
    frame_counts: list[int]
    frames: np.ndarray | None  # [B, T', D] when frames are kept
    layer_pooled: np.ndarray | None = None  # [B, L, D] with hidden layers
    layer_frames: np.ndarray | None = None  # [B, L, T', D] with hidden layers when frames are kept
