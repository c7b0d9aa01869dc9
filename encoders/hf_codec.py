"""Neural audio codecs from Hugging Face (EnCodec, DAC, Mimi): their encoders' continuous latents, before the
quantiser, one frame per codec frame. Their convolutions see a batch's zero padding, so only clips of equal
length share a forward."""

from __future__ import annotations

from typing import Any

import torch

from .huggingface import HubEncoder


class CodecEncoder(HubEncoder):
    """The latent frames ``[B, T', D]`` of a codec's encoder on mono audio ``[B, 1, t]``."""

    def load_model(self, model: Any) -> None:
        config = model.config
        self.sampling_rate = config.sampling_rate
        self.model = model.encoder  # the quantiser and decoder are left
        self.normalize = bool(getattr(config, "normalize", False))  # EnCodec 48 kHz: audio scaled to unit RMS
        hop = self.hop_of(config)
        self.hop_size_in_ms = 1000 * hop / self.sampling_rate
        self.receptive_field = hop
        self.output_dim = self.latent_dim(config)
        chunk_length = getattr(config, "chunk_length_s", None)
        self.max_chunk_seconds = float(chunk_length) if chunk_length else None

    @staticmethod
    def hop_of(config: Any) -> int:
        """Samples per latent frame: Mimi downsamples its SEANet frames to ``frame_rate``; EnCodec and DAC do not."""
        if config.model_type == "mimi":
            return round(config.sampling_rate / config.frame_rate)
        return int(config.hop_length)

    @staticmethod
    def latent_dim(config: Any) -> int:
        return int(config.hidden_size)

    def prepare(self, chunk: torch.Tensor) -> torch.Tensor:
        if not self.normalize:
            return chunk
        return chunk / (chunk.pow(2).mean(dim=-1, keepdim=True).sqrt() + 1e-8)

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        latents = self.model(chunk[:, None, :])
        latents = getattr(latents, "latents", latents)  # Mimi's encoder returns an output object
        return latents.transpose(1, 2)

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """[B, 1, T', D]: the latents are the one layer a codec exposes."""
        return self.encode(chunk)[:, None]
