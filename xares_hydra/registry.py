"""One registry type for the named pieces a config refers to: label rules, heads, metrics.

Registering a name twice fails at import; looking up an unknown name is a config error that
names the key, suggests close names and lists the known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from xares_hydra.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named items of one kind; ``key`` is the config key that names them (for error messages)."""

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        if name not in self._items:
            close = difflib.get_close_matches(name, list(self._items), n=3)
            hint = f" Did you mean {' or '.join(repr(match) for match in close)}?" if close else ""
            raise ConfigError(
                f"{self.key}={name!r} is not a known {self.kind}.{hint} Known: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())
