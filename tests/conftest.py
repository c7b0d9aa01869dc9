"""Shared test helpers: config composition, real tar shards, real audio, an isolated XARES_ROOT for subprocess runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)
from xares_hydra.demo.shards import write_clips

REPO = Path(__file__).resolve().parents[1]


def composed(*overrides: str, hydra: bool = False) -> DictConfig:
    """The config as ``xares`` composes it from the installed package; ``hydra=True`` keeps the hydra node."""
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def tone(seconds: float, rate: int = 16000, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * frequency * t).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


clip_shard = write_clips  # (key, audio, rate, labels) clips as an X-ARES tar shard: the demo's writer


def run_xares(*args: str, root: Path, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    """Run the installed ``xares`` command as a user would, with all roots under ``root``."""
    env = dict(os.environ, XARES_ROOT=str(root), COLUMNS="200", HYDRA_FULL_ERROR="0")
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


@pytest.fixture
def xares_root(tmp_path: Path) -> Path:
    root = tmp_path / "xares-root"
    root.mkdir()
    return root
