"""X-ARES encoder files as they are (``encoder=xares_file encoder.path=my_encoder.py``): the one class whose
name ends in ``Encoder`` is instantiated without arguments, as X-ARES does."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import torch

from xares_hydra.errors import ConfigError


def load_encoder_file(path: str, args: dict[str, Any] | None = None) -> torch.nn.Module:
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ConfigError(f"encoder.path={path!r}: no such file (give the path of an X-ARES encoder .py file)")
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))  # so the file's own sibling imports work, as in X-ARES
    spec = importlib.util.spec_from_file_location(f"xares_encoder_file_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"encoder.path={path!r}: Python cannot load this file as a module (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return _encoder_class(module, file)(**(args or {}))


def _encoder_class(module: Any, file: Path) -> type:
    named = {name: value for name, value in vars(module).items() if name.endswith("Encoder") and inspect.isclass(value)}
    defined_here = [value for value in named.values() if value.__module__ == module.__name__]
    candidates = defined_here if len(defined_here) == 1 else list(named.values())
    if len(candidates) != 1:
        found = ", ".join(sorted(named)) or "none"
        raise ConfigError(f"{file}: expected exactly one class whose name ends in 'Encoder', found {found}")
    return candidates[0]
