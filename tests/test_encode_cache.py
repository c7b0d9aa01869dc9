import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers.audio import clip_shard, tone, tone_shard
from helpers.encoders import CPU
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.data.shards import write_shard
from xares_hydra.encode.cache import DuplicateClip, EncoderCache, duplicate_clips
from xares_hydra.encode.checker import measure_padding, minimum_input_samples
from xares_hydra.encode.cost import count_flops
from xares_hydra.encode.embed import EncodeSettings, encode_shards, ensure_encoded
from xares_hydra.encode.encoder_spec import spec_from_instance
from xares_hydra.errors import EncoderContractError


def mixed_length_shard(path, rate=16000):
    return tone_shard(path, [0.5, 2.0, 2.0, 1.0, 0.5, 3.0], rate=rate)


class CountingMel(MelEncoder):
    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.calls = 0
        self.fail_after = fail_after

    def forward(self, audio):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        return super().forward(audio)


def test_encode_writes_pooled_frames_labels_and_a_marker(tmp_path):
    shard = mixed_length_shard(tmp_path / "data" / "train_0.tar")
    cache = EncoderCache(tmp_path / "cache")
    encoder = MelEncoder()
    counts = encode_shards(encoder, [shard], cache, EncodeSettings(keep_frames=True), CPU)
    assert counts[shard.name].samples == 6 and counts[shard.name].crops == 6
    assert cache.is_complete(shard, need_frames=True)
    loaded = cache.load([shard])
    assert loaded.keys == sorted(f"clip{i}" for i in range(6))
    assert loaded.pooled.shape == (6, 64)
    assert [label["label"] for label in loaded.labels] == [0, 1, 0, 1, 0, 1]
    for index, key in enumerate(loaded.keys):
        seconds = [0.5, 2.0, 2.0, 1.0, 0.5, 3.0][int(key[4:])]
        assert loaded.n_frames[index] == round(seconds * 100) + 1
        frames = loaded.frames(index)
        np.testing.assert_allclose(frames.mean(0), loaded.pooled[index], rtol=1e-5, atol=1e-5)


def test_pooled_embedding_does_not_depend_on_batch_mates(tmp_path):
    shard = mixed_length_shard(tmp_path / "train_0.tar")
    lone = clip_shard(tmp_path / "alone_0.tar", [("clip0", tone(0.5, 16000, 200), 16000, {"label": 0})])
    cache = EncoderCache(tmp_path / "cache")
    encode_shards(MelEncoder(), [shard, lone], cache, EncodeSettings(batch_size=16), CPU)
    batched, alone = cache.load([shard]), cache.load([lone])
    np.testing.assert_allclose(batched.pooled[batched.keys.index("clip0")], alone.pooled[0], rtol=1e-5, atol=1e-5)


def test_x_ares_padded_batches_leak_padding_into_short_clips(tmp_path):
    shard = mixed_length_shard(tmp_path / "train_0.tar")
    default, padded = EncoderCache(tmp_path / "a"), EncoderCache(tmp_path / "b")
    encode_shards(MelEncoder(), [shard], default, EncodeSettings(batch_size=16), CPU)
    encode_shards(MelEncoder(), [shard], padded, EncodeSettings(batch_size=16, batching="xares"), CPU)
    short = default.load([shard]).keys.index("clip0")
    assert not np.allclose(default.load([shard]).pooled[short], padded.load([shard]).pooled[short], atol=1e-2)
    longest = default.load([shard]).keys.index("clip5")
    np.testing.assert_allclose(default.load([shard]).pooled[longest], padded.load([shard]).pooled[longest], atol=1e-4)


def test_crops_are_separate_samples_with_the_clip_labels(tmp_path):
    shard = clip_shard(
        tmp_path / "t.tar", [("long", tone(2.5), 16000, {"y": 1}), ("short", tone(0.4), 16000, {"y": 0})]
    )
    cache = EncoderCache(tmp_path / "cache")
    encode_shards(MelEncoder(), [shard], cache, EncodeSettings(crop_length=1.0), CPU)
    loaded = cache.load([shard])
    assert loaded.keys == ["long#0", "long#1", "short"]
    assert loaded.clip_keys == ["long", "long", "short"]
    assert [label["y"] for label in loaded.labels] == [1, 1, 0]


def test_bad_samples_are_skipped_counted_and_named(tmp_path, caplog):
    shard = tmp_path / "t.tar"
    write_shard(shard, [("ok", clip_bytes(), "flac", {"y": 1}), ("broken", b"garbage", "flac", {"y": 0})])
    cache = EncoderCache(tmp_path / "cache")
    counts = encode_shards(MelEncoder(), [shard], cache, EncodeSettings(), CPU)[shard.name]
    assert counts.samples == 1
    assert counts.skipped == {"corrupt or unsupported audio": 1}
    assert "broken" in caplog.text and "t.tar" in caplog.text
    assert cache.partition_counts({"p": [shard]})["p"]["skipped"] == {"corrupt or unsupported audio": 1}


def clip_bytes():
    from xares_hydra.data.shards import encode_audio

    return encode_audio(tone(0.3), 16000)


