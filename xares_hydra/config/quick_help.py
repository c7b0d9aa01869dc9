"""``xares --help`` without Hydra's help machinery, which deep-copies its config repository for every
config group (seconds on a small machine). The groups and options are read from the config files; the
header and footer are the app's ``hydra.help`` texts. With overrides, Hydra's own help is used."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable

import yaml

HIDDEN_GROUPS = ("hydra", "schema")


def quick_help() -> str:
    conf = resources.files("xares_hydra.conf")
    help_texts = yaml.safe_load(conf.joinpath("config.yaml").read_text())["hydra"]["help"]
    groups = "\n".join(
        f"{group}: {', '.join(options)}" for group, options in sorted(config_groups(conf).items()) if options
    )
    return (
        f"{help_texts['header']}\n== Configuration groups ==\n"
        f"Compose your configuration from these groups (group=option):\n\n{groups}\n\n"
        "== Config ==\nOverride anything in the config (foo.bar=value). `xares --cfg job [overrides]` prints the\n"
        "composed config; `xares [overrides] --help` prints it below these groups.\n\n"
        f"{help_texts['footer']}"
    )


def config_groups(conf: Traversable) -> dict[str, list[str]]:
    """Group -> sorted options; an option in a sub-folder is named by its path (``task=demo/sounds``)."""
    return {
        folder.name: sorted(_options(folder))
        for folder in conf.iterdir()
        if folder.is_dir() and folder.name not in HIDDEN_GROUPS and not folder.name.startswith("__")
    }


def _options(folder: Traversable, prefix: str = "") -> list[str]:
    options = []
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.name.startswith("__"):
            options.extend(_options(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(".yaml"):
            options.append(prefix + entry.name.removesuffix(".yaml"))
    return options
