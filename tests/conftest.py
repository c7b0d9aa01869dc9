"""Shared fixtures (the shared helpers are in ``helpers``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import SMALL_TIMBRE, exit_code, record_of, working_in, xares
from helpers.faults import make_root

from xares_hydra import api, command, console
from xares_hydra.encode.placement import usable_cores


def pytest_configure(config: pytest.Config) -> None:
    """pytest-xdist's workers share the cores: each limits torch's threads, its own and, through the environment,
    those of the ``xares`` commands it starts (two workers of two threads each on two cores crawl)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, usable_cores() // workers)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


# the modules that take longest (whole sweeps, pretrained encoders), longest first (measured with --durations)
LONGEST_MODULES = (
    "test_paper_results.py",
    "test_byo_encoders.py",
    "test_layers.py",
    "test_launchers.py",
    "test_pipeline.py",
    "test_catalog.py",
    "test_faults.py",
    "test_trust.py",
    "test_plan.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules come first (each keeps its tests' order): pytest-xdist hands out one module at a time in
    this order (``--dist loadscope --no-loadscope-reorder``, scripts/test.sh), so the long ones start early, the many
    short ones fill in at the end, and the workers finish together."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_MODULES.index(name) if name in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)


@pytest.fixture(scope="session", autouse=True)
def default_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A run that names no root writes in this session's own folder (each xdist worker has its own), never in the
    user's home or where another worker writes. Tables print 200 columns wide whatever the terminal (a worker has
    none, and its longer temporary paths would wrap them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XARES_ROOT", str(tmp_path_factory.mktemp("default-root")))
        patch.setenv("COLUMNS", "200")
        yield


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


@dataclass
class Roots:
    """Two results folders of the same small demo run but for the seed (0 in ``first``, 1 in ``second``)."""

    first: Path
    second: Path


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Roots:
    tmp = tmp_path_factory.mktemp("roots")
    for seed, name in ((0, "first"), (1, "second")):
        overrides = [f"paths.root={tmp}", f"paths.results_root={tmp / name}", f"seed={seed}", *SMALL_TIMBRE[1:]]
        api.evaluate("mel", tasks=("demo/timbre",), overrides=overrides)
    return Roots(tmp / "first", tmp / "second")


# --- the fault task (helpers.faults) of test_faults and test_fault_cells -----------------------------------------


@pytest.fixture
def run(xares_run) -> Callable[..., tuple[dict | None, str, int]]:
    """Runs the fault task; returns its record, what it logged and printed, and the command's exit code."""

    def run(root: Path, *overrides: str, name: str = "run", task: str = "fault_tones", check: bool = False):
        record, output = xares_run(f"task={task}", *overrides, root=root, run_dir=root / "runs" / name,
                                   config_dir=root / "user_conf")  # fmt: skip
        code = exit_code(record)
        assert not check or code == 0, output
        return record, output, code

    return run


@pytest.fixture(scope="session")
def clean(tmp_path_factory) -> tuple[Path, dict]:
    """One clean reference run every fault is compared with."""
    root = tmp_path_factory.mktemp("clean")
    make_root(root)
    record = xares("task=fault_tones", root=root, run_dir=root / "runs" / "run", config_dir=root / "user_conf")
    assert record["status"] == "ok"
    return root, record


@pytest.fixture
def root(xares_root: Path) -> Path:
    make_root(xares_root)
    return xares_root
