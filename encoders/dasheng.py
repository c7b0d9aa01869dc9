"""Dasheng, the X-ARES baseline encoder (`dasheng` package): 16 kHz audio, one frame per 40 ms; weights from
``checkpoint`` (a file or URL) or the package's published URL for ``model``."""

from __future__ import annotations

from typing import Any

import torch

from xares_hydra.errors import ConfigError

from ._optional import require
from .checkpoints import load_checkpoint
from .chunking import ChunkedEncoder, reflect_padded


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
        trust_checkpoint: bool = False,
    ) -> None:
        super().__init__(chunk_seconds, xares_exact=xares_exact)
        pretrained = require("dasheng.pretrained.pretrained", extra="dasheng")
        url = _published_url(pretrained.PRETRAINED_CHECKPOINTS, model)
        how_to = (
            f"On a machine with internet download {url} (e.g. curl -L -o {model}.pt '{url}'), "
            f"copy the file here and set encoder.checkpoint=/path/to/{model}.pt"
        )
        state, saved_config = _split_dump(load_checkpoint(checkpoint or url, trust_checkpoint, how_to))
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
        """The model's front end, each clip's dB floor (``top_db``) its own (torchaudio takes it per batch)."""
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

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """[B, depth + 1, T', D]: the first block's input, each block's output, then ``encode``'s (via hooks)."""
        captured: list[torch.Tensor] = []
        blocks = list(self.model.blocks)
        handles = [blocks[0].register_forward_pre_hook(lambda module, args: captured.append(args[0]))]
        handles += [block.register_forward_hook(lambda m, a, output: captured.append(output)) for block in blocks[:-1]]
        try:
            output = self.model(chunk)
        finally:
            for handle in handles:
                handle.remove()
        # the model runs its blocks once per 10 s segment of the chunk: regroup per layer, segments along time
        per_segment = len(blocks)
        segments = [captured[start : start + per_segment] for start in range(0, len(captured), per_segment)]
        inner = [torch.cat([segment[layer] for segment in segments], dim=1) for layer in range(per_segment)]
        return torch.stack([*inner, output], dim=1)


def _published_url(checkpoints: dict[str, str], model: str) -> str:
    if model not in checkpoints:
        raise ConfigError(f"encoder.model={model!r} is not one of the dasheng models {sorted(checkpoints)}")
    return checkpoints[model]


def _split_dump(dump: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, saved config) from the package's ``{"model", "config"}`` format or a bare state dict."""
    if isinstance(dump, dict) and isinstance(dump.get("model"), dict):
        return dump["model"], dict(dump.get("config") or {})
    return dump, {}
