"""Lazy imports of optional packages, failing with the pip extra that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from xares_hydra.errors import ConfigError


class MissingDependency(ConfigError, ImportError):
    """The chosen encoder needs a package that is not installed."""


def require(module: str, extra: str, what: str = "this encoder") -> ModuleType:
    """Import ``module`` or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependency(
            f"{what} needs the Python package '{module.split('.')[0]}' ({err}); "
            f"install it with: pip install 'xares-hydra[{extra}]'"
        ) from err
