#!/usr/bin/env python
"""A head sweep never re-encodes: time one cold run, then a learning-rate sweep on the same cache.

X-ARES encodes once per encoder class too, but its heads re-read the encoded tars every epoch and
any changed encoder setting reuses a stale cache; xares-hydra keys the cache by fingerprint and
trains from memory. This prints, side by side in one run, the encode and head times of a cold run
and of every job of the sweep that follows, and what the sweep would cost if each job re-encoded.

    python scripts/benchmark_sweep.py [--task demo/sounds] [--encoder mel] [--lrs 1e-4,1e-3,1e-2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def xares(root: Path, *overrides: str) -> float:
    started = time.perf_counter()
    command = [str(Path(sys.executable).parent / "xares"), *overrides]
    subprocess.run(command, env=dict(os.environ, XARES_ROOT=str(root)), check=True, capture_output=True)
    return time.perf_counter() - started


def records(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*/result.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="demo/sounds")
    parser.add_argument("--encoder", default="mel")
    parser.add_argument("--lrs", default="1e-4,1e-3,1e-2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        common = (f"task={args.task}", f"encoder={args.encoder}")
        cold_wall = xares(root, *common, f"hydra.run.dir={root / 'cold'}")
        cold = json.loads((root / "cold" / "result.json").read_text())["timings"]
        sweep_wall = xares(root, "-m", *common, f"head.lr={args.lrs}", f"hydra.sweep.dir={root / 'sweep'}")
        jobs = records(root / "sweep")
    print(f"{args.task} with {args.encoder}:")
    print(f"  cold run: {cold_wall:6.1f} s wall, encode {cold['encode']:6.2f} s, heads {cold['heads']:6.2f} s")
    for job in jobs:
        encode, heads = job["timings"]["encode"], job["timings"]["heads"]
        print(f"  sweep job head.lr={job['head']['lr']:g}: encode {encode:6.2f} s, heads {heads:6.2f} s")
    warm_encode = sum(job["timings"]["encode"] for job in jobs)
    print(f"  sweep of {len(jobs)}: {sweep_wall:6.1f} s wall; encoding in the sweep {warm_encode:.2f} s "
          f"instead of {len(jobs) * cold['encode']:.2f} s if every job re-encoded "
          f"({len(jobs) * cold['encode'] / max(warm_encode, 1e-3):.0f}x less)")  # fmt: skip


if __name__ == "__main__":
    main()
