"""Shareable result records: roots, home folders, host name and other absolute folders become placeholders."""

from __future__ import annotations

import platform
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_text

HOST = "<host>"
HOME = "~"
_HOME_DIR = re.compile(r"(?<![\w.<>~/:-])/(?:home/[^/\s'\"=,;]+|Users/[^/\s'\"=,;]+|root)(?=/|$|[\s'\"=,;)])")
_ABSOLUTE_DIR = re.compile(r"(?<![\w.<>~/:-])/(?:[^/\s'\"=,;:]+/)+")
TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".csv", ".tex", ".txt", ".html")


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with roots, home folders, host name and other absolute folders replaced."""
    paths = (record.get("config") or {}).get("paths") or {}
    roots = {value: f"<{key}>" for key, value in paths.items() if isinstance(value, str) and value.startswith("/")}
    return _map_strings(record, redactor(roots, [str(record["host"])] if record.get("host") else []))


def redactor(roots: dict[str, str], hosts: Iterable[str] = ()) -> Callable[[str], str]:
    """Text with each root folder (longest first) replaced by its placeholder, then this machine's name, the home
    folder and any other absolute folder."""
    named = {root.rstrip("/"): name for root, name in roots.items()} | {str(Path.home()).rstrip("/"): HOME}
    ordered = sorted(((root, name) for root, name in named.items() if len(root) > 1), key=lambda p: -len(p[0]))
    root_patterns = [(re.compile(rf"(?<![\w.-]){re.escape(root)}(?=/|$|[\s'\"=,;)])"), name) for root, name in ordered]
    names = {host for host in (*hosts, platform.node()) if host and host != HOST}
    host_pattern = re.compile("|".join(rf"(?<![\w.-]){re.escape(host)}(?![\w-])" for host in names)) if names else None

    def redact(text: str) -> str:
        for pattern, name in root_patterns:
            text = pattern.sub(name, text)
        if host_pattern is not None:
            text = host_pattern.sub(HOST, text)
        text = _HOME_DIR.sub(HOME, text)
        return _ABSOLUTE_DIR.sub("<path>/", text)

    return redact


def redact_files(paths: Iterable[Path], redact: Callable[[str], str]) -> None:
    """Rewrite each text file among ``paths`` redacted (figures and arrays hold no paths: left as they are)."""
    for path in paths:
        if path.suffix in TEXT_SUFFIXES:
            text = path.read_text(encoding="utf-8")
            if (redacted := redact(text)) != text:
                write_text(path, redacted)


def _map_strings(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {redact(str(key)): _map_strings(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, redact) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value
