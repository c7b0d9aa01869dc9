"""Crafted audio and oversized tar members are skipped and counted, never decoded or read whole."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import tone
from helpers.cli import REPO, composed
from helpers.encoders import CPU
from omegaconf import OmegaConf
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.config.settings import data_options, encode_settings
from xares_hydra.config.validate import validate_config
from xares_hydra.data.audio import AudioProblem, decode_audio
from xares_hydra.data.shards import ReadLimits, encode_audio, iter_shard, write_shard
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.embed import EncodeSettings, encode_shards
from xares_hydra.errors import ConfigError


def silent_flac(seconds: int, rate: int = 16000) -> bytes:
    """A silent FLAC written a minute at a time: minutes of audio in a few kilobytes."""
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", rate, 1, format="FLAC", subtype="PCM_16") as flac:
        for _ in range(seconds // 60):
            flac.write(np.zeros(60 * rate, dtype=np.float32))
    return buffer.getvalue()


def wav_claiming_rate(rate: int) -> bytes:
    """One second of 16 kHz audio whose header says it was sampled at ``rate`` Hz (so it 'lasts' 16000/rate s)."""
    data = bytearray(encode_audio(tone(1.0), 16000, "wav"))
    assert data[24:28] == struct.pack("<I", 16000)
    data[24:28] = struct.pack("<I", rate)  # sample rate
    data[28:32] = struct.pack("<I", rate * 2)  # byte rate
    return bytes(data)


def flac_without_length() -> bytes:
    """A FLAC whose STREAMINFO total-samples field is zero ("unknown")."""
    data = bytearray(silent_flac(60))
    fields = int.from_bytes(data[18:26], "big")
    data[18:26] = (fields & ~((1 << 36) - 1)).to_bytes(8, "big")
    return bytes(data)


def test_crafted_audio_in_a_real_shard_is_skipped_and_counted(tmp_path: Path) -> None:
    long_flac = silent_flac(600)
    assert len(long_flac) < 100_000 and sf.info(io.BytesIO(long_flac)).duration == 600
    shard = tmp_path / "train_0.tar"
    write_shard(
        shard,
        [
            ("good", encode_audio(tone(1.0), 16000), "flac", {"label": 0}),
            ("ten_minutes", long_flac, "flac", {"label": 1}),
            ("lying_wav", wav_claiming_rate(1), "wav", {"label": 0}),
            ("no_length", flac_without_length(), "flac", {"label": 1}),
        ],
    )
    settings = EncodeSettings(limits=ReadLimits(max_clip_seconds=60))
    counts = encode_shards(MelEncoder(), [shard], EncoderCache(tmp_path / "cache"), settings, CPU)[shard.name]
    assert counts.samples == 1
    assert counts.skipped == {"clip too long": 2, "audio of unknown length": 1}


def test_header_check_comes_before_decoding_and_the_limit_is_named() -> None:
    with pytest.raises(AudioProblem, match=r"header: 16000\.0 s > data\.max_clip_seconds=3600"):
        decode_audio(wav_claiming_rate(1), 16000, max_seconds=3600)  # would resample to 256 M samples
    decoded = decode_audio(silent_flac(600), 16000, max_seconds=600)
    assert len(decoded.samples) == 600 * 16000  # exactly at the limit is allowed


def test_oversized_members_are_skipped_with_their_reason(tmp_path: Path) -> None:
    shard = tmp_path / "s.tar"
    labels = {"label": 0, "pad": "x" * 5000}
    write_shard(
        shard,
        [
            ("big_labels", encode_audio(tone(0.1), 16000), "flac", labels),
            ("big_audio", encode_audio(tone(2.0), 16000, "wav"), "wav", {"label": 0}),
            ("fine", encode_audio(tone(0.1), 16000), "flac", {"label": 1}),
        ],
    )
    limits = ReadLimits(max_member_bytes=20_000, max_label_bytes=1000)
    samples = {sample.key: sample for sample in iter_shard(shard, limits)}
    assert samples["fine"].problem is None and samples["fine"].labels == {"label": 1}
    assert samples["big_labels"].problem.startswith("tar member too large (big_labels.json: 50")
    assert samples["big_labels"].problem.endswith("bytes > data.max_label_bytes=1000)")
    assert samples["big_audio"].problem.startswith("tar member too large (big_audio.wav: ")
    assert samples["big_audio"].audio is None and samples["big_labels"].labels is None


PEAK_RSS_RUN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from xares_hydra.data.shards import ReadLimits
    from xares_hydra.encode.cache import EncoderCache
    from xares_hydra.encode.embed import EncodeSettings, encode_shards
    from xares_hydra.encoders.mel import MelEncoder

    def status_kb(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    shard, cache, max_label_bytes = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    encoder = MelEncoder()
    settings = EncodeSettings(limits=ReadLimits(max_label_bytes=max_label_bytes))
    # the peak so far (imports, first .pyc compiles) may lie far above the resident size now: start the
    # peak afresh (Linux resets VmHWM on "5" to clear_refs), so the growth is the encode's own
    with open("/proc/self/clear_refs", "w") as stream:
        stream.write("5")
    before = status_kb("VmRSS")
    counts = encode_shards(encoder, [shard], EncoderCache(cache), settings, torch.device("cpu"))[shard.name]
    grown_mb = (status_kb("VmHWM") - before) / 1024
    print(json.dumps({"grown_mb": grown_mb, "samples": counts.samples, "skipped": counts.skipped}))
    """
)


