"""Encode batching: bucketed padded batches never let padding into a clip's frames or pooled vector,
``exact`` is bit-identical to encoding alone, encoders told their padding run one forward per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.audio import MIXED_SECONDS, clip_shard, tone_clip, tone_shard
from helpers.cli import run_xares
from helpers.encoders import CPU, HOP, BlockMeans, save_tiny_dasheng, save_tiny_hf
from xares_hydra.encoders.dasheng import DashengEncoder
from xares_hydra.encoders.huggingface import Wav2Vec2Encoder
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.contract import PaddingInput, padding_input, padding_invariant
from xares_hydra.encode.embed import EncodeSettings, encode_shards, ensure_encoded
from xares_hydra.encode.encoder_spec import spec_from_instance


def alone_shards(directory, seconds=MIXED_SECONDS):
    return [clip_shard(directory / f"alone{i}_0.tar", [tone_clip(i, s)]) for i, s in enumerate(seconds)]


def encoded(encoder, shards, cache_dir, **settings):
    cache = EncoderCache(cache_dir)
    encode_shards(encoder, shards, cache, EncodeSettings(keep_frames=True, **settings), CPU)
    return cache.load(shards)


class MaskedBlockMeans(BlockMeans):
    """The xares-llm contract: (features, feature_attention_mask); padded frames are garbage, masked 0."""

    def forward(self, audio, audio_attention_mask=None):
        frames = super().forward(audio)
        if audio_attention_mask is None:
            return frames, None
        counts = (audio_attention_mask.sum(1) + HOP - 1) // HOP
        mask = (torch.arange(frames.shape[1])[None, :] < counts[:, None]).long()
        return frames.masked_fill(mask[..., None] == 0, 1e6), mask


def test_padding_input_is_read_from_the_signature():
    assert padding_input(BlockMeans()) is PaddingInput.NOTHING
    assert padding_input(MaskedBlockMeans()) is PaddingInput.MASK
    assert padding_input(MelEncoder) is PaddingInput.LENGTHS
    assert padding_invariant(MelEncoder) and padding_invariant(MaskedBlockMeans)
    assert not padding_invariant(BlockMeans)


@pytest.mark.parametrize("make", [MelEncoder, BlockMeans, MaskedBlockMeans], ids=["lengths", "nothing", "mask"])
def test_bucketed_batches_keep_each_clip_to_its_own_frames(tmp_path, make):
    """A clip padded inside a batch has the frame count and values it has alone; padding is never pooled."""
    shard = tone_shard(tmp_path / "mixed_0.tar")
    encoder = make()
    batched = encoded(encoder, [shard], tmp_path / "batched", batch_size=16)
    if hasattr(encoder, "calls"):
        assert encoder.calls == 1, "all eight clips in one padded forward"
    alone = encoded(make(), alone_shards(tmp_path), tmp_path / "alone", batching="exact")
    assert batched.keys == alone.keys
    np.testing.assert_array_equal(batched.n_frames, alone.n_frames)
    np.testing.assert_allclose(batched.pooled, alone.pooled, rtol=1e-6, atol=1e-6)
    for index in range(len(batched)):
        np.testing.assert_allclose(batched.frames(index), alone.frames(index), rtol=1e-6, atol=1e-6)


def test_exact_batching_is_bit_identical_to_encoding_alone(tmp_path):
    seconds = [1.0, 0.5, 1.0, 1.0, 0.5, 2.0]
    shard = tone_shard(tmp_path / "mixed_0.tar", seconds)
    encoder = BlockMeans()
    exact = encoded(encoder, [shard], tmp_path / "exact", batching="exact")
    assert encoder.calls == 3, "one call per distinct length"
    alone = encoded(BlockMeans(), alone_shards(tmp_path, seconds), tmp_path / "alone", batching="exact")
    assert np.array_equal(exact.pooled, alone.pooled) and np.array_equal(exact.n_frames, alone.n_frames)
    assert all(np.array_equal(exact.frames(i), alone.frames(i)) for i in range(len(exact)))


def test_batches_respect_batch_size_and_padded_seconds(tmp_path):
    shard = tone_shard(tmp_path / "mixed_0.tar")
    encoder = BlockMeans()
    encoded(encoder, [shard], tmp_path / "a", batch_size=3)
    assert encoder.calls == 3  # 8 clips, 3 per batch
    encoder = BlockMeans()
    encoded(encoder, [shard], tmp_path / "b", batch_size=16, max_batch_seconds=4.0)
    # longest first: [3.0], [2.0, 2.0], [1.37, 1.0, 0.73], [0.5, 0.31]
    assert encoder.calls == 4


def test_the_xares_llm_mask_contract_passes_the_checks_and_encodes(tmp_path):
    shard = tone_shard(tmp_path / "mixed_0.tar")
    cache = EncoderCache(tmp_path / "cache")
    info = ensure_encoded(spec_from_instance(MaskedBlockMeans(), {}), cache, [shard], EncodeSettings(), CPU)
    assert info["output_dim"] == 4
    loaded = cache.load([shard])
    assert loaded.pooled.max() < 2, "no masked (1e6) frame was pooled"
    assert list(loaded.n_frames) == [int(np.ceil(round(MIXED_SECONDS[int(k[4:])] * 16000) / HOP)) for k in loaded.keys]


def test_shipped_wrappers_run_one_padded_forward_per_batch(tmp_path):
    """dasheng (x_length mask) and wav2vec 2.0 (attention_mask): one model call, frames as alone."""
    dasheng = DashengEncoder(checkpoint=str(save_tiny_dasheng(tmp_path)), embed_dim=32, depth=2, num_heads=2)
    wav2vec2 = Wav2Vec2Encoder(str(save_tiny_hf("wav2vec2", tmp_path)))
    for number, (wrapper, model) in enumerate([(dasheng, dasheng.model.init_bn), (wav2vec2, wav2vec2.model)]):
        calls = []
        model.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        shard = tone_shard(tmp_path / f"mixed{number}_0.tar")
        batched = encoded(wrapper, [shard], tmp_path / f"batched{number}", batch_size=16)
        assert len(calls) == 1, type(wrapper).__name__
        alone = encoded(wrapper, alone_shards(tmp_path / f"{number}"), tmp_path / f"alone{number}", batching="exact")
        np.testing.assert_array_equal(batched.n_frames, alone.n_frames)
        # stated tolerance for encoders given lengths: 1e-4 (float arithmetic of a different batch shape)
        np.testing.assert_allclose(batched.pooled, alone.pooled, rtol=1e-4, atol=1e-4)


COUNTING_ENCODER = """
from pathlib import Path

