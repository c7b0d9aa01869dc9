"""Which GPU a sweep job uses: with ``device=auto`` and several visible GPUs, job k takes GPU k mod n.

A local parallel sweep (``hydra/launcher=parallel``) then spreads its jobs over the machine's GPUs;
under SLURM each job sees only the GPUs it was given, so it keeps ``auto`` (the first one).
"""

from __future__ import annotations


def device_for_job(requested: str, job_num: int | None, visible_gpus: int) -> str:
    """The device for sweep job ``job_num``: ``cuda:<job_num mod visible_gpus>``, or ``requested`` unchanged."""
    if requested != "auto" or job_num is None or visible_gpus < 2:
        return requested
    return f"cuda:{job_num % visible_gpus}"


def visible_gpu_count() -> int:
    import torch

    return torch.cuda.device_count()
