"""Rich output shared by the stages: progress bars on stderr, tables on stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _width(stream) -> int | None:
    """Outside a terminal (logs, CI) write 160 columns wide unless COLUMNS says otherwise."""
    return None if stream.isatty() or "COLUMNS" in os.environ else 160


stderr_console = Console(stderr=True, width=_width(sys.stderr))


def stdout_console() -> Console:
    return Console(width=_width(sys.stdout))


class LogHandler(RichHandler):
    """The console log handler of ``hydra/job_logging=rich``: rich, on stderr, wide outside a terminal."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(console=stderr_console, **kwargs)


@contextmanager
def shard_progress(description: str, shard_names: list[str]) -> Iterator[Callable[[str, int], None]]:
    """A bar over shards, plus a running count of crops encoded; yields the per-batch callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[crops]} crops · {task.fields[shard]}"),
        TimeElapsedColumn(),
        console=stderr_console,
    ) as progress:
        bar = progress.add_task(description, total=len(shard_names), crops=0, shard="")
        seen: set[str] = set()
        crops = 0

        def advance(shard: str, n_crops: int) -> None:
            nonlocal crops
            crops += n_crops
            seen.add(shard)
            progress.update(bar, completed=len(seen) - 1, crops=crops, shard=shard)

        yield advance
        progress.update(bar, completed=len(shard_names))
