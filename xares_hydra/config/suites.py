"""Suites are declared by the task YAMLs themselves (``tags:``); ``${xares_suite:xares_public}`` (the
``+benchmark=...`` presets) becomes the comma-separated task options carrying that tag, for a sweeper's params."""

from __future__ import annotations

import functools
from typing import Any

import yaml

from xares_hydra.config.choices import conf_folder, group_options
from xares_hydra.errors import ConfigError


@functools.cache
def task_documents() -> dict[str, dict[str, Any]]:
    """Task option (``esc50``, ``demo/sounds``) -> its YAML as written, for every task YAML shipped in the package."""
    return {
        option: yaml.safe_load(conf_folder(f"task/{option}.yaml").read_text()) or {} for option in group_options("task")
    }


def task_tags() -> dict[str, tuple[str, ...]]:
    return {option: tuple(document.get("tags") or ()) for option, document in task_documents().items()}


def task_versions() -> dict[str, Any]:
    """Task name (as records carry it: ``esc50``, ``demo_sounds``) -> the ``version`` of its shipped YAML."""
    return {document.get("name", option): document.get("version") for option, document in task_documents().items()}


def suite_tasks(tag: str) -> list[str]:
    tasks = [option for option, tags in task_tags().items() if tag in tags]
    if not tasks:
        known = sorted({tag for tags in task_tags().values() for tag in tags})
        raise ConfigError(f"no task is tagged {tag!r}; the suites are {', '.join(known)}")
    return tasks
