"""The one place where config objects become Python objects (Hydra's ``instantiate``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate

from xares_hydra.encode.encoder_spec import META_KEY
from xares_hydra.errors import ConfigError, XaresError


def make_cwd_importable() -> None:
    """User modules in the current folder are importable (``encoder._target_=my_module.MyEncoder``)."""
    if str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))


def build(config: Mapping[str, Any], what: str = "object") -> Any:
    """``instantiate`` with the current folder importable (user modules) and one clear error."""
    make_cwd_importable()
    try:
        return instantiate(dict(config))
    except InstantiationException as exn:
        cause = exn.__cause__ or exn
        if isinstance(cause, XaresError):
            raise cause from None
        raise ConfigError(f"could not build the {what} {config.get('_target_')}: {cause}") from exn


def build_encoder(config: Mapping[str, Any]) -> Any:
    """An encoder from its config; the reserved ``meta:`` block (facts for records) is no argument."""
    return build({key: value for key, value in config.items() if key != META_KEY}, "encoder")


def build_loggers(configs: Mapping[str, Any] | None) -> list[Any]:
    """The experiment loggers of the ``logger`` group: a mapping of names to ``_target_`` configs."""
    return [build(config, f"logger {name}") for name, config in (configs or {}).items()]


def target_object(config: Mapping[str, Any]) -> Any:
    """What ``_target_`` names, not built (None when it cannot be imported); makes user modules importable."""
    make_cwd_importable()
    try:
        return get_object(str(config.get("_target_")))
    except Exception:
        return None
