"""A sweep composes each job's config once (Hydra composes it three times, ~0.1 s each): a speed trick that
replaces ``ConfigLoader.load_sweep_config``, private API that ``tests/test_launchers.py`` pins.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

from hydra.core.config_loader import ConfigLoader
from omegaconf import DictConfig, OmegaConf


class ComposedJobs:
    """``load_sweep_config`` that composes each job's config once per sweep; every call gets its own copy."""

    def __init__(self, compose: Callable[[DictConfig, list[str]], DictConfig]) -> None:
        self.compose = compose
        self.kept: dict[tuple[str, tuple[str, ...], tuple[str, ...]], bytes] = {}

    @classmethod
    def install(cls, loader: ConfigLoader) -> None:
        """On Hydra's config loader (the one its sweeper and launchers use), fresh for each sweep."""
        compose = loader.load_sweep_config
        loader.load_sweep_config = cls(getattr(compose, "compose", compose))  # type: ignore[method-assign]

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        hydra_overrides = tuple(str(item) for item in master_config.hydra.overrides.hydra)
        key = (str(master_config.hydra.job.config_name), hydra_overrides, tuple(sweep_overrides))
        if key not in self.kept:
            self.kept[key] = pickle.dumps(self.compose(master_config, list(sweep_overrides)))
        config = pickle.loads(self.kept[key])
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config