def test_interrupted_encode_resumes_at_the_unfinished_shard(tmp_path):
    shards = [mixed_length_shard(tmp_path / f"train_{i}.tar") for i in range(3)]
    cache = EncoderCache(tmp_path / "cache")
    spec = spec_from_instance(CountingMel(), {})
    interrupted = CountingMel(fail_after=6)
    with pytest.raises(KeyboardInterrupt):
        encode_shards(interrupted, shards, cache, EncodeSettings(batch_size=1), CPU)
    assert cache.is_complete(shards[0], False) and not cache.is_complete(shards[1], False)
    assert not list((cache.shard_dir(shards[1])).glob("*.part")), "partial files are removed"
    resumed = CountingMel()
    spec.instance = resumed
    ensure_encoded(spec, cache, shards, EncodeSettings(batch_size=1), CPU, check_first=False)
    probe = CountingMel()
    minimum_input_samples(probe, CPU, None)  # ensure_encoded first finds the shortest input the encoder takes
    measure_padding(probe, CPU)  # and, for bucketed batches, whether padding moves its frames
    count_flops(probe, CPU)  # and its cost: one forward on the FLOP counter's probe clip
    assert resumed.calls - probe.calls == 2 * 6, "only the two unfinished shards are encoded"
    again = CountingMel()
    spec.instance = again
    ensure_encoded(spec, cache, shards, EncodeSettings(batch_size=1), CPU)
    assert again.calls == 0, "a complete cache does not touch the encoder"


def test_changed_source_shard_is_encoded_again(tmp_path):
    shard = mixed_length_shard(tmp_path / "train_0.tar")
    cache = EncoderCache(tmp_path / "cache")
    encode_shards(MelEncoder(), [shard], cache, EncodeSettings(), CPU)
    clip_shard(shard, [("new", tone(1.0), 16000, {"label": 0})])
    assert not cache.is_complete(shard, False)


def test_frames_are_required_when_asked_for(tmp_path):
    shard = mixed_length_shard(tmp_path / "train_0.tar")
    cache = EncoderCache(tmp_path / "cache")
    encode_shards(MelEncoder(), [shard], cache, EncodeSettings(keep_frames=False), CPU)
    assert cache.is_complete(shard, need_frames=False) and not cache.is_complete(shard, need_frames=True)
    with pytest.raises(RuntimeError, match="keep_frames"):
        cache.load([shard]).frames(0)


class WrongDim(MelEncoder):
    def forward(self, audio):
        return super().forward(audio)[..., :10]


class NaNOutput(MelEncoder):
    def forward(self, audio):
        return super().forward(audio) * float("nan")


@pytest.mark.parametrize(("encoder", "message"), [(WrongDim(), "output_dim 64"), (NaNOutput(), "NaN or infinite")])
def test_contract_violations_fail_before_encoding(tmp_path, encoder, message):
    shard = mixed_length_shard(tmp_path / "train_0.tar")
    cache = EncoderCache(tmp_path / "cache")
    with pytest.raises(EncoderContractError, match=message):
        ensure_encoded(spec_from_instance(encoder, {}), cache, [shard], EncodeSettings(), CPU)
    assert not (cache.root / "shards" / shard.name / "done.json").exists()


def test_concurrent_processes_encode_each_shard_once(tmp_path):
    shards = [mixed_length_shard(tmp_path / f"train_{i}.tar") for i in range(2)]
    log = tmp_path / "calls.log"
    script = textwrap.dedent(
        f"""
        import sys, torch
        from pathlib import Path
        from xares_hydra.encoders.mel import MelEncoder
        from xares_hydra.encode.cache import EncoderCache
        from xares_hydra.encode.embed import EncodeSettings, encode_shards

        class Logged(MelEncoder):
            def forward(self, audio):
                with open({str(log)!r}, "a") as f:
                    f.write("call\\n")
                return super().forward(audio)

        shards = [Path(p) for p in {[str(s) for s in shards]!r}]
        encode_shards(Logged(), shards, EncoderCache(Path({str(tmp_path / "cache")!r})),
                      EncodeSettings(batch_size=1), torch.device("cpu"))
        """
    )
    jobs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert all(job.wait(timeout=120) == 0 for job in jobs)
    assert len(log.read_text().splitlines()) == 2 * 6
    assert not list((tmp_path / "cache").rglob("*.lock")), "each shard's lock file is removed when released"


def test_autocast_runs_and_keys_a_separate_cache(tmp_path):
    from xares_hydra.encode.fingerprint import encoder_fingerprint

    shard = mixed_length_shard(tmp_path / "train_0.tar")
    full, half = EncoderCache(tmp_path / "full"), EncoderCache(tmp_path / "half")
    encode_shards(MelEncoder(), [shard], full, EncodeSettings(), CPU)
    encode_shards(MelEncoder(), [shard], half, EncodeSettings(autocast="bf16"), CPU)
    np.testing.assert_allclose(half.load([shard]).pooled, full.load([shard]).pooled, rtol=0.05, atol=0.1)
    config = {"_target_": "xares_hydra.encoders.mel.MelEncoder"}
    assert encoder_fingerprint(config, {"autocast": None})[0] != encoder_fingerprint(config, {"autocast": "bf16"})[0]


def test_duplicate_clips_are_the_later_copies_and_crops_of_one_clip_are_not():
    found = duplicate_clips([("a.tar", ["x", "y", "y"]), ("b.tar", ["y", "y", "z"]), ("c.tar", ["z", "x"])])
    assert found == [
        DuplicateClip("y", shard="b.tar", first_shard="a.tar", crops=2),
        DuplicateClip("z", shard="c.tar", first_shard="b.tar", crops=1),
        DuplicateClip("x", shard="c.tar", first_shard="a.tar", crops=1),
    ]
    assert found[0].example == "b.tar/y"
