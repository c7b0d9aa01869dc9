"""A sweep over generated (demo) tasks writes their data ahead of their jobs, in background processes and in job
order: the bytes a job writes itself, each task once, none for a task whose data are there."""

from __future__ import annotations

import signal
from pathlib import Path

from helpers.cli import composed

from xares_hydra.config.sweep_checks import sweep_needs
from xares_hydra.demo.prefetch import DataPrefetch
from xares_hydra.demo.tasks import generate
from xares_hydra.forked import forked_pool


def shards(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.tar"))}


def test_a_sweep_prepares_its_generated_tasks_data_ahead_with_the_bytes_a_job_writes(tmp_path):
    small = "++task.generator.args.scale=0.1"
    jobs = [
        composed(f"paths.root={tmp_path}", f"task=demo/{task}", f"encoder={encoder}", small, hydra=True)
        for task in ("pitch", "sounds")
        for encoder in ("mel", "noise")
    ]
    needs = sweep_needs(jobs)
    assert [task.name for task, _, _ in needs.generate.values()] == ["demo_pitch", "demo_sounds"]

    prefetch = DataPrefetch()
    prefetch.start(list(needs.generate.values()))
    prefetch.wait()

    for task, root, _ in needs.generate.values():
        assert task.generator is not None
        own = tmp_path / "own" / task.name
        generate(task.generator["name"], own, task.generator["seed"], task.generator["args"])
        assert shards(root / task.name) == shards(own) and len(shards(own)) >= 3
    assert sweep_needs(jobs).generate == {}  # ready: nothing to generate again


def test_a_forked_worker_dies_on_sigterm_whatever_handler_its_process_had():
    """``xares`` raises on SIGTERM to save its work; a forked worker has none to save and takes the default. (With the
    handler it was forked with, the figures' worker of a sweep whose report failed outlived the pool's SIGTERM at
    exit, and the sweep waited for it forever.)"""
    previous = signal.signal(signal.SIGTERM, lambda *args: None)
    try:
        pool = forked_pool(1)
        assert pool.apply(signal.getsignal, (signal.SIGTERM,)) == signal.SIG_DFL
        pool.terminate()
        pool.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
