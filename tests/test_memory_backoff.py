"""Memory back-off: an encoder call that runs out of memory is retried smaller (crops, then seconds, then chunks
of one crop) and gives the embeddings a run with the fitting sizes set by hand gives; the record names them."""

from __future__ import annotations

import numpy as np
import torch
from helpers.audio import tone_shard
from helpers.cli import SMALL_TIMBRE, xares
from helpers.encoders import CPU, HOP, BlockMeans
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.encode.backoff import MemoryLimits, is_out_of_memory
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings, encode_shards


class OutOfMemoryMel(MelEncoder):
    """The log-mel encoder on a device that holds at most two crops per call."""

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if audio.ndim == 2 and audio.shape[0] > 2:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {audio.numel() * 4} bytes")
        return super().forward(audio, lengths)


def cached(encoder, shard, directory, **settings):
    cache = EncoderCache(directory)
    counts = encode_shards(encoder, [shard], cache, EncodeSettings(keep_frames=True, **settings), CPU)[shard.name]
    return cache.load([shard]), counts


def test_out_of_memory_errors_are_recognised_by_type_and_by_the_allocators_message():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of range"))


def test_a_batch_that_runs_out_of_memory_gives_the_embeddings_of_the_size_set_by_hand(tmp_path):
    """8 crops per call do not fit, 2 do: the back-off halves twice, the cache is the one batch_size=2 writes."""
    # the contract check's batch of three would not fit either
    target = ("encoder=custom", "encoder._target_=test_memory_backoff.OutOfMemoryMel", "stage=encode",
              "encode.keep_frames=true", "encode.check=false")  # fmt: skip
    roots = [tmp_path / "backed-off", tmp_path / "by-hand"]
    # by hand first: the sizes that fit are remembered for the rest of the process
    by_hand = xares(*SMALL_TIMBRE, *target, "encode.batch_size=2", f"paths.cache_root={roots[1]}", root=tmp_path)
    backed_off = xares(*SMALL_TIMBRE, *target, "encode.batch_size=8", f"paths.cache_root={roots[0]}", root=tmp_path)

    assert backed_off["encoder"]["memory"]["batch_size"] == 2
    assert backed_off["encoder"]["memory"]["out_of_memory"] == 2  # 8 crops, then 4
    assert by_hand["encoder"].get("memory") is None
    assert backed_off["counts"] == by_hand["counts"]
    caches = [next((root / "demo_timbre").iterdir()) for root in roots]
    shards = sorted(path.name for path in (caches[0] / "shards").iterdir() if path.is_dir())
    assert shards and shards == sorted(path.name for path in (caches[1] / "shards").iterdir() if path.is_dir())
    for shard in shards:
        one, two = (EncoderCache(cache).load([cache / "shards" / shard]) for cache in caches)
        assert one.keys == two.keys
        np.testing.assert_allclose(one.pooled, two.pooled, atol=1e-5)
        for index in range(len(one)):
            np.testing.assert_allclose(one.frames(index), two.frames(index), atol=1e-5)


def test_a_cpu_allocation_failure_halves_the_seconds_per_call(tmp_path):
    seconds = [0.5, 2.0, 1.5, 1.0, 0.5, 3.0, 2.0, 1.0]
    shard = tone_shard(tmp_path / "mixed_0.tar", seconds)
    alone, _ = cached(BlockMeans(), shard, tmp_path / "alone", batch_size=1, batching="exact")
    encoder = BlockMeans(max_samples=3 * 16000)
    cache = EncoderCache(tmp_path / "backed-off")
    memory = MemoryLimits()
    encode_shards(encoder, [shard], cache, EncodeSettings(keep_frames=True, batching="bucketed"), CPU, memory=memory)
    backed_off = cache.load([shard])

    assert memory.summary()["max_batch_seconds"] <= 3.0
    np.testing.assert_array_equal(backed_off.pooled, alone.pooled)


def test_a_crop_that_does_not_fit_alone_is_encoded_in_chunks_with_the_same_frames(tmp_path):
    shard = tone_shard(tmp_path / "long_0.tar", [0.5, 2.0, 3.0, 1.0])
    whole, _ = cached(BlockMeans(), shard, tmp_path / "whole", batching="exact")
    memory = MemoryLimits()
    cache = EncoderCache(tmp_path / "chunked")
    settings = EncodeSettings(keep_frames=True, batching="exact")
    encode_shards(BlockMeans(max_samples=16000), [shard], cache, settings, CPU, memory=memory)
    chunked = cache.load([shard])

    assert memory.chunk_samples is not None and memory.chunk_samples <= 16000
    assert memory.chunk_samples % HOP == 0
    np.testing.assert_array_equal(chunked.n_frames, whole.n_frames)
    np.testing.assert_allclose(chunked.pooled, whole.pooled, rtol=1e-6)
    for index in range(len(whole)):
        np.testing.assert_array_equal(chunked.frames(index), whole.frames(index))


def test_only_a_crop_that_runs_out_of_memory_alone_is_skipped_and_counted(tmp_path):
    shard = tone_shard(tmp_path / "loud_0.tar", [1.0, 1.0, 1.0, 1.0], loud={2})
    embeddings, counts = cached(BlockMeans(max_amplitude=0.5), shard, tmp_path / "cache", batching="exact")

    assert embeddings.keys == ["clip0", "clip1", "clip3"]
    assert counts.skipped == {"out of memory": 1}
    assert counts.examples["out of memory"] == ["loud_0.tar/clip2"]
