"""X-ARES 0.1.3's baseline wrappers, reproduced for ``compat=xares`` (the wrappers' ``xares_exact: true``).

X-ARES's published dasheng, wav2vec2, whisper and data2vec numbers came from the example wrappers
in its repository, which treat the padded encode batch differently from ours: audio up to 10 s
goes to the model in one call as given (batch padding included); longer audio is split into 10 s
chunks, a last chunk shorter than 1 s is zero-padded to 1 s, and the chunks' frames are
concatenated untrimmed. What one call does is each wrapper's ``xares_call``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

BEHAVIOUR_DEFAULT = "default"
BEHAVIOUR_XARES = "xares"
MIN_CHUNK_SECONDS = 1.0


def xares_chunks(audio: torch.Tensor, chunk_samples: int, min_samples: int) -> list[torch.Tensor]:
    """``[B, T]`` in one piece up to ``chunk_samples``; longer, split with a short last chunk zero-padded."""
    if audio.shape[-1] <= chunk_samples:
        return [audio]
    chunks = audio.split(chunk_samples, dim=-1)
    return [torch.nn.functional.pad(chunk, (0, max(0, min_samples - chunk.shape[-1]))) for chunk in chunks]


def encode_like_xares(
    call: Callable[[torch.Tensor], torch.Tensor], audio: torch.Tensor, sampling_rate: int, chunk_seconds: float
) -> torch.Tensor:
    """The frames of every call on X-ARES's chunks, concatenated along time."""
    chunks = xares_chunks(audio, round(chunk_seconds * sampling_rate), round(MIN_CHUNK_SECONDS * sampling_rate))
    return torch.cat([call(chunk) for chunk in chunks], dim=1)


def waveform_features_like_xares(feature_extractor: Any, batch: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """``input_values`` as X-ARES's wav2vec2 and data2vec wrappers get them from the Hugging Face extractor.

    They hand it the ``[B, t]`` batch as a torch tensor, which the extractor takes for one example:
    where it normalises (``do_normalize``), the whole padded batch shares one mean and variance.
    The result ``[1, B, t]`` is squeezed back to ``[B, t]``.
    """
    values = feature_extractor(batch.cpu(), sampling_rate=sampling_rate, return_tensors="pt").input_values.squeeze()
    return values.unsqueeze(0) if values.dim() == 1 else values


def whisper_features_like_xares(feature_extractor: Any, batch: torch.Tensor, sampling_rate: int) -> torch.Tensor:
    """Log-mel ``input_features`` of X-ARES's Whisper wrapper: the batch as one array, each row padded to 30 s."""
    return feature_extractor(batch.cpu().numpy(), sampling_rate=sampling_rate, return_tensors="pt").input_features
