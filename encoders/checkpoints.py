"""Checkpoints loaded without running code hidden in them: tensors-only ``torch.load`` or ``.safetensors``;
full unpickling only with ``encoder.trust_checkpoint=true``."""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from xares_hydra.encoders._optional import require

from xares_hydra.errors import ConfigError, DataUnavailable

log = logging.getLogger(__name__)


class UntrustedCheckpoint(ConfigError):
    """The checkpoint holds more than tensors and the user has not opted into full unpickling."""


def load_checkpoint(source: str, trust: bool, how_to: str) -> Any:
    """A checkpoint file's or URL's contents; ``how_to`` (getting the file by hand) ends the error messages."""
    path = _fetched(source, how_to) if "://" in source else Path(source).expanduser()
    if not path.is_file():
        raise DataUnavailable(f"the checkpoint {path} does not exist. {how_to}")
    if path.suffix == ".safetensors" or urlparse(source).path.endswith(".safetensors"):
        return require("safetensors.torch", extra="dasheng").load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not trust:
            raise UntrustedCheckpoint(
                f"the checkpoint {source} holds more than tensors, and unpickling it in full could run code "
                f"stored in it ({first_line}). If you trust the file and who made it, set "
                "encoder.trust_checkpoint=true; better, convert it once to .safetensors"
            ) from err
    log.warning("loading %s with full unpickling (encoder.trust_checkpoint=true)", source)
    return torch.load(path, map_location="cpu", weights_only=False)


def _fetched(url: str, how_to: str) -> Path:
    """The downloaded file of ``url`` in the torch hub cache (fetched once, where torch.hub would put it)."""
    name = Path(urlparse(url).path).name
    if "." not in name:  # e.g. .../files/<key>/content: keep different URLs apart
        name = f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:12]}-{name or 'checkpoint'}"
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    if path.is_file():
        return path
    log.info("downloading %s into %s", url, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(path), progress=False)
    except OSError as err:
        raise DataUnavailable(f"cannot download the checkpoint {url}: {err}. {how_to}") from err
    return path
