"""Shared fixtures (the shared helpers are in ``helpers``)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import record_of, working_in, xares

from xares_hydra import command, console


@pytest.fixture
def xares_root(tmp_path: Path) -> Path:
    """An empty folder for a run's roots (``XARES_ROOT``)."""
    root = tmp_path / "xares-root"
    root.mkdir()
    return root


@pytest.fixture
def console_200(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output 200 columns wide, as ``helpers.cli.run_xares`` gives the command (``COLUMNS=200``)."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console.stderr_console, "width", 200)  # made when xares_hydra.console was imported


@pytest.fixture
def xares_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], console_200: None
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``xares <args>`` through the console script's entry function in this process: returns its exit code,
    stdout and stderr; ``root=`` runs it in that folder with ``XARES_ROOT`` there (as ``helpers.cli.run_xares``).
    What a run sets for its process (log handlers, logging.raiseExceptions, the SIGTERM handler) is undone after it."""
    logger = logging.getLogger()
    handlers, level, sigterm = list(logger.handlers), logger.level, signal.getsignal(signal.SIGTERM)
    raise_exceptions = logging.raiseExceptions

    def run(*args: str, root: Path | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["xares", *args])
        if root is not None:
            monkeypatch.setenv("XARES_ROOT", str(root))
        try:
            with working_in(root) if root is not None else nullcontext():
                command.main()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        finally:
            for handler in set(logger.handlers) - set(handlers):
                handler.close()
            logger.handlers[:], logger.level = handlers, level
            logging.raiseExceptions = raise_exceptions
            signal.signal(signal.SIGTERM, sigterm)
        out, err = capsys.readouterr()
        return code, out, err

    yield run


@pytest.fixture
def xares_run(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], console_200: None
) -> Callable[..., tuple[dict[str, Any], str]]:
    """``helpers.cli.xares`` (the pipeline in this process): returns the result record and what the run printed
    and logged."""

    def run(*overrides: str, **where: Path | None) -> tuple[dict[str, Any], str]:
        caplog.clear()
        capsys.readouterr()
        with caplog.at_level(logging.INFO):
            record = xares(*overrides, **where)
        out, err = capsys.readouterr()
        return record, caplog.text + out + err

    return run


@pytest.fixture
def run_one(xares_command) -> Callable[..., tuple[dict[str, Any], subprocess.CompletedProcess]]:
    """``xares <overrides>`` in this process (``xares_command``) with all roots under ``root``; returns its result
    record and what a process would have given: exit code, stdout and stderr."""

    def run(root: Path, run_name: str, *overrides: str, check: bool = True):
        run_dir = root / "runs" / run_name
        code, out, err = xares_command(*overrides, f"hydra.run.dir={run_dir}", root=root)
        assert not check or code == 0, out + err
        return record_of(run_dir), subprocess.CompletedProcess(["xares", *overrides], code, out, err)

    return run
