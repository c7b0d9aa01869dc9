"""Resemblyzer speaker features per frame (16 kHz, 256-d, 10 ms hop; weights from the wheel, package not imported).

The speaker head (Linear + ReLU + L2 norm) is applied to the LSTM output at every frame; of the input
preprocessing only volume normalisation is kept (voice-activity trimming would shift the frames).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torchaudio

from ._optional import MissingDependency
from .chunking import ChunkedEncoder

SAMPLING_RATE = 16000
WINDOW_MS = 25
HOP_MS = 10
TARGET_DBFS = -30.0


class ResemblyzerEncoder(ChunkedEncoder):
    def __init__(self, normalize_volume: bool = True, chunk_seconds: float = 10.0) -> None:
        super().__init__(chunk_seconds)
        state = _pretrained_state()
        n_mels = state["lstm.weight_ih_l0"].shape[1]
        hidden = state["lstm.weight_hh_l0"].shape[1]
        layers = sum(key.startswith("lstm.weight_ih_l") for key in state)
        self.sampling_rate = SAMPLING_RATE
        self.hop_size_in_ms = float(HOP_MS)
        self.output_dim = state["linear.weight"].shape[0]
        self.normalize_volume = normalize_volume
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLING_RATE,
            n_fft=SAMPLING_RATE * WINDOW_MS // 1000,
            hop_length=self.hop_samples,
            n_mels=n_mels,
            power=2.0,
            norm="slaney",
            mel_scale="slaney",
            pad_mode="constant",
        )  # librosa.feature.melspectrogram with resemblyzer's settings
        self.lstm = torch.nn.LSTM(n_mels, hidden, layers, batch_first=True)
        self.linear = torch.nn.Linear(hidden, self.output_dim)
        self.lstm.load_state_dict(_submodule_state(state, "lstm."))
        self.linear.load_state_dict(_submodule_state(state, "linear."))
        self.eval()

    def prepare(self, chunk: torch.Tensor) -> torch.Tensor:
        # resemblyzer.audio.normalize_volume(wav, -30, increase_only=True); silence is left as it is.
        if not self.normalize_volume:
            return chunk
        power = chunk.pow(2).mean(dim=-1, keepdim=True)
        gain_db = TARGET_DBFS - 10 * torch.log10(power.clamp_min(1e-20))
        gain = torch.where(power > 0, 10 ** (gain_db.clamp_min(0) / 20), torch.ones_like(power))
        return chunk * gain

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        mels = self.mel(chunk).transpose(1, 2)
        hidden, _ = self.lstm(mels)
        embeddings = torch.relu(self.linear(hidden))
        return torch.nn.functional.normalize(embeddings, dim=-1)


def _pretrained_state() -> dict[str, torch.Tensor]:
    """The weights in the ``pretrained.pt`` shipped in the resemblyzer package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(
            "this encoder needs the Python package 'resemblyzer' for its pretrained weights; "
            "install it with: pip install 'xares-hydra[resemblyzer]'"
        )
    weights = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    return checkpoint["model_state"]


def _submodule_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}
