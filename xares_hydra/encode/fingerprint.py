"""The encoder fingerprint that keys the embedding cache: the resolved encoder config, the content of the
files it names, the encoder's code and the settings that change what it sees; runtime knobs (device,
batch size, threads) are left out on purpose.

Which code an encoder runs: the digest of our wrappers' folder, an installed wheel's name and version, or else the
digest of the package (or lone module's folder) defining it. Found with ``importlib.util.find_spec``, so the
encoder's module is not imported."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_json
from xares_hydra.digest import file_sha256, folder_sha256, json_sha256
from xares_hydra.locks import file_lock

CACHE_FORMAT_VERSION = 2
_DIGEST_MEMO = ".file_digests.json"
TASK_DERIVED_SETTINGS = ("crop_length", "batch_size")


def encoder_fingerprint(
    encoder_config: Mapping[str, Any],
    embedding_settings: Mapping[str, Any],
    memo_dir: Path | None = None,
    code: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Short hex fingerprint and the document it was computed from (saved beside the cache)."""
    document = {
        "format": CACHE_FORMAT_VERSION,
        "encoder": _with_file_digests(encoder_config, memo_dir),
        "code": dict(code or {}),
        "settings": dict(embedding_settings),
    }
    return json_sha256(document)[:12], document


def encoder_identity(document: dict[str, Any]) -> str:
    """The fingerprint without what the task decides (crop length, encode batch size): one per encoder across tasks."""
    settings = {key: value for key, value in document["settings"].items() if key not in TASK_DERIVED_SETTINGS}
    return json_sha256(dict(document, settings=settings))[:12]


def _with_file_digests(value: Any, memo_dir: Path | None) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _with_file_digests(item, memo_dir) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_with_file_digests(item, memo_dir) for item in value]
    if isinstance(value, str) and _looks_like_path(value):
        path = Path(value).expanduser()
        if path.is_file():
            return {"path": value, "sha256": file_digest(path, memo_dir)}
        if path.is_dir():
            return {"path": value, "sha256": directory_digest(path, memo_dir)}
    return value


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.startswith(("~", ".")) or value.endswith((".pt", ".pth", ".ckpt", ".py"))


def directory_digest(path: Path, memo_dir: Path | None) -> str:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return folder_sha256(path, files, lambda file: file_digest(file, memo_dir).encode("ascii"))


def file_digest(path: Path, memo_dir: Path | None) -> str:
    """sha256 of a file; large weight files are hashed once and remembered by (path, size, mtime)."""
    stat = path.stat()
    memo_key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    memo = _read_memo(memo_dir)
    if memo_key in memo:
        return memo[memo_key]
    value = file_sha256(path)
    if memo_dir is not None and stat.st_size > 1 << 20:
        _write_memo(memo_dir, memo_key, value)
    return value


def _read_memo(memo_dir: Path | None) -> dict[str, str]:
    try:
        return json.loads((memo_dir / _DIGEST_MEMO).read_text()) if memo_dir is not None else {}
    except (OSError, json.JSONDecodeError):
        return {}


def _write_memo(memo_dir: Path, key: str, value: str) -> None:
    memo_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(memo_dir / (_DIGEST_MEMO + ".lock")):
        memo = _read_memo(memo_dir)
        memo[key] = value
        write_json(memo_dir / _DIGEST_MEMO, memo)


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
