"""X-ARES 0.1.3's baseline wrappers, reproduced for ``compat=xares``: audio up to 10 s in one call, padding
included; longer audio in 10 s chunks (a last one under 1 s zero-padded to 1 s), frames untrimmed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

BEHAVIOUR_DEFAULT = "default"
BEHAVIOUR_XARES = "xares"
MIN_CHUNK_SECONDS = 1.0


def encode_like_xares(
    call: Callable[[torch.Tensor], torch.Tensor], audio: torch.Tensor, sampling_rate: int, chunk_seconds: float
) -> torch.Tensor:
    """The frames of every call on X-ARES's chunks, concatenated along time."""
    chunk_samples, min_samples = round(chunk_seconds * sampling_rate), round(MIN_CHUNK_SECONDS * sampling_rate)
    if audio.shape[-1] <= chunk_samples:
        return call(audio)
    chunks = [torch.nn.functional.pad(chunk, (0, max(0, min_samples - chunk.shape[-1])))
              for chunk in audio.split(chunk_samples, dim=-1)]  # fmt: skip
    return torch.cat([call(chunk) for chunk in chunks], dim=1)


def waveform_features_like_xares(feature_extractor: Any, batch: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """``input_values`` of X-ARES's wav2vec2/data2vec wrappers: the batch tensor is taken for ONE example, so
    normalisation shares one mean and variance over the padded batch; ``[1, B, t]`` is squeezed to ``[B, t]``."""
    values = feature_extractor(batch.cpu(), sampling_rate=sampling_rate, return_tensors="pt").input_values.squeeze()
    return values.unsqueeze(0) if values.dim() == 1 else values


def whisper_features_like_xares(feature_extractor: Any, batch: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """Log-mel ``input_features`` of X-ARES's Whisper wrapper: the batch as one array, each row padded to 30 s."""
    return feature_extractor(batch.cpu().numpy(), sampling_rate=sampling_rate, return_tensors="pt").input_features
