"""The names a key allows (a group's packaged options, "did you mean") and a bare ``xares --help``, read from
the config files without torch or Hydra (Hydra's help deep-copies its config repository per group: seconds).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from pathlib import Path

import yaml

CHECKED_GROUPS = ("task", "encoder", "head")
HIDDEN_GROUPS = ("hydra", "schema")
# with another config source the packaged options are not the whole list: leave the check to Hydra
EXTRA_SOURCE_FLAGS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "hydra.searchpath")


def did_you_mean(name: str, known: Iterable[str], show: Callable[[str], str] = str) -> str:
    """``did you mean a or b?`` for the known names closest to ``name`` (case-insensitive); empty when none is."""
    by_lower = {item.lower(): item for item in known}
    matches = [by_lower[match] for match in difflib.get_close_matches(name.lower(), list(by_lower), n=3)]
    return f"did you mean {' or '.join(show(match) for match in matches)}?" if matches else ""


def conf_folder(group: str = "") -> Path:
    return Path(str(resources.files("xares_hydra.conf"))) / group


def group_options(group: str) -> list[str]:
    """A packaged config group's options, sorted; one in a sub-folder is named by its path (``task=demo/sounds``)."""
    folder = conf_folder(group)
    return sorted(path.relative_to(folder).with_suffix("").as_posix() for path in folder.rglob("*.yaml"))


def unknown_choice_message(arguments: Sequence[str]) -> str | None:
    """One line for the first unknown ``group=name`` override, with "did you mean"; None when all exist."""
    if any(argument.split("=")[0] in EXTRA_SOURCE_FLAGS for argument in arguments):
        return None
    for argument in arguments:
        group, equals, value = argument.partition("=")
        if not equals or group not in CHECKED_GROUPS or any(mark in value for mark in "()${}'\"*"):
            continue
        known = group_options(group)
        for name in value.split(","):
            if name and name not in known:
                hint = did_you_mean(name, known, f"{group}=".__add__)
                return f"{group}={name} does not exist; {hint + ' ' if hint else ''}available: {', '.join(known)}"
    return None


def quick_help() -> str:
    conf = conf_folder()
    help_texts = yaml.safe_load(conf.joinpath("config.yaml").read_text())["hydra"]["help"]
    groups = {
        folder.name: group_options(folder.name)
        for folder in conf.iterdir()
        if folder.is_dir() and folder.name not in HIDDEN_GROUPS and not folder.name.startswith("__")
    }
    listing = "\n".join(f"{group}: {', '.join(options)}" for group, options in sorted(groups.items()) if options)
    return (
        f"{help_texts['header']}\n== Configuration groups ==\n"
        f"Compose your configuration from these groups (group=option):\n\n{listing}\n\n"
        "== Config ==\nOverride anything in the config (foo.bar=value). `xares --cfg job [overrides]` prints the\n"
        "composed config; `xares [overrides] --help` prints it below these groups.\n\n"
        f"{help_texts['footer']}"
    )
