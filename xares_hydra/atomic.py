"""Atomic file writes: write beside the target, then rename, so readers never see half a file."""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BYTES_TO_WRITE = "bytes_to_write"


@contextmanager
def atomic_path(path: Path, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block finishes. ``size``, the bytes the
    block writes where known, goes with an ``OSError`` (``BYTES_TO_WRITE``) so a full disk can say it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        yield partial
        os.replace(partial, path)
    except OSError as error:
        if error.filename is None:  # a write through a stream names no file: name the one being written
            error.filename = str(path)
        # numpy's short writes carry no errno
        if error.errno is None and (free := free_bytes(path.parent)) is not None and free < max(size or 0, 1 << 20):
            error.errno, error.strerror = errno.ENOSPC, os.strerror(errno.ENOSPC)
        if size is not None:
            setattr(error, BYTES_TO_WRITE, size)
        raise
    finally:
        partial.unlink(missing_ok=True)


def existing_folder(path: Path) -> Path | None:
    """``path`` or its nearest ancestor that exists."""
    return next((parent for parent in (path, *path.parents) if parent.exists()), None)


def free_bytes(path: Path) -> int | None:
    """Free bytes on the disk that holds (or will hold) ``path``; None where that cannot be known."""
    try:
        return shutil.disk_usage(existing).free if (existing := existing_folder(path)) is not None else None
    except OSError:
        return None


def write_json(path: Path, document: Any) -> None:
    write_text(path, json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8 into ``path``, atomically."""
    data = text.encode("utf-8")
    with atomic_path(path, len(data)) as partial:
        partial.write_bytes(data)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete the ``<name>.<pid>.part`` files in ``folder`` whose writing process is gone (killed mid-write)."""
    removed = []
    for part in folder.glob("*.part") if folder.is_dir() else ():
        pid = part.suffixes[-2][1:] if len(part.suffixes) >= 2 else ""
        if pid.isdigit() and not _process_alive(int(pid)):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as error:  # PermissionError: alive, another user's
        return not isinstance(error, ProcessLookupError)
    return True
