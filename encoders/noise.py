"""The chance-level reference: frames drawn from a generator seeded by a hash of the clip's samples."""

from __future__ import annotations

import zlib

import torch

from .chunking import encode_padded


class NoiseEncoder(torch.nn.Module):
    def __init__(self, sampling_rate: int = 16000, output_dim: int = 64, hop_size_in_ms: float = 10.0) -> None:
        super().__init__()
        self.sampling_rate = sampling_rate
        self.output_dim = output_dim
        self.hop_size_in_ms = hop_size_in_ms
        self.hop_length = round(sampling_rate * hop_size_in_ms / 1000)

    def frame_count(self, n_samples: int) -> int:
        return n_samples // self.hop_length + 1

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        if lengths is not None:
            return encode_padded(self.forward, audio, lengths, self.frame_count)
        n_frames = self.frame_count(audio.shape[-1])
        clips = []
        for clip in audio:
            seed = zlib.crc32(clip.detach().cpu().float().numpy().tobytes())
            generator = torch.Generator().manual_seed(seed)
            clips.append(torch.randn(n_frames, self.output_dim, generator=generator))
        return torch.stack(clips).to(audio.device)
