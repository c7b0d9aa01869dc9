"""Tokenizers for the text-side heads: ``builtin`` hashes lower-cased ASCII words, ``builtin_unicode`` the words of
any script (no download either); any other name is a Hugging Face tokenizer, loaded offline unless allowed; a
word-level tokenizer for the demo LM.
"""

from __future__ import annotations

import importlib
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import regex

from xares_hydra.errors import ConfigError, DataUnavailable

BUILTIN, BUILTIN_UNICODE = "builtin", "builtin_unicode"
WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")
# scripts written without spaces between words: each of their characters (with its combining marks) is a token
UNSPACED = (
    r"\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}\p{scx=Tibetan}"
)
LETTER = rf"[[\p{{L}}\p{{M}}\p{{N}}]--[{UNSPACED}]]"
# WORD for every script: on ASCII text the same tokens (a word is letters with their combining marks and digits)
UNICODE_WORD = regex.compile(rf"[{UNSPACED}]\p{{M}}*|{LETTER}+(?:['’]{LETTER}+)*|[^\s\p{{L}}\p{{M}}\p{{N}}]", regex.V1)
PAD, UNK, EOS, SEPARATOR = "<pad>", "<unk>", "<|endoftext|>", "<|vision_end|>"


def words(text: str, unicode: bool = False) -> list[str]:
    """Lower-cased words (apostrophes kept inside a word) and single punctuation marks: ASCII letters and digits,
    any other character a mark of its own; ``unicode``: words of any script, a character of an unspaced one."""
    return (UNICODE_WORD if unicode else WORD).findall(text.lower())


@dataclass(frozen=True)
class HashingTokenizer:
    """Every word maps to ``1 + crc32(word) % (vocab_size - 1)``; id 0 is padding. Same text, same ids."""

    vocab_size: int
    pad_id: int = 0
    unicode: bool = False  # words of any script (builtin_unicode)

    def __post_init__(self) -> None:
        if self.vocab_size < 2:
            raise ConfigError(f"task.head_args.vocab_size={self.vocab_size}; the builtin tokenizer needs at least 2")

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        return [
            [1 + zlib.crc32(word.encode("utf-8")) % (self.vocab_size - 1) for word in words(text, self.unicode)]
            for text in texts
        ]


class PretrainedTokenizer:
    """A Hugging Face tokenizer's ids, special tokens included (BERT's [CLS] ... [SEP], as X-ARES)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = len(tokenizer)  # added tokens included
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(ids) for ids in self.tokenizer(list(texts))["input_ids"]]


Tokenizer = HashingTokenizer | PretrainedTokenizer


def transformers_module() -> ModuleType:
    try:
        return importlib.import_module("transformers")
    except ImportError as err:
        raise ConfigError(
            f"this head needs the Python package 'transformers' ({err}); "
            "install it with: pip install 'transformers>=4.56' (a dependency of xares-hydra)"
        ) from err


def load_tokenizer(name: str, vocab_size: int, allow_download: bool = False) -> Tokenizer:
    """``builtin``, ``builtin_unicode`` or a Hugging Face tokenizer name / local directory (never downloaded unless
    allowed)."""
    if name in (BUILTIN, BUILTIN_UNICODE):
        return HashingTokenizer(vocab_size, unicode=name == BUILTIN_UNICODE)
    auto = transformers_module().AutoTokenizer
    try:
        return PretrainedTokenizer(auto.from_pretrained(name, local_files_only=not allow_download))
    except (OSError, ValueError) as err:
        raise DataUnavailable(
            f"tokenizer {name!r} is not available offline ({type(err).__name__}). Either download it on a machine "
            f"with internet (huggingface-cli download {name} --local-dir DIR), copy DIR here and set "
            "task.head_args.tokenizer=DIR; or set task.head_args.tokenizer_download=true; or use the "
            "download-free task.head_args.tokenizer=builtin (scores are then not comparable with X-ARES)"
        ) from err


def word_level_tokenizer(texts: Iterable[str]) -> Any:
    """A ``transformers`` tokenizer whose vocabulary is the words of ``texts`` (sorted, so deterministic),
    plus padding, unknown, end-of-text and the audio/text separator; decoding joins words with spaces."""
    tokenizers = importlib.import_module("tokenizers")
    specials = [PAD, UNK, EOS, SEPARATOR]
    vocabulary = sorted({word for text in texts for word in text.split()} - set(specials))
    model = tokenizers.models.WordLevel({token: i for i, token in enumerate(specials + vocabulary)}, unk_token=UNK)
    backend = tokenizers.Tokenizer(model)
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(specials)
    return transformers_module().PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, unk_token=UNK, eos_token=EOS
    )
