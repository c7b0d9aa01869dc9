"""The one place where config objects become Python objects (Hydra's ``instantiate``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate

from xares_hydra.errors import ConfigError, XaresError


def build(config: Mapping[str, Any], what: str = "object") -> Any:
    """``instantiate`` with the current folder importable (user modules) and one clear error."""
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))
    try:
        return instantiate(dict(config))
    except InstantiationException as exn:
        cause = exn.__cause__ or exn
        if isinstance(cause, XaresError):
            raise cause from None
        raise ConfigError(f"could not build the {what} {config.get('_target_')}: {cause}") from exn


def build_encoder(config: Mapping[str, Any]) -> Any:
    return build(config, "encoder")


def target_object(config: Mapping[str, Any]) -> Any:
    """What ``_target_`` names (a class or function), without building it; None when it cannot be imported."""
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))
    try:
        return get_object(str(config.get("_target_")))
    except Exception:
        return None
