#!/usr/bin/env python
"""Parallel jobs split the cores instead of fighting over them: 4 demo jobs in a row, then 4 at once.

Each joblib job gets cores / n_jobs torch and faiss threads; without that, 4 jobs on 2 cores each start
2 threads per pool and the heads run many times slower. This prints, side by side, the wall time of the
same 4-job sweep with the basic launcher (one after the other) and with ``hydra/launcher=parallel``, the
threads each job recorded and its head time. The data and the embedding cache are built first, so both
sweeps time the same work.

    python scripts/benchmark_parallel.py [--tasks demo/sounds,demo/timbre,demo/mixtures,demo/digits] [--jobs 4]
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


def jobs(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*/result.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="demo/sounds,demo/timbre,demo/mixtures,demo/digits")
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sweep = ("-m", f"task={args.tasks}", "encoder=mel")
        xares(root, *sweep, "stage=encode", f"hydra.sweep.dir={root / 'warm'}")
        in_a_row = xares(root, *sweep, f"hydra.sweep.dir={root / 'row'}")
        parallel = xares(root, *sweep, "hydra/launcher=parallel", f"hydra.launcher.n_jobs={args.jobs}",
                         f"hydra.sweep.dir={root / 'parallel'}")  # fmt: skip
        rows = {"in a row": (in_a_row, jobs(root / "row")), f"{args.jobs} at once": (parallel, jobs(root / "parallel"))}
    print(f"{len(args.tasks.split(','))} jobs on {cores} cores (encode cached beforehand):")
    for name, (wall, records) in rows.items():
        heads = ", ".join(f"{r['task']['name']} {r['timings']['heads']:.1f} s ({r['threads']} thr)" for r in records)
        print(f"  {name:>10}: {wall:6.1f} s wall; heads: {heads}")
    print(f"  parallel / in a row: {parallel / in_a_row:.2f}")


if __name__ == "__main__":
    main()