from xares_hydra.encoders.mel import MelEncoder


class CountingMel(MelEncoder):
    def __init__(self):
        super().__init__(n_mels=16)
        with open(Path(__file__).with_name("builds.log"), "a") as log:
            log.write("built\\n")
"""


@pytest.mark.slow
def test_a_sweep_over_tasks_and_crop_lengths_builds_its_encoder_once(xares_root):
    (xares_root / "counting_mel.py").write_text(COUNTING_ENCODER)
    result = run_xares(
        "-m", "task=demo/sounds,demo/timbre", "task.crop_length=0.5,1.0", "task.generator.args.scale=0.3",
        "encoder=custom", "encoder._target_=counting_mel.CountingMel", "stage=encode", root=xares_root,
    )  # fmt: skip
    assert result.stderr.count("ended:") == 4
    assert (xares_root / "builds.log").read_text().splitlines() == ["built"]
    caches = sorted(path.parent.name for path in (xares_root / "cache").glob("*/*/encoder.json"))
    assert len(caches) == 4, "crop lengths key separate caches, the encoder is still built once"


@pytest.mark.parametrize(
    ("encoder", "keyed"),
    [("encoder=mel", False), ("encoder=xares_file", True), ("encoder=custom", True)],
)
def test_batching_keys_the_cache_only_for_encoders_not_told_their_padding(encoder, keyed):
    from hydra import compose, initialize_config_module

    import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)
    from xares_hydra.config.settings import encoder_spec, plain
    from xares_hydra.data.taskspec import TaskSpec

    extra = {
        "encoder=xares_file": ["encoder.path=/nowhere/x_encoder.py"],
        "encoder=custom": ["encoder._target_=helpers.encoders.BlockMeans"],
    }.get(encoder, [])
    fingerprints = {}
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        for batch_size in (4, 8):
            cfg = compose("config", [encoder, *extra, "encode.batching=bucketed", f"encode.batch_size={batch_size}"])
            spec = encoder_spec(cfg, TaskSpec.from_config(plain(cfg.task)), name="x")
            fingerprints[batch_size] = spec.fingerprint
            assert ("batching" in spec.fingerprint_document["settings"]) is keyed
        exact = compose("config", [encoder, *extra, "encode.batching=exact"])
        exact_spec = encoder_spec(exact, TaskSpec.from_config(plain(exact.task)), name="x")
    assert (fingerprints[4] != fingerprints[8]) is keyed
    assert "batching" not in exact_spec.fingerprint_document["settings"]
