"""Dasheng, the X-ARES baseline encoder (`dasheng` package): 16 kHz audio, one frame per 40 ms.

The architecture is built with the package's own ``Dasheng`` class from the sizes given here (and
the ``config`` stored in the checkpoint, as ``Dasheng.from_pretrained`` does), then the weights are
loaded from ``checkpoint``: a local file, a URL, or by default the package's published URL for
``model`` (downloaded once into the torch hub cache).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from xares_hydra.encoders._optional import require
from xares_hydra.encoders.chunking import ChunkedEncoder, reflect_padded

from xares_hydra.errors import ConfigError, DataUnavailable

log = logging.getLogger(__name__)


class DashengEncoder(ChunkedEncoder):
    """A padded batch runs as one forward, the padding masked out of attention (``x_length``, dasheng>=0.0.9)."""

    padded_forward = True

    def __init__(
        self,
        model: str = "dasheng_base",
        checkpoint: str | None = None,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        chunk_seconds: float = 10.0,
        xares_exact: bool = False,
    ) -> None:
        super().__init__(chunk_seconds, xares_exact=xares_exact)
        pretrained = require("dasheng.pretrained.pretrained", extra="dasheng")
        url = _published_url(pretrained.PRETRAINED_CHECKPOINTS, model)
        state, saved_config = _split_dump(_load_dump(checkpoint or url, model, url))
        self.model = pretrained.Dasheng(
            **{**saved_config, "embed_dim": embed_dim, "depth": depth, "num_heads": num_heads}
        )
        self.model.load_state_dict(state, strict=True)
        self.sampling_rate = 16000
        self.output_dim = embed_dim
        frame_samples = self.model.hop_size * self.model.patch_stride[-1]
        self.hop_size_in_ms = 1000 * frame_samples / self.sampling_rate
        self.receptive_field = (self.model.patch_size[-1] - 1) * self.model.hop_size
        self.eval()

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        return self.model.forward_spectrogram(self.spectrogram(chunk))

    def spectrogram(self, chunk: torch.Tensor) -> torch.Tensor:
        """The model's front end, with the dB floor (``top_db``) of each clip its own: torchaudio takes it
        over the whole batch for ``[B, F, T]`` input, which made a clip depend on its batch-mates."""
        with torch.autocast(chunk.device.type, enabled=False):
            mel = self.model.front_end[0](chunk.float())
            return self.model.init_bn(self.model.front_end[1](mel.unsqueeze(1)))

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # each row reflected at its own end, as the spectrogram reflects a clip alone (exact last frame)
        edge = self.model.front_end[0].n_fft // 2
        chunk = reflect_padded(chunk, lengths, 0, edge)
        # the model keeps floor(x_length / frame) frames: say how many whole frames each row has
        frame = self.hop_samples
        return self.model.forward_spectrogram(self.spectrogram(chunk), x_length=(lengths + frame - 1) // frame * frame)

    def xares_call(self, batch: torch.Tensor) -> torch.Tensor:
        # X-ARES's dasheng wrapper: the model's own forward on the padded batch, no normalisation
        return self.model(batch)


def _published_url(checkpoints: dict[str, str], model: str) -> str:
    if model not in checkpoints:
        raise ConfigError(f"encoder.model={model!r} is not one of the dasheng models {sorted(checkpoints)}")
    return checkpoints[model]


def _load_dump(source: str, model: str, url: str) -> Any:
    """The checkpoint's contents; a missing file or failed download raises DataUnavailable."""
    how_to = (
        f"On a machine with internet download {url} (e.g. curl -L -o {model}.pt '{url}'), "
        f"copy the file here and set encoder.checkpoint=/path/to/{model}.pt"
    )
    if "://" in source:
        log.info("loading %s weights from %s (cached in %s)", model, source, torch.hub.get_dir())
        try:
            return _load_trusted(
                lambda safe: torch.hub.load_state_dict_from_url(source, map_location="cpu", weights_only=safe)
            )
        except OSError as err:
            message = f"cannot download the {model} checkpoint from {source}: {err}. {how_to}"
            raise DataUnavailable(message) from err
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataUnavailable(f"the {model} checkpoint {path} does not exist. {how_to}")
    return _load_trusted(lambda safe: torch.load(path, map_location="cpu", weights_only=safe))


def _load_trusted(load: Callable[[bool], Any]) -> Any:
    """Load with ``weights_only=True``; fall back to full unpickling for checkpoints that need it."""
    try:
        return load(True)
    except pickle.UnpicklingError:
        log.warning("checkpoint holds more than tensors; loading it with weights_only=False")
        return load(False)


def _split_dump(dump: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, saved config) from the package's ``{"model", "config"}`` format or a bare state dict."""
    if isinstance(dump, dict) and isinstance(dump.get("model"), dict):
        return dump["model"], dict(dump.get("config") or {})
    return dump, {}
