"""The ``xares`` command, composed and run in this process as it runs in its own, or run for real as a user would."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.settings import plain
from xares_hydra.encode.encoder_spec import default_name
from xares_hydra.main import run_task

REPO = Path(__file__).resolve().parents[2]
# the demo timbre task at its smallest
SMALL_TIMBRE = (
    "task=demo/timbre",
    "task.generator.args.train_per_class=6",
    "task.generator.args.valid_per_class=2",
    "task.generator.args.test_per_class=3",
    "task.epochs=3",
)


def task_subsets(options: list[str]) -> dict[str, list[str]]:
    """A task's subsets in a folder of their own (``maeb/sibfleurs/<language>``), sorted, by folder."""
    subsets: dict[str, list[str]] = {}
    for option in sorted(options):
        if option.count("/") == 2:
            subsets.setdefault(option.rsplit("/", 1)[0], []).append(option)
    return subsets


def composed_options(options: list[str]) -> list[str]:
    """The options to compose: of a task's subsets only the first, as the others are checked to be it with their
    own subset (tests/test_packs.py, test_the_subsets_of_a_task_differ_only_in_their_subset)."""
    firsts = {folder: subsets[0] for folder, subsets in task_subsets(options).items()}
    return [option for option in sorted(options) if option.count("/") < 2 or option in firsts.values()]


def composed(*overrides: str, hydra: bool = False) -> DictConfig:
    """The config as ``xares`` composes it from the installed package; ``hydra=True`` keeps the hydra node."""
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def xares(*overrides: str, root: Path, run_dir: Path | None = None, config_dir: Path | None = None) -> dict[str, Any]:
    """``xares [--config-dir config_dir] <overrides> hydra.run.dir=<run_dir>`` in this process, all roots under
    ``root``: the config composed as the command composes it, the pipeline (``run_task``) run on it; returns the
    result record (also written to ``run_dir`` and, when scored, to the results folder). The command exits 1
    when the record's status is failed, unavailable or skipped (``exit_code``)."""
    search = [f"hydra.searchpath=[file://{config_dir}]"] if config_dir else []
    cfg = composed(f"paths.root={root}", *search, *overrides, hydra=True)
    name = default_name(cfg.hydra.runtime.choices.get("encoder"), plain(cfg.encoder))
    with open_dict(cfg):
        del cfg["hydra"]
    with working_in(root):
        return run_task(cfg, encoder_name=name, output_dir=run_dir, overrides=list(overrides))


@contextmanager
def working_in(folder: Path) -> Iterator[None]:
    """The current folder is ``folder`` for the block, as for a command started there: its modules are imported
    afresh and forgotten afterwards (a later run imports them again, edited or not)."""
    cwd, path, modules = Path.cwd(), list(sys.path), set(sys.modules)
    os.chdir(folder)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if Path(getattr(sys.modules[name], "__file__", None) or "/").is_relative_to(folder):
                del sys.modules[name]


def exit_code(record: dict[str, Any]) -> int:
    """The exit code of the ``xares`` run that wrote ``record`` (``run_job``)."""
    return 1 if record["status"] in ("failed", "unavailable", "skipped") else 0


def record_of(run_dir: Path) -> dict[str, Any]:
    """The result record a run wrote into its run folder."""
    return json.loads((run_dir / "result.json").read_text())


def run_xares(
    *args: str, root: Path, timeout: float = 600, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the installed ``xares`` command as a user would, with all roots under ``root`` (and ``env`` added)."""
    env = dict(os.environ, XARES_ROOT=str(root), COLUMNS="200", HYDRA_FULL_ERROR="0", **(env or {}))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "xares"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"xares {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def encoded_shards(sweep: Path) -> Counter:
    """(encoder, shard) -> how many jobs logged "Encoding <shard>"."""
    counts: Counter = Counter()
    for log in sweep.glob("*/xares.log"):
        encoder = json.loads((log.parent / "result.json").read_text())["encoder"]["name"]
        for line in log.read_text().splitlines():
            if "Encoding " in line:
                counts[encoder, line.split("Encoding ")[1].strip()] += 1
    return counts
