"""Shared fixtures (the shared helpers are in ``helpers``)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xares_hydra import command


@pytest.fixture
def xares_root(tmp_path: Path) -> Path:
    """An empty folder for a run's roots (``XARES_ROOT``)."""
    root = tmp_path / "xares-root"
    root.mkdir()
    return root


@pytest.fixture
def xares_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``xares <args>`` through the console script's entry function in this process: returns its exit code,
    stdout and stderr. What a run sets for its process (log handlers, the SIGTERM handler) is undone after it."""
    root = logging.getLogger()
    handlers, level, sigterm = list(root.handlers), root.level, signal.getsignal(signal.SIGTERM)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["xares", *args])
        try:
            command.main()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        finally:
            for handler in set(root.handlers) - set(handlers):
                handler.close()
            root.handlers[:], root.level = handlers, level
            signal.signal(signal.SIGTERM, sigterm)
        out, err = capsys.readouterr()
        return code, out, err

    yield run
