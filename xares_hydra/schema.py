"""Typed schemas for the config groups, registered in Hydra's ConfigStore.

They live in the ``schema`` group, which is never swept; YAML files pull them in through their
defaults list (``- /schema/task@_here_``), so a typo or a wrong type (``head.lr=abc``) fails at
compose time. The task and head schemas live beside the code that reads them (``TaskSchema`` in
``data/taskspec.py``, ``HeadSettings`` in ``heads/``), so each default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from xares_hydra.data.taskspec import TaskSchema
from xares_hydra.heads import HeadSettings
from xares_hydra.suites import suite_sweep


@dataclass
class PathsSchema:
    root: str = MISSING
    data_root: str = MISSING
    cache_root: str = MISSING
    results_root: str = MISSING
    output_root: str = MISSING


@dataclass
class CompatSchema:
    mode: str = "default"
    knn_feature_normalisation: bool = False
    pad_batches: bool = False
    pad_short_crops: bool = False
    select_on_test: bool = False
    xares_retrieval_loss: bool = False
    xares_wrappers: bool = False


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("xares_suite"):
        OmegaConf.register_new_resolver("xares_suite", suite_sweep)


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="task", node=TaskSchema)
    store.store(group="schema", name="head", node=HeadSettings)
    store.store(group="schema", name="paths", node=PathsSchema)
    store.store(group="schema", name="compat", node=CompatSchema)


register_schemas()
register_resolvers()
