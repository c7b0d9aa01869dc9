"""One registry type for the named pieces a config refers to (label rules, heads, metrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from xares_hydra.config.choices import did_you_mean
from xares_hydra.errors import ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[T]):
    """Named items of one kind, named by config ``key``; ``loader`` registers the built-ins on first lookup."""

    def __init__(self, kind: str, key: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.key = key
        self._items: dict[str, T] = {}
        self._loader = loader

    @property
    def _loaded(self) -> dict[str, T]:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()
        return self._items

    def decorator(self, make: Callable[..., T]) -> Callable[..., Callable[[F], F]]:
        """``@decorator(name, *fields)`` registers ``make(name, function, *fields)`` and returns the function."""

        def named(name: str, *fields: Any, **named_fields: Any) -> Callable[[F], F]:
            def register(function: F) -> F:
                if name in self._items:
                    raise ValueError(f"{self.kind} {name!r} is registered twice")
                self._items[name] = make(name, function, *fields, **named_fields)
                return function

            return register

        return named

    def get(self, name: str) -> T:
        """The item named ``name``; a name that matches one item only when case is ignored (``MSE``) finds it."""
        items = self._loaded
        if name not in items:
            folded = [known for known in items if known.casefold() == str(name).casefold()]
            if len(folded) == 1:
                return items[folded[0]]
            hint = f" D{hint[1:]}" if (hint := did_you_mean(name, items, repr)) else ""
            raise ConfigError(
                f"{self.key}={name!r} is not a known {self.kind}.{hint} Known: {', '.join(sorted(items))}"
            )
        return items[name]

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded)
