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
import os
import tempfile
from pathlib import Path

# run as `python scripts/benchmark_parallel.py`: the scripts folder is on the path
from benchmark_sweep import records as job_records
from benchmark_sweep import xares


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
        rows = {
            "in a row": (in_a_row, job_records(root / "row")),
            f"{args.jobs} at once": (parallel, job_records(root / "parallel")),
        }
    print(f"{len(args.tasks.split(','))} jobs on {cores} cores (encode cached beforehand):")
    for name, (wall, records) in rows.items():
        heads = ", ".join(f"{r['task']['name']} {r['timings']['heads']:.1f} s ({r['threads']} thr)" for r in records)
        print(f"  {name:>10}: {wall:6.1f} s wall; heads: {heads}")
    print(f"  parallel / in a row: {parallel / in_a_row:.2f}")


if __name__ == "__main__":
    main()
