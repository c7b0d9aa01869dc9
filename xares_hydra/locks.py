"""File locks between processes sharing a data, cache or results folder, whose files go when they are released."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # not a POSIX system: filelock's lock, whose file stays
    fcntl = None  # type: ignore[assignment]

from filelock import FileLock, Timeout


class RemovedLock:
    """An exclusive ``flock`` on ``path``, the file deleted on release so no empty lock files pile up. Deleting it
    while held is safe: a waiter that gets the lock of a file deleted or replaced meanwhile lets it go and locks the
    file now at ``path``, so two processes never both hold ``path``."""

    def __init__(self, path: Path, blocking: bool = True) -> None:
        self.path = path
        self.blocking = blocking  # False: filelock's Timeout at once when another process holds it
        self._descriptor: int | None = None

    def __enter__(self) -> RemovedLock:
        while True:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX if self.blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
                current = os.stat(self.path)
            except BlockingIOError:
                os.close(descriptor)
                raise Timeout(str(self.path)) from None
            except FileNotFoundError:  # deleted by the holder we waited for
                os.close(descriptor)
                continue
            except BaseException:
                os.close(descriptor)
                raise
            if os.path.samestat(os.fstat(descriptor), current):
                self._descriptor = descriptor
                return self
            os.close(descriptor)  # a newer file is at path: lock that one

    def __exit__(self, *exc_info: object) -> None:
        assert self._descriptor is not None, "released a lock that is not held"
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._descriptor)  # closing releases the flock
            self._descriptor = None


def file_lock(path: Path, blocking: bool = True) -> RemovedLock | FileLock:
    """The lock of ``path`` (created, with its folder); on a system without ``flock``, filelock's. Not ``blocking``:
    taking it raises filelock's ``Timeout`` at once when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is not None:
        return RemovedLock(path, blocking)
    return FileLock(str(path), timeout=-1 if blocking else 0)
