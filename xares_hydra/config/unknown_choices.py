"""``task=urbansound8K``: name the closest packaged options first, before Hydra lists all of them."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

from xares_hydra.config.validate import closest

CHECKED_GROUPS = ("task", "encoder", "head")
# with another config source the packaged options are not the whole list: leave the check to Hydra
EXTRA_SOURCE_FLAGS = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn", "hydra.searchpath")


def packaged_options(group: str) -> list[str]:
    """The options of a config group shipped in ``xares_hydra.conf`` (``demo/sounds`` for nested ones)."""
    folder = resources.files("xares_hydra.conf") / group
    options: list[str] = []
    pending = [(folder, "")]
    while pending:
        node, prefix = pending.pop()
        for child in node.iterdir():
            if child.is_dir():
                pending.append((child, f"{prefix}{child.name}/"))
            elif child.name.endswith(".yaml"):
                options.append(prefix + child.name[: -len(".yaml")])
    return sorted(options)


def unknown_choice_message(arguments: Sequence[str]) -> str | None:
    """One line for the first unknown ``group=name`` override, with "did you mean"; None when all exist."""
    if any(argument.split("=")[0] in EXTRA_SOURCE_FLAGS for argument in arguments):
        return None
    for argument in arguments:
        group, equals, value = argument.partition("=")
        if not equals or group not in CHECKED_GROUPS or any(mark in value for mark in "()${}'\"*"):
            continue
        known = packaged_options(group)
        for name in value.split(","):
            if name and name not in known:
                matches = closest(name, known)
                hint = f"did you mean {' or '.join(f'{group}={match}' for match in matches)}? " if matches else ""
                return f"{group}={name} does not exist; {hint}available: {', '.join(known)}"
    return None
