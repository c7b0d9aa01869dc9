"""The base of the config's closed choices (``stage``, ``encode.batching``, ...): their schemas type them with
its subclasses, so OmegaConf refuses any other value while composing, naming it and the values allowed."""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """A closed choice, a ``str`` equal to its value: JSON, digests, file names, labels and messages read the
    plain value ("auto", never "Batching.auto", which ``str`` and ``format`` give from Python 3.12 on)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)
