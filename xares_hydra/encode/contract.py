"""One call of an encoder under its contract, and the check of what it returned.

Two contracts are accepted, told apart by the signature of ``forward``:

- X-ARES: ``forward(audio[B, T]) -> frames[B, T', D]``, optionally with ``lengths[B]`` (true samples per
  row of a zero-padded batch); an encoder may also define ``frame_count(n_samples)``.
- xares-llm: ``forward(audio, audio_attention_mask) -> (features, feature_attention_mask)``, masks in the
  Hugging Face format (1 = keep), so the encoder itself says how many frames of each row are real.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import torch

from xares_hydra.encode.settings import Batching
from xares_hydra.encoders.chunking import length_mask
from xares_hydra.errors import EncoderContractError

AUTOCAST_DTYPES = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PaddingInput(Enum):
    """What an encoder is told about the zero padding of a batch."""

    NOTHING = "nothing"
    LENGTHS = "lengths"
    MASK = "mask"


def padding_input(forward_owner: Any) -> PaddingInput:
    """From the parameters of ``forward`` (of an encoder object or class)."""
    try:
        parameters = inspect.signature(forward_owner.forward).parameters
    except (AttributeError, TypeError, ValueError):  # no forward, or one without a signature
        return PaddingInput.NOTHING
    if "audio_attention_mask" in parameters:
        return PaddingInput.MASK
    return PaddingInput.LENGTHS if "lengths" in parameters else PaddingInput.NOTHING


def padding_invariant(forward_owner: Any) -> bool:
    """True when a clip's frames do not depend on the padding of its batch (within float tolerance).

    Encoders told the padding are, unless they declare ``padding_invariant = False`` (a wrapper of a
    model without a mask, which runs one padded forward and trims the frames).
    """
    told = padding_input(forward_owner) is not PaddingInput.NOTHING
    return told and bool(getattr(forward_owner, "padding_invariant", True))


# how far a clip's kept frames in a zero-padded batch may be from its frames alone (relative to their largest
# value) for padded batches to count as exact: what encoders told the padding meet (tests: within 1e-4)
PADDING_TOLERANCE = 1e-4


@dataclass(frozen=True)
class PaddingCheck:
    """Whether a clip keeps the frames it gets alone inside a zero-padded batch: told so by the contract
    (``told``: ``lengths`` or ``mask``), or measured (``deviation``: the largest relative difference)."""

    told: str | None
    deviation: float | None = None

    @property
    def invariant(self) -> bool:
        return self.told is not None or (self.deviation is not None and self.deviation <= PADDING_TOLERANCE)

    def describe(self) -> str:
        if self.told is not None:
            return f"told the padding ({self.told})"
        if self.deviation is None:
            return "not told the padding; its frames in a padded batch could not be measured"
        relation, verdict = ("<=", "do not move") if self.invariant else (">", "move")
        return (
            f"not told the padding; its frames in padded batches {verdict} "
            f"(largest relative deviation {self.deviation:.1e} {relation} {PADDING_TOLERANCE:.0e})"
        )

    def summary(self) -> dict[str, Any]:
        return {"told": self.told, "deviation": self.deviation, "invariant": self.invariant}


def auto_batching(padding: PaddingCheck, layers: bool) -> Batching:
    """``encode.batching=auto``: padded (bucketed) batches only where they keep each clip's frames; while all
    layers are encoded (``hidden_layers`` is told nothing), batches of one length."""
    return Batching.bucketed if padding.invariant and not layers else Batching.exact


# the contract's attributes (the checker's attribute check has vetted them); Module.__getattr__ is typed Tensor | Module
def rate_of(encoder: torch.nn.Module) -> int:
    return int(getattr(encoder, "sampling_rate"))  # noqa: B009


def dim_of(encoder: torch.nn.Module) -> int:
    return int(getattr(encoder, "output_dim"))  # noqa: B009


def hop_ms_of(encoder: torch.nn.Module) -> float:
    return float(getattr(encoder, "hop_size_in_ms"))  # noqa: B009


def hop_samples_of(encoder: torch.nn.Module) -> float:
    return rate_of(encoder) * hop_ms_of(encoder) / 1000


# what the encode stage passes around: decoded crops, and the encoder's output for a batch of them
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


@dataclass
class EncodedBatch:
    frames: torch.Tensor  # [B, T', D], rows past their frame count are padding
    frame_counts: list[int]


def forward(encoder: torch.nn.Module, audio: torch.Tensor, autocast: str | None) -> torch.Tensor:
    """Frames of an unpadded batch (every row a whole clip)."""
    with _autocast(audio, autocast):
        if padding_input(encoder) is PaddingInput.MASK:
            mask = torch.ones(audio.shape, dtype=torch.long, device=audio.device)
            return _mask_output(encoder(audio, audio_attention_mask=mask), audio.shape[0])[0]
        return encoder(audio)


def forward_padded(
    encoder: torch.nn.Module, audio: torch.Tensor, lengths: list[int], autocast: str | None, where: str
) -> EncodedBatch:
    """One call on a zero-padded batch; each row's true frame count from the encoder when it can say."""
    kind = padding_input(encoder)
    with _autocast(audio, autocast):
        if kind is PaddingInput.MASK:
            mask = length_mask(torch.tensor(lengths, device=audio.device), audio.shape[1]).long()
            frames, feature_mask = _mask_output(encoder(audio, audio_attention_mask=mask), len(lengths))
        elif kind is PaddingInput.LENGTHS:
            frames, feature_mask = encoder(audio, lengths=torch.tensor(lengths, device=audio.device)), None
        else:
            frames, feature_mask = encoder(audio), None
    check_output(frames, len(lengths), dim_of(encoder), where)
    if feature_mask is not None:
        counts = [int(count) for count in feature_mask.sum(dim=1).tolist()]
    else:
        counts = [frame_count(encoder, length, audio.shape[1], frames.shape[1]) for length in lengths]
    if min(counts) <= 0 or max(counts) > frames.shape[1]:
        raise EncoderContractError(f"frame counts {counts} do not fit {frames.shape[1]} frames ({where})")
    return EncodedBatch(frames, counts)


