"""Which GPU and how many threads a sweep job uses: with ``device=auto`` and several GPUs, job k takes GPU
k mod n; jobs side by side on one machine split its cores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def device_for_job(requested: str, job_num: int | None, visible_gpus: int) -> str:
    """The device for sweep job ``job_num``: ``cuda:<job_num mod visible_gpus>``, or ``requested`` unchanged."""
    if requested != "auto" or job_num is None or visible_gpus < 2:
        return requested
    return f"cuda:{job_num % visible_gpus}"


def visible_gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_for_job(parallel_jobs: int, cores: int) -> int:
    """Compute threads of one of ``parallel_jobs`` jobs sharing ``cores`` (all cores when alone)."""
    return max(1, cores // parallel_jobs) if parallel_jobs >= 1 else 1  # joblib's -1: one job per core


def jobs_at_once(requested: int, cores: int, on_gpu: bool) -> int:
    """Parallel jobs on one machine: as many as asked on GPUs, at most one per core on the CPU (-1: one per core)."""
    if requested < 1:
        return cores
    return requested if on_gpu else min(requested, cores)


def limit_threads(threads: int) -> None:
    """Torch's and faiss's thread pools (BLAS included) for this process."""
    import torch

    torch.set_num_threads(threads)
    try:
        import faiss
    except ImportError:
        return
    faiss.omp_set_num_threads(threads)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch's intra-op threads set to ``threads`` inside the block (None: unchanged), restored after it."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
