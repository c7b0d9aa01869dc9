#!/usr/bin/env python
"""Parallel jobs split the cores instead of fighting over them: the same 4 jobs in a row, then at once.

Each joblib job gets cores / n_jobs torch and faiss threads, and without a GPU at most one job per core
runs at a time; without that, 4 jobs on 2 cores each start 2 threads per pool and the heads run many
times slower. Two sweeps of 4 jobs are timed, each with the basic launcher (one after the other) and
with ``hydra/launcher=parallel hydra.launcher.n_jobs=4``:

- ``tasks``: four different demo tasks (one of them, the ASR task, is most of the work);
- ``seeds``: one task with four seeds (``seed=0,1,2,3``: equal jobs, as in a seed or head sweep).

The data and the embedding cache are built first, so both launchers time the same work. Printed: wall
time, each job's head time and threads, and the ratio parallel / in a row (below 1: parallel is faster).

    python scripts/benchmark_parallel.py [--tasks demo/sounds,demo/timbre,demo/mixtures,demo/digits]
                                         [--seed-task demo/digits] [--jobs 4]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

# run as `python scripts/benchmark_parallel.py`: the scripts folder is on the path
from benchmark_sweep import records as job_records
from benchmark_sweep import xares


def compare(root: Path, name: str, sweep: tuple[str, ...], jobs: int) -> float:
    """Prints one sweep in a row and at once; returns the ratio."""
    xares(root, *sweep, "stage=encode", f"hydra.sweep.dir={root / name / 'warm'}")
    in_a_row = xares(root, *sweep, f"hydra.sweep.dir={root / name / 'row'}")
    parallel = xares(root, *sweep, "hydra/launcher=parallel", f"hydra.launcher.n_jobs={jobs}",
                     f"hydra.sweep.dir={root / name / 'parallel'}")  # fmt: skip
    print(f"{name}: {' '.join(sweep[1:])}")
    for label, wall, folder in (("in a row", in_a_row, "row"), (f"{jobs} at once", parallel, "parallel")):
        heads = ", ".join(
            f"{r['task']['name']} seed {r['head']['seed']} {r['timings']['heads']:.1f} s ({r['threads']} thr)"
            for r in job_records(root / name / folder)
        )
        print(f"  {label:>10}: {wall:6.1f} s wall; heads: {heads}")
    print(f"  parallel / in a row: {parallel / in_a_row:.2f}")
    return parallel / in_a_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="demo/sounds,demo/timbre,demo/mixtures,demo/digits")
    parser.add_argument("--seed-task", default="demo/digits")
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    print(f"{args.jobs} jobs per sweep on {len(os.sched_getaffinity(0))} cores (encode cached beforehand)")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        compare(root, "tasks", ("-m", f"task={args.tasks}", "encoder=mel"), args.jobs)
        seeds = ",".join(str(seed) for seed in range(args.jobs))
        compare(root, "seeds", ("-m", f"task={args.seed_task}", f"seed={seeds}", "encoder=mel"), args.jobs)


if __name__ == "__main__":
    main()
