"""One call of an encoder under the X-ARES contract, and the check of what it returned."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch

from xares_hydra.errors import ConfigError, EncoderContractError

AUTOCAST_DTYPES = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


def rate_of(encoder: torch.nn.Module) -> int:
    """The contract's ``sampling_rate`` (Hz); the checker's attribute check has vetted it."""
    return int(_attribute(encoder, "sampling_rate"))


def dim_of(encoder: torch.nn.Module) -> int:
    """The contract's ``output_dim``."""
    return int(_attribute(encoder, "output_dim"))


def hop_ms_of(encoder: torch.nn.Module) -> float:
    """The contract's ``hop_size_in_ms``."""
    return float(_attribute(encoder, "hop_size_in_ms"))


def _attribute(encoder: torch.nn.Module, name: str) -> Any:
    return getattr(encoder, name)


def forward(encoder: torch.nn.Module, audio: torch.Tensor, autocast: str | None) -> torch.Tensor:
    with _autocast(audio, autocast):
        return encoder(audio)


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


@contextmanager
def _autocast(audio: torch.Tensor, autocast: str | None) -> Iterator[None]:
    if autocast not in AUTOCAST_DTYPES:
        raise ConfigError(f"encode.autocast={autocast!r}; use null, bf16 or fp16")
    dtype = AUTOCAST_DTYPES[autocast]
    context = torch.autocast(audio.device.type, dtype=dtype) if dtype is not None else nullcontext()
    with torch.inference_mode(), context:
        yield


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
