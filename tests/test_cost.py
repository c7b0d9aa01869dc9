"""Encoder cost: FLOPs per second of audio against a hand count, the ops the counter cannot count, and the cost
a record carries (FLOPs, throughput, peak memory, device)."""

from __future__ import annotations

from pathlib import Path

import torch
from helpers.cli import SMALL_TIMBRE, xares

from xares_hydra.encode.cost import count_flops


class StridedConv(torch.nn.Module):
    """Frames of 160 samples (10 ms at 16 kHz) by a convolution to 8 channels, then a linear map to 4."""

    sampling_rate, output_dim, hop_size_in_ms = 16000, 4, 10.0

    def __init__(self, recurrent: bool = False) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(1, 8, kernel_size=160, stride=160, bias=False)
        self.linear = torch.nn.Linear(8, 4)
        self.lstm = torch.nn.LSTM(4, 4, batch_first=True) if recurrent else None

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = self.linear(self.conv(audio[:, None]).transpose(1, 2))
        return self.lstm(frames)[0] if self.lstm is not None else frames


def test_flops_per_second_match_a_hand_count() -> None:
    count = count_flops(StridedConv(), torch.device("cpu"), seconds=2.0)
    frames_per_second = 100
    conv = 2 * 160 * 8 * frames_per_second  # a multiply and an add per weight and output frame
    linear = 2 * 8 * 4 * frames_per_second
    assert count.per_second == conv + linear
    assert count.uncounted == []


def test_ops_without_a_flop_formula_are_named() -> None:
    count = count_flops(StridedConv(recurrent=True), torch.device("cpu"), seconds=1.0)
    assert any("rnn" in name or "lstm" in name for name in count.uncounted)  # mkldnn_rnn_layer on a CPU
    assert count.per_second >= 2 * 160 * 8 * 100  # the convolution and linear map are still counted


def test_a_record_carries_the_encode_stage_cost_and_keeps_it_from_the_cache(tmp_path: Path) -> None:
    first = xares("encoder=mel", *SMALL_TIMBRE, root=tmp_path, run_dir=tmp_path / "first")
    cost = first["encoder"]["cost"]
    # mel: a 64 x 257 filterbank matrix product per 10 ms frame (the STFT is not counted)
    assert cost["flops_per_second"] >= 2 * 64 * 257 * 100
    assert "_fft_r2c" in cost["flops_uncounted"]
    assert cost["throughput"] > 0 and cost["encoded_audio_seconds"] > 0
    assert cost["peak_memory_bytes"] > 10 * 2**20 and cost["peak_memory_kind"] in ("peak RSS", "process peak RSS")
    assert cost["device_name"]
    again = xares("encoder=mel", *SMALL_TIMBRE, "head.lr=0.01", root=tmp_path, run_dir=tmp_path / "again")
    assert again["encoder"]["cost"] == cost  # encoded once: the cache's cost
