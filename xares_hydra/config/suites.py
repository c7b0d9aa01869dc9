"""Suites are declared by the task YAMLs themselves (``tags:``); ``${xares_suite:xares_public}`` (the
``+benchmark=...`` presets) becomes the comma-separated task options carrying that tag, for a sweeper's params."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import yaml

from xares_hydra.errors import ConfigError


@functools.cache
def task_tags() -> dict[str, tuple[str, ...]]:
    """Task option (``esc50``, ``demo/sounds``) -> its tags, for every task YAML shipped in the package."""
    folder = Path(str(resources.files("xares_hydra.conf") / "task"))
    tags = {}
    for path in sorted(folder.rglob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        tags[path.relative_to(folder).with_suffix("").as_posix()] = tuple(document.get("tags") or ())
    return tags


def suite_tasks(tag: str) -> list[str]:
    tasks = [option for option, tags in task_tags().items() if tag in tags]
    if not tasks:
        known = sorted({tag for tags in task_tags().values() for tag in tags})
        raise ConfigError(f"no task is tagged {tag!r}; the suites are {', '.join(known)}")
    return tasks
