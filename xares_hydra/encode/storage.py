"""The number types the embedding cache stores (``encode.store_dtype``, ``encode.clip_dtype``): every array is
written in its stored type and read back as float32. numpy has no bfloat16: it is stored as the top 16 bits of
the float32 (rounded to nearest by torch) in int16."""

from __future__ import annotations

import numpy as np
import torch

from xares_hydra.choice import Choice


class StoreDtype(Choice):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


FLOAT32 = StoreDtype.float32
STORE_DTYPES: dict[str, type[np.generic]] = {
    StoreDtype.float32: np.float32,
    StoreDtype.float16: np.float16,
    StoreDtype.bfloat16: np.int16,
}


def itemsize(name: str) -> int:
    return np.dtype(STORE_DTYPES[name]).itemsize


def to_stored(values: np.ndarray, name: str) -> np.ndarray:
    if name == StoreDtype.bfloat16:
        return torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(torch.bfloat16).view(torch.int16).numpy()
    return np.ascontiguousarray(values, dtype=STORE_DTYPES[name])


def from_stored(values: np.ndarray, name: str) -> np.ndarray:
    """float32 values of an array as stored (a memory-mapped slice is read here)."""
    if name == StoreDtype.bfloat16:
        return torch.from_numpy(np.array(values)).view(torch.bfloat16).float().numpy()
    return np.asarray(values, dtype=np.float32)
