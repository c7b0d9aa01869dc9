"""Clips to X-ARES-format tar shards with reproducible bytes (the demo data and the tests' stand-in datasets)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from xares_hydra.data.shards import encode_audio, write_shard

Clip = tuple[str, np.ndarray, int, Any]  # key, audio ([T] or [T, C] in [-1, 1]), sample rate, labels (the .json)


def write_clips(path: Path, clips: Iterable[Clip], fmt: str = "flac") -> Path:
    """Write the clips, encoded as ``fmt`` (the same audio always gives the same bytes), to a tar shard at ``path``."""
    fixed = _fixed_ogg_serial if fmt == "ogg" else bytes
    write_shard(path, ((key, fixed(encode_audio(audio, rate, fmt)), fmt, labels) for key, audio, rate, labels in clips))
    return path


_BIT_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04c11db7, not reflected, init 0) computed via zlib's reflected one."""
    reflected = zlib.crc32(page.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _fixed_ogg_serial(data: bytes) -> bytes:
    """libsndfile gives each Ogg stream a time-seeded random serial number (and no way to choose it):
    set it to 0 in every page and recompute the page checksums."""
    out = bytearray(data)
    position = 0
    while position + 27 <= len(out) and out[position : position + 4] == b"OggS":
        n_segments = out[position + 26]
        end = position + 27 + n_segments + sum(out[position + 27 : position + 27 + n_segments])
        struct.pack_into("<I", out, position + 14, 0)
        struct.pack_into("<I", out, position + 22, 0)
        struct.pack_into("<I", out, position + 22, _ogg_crc(bytes(out[position:end])))
        position = end
    return bytes(out)
