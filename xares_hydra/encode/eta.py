"""How long the rest of a task's encoding takes: before the first shard, the plan's estimate (its timed probe
batch), then from the work done so far: seconds per byte of the shards already encoded (shards of one task hold
audio of one format, so bytes go with audio)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path


class EncodeClock:
    def __init__(self, task: str, shards: Sequence[Path], estimate_seconds: float | None = None) -> None:
        self.task = task
        self.estimate_seconds = estimate_seconds
        self.sizes = {shard: shard.stat().st_size for shard in shards}
        self.done: list[Path] = []
        self.started = time.perf_counter()

    def planned(self) -> str:
        """One line before the first shard: the plan's estimate."""
        return f"{self.task}: {len(self.sizes)} shards to encode, about {duration(self.estimate_seconds or 0)} (plan)"

    def skip(self, shard: Path) -> None:
        del self.sizes[shard]

    def shard_done(self, shard: Path) -> str:
        """One line: shards and audio done, time taken and left."""
        self.done.append(shard)
        elapsed = time.perf_counter() - self.started
        done, total = sum(self.sizes[s] for s in self.done), sum(self.sizes.values()) or 1
        left = elapsed / max(done, 1) * (total - done)
        return (f"{self.task}: {len(self.done)} of {len(self.sizes)} shards encoded ({done / total:.0%} of the audio) "
                f"in {duration(elapsed)}, about {duration(left)} left")  # fmt: skip


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}"
