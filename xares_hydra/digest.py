"""Digests: the one canonical JSON form behind cache fingerprints and record identities, and file digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys, anything JSON lacks written as ``str``: equal content, equal text."""
    return json.dumps(obj, sort_keys=True, default=str)


def json_sha256(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(
    folder: Path, files: Iterable[Path], digest_of: Callable[[Path], bytes], separator: bytes = b""
) -> str:
    """The hex sha256 over each file's path relative to ``folder``, ``separator`` and ``digest_of(file)``, in order."""
    entries = (str(file.relative_to(folder)).encode("utf-8") + separator + digest_of(file) for file in files)
    return hashlib.sha256(b"".join(entries)).hexdigest()
