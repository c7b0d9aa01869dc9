"""Compact caches: ``encode.store_dtype`` stores frames and hidden layers in half the bytes, clip vectors stay
float32 unless ``encode.clip_dtype`` asks; the cache key keeps the types apart; everything reads back as float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.audio import clip_shard, tone
from helpers.cli import composed
from helpers.encoders import CPU, LayeredMel
from hydra.errors import ConfigCompositionException
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.config.settings import encoder_spec
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings, encode_shards
from xares_hydra.encode.storage import from_stored, to_stored
from xares_hydra.errors import ConfigError


def shard(tmp_path):
    clips = [(f"clip{i}", tone(s, 16000, 300 + 40 * i), 16000, {"label": i % 2}) for i, s in enumerate([0.7, 1.5, 1.0])]
    return clip_shard(tmp_path / "s_0.tar", clips)


def encoded(tmp_path, name, **settings):
    source = shard(tmp_path)
    cache = EncoderCache(tmp_path / name)
    encode_shards(MelEncoder(), [source], cache, EncodeSettings(keep_frames=True, **settings), CPU)
    return cache.load([source]), cache.shard_dir(source)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_frames_take_half_the_bytes_and_read_back_as_float32(tmp_path, dtype):
    full, full_dir = encoded(tmp_path, "full")
    half, half_dir = encoded(tmp_path, "half", store_dtype=dtype)

    assert (half_dir / "frames.f32").stat().st_size * 2 == (full_dir / "frames.f32").stat().st_size
    assert (half_dir / "pooled.npy").stat().st_size == (full_dir / "pooled.npy").stat().st_size
    np.testing.assert_array_equal(half.pooled, full.pooled)  # clip vectors stay float32
    for index in range(len(full)):
        frames = half.frames(index)
        assert frames.dtype == np.float32
        tolerance = 1e-3 if dtype == "float16" else 8e-3
        np.testing.assert_allclose(frames, full.frames(index), rtol=tolerance, atol=tolerance)


def test_clip_vectors_are_stored_in_half_precision_only_when_asked(tmp_path):
    full, _ = encoded(tmp_path, "full")
    half, half_dir = encoded(tmp_path, "half", clip_dtype="float16")
    assert np.load(half_dir / "pooled.npy").dtype == np.float16
    assert half.pooled.dtype == np.float32
    np.testing.assert_allclose(half.pooled, full.pooled, rtol=1e-3)


def test_bfloat16_rounds_to_nearest():
    values = np.array([1.0, 1.00390625, -3.14159, 65504.0, 1e-20], dtype=np.float32)
    back = from_stored(to_stored(values, "bfloat16"), "bfloat16")
    np.testing.assert_array_equal(back, torch.from_numpy(values).to(torch.bfloat16).float().numpy())


def test_the_cache_key_keeps_float32_and_float16_caches_apart():
    def fingerprint(*overrides):
        cfg = composed("task=demo/timbre", "encoder=mel", *overrides)
        return encoder_spec(cfg, TaskSpec.from_config(cfg.task)).fingerprint

    assert fingerprint() == fingerprint("encode.store_dtype=float32")
    assert len({fingerprint(), fingerprint("encode.store_dtype=float16"), fingerprint("encode.clip_dtype=float16"),
                fingerprint("encode.store_dtype=bfloat16")}) == 4  # fmt: skip


def test_an_unknown_store_dtype_is_refused_while_composing():
    with pytest.raises(ConfigCompositionException) as refused:
        composed("task=demo/timbre", "encode.store_dtype=int8")
    assert "Invalid value 'int8', expected one of [float32, float16, bfloat16]" in str(refused.value.__cause__)


def test_hidden_layers_are_stored_in_the_store_dtype_and_read_back_as_float32(tmp_path):
    source = shard(tmp_path)
    loaded = {}
    for dtype in ("float32", "float16"):
        cache = EncoderCache(tmp_path / dtype)
        settings = EncodeSettings(keep_frames=True, layers=True, frame_layers=(0,), store_dtype=dtype)
        encode_shards(LayeredMel(), [source], cache, settings, CPU)
        loaded[dtype] = (cache.load([source], 0), cache.load([source], "weighted"), cache.shard_dir(source))
    (first, weighted, directory), (half_first, half_weighted, half_directory) = loaded["float32"], loaded["float16"]
    for name in ("layers.npy", "frames.layer0.f32"):
        header = 128 if name.endswith(".npy") else 0
        assert (half_directory / name).stat().st_size - header == ((directory / name).stat().st_size - header) // 2
    assert half_first.pooled.dtype == half_weighted.layers.dtype == np.float32
    np.testing.assert_allclose(half_first.pooled, first.pooled, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(half_weighted.layers, weighted.layers, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(half_first.frames(1), first.frames(1), rtol=1e-3, atol=1e-3)


def test_a_layer_wise_cache_keeps_only_the_chosen_layers(tmp_path):
    from xares_hydra.encode.cache import LayerNeeds

    source = shard(tmp_path)
    every, chosen = EncoderCache(tmp_path / "every"), EncoderCache(tmp_path / "chosen")
    encode_shards(LayeredMel(), [source], every, EncodeSettings(layers=True), CPU)
    encode_shards(LayeredMel(), [source], chosen, EncodeSettings(layers=True, keep_layers=(0, -1)), CPU)

    assert np.load(chosen.shard_dir(source) / "layers.npy").shape[1] == 2
    np.testing.assert_array_equal(chosen.load([source], 0).pooled, every.load([source], 0).pooled)
    np.testing.assert_array_equal(chosen.load([source], -1).pooled, every.load([source]).pooled)
    np.testing.assert_array_equal(
        chosen.load([source], "weighted").layers, every.load([source], "weighted").layers[:, [0, 2]]
    )
    with pytest.raises(ConfigError, match=r"head\.layer=1: .* keeps layers \[0, 2\] only"):
        chosen.load([source], 1)
    assert chosen.is_complete(source, False, LayerNeeds(layers=True, keep_layers=(0,)))
    assert not chosen.is_complete(source, False, LayerNeeds(layers=True, keep_layers=(1,)))
    assert not chosen.is_complete(source, False, LayerNeeds(layers=True))  # every layer is needed: encode again
