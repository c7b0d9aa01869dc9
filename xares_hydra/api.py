"""Run the benchmark from Python (notebooks, scripts) with the same Hydra configs as ``xares``.

from xares_hydra.api import evaluate
records = evaluate(MyEncoder(), ["esc50", "demo/sounds"], overrides=["head.lr=1e-3"])
records[0]["scores"]["mlp"]["score"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from hydra import compose, initialize_config_module

from xares_hydra.config import schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config.settings import plain
from xares_hydra.encode.encoder_spec import default_name
from xares_hydra.main import run_task


def evaluate(
    encoder: torch.nn.Module | str,
    tasks: Sequence[str] = ("demo/sounds",),
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``encoder`` on each task and return the result records (also written to the results folder).

    ``encoder`` is an encoder object (X-ARES contract) or the name of an encoder config (``"mel"``);
    ``overrides`` are the command line's ``key=value`` overrides (``"head.lr=1e-3"``, ``"paths.root=/data"``).
    An object's cache fingerprint comes from its class, contract attributes and weights.
    """
    records = []
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        for task in tasks:
            choices = [f"task={task}"] + ([f"encoder={encoder}"] if isinstance(encoder, str) else [])
            cfg = compose("config", overrides=[*choices, *overrides])
            encoder_name = (name or default_name(encoder, plain(cfg.encoder))) if isinstance(encoder, str) else name
            records.append(run_task(cfg, None if isinstance(encoder, str) else encoder, encoder_name=encoder_name))
    return records
