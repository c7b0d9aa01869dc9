"""Training-data overlap: the corpora an encoder was trained on (its ``meta.training_data``) that a task's audio
comes from (its ``corpus``), as MTEB flags models trained on the evaluation data."""

from __future__ import annotations

import re
from collections.abc import Sequence


def corpus_key(name: str) -> str:
    """A corpus name compared without case, spaces or punctuation (``Libri-Light`` = ``librilight``)."""
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def training_overlap(training_data: Sequence[str] | None, corpus: Sequence[str] | None) -> list[str] | None:
    """The task's corpora the encoder saw in training ([]: none); None where either side is not declared."""
    if training_data is None or corpus is None:
        return None
    seen = {corpus_key(name) for name in training_data}
    return [name for name in corpus if corpus_key(name) in seen]