def shard_with_huge_label(path: Path, label_bytes: int) -> Path:
    """A real shard whose second sample has a ``label_bytes`` .json member (written from disk in blocks)."""
    huge = path.parent / "huge.json"
    with open(huge, "w") as stream:
        stream.write('{"label": 0, "pad": "')
        block = "x" * (1 << 20)
        for _ in range(label_bytes // len(block)):
            stream.write(block)
        stream.write('"}')
    write_shard(path, [("first", encode_audio(tone(0.5), 16000), "flac", {"label": 0})])
    with tarfile.open(path, "a") as archive:
        archive.add(huge, arcname="huge.json")
        audio = encode_audio(tone(0.5), 16000)
        info = tarfile.TarInfo("huge.flac")
        info.size = len(audio)
        archive.addfile(info, io.BytesIO(audio))
    huge.unlink()
    return path


@pytest.mark.slow
def test_a_100_mb_label_member_grows_peak_memory_by_less_than_50_mb(tmp_path: Path) -> None:
    shard = shard_with_huge_label(tmp_path / "train_0.tar", 100 << 20)

    def run(max_label_bytes: int | None, cache: str) -> dict:
        command = [sys.executable, "-c", PEAK_RSS_RUN, str(shard), str(tmp_path / cache), json.dumps(max_label_bytes)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True, timeout=300)
        return json.loads(result.stdout.strip().splitlines()[-1])

    bounded = run(ReadLimits().max_label_bytes, "bounded")
    assert bounded["samples"] == 1 and bounded["skipped"] == {"tar member too large": 1}
    assert bounded["grown_mb"] < 50, bounded
    unbounded = run(None, "unbounded")  # the same run without the bound reads the member whole
    assert unbounded["grown_mb"] > 100, unbounded


def test_read_bounds_come_from_the_data_config() -> None:
    cfg = composed("data.max_clip_seconds=60", "data.max_label_bytes=null")
    limits = encode_settings(cfg, TaskSpec.from_config(OmegaConf.to_container(cfg.task, resolve=True))).limits
    assert limits == ReadLimits(max_clip_seconds=60.0, max_member_bytes=1 << 30, max_label_bytes=None)
    assert data_options(composed()).limits == ReadLimits()  # the shipped defaults are the documented ones
    with pytest.raises(ConfigError, match=r"data\.max_member_bytes=-1: must be a number > 0"):
        validate_config(OmegaConf.to_container(composed("data.max_member_bytes=-1"), resolve=True))
    validate_config(OmegaConf.to_container(composed("data.max_clip_seconds=null"), resolve=True))
