"""Canonical JSON and its sha256: the one way a document becomes a digest (identities, fingerprints)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(document: Any) -> str:
    """Keys sorted, anything JSON cannot hold as its ``str``: equal documents give equal text."""
    return json.dumps(document, sort_keys=True, default=str)


def json_sha256(document: Any) -> str:
    """The hex sha256 of ``canonical_json(document)``."""
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
