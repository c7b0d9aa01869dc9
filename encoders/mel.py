"""Log-mel filterbank baseline (no download): frames centred as ``torch.stft(center=True)`` does."""

from __future__ import annotations

import torch
import torchaudio

from .chunking import length_mask, reflect_padded


class MelEncoder(torch.nn.Module):
    def __init__(
        self,
        sampling_rate: int = 16000,
        n_mels: int = 64,
        win_length_ms: float = 25.0,
        hop_size_in_ms: float = 10.0,
        n_fft: int = 512,
        f_min: float = 0.0,
        f_max: float | None = None,
        log_offset: float = 1e-6,
    ) -> None:
        super().__init__()
        self.sampling_rate = sampling_rate
        self.output_dim = n_mels
        self.hop_size_in_ms = hop_size_in_ms
        self.log_offset = log_offset
        self.edge = n_fft // 2
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sampling_rate,
            n_fft=n_fft,
            win_length=round(sampling_rate * win_length_ms / 1000),
            hop_length=round(sampling_rate * hop_size_in_ms / 1000),
            f_min=f_min,
            f_max=f_max,
            n_mels=n_mels,
            center=False,
        )

    def frame_count(self, n_samples: int) -> int:
        return n_samples // self.melspec.hop_length + 1

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if audio.ndim == 1:
            audio = audio.unsqueeze(0)
        audio = audio.float()
        if lengths is None:
            lengths = torch.full((audio.shape[0],), audio.shape[1], device=audio.device)
        lengths = lengths.to(audio.device)
        mel = self.melspec(reflect_padded(audio, lengths, self.edge, self.edge))
        frames = torch.log(mel + self.log_offset).transpose(1, 2)
        counts = lengths // self.melspec.hop_length + 1
        kept = length_mask(counts, frames.shape[1])
        return frames * kept[..., None]
