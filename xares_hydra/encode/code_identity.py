"""Which code an encoder runs, for its cache fingerprint: the digest of our wrappers' folder, an installed
wheel's name and version, or else the digest of the package (or lone module's folder) defining it.
Found with ``importlib.util.find_spec``, so the encoder's module is not imported."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from xares_hydra.digest import file_sha256, folder_sha256

OWN_WRAPPERS = "xares_hydra.encoders"


def code_identity(target: str, source_file: str | None = None) -> dict[str, Any]:
    """The identity of the code behind ``target`` (``module.Class``); ``source_file`` for X-ARES encoder files."""
    if source_file is not None:
        return _sources(Path(source_file).expanduser().resolve().parent, "folder")
    if target == OWN_WRAPPERS or target.startswith(OWN_WRAPPERS + "."):
        spec = importlib.util.find_spec(OWN_WRAPPERS)
        assert spec is not None and spec.submodule_search_locations is not None, "xares_hydra.encoders is a package"
        return _sources(Path(next(iter(spec.submodule_search_locations))), "package")
    top = target.split(".", 1)[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        return {"source": "unknown", "module": top}
    wheel = _versioned_distribution(top)
    if wheel is not None:
        return {"source": "distribution", **wheel}
    if spec.submodule_search_locations:
        return _sources(Path(next(iter(spec.submodule_search_locations))), "package")
    return _sources(Path(spec.origin).resolve().parent, "folder")


def _sources(folder: Path, source: str) -> dict[str, Any]:
    """The digest of the ``.py`` files of a package (subpackages included) or of a lone module's folder."""
    pattern = "**/*.py" if source == "package" else "*.py"
    files = [file for file in sorted(folder.glob(pattern)) if "__pycache__" not in file.parts]
    digest = folder_sha256(folder, files, lambda file: bytes.fromhex(file_sha256(file)), separator=b"\0")
    return {"source": source, "path": str(folder), "sha256": digest}


def _versioned_distribution(top_level: str) -> dict[str, str] | None:
    """Name and version of the wheel-installed distribution providing ``top_level``; None for local code."""
    for name in _distributions_by_top_level().get(top_level, []):
        distribution = metadata.distribution(name)
        if not _installed_from_local_files(distribution):
            return {"distribution": distribution.metadata["Name"], "version": distribution.version}
    return None


def _installed_from_local_files(distribution: metadata.Distribution) -> bool:
    """Editable and path installs (PEP 610 ``direct_url.json``) run whatever is in their folder now."""
    text = distribution.read_text("direct_url.json")
    if not text:
        return False
    try:
        return "dir_info" in json.loads(text)  # a local folder; a wheel file has "archive_info"
    except json.JSONDecodeError:
        return True


@cache
def _distributions_by_top_level() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())
