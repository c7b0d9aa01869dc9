"""encode.batching=auto (the default): padded batches only for an encoder told its padding or proved by the padding
probe not to move with it; an encoder whose frames move with padding is encoded exactly."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers.audio import tone_shard
from helpers.cli import SMALL_TIMBRE, composed
from helpers.encoders import CPU, HOP, XARES_STYLE_FILE, BlockMeans
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.checker import run_checks
from xares_hydra.encode.contract import PADDING_TOLERANCE
from xares_hydra.encode.embed import EncodeSettings, ensure_encoded
from xares_hydra.encode.encoder_spec import spec_from_instance
from xares_hydra.main import run_task


class TinyAttention(torch.nn.Module):
    """Told nothing of the padding: 10 ms frames, one self-attention layer over all of them (padding included)."""

    sampling_rate, output_dim, hop_size_in_ms = 16000, 8, 10.0

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.project = torch.nn.Linear(HOP, self.output_dim)
        self.attention = torch.nn.MultiheadAttention(self.output_dim, 2, batch_first=True)
        self.calls = 0

    def forward(self, audio):
        self.calls += 1
        frames = self.project(torch.nn.functional.pad(audio, (0, -audio.shape[1] % HOP)).unflatten(1, (-1, HOP)))
        return frames + self.attention(frames, frames, frames, need_weights=False)[0]


def encode(encoder, shard, cache_dir, batching):
    cache = EncoderCache(cache_dir)
    info = ensure_encoded(
        spec_from_instance(encoder, {}), cache, [shard], EncodeSettings(keep_frames=True, batching=batching), CPU
    )
    return info, cache.load([shard])


def test_an_encoder_whose_frames_move_with_padding_is_encoded_exactly_by_default(tmp_path, caplog):
    shard = tone_shard(tmp_path / "mixed_0.tar")
    with caplog.at_level(logging.INFO, logger="xares_hydra.encode.embed"):
        info, default = encode(TinyAttention(), shard, tmp_path / "auto", "auto")
    _, exact = encode(TinyAttention(), shard, tmp_path / "exact", "exact")
    assert info["batching"] == "exact" and not info["padding"]["invariant"]
    assert info["padding"]["told"] is None and info["padding"]["deviation"] > 100 * PADDING_TOLERANCE
    assert np.array_equal(default.pooled, exact.pooled) and np.array_equal(default.n_frames, exact.n_frames)
    assert all(np.array_equal(default.frames(i), exact.frames(i)) for i in range(len(default)))
    said = [record.getMessage() for record in caplog.records if "encode.batching=exact" in record.getMessage()]
    assert len(said) == 1 and "lengths" in said[0] and "mask contract" in said[0], said
    # asked for explicitly, padded batches stay available: with a warning, and they move the clips
    with caplog.at_level(logging.WARNING, logger="xares_hydra.encode.embed"):
        info, bucketed = encode(TinyAttention(), shard, tmp_path / "bucketed", "bucketed")
    assert info["batching"] == "bucketed" and "batch-mates" in caplog.text
    assert not np.allclose(bucketed.pooled, exact.pooled, atol=1e-3)


def test_a_frame_wise_encoder_told_nothing_is_proved_invariant_and_batched(tmp_path):
    shard = tone_shard(tmp_path / "mixed_0.tar")
    encoder = BlockMeans()
    info, default = encode(encoder, shard, tmp_path / "auto", "auto")
    assert info["batching"] == "bucketed" and info["padding"] == {"told": None, "deviation": 0.0, "invariant": True}
    _, exact = encode(BlockMeans(), shard, tmp_path / "exact", "exact")
    np.testing.assert_array_equal(default.n_frames, exact.n_frames)
    np.testing.assert_allclose(default.pooled, exact.pooled, rtol=PADDING_TOLERANCE, atol=PADDING_TOLERANCE)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (TinyAttention, "frames in padded batches move (largest relative deviation"),
        (BlockMeans, "frames in padded batches do not move (largest relative deviation 0.0e+00 <= 1e-04)"),
        (MelEncoder, "told the padding (lengths)"),
    ],
)
def test_the_check_report_names_the_deviation_and_the_batching_chosen(make, expected):
    rows = {result.name: result for result in run_checks(make(), CPU)}
    padding = rows["padding invariance"]
    assert padding.passed and expected in padding.detail
    chosen = "exact" if make is TinyAttention else "bucketed"
    assert padding.detail.endswith(f"encode.batching=auto encodes {chosen} batches")


def test_a_default_run_with_an_x_ares_encoder_file_scores_as_exact_batches(tmp_path):
    """A centred log-mel front end: its last frames see the batch's zeros, so the default encodes exactly."""
    path = tmp_path / "my_xares_encoder.py"
    path.write_text(XARES_STYLE_FILE)
    records = {}
    for batching in ("auto", "exact"):
        cfg = composed(*SMALL_TIMBRE, "encoder=xares_file", f"encoder.path={path}", f"encode.batching={batching}",
                       f"paths.root={tmp_path / batching}")  # fmt: skip
        records[batching] = run_task(cfg, encoder_name="my_xares_encoder", output_dir=tmp_path / batching / "run")
    default, exact = records["auto"], records["exact"]
    assert default["status"] == "ok" and default["encoder"]["batching"] == "exact"
    assert not default["encoder"]["padding"]["invariant"]
    assert default["encoder"]["fingerprint"] == exact["encoder"]["fingerprint"]
    assert {head: score["score"] for head, score in default["scores"].items()} == {
        head: score["score"] for head, score in exact["scores"].items()
    }