def forward_layers(encoder: torch.nn.Module, audio: torch.Tensor, autocast: str | None, where: str) -> torch.Tensor:
    """``encoder.hidden_layers(audio)``: every hidden layer ``[B, L, T', D]``, all finite."""
    with _autocast(audio, autocast):
        layers = encoder.hidden_layers(audio)  # type: ignore[operator]  # an optional method, checked by the caller
    if not isinstance(layers, torch.Tensor) or layers.ndim != 4 or layers.shape[0] != audio.shape[0]:
        shape = tuple(layers.shape) if isinstance(layers, torch.Tensor) else type(layers).__name__
        raise EncoderContractError(f"hidden_layers returned {shape}; expected [B, L, T', D] ({where})")
    if not torch.isfinite(layers).all():
        raise EncoderContractError(f"hidden layers contain NaN or infinite values ({where})")
    return layers


def frame_count(encoder: torch.nn.Module, n_samples: int, padded_samples: int, padded_frames: int) -> int:
    """Frames of a clip of ``n_samples`` in a batch padded to ``padded_samples`` (``padded_frames`` frames).

    The encoder's own ``frame_count`` when it has one; otherwise in proportion to its samples, rounded up
    (exact for the batch's longest clip, within one frame for the others).
    """
    if n_samples == padded_samples:
        return padded_frames
    own = getattr(encoder, "frame_count", None)
    if callable(own):
        return min(int(own(n_samples)), padded_frames)
    return max(1, min(padded_frames, math.ceil(padded_frames * n_samples / padded_samples)))


@contextmanager
def _autocast(audio: torch.Tensor, autocast: str | None) -> Iterator[None]:
    dtype = AUTOCAST_DTYPES[autocast]  # the encode schema has checked the name
    autocasting = torch.autocast(audio.device.type, dtype=dtype) if dtype is not None else nullcontext()
    with torch.inference_mode(), autocasting:
        yield


def _mask_output(output: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(output, (tuple, list)) and len(output) == 2):
        raise EncoderContractError(
            "an encoder whose forward takes audio_attention_mask must return (features, feature_attention_mask)"
        )
    features, mask = output
    if mask is None and isinstance(features, torch.Tensor) and features.ndim == 3:
        mask = torch.ones(features.shape[:2], dtype=torch.long, device=features.device)
    if not isinstance(mask, torch.Tensor) or mask.shape != features.shape[:2] or mask.shape[0] != batch_size:
        raise EncoderContractError(
            f"feature_attention_mask must be [B, T'] matching the features {tuple(features.shape)}, "
            f"got {None if mask is None else tuple(mask.shape)}"
        )
    return features, mask


def check_output(output: Any, batch_size: int, output_dim: int, where: str) -> None:
    """Raise EncoderContractError when the output is not a finite [B, T', D] tensor."""
    check_shape(output, batch_size, output_dim, where)
    if not torch.isfinite(output).all():
        raise EncoderContractError(f"encoder output contains NaN or infinite values ({where})")


def check_shape(output: Any, batch_size: int, output_dim: int, where: str) -> None:
    if not isinstance(output, torch.Tensor):
        raise EncoderContractError(f"encoder returned {type(output).__name__}, expected a torch.Tensor ({where})")
    if output.ndim != 3:
        raise EncoderContractError(
            f"encoder output has rank {output.ndim} (shape {tuple(output.shape)}); expected [B, T', D] ({where})"
        )
    if output.shape[0] != batch_size or output.shape[2] != output_dim:
        raise EncoderContractError(
            f"encoder output shape {tuple(output.shape)} does not match batch {batch_size} and "
            f"output_dim {output_dim} ({where})"
        )
    if output.shape[1] == 0:
        raise EncoderContractError(f"encoder returned no frames ({where})")
