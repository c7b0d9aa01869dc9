"""Long runs report progress a person can read: after each shard, the time taken and left, in the log and in a
sweep's progress.log (a real sweep's: test_sweep_disk)."""

from __future__ import annotations

from helpers.audio import tone_shard
from helpers.encoders import CPU, BlockMeans

from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings, encode_shards


def test_each_encoded_shard_logs_the_time_left_and_tells_the_sweep(tmp_path, caplog):
    shards = [tone_shard(tmp_path / f"part_{i}.tar", [0.5, 1.0, 0.7 * (i + 1)]) for i in range(3)]
    lines = []
    with caplog.at_level("INFO"):
        encode_shards(BlockMeans(), shards, EncoderCache(tmp_path / "task" / "cache"), EncodeSettings(), CPU,
                      on_eta=lines.append)  # fmt: skip
    assert [line.split(" shards")[0] for line in lines] == ["task: 1 of 3", "task: 2 of 3", "task: 3 of 3"]
    assert lines[-1].endswith("about 0:00:00 left") and "(100% of the audio)" in lines[-1]
    assert all(line in caplog.text for line in lines)


def test_the_first_time_left_is_the_plans_estimate_then_the_work_done(tmp_path):
    shards = [tone_shard(tmp_path / f"part_{i}.tar", [0.5, 1.0]) for i in range(2)]
    lines = []
    encode_shards(BlockMeans(), shards, EncoderCache(tmp_path / "task" / "cache"), EncodeSettings(), CPU,
                  on_eta=lines.append, estimate_seconds=5400)  # fmt: skip
    assert lines[0] == "task: 2 shards to encode, about 1:30:00 (plan)"
    assert [line.split(" shards")[0] for line in lines[1:]] == ["task: 1 of 2", "task: 2 of 2"]
    assert "1:30:00" not in lines[1] and lines[1].endswith(" left")  # from the shard encoded, not the plan
