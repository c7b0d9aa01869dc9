"""Shareable result records: roots, home folders, host name and other absolute folders become placeholders."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = "<host>"
HOME = "~"
_HOME_DIR = re.compile(r"(?<![\w.<>~/:-])/(?:home/[^/\s'\"=,;]+|Users/[^/\s'\"=,;]+|root)(?=/|$|[\s'\"=,;)])")
_ABSOLUTE_DIR = re.compile(r"(?<![\w.<>~/:-])/(?:[^/\s'\"=,;:]+/)+")


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with roots, home folders, host name and other absolute folders replaced."""
    return _map_strings(record, _redactor(record))


def _redactor(record: dict[str, Any]) -> Callable[[str], str]:
    paths = (record.get("config") or {}).get("paths") or {}
    roots = {str(value).rstrip("/"): f"<{key}>" for key, value in paths.items() if _is_absolute(value)}
    roots[str(Path.home()).rstrip("/")] = HOME
    ordered = sorted(((root, name) for root, name in roots.items() if len(root) > 1), key=lambda p: -len(p[0]))
    root_patterns = [(re.compile(rf"(?<![\w.-]){re.escape(root)}(?=/|$|[\s'\"=,;)])"), name) for root, name in ordered]
    hosts = {str(host) for host in (record.get("host"), platform.node()) if host and host != HOST}
    host_pattern = re.compile("|".join(rf"(?<![\w.-]){re.escape(host)}(?![\w-])" for host in hosts)) if hosts else None

    def redact(text: str) -> str:
        for pattern, name in root_patterns:
            text = pattern.sub(name, text)
        if host_pattern is not None:
            text = host_pattern.sub(HOST, text)
        text = _HOME_DIR.sub(HOME, text)
        return _ABSOLUTE_DIR.sub("<path>/", text)

    return redact


def _is_absolute(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/")


def _map_strings(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {redact(str(key)): _map_strings(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, redact) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value
