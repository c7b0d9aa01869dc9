#!/usr/bin/env python
"""GPU check of the long-run features (needs CUDA; run it on a GPU machine, it prints what it measured):

1. memory back-off on a real CUDA out-of-memory: an encoder that allocates a working buffer per crop, sized from
   the free GPU memory so that 8 crops per call do not fit and 2 do, encodes a demo shard with
   ``encode.batch_size=8``; the cache must equal the one ``batch_size=2`` set by hand writes, and the sizes the
   back-off settled on are printed;
2. encode throughput and cache bytes with ``encode.store_dtype=float32`` and ``float16`` (frames kept), with a
   dasheng-architecture transformer (seeded random weights, ``dasheng`` package) on generated audio.

    python scripts/gpu_check_long_runs.py [--clips-per-class 30] [--depth 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchmark_encode import make_encoder  # scripts/ is on the path of a script run from it
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.demo.tasks import generate_timbre
from xares_hydra.encode.backoff import MemoryLimits
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings, encode_shards


class HungryMel(MelEncoder):
    """Log-mel frames, after touching a CUDA working buffer of ``bytes_per_crop`` per crop of the call."""

    def __init__(self, bytes_per_crop: int) -> None:
        super().__init__()
        self.bytes_per_crop = bytes_per_crop

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        buffer = torch.empty(audio.shape[0] * self.bytes_per_crop // 4, device=audio.device)
        buffer.fill_(1.0)
        del buffer
        return super().forward(audio, lengths)


def cache_of(encoder: torch.nn.Module, shards: list[Path], folder: Path, memory: MemoryLimits | None = None,
             **settings: object) -> tuple[EncoderCache, float]:  # fmt: skip
    cache = EncoderCache(folder)
    torch.cuda.synchronize()
    started = time.perf_counter()
    encode_shards(encoder, shards, cache, EncodeSettings(**settings), torch.device("cuda"), memory=memory)  # type: ignore[arg-type]
    torch.cuda.synchronize()
    return cache, time.perf_counter() - started


def check_backoff(shards: list[Path], work: Path) -> bool:
    free, _ = torch.cuda.mem_get_info()
    per_crop = int(free * 0.3)  # 2 crops (60 %) fit, 4 (120 %) do not
    encoder = HungryMel(per_crop).cuda()
    hand, _ = cache_of(encoder, shards, work / "by-hand", batch_size=2, keep_frames=True)
    memory = MemoryLimits(rate=encoder.sampling_rate)
    backed, _ = cache_of(encoder, shards, work / "backed-off", memory, batch_size=8, keep_frames=True)
    one, two = hand.load(shards), backed.load(shards)
    same = one.keys == two.keys and np.allclose(one.pooled, two.pooled, atol=1e-5)
    same = same and all(np.allclose(one.frames(i), two.frames(i), atol=1e-5) for i in range(len(one)))
    print(f"back-off: {per_crop / 2**30:.1f} GiB per crop, {free / 2**30:.1f} GiB free; settled on {memory.summary()}")
    print(f"back-off: cache equal to batch_size=2 by hand: {same} ({len(one)} crops)")
    return same and memory.summary() is not None and memory.batch_size == 2


def throughput(shards: list[Path], work: Path, depth: int, repeats: int) -> None:
    encoder = make_encoder(work, depth).cuda()
    for dtype in ("float32", "float16"):
        times, size, crops = [], 0, 0
        for repeat in range(repeats):
            cache, seconds = cache_of(encoder, shards, work / f"{dtype}-{repeat}", keep_frames=True, store_dtype=dtype,
                                      batch_size=32)  # fmt: skip
            times.append(seconds)
            size = sum(path.stat().st_size for path in cache.root.rglob("*") if path.is_file())
            crops = len(cache.load(shards))
        median = statistics.median(times)
        print(f"store_dtype={dtype}: {crops / median:.1f} crops/s (median of {repeats}: {median:.2f} s), "
              f"cache {size / 1e6:.1f} MB")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-class", type=int, default=30)
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check_long_runs: no CUDA device; run it on a GPU machine", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        per_class = {"train_per_class": args.clips_per_class, "valid_per_class": 2, "test_per_class": 2}
        shards = sorted(generate_timbre(work / "data", 0, per_class))
        passed = check_backoff(shards, work)
        throughput(shards, work, args.depth, args.repeats)
    print("back-off check:", "PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
