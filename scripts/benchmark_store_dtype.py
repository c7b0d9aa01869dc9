#!/usr/bin/env python
"""Compact caches: the demo suite with the cache stored in float32, then in float16 (frames, hidden layers and
clip vectors: ``encode.store_dtype=float16 encode.clip_dtype=float16``); prints the cache bytes of each and every
task's score under both, with the largest change. Frames are kept for every task, so each holds some.

    python scripts/benchmark_store_dtype.py [--encoder mel] [--dtype float16] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def sweep(root: Path, name: str, *overrides: str) -> subprocess.Popen:
    """The demo suite as one sweep, started."""
    command = [
        str(Path(sys.executable).parent / "xares"),
        "+benchmark=demo",
        f"hydra.sweep.dir={root / name}",
        *overrides,
    ]
    return subprocess.Popen(command, env=dict(os.environ, XARES_ROOT=str(root)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def records(folder: Path) -> dict[str, dict]:
    """A finished sweep's records by task name."""
    found = [json.loads(path.read_text()) for path in sorted(folder.glob("*/result.json"))]
    return {record["task"]["name"]: record for record in found}


def cache_bytes(root: Path, records: dict[str, dict]) -> int:
    """Bytes of the caches these records read (every file under each cache folder)."""
    total = 0
    for task, record in records.items():
        folder = root / "cache" / task / f"{record['encoder']['name']}-{record['encoder']['fingerprint']}"
        total += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return total


def score(record: dict) -> float | None:
    head = record["scores"].get("mlp") or next(iter(record["scores"].values()), None)
    return None if head is None else head["score"]


def shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="mel")
    parser.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    parser.add_argument("--root", type=Path, default=None, help="XARES_ROOT (default: a temporary folder)")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="xares-store-dtype-"))
    common = (f"encoder={args.encoder}", "encode.keep_frames=true")
    # the demo data are generated once, then both sweeps run side by side
    subprocess.run([str(Path(sys.executable).parent / "xares"), "+benchmark=demo", "stage=download",
                    f"hydra.sweep.dir={root / 'download'}"], env=dict(os.environ, XARES_ROOT=str(root)), check=True,
                   capture_output=True)  # fmt: skip
    jobs = [sweep(root, "sweep-float32", *common),
            sweep(root, f"sweep-{args.dtype}", *common, f"encode.store_dtype={args.dtype}",
                  f"encode.clip_dtype={args.dtype}")]  # fmt: skip
    if any(job.wait() for job in jobs):
        raise SystemExit(f"a sweep failed; see {root}/sweep-*/progress.log")
    full, half = records(root / "sweep-float32"), records(root / f"sweep-{args.dtype}")
    full_bytes, half_bytes = cache_bytes(root, full), cache_bytes(root, half)
    print(f"cache bytes: float32 {full_bytes:,}  {args.dtype} {half_bytes:,}  ratio {half_bytes / full_bytes:.3f}")
    print(f"{'task':28} {'float32':>9} {args.dtype:>9} {'change':>9}")
    changes = []
    for task in sorted(full):
        one, two = score(full[task]), score(half.get(task, {"scores": {}}))
        change = None if one is None or two is None else abs(two - one)
        changes += [] if change is None else [change]
        print(f"{task:28} {shown(one):>9} {shown(two):>9} {shown(change):>9}")
    print(f"largest score change: {max(changes):.5f} over {len(changes)} tasks")


if __name__ == "__main__":
    main()
