import io
import tarfile

import numpy as np
import pytest
import soundfile as sf
from helpers.audio import clip_shard, tone

from xares_hydra.data.audio import AudioProblem, crop, decode_audio, resample
from xares_hydra.data.shards import encode_audio, iter_shard, write_shard


def test_shard_round_trip_keeps_keys_labels_and_audio(tmp_path):
    path = clip_shard(
        tmp_path / "train_000.tar",
        [("a", tone(1.0), 16000, {"label": "x"}), ("b.with.dots", tone(0.5), 16000, {"label": "y"})],
    )
    samples = list(iter_shard(path))
    assert [s.key for s in samples] == ["a", "b.with.dots"]
    assert [s.labels for s in samples] == [{"label": "x"}, {"label": "y"}]
    assert all(s.problem is None and s.audio_ext == "flac" for s in samples)
    decoded = decode_audio(samples[0].audio, 16000).samples
    np.testing.assert_allclose(decoded, tone(1.0), atol=1e-4)


def test_samples_with_problems_are_marked_not_dropped(tmp_path):
    path = tmp_path / "bad.tar"
    write_shard(
        path,
        [
            ("good", encode_audio(tone(0.2), 16000), "flac", {"label": 1}),
            ("corrupt", b"not audio at all", "wav", {"label": 2}),
        ],
    )
    with tarfile.open(path, "a") as archive:  # a sample without labels, one without audio
        for name, data in (("nolabel.wav", encode_audio(tone(0.1), 16000, "wav")), ("noaudio.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    samples = {s.key: s for s in iter_shard(path)}
    assert samples["good"].problem is None
    assert samples["corrupt"].problem is None  # decoding finds this one
    with pytest.raises(AudioProblem, match="corrupt or unsupported"):
        decode_audio(samples["corrupt"].audio, 16000)
    assert samples["nolabel"].problem == "no .json label member"
    assert samples["noaudio"].problem.startswith("no audio member")


def test_truncated_shard_yields_its_samples_then_a_problem(tmp_path):
    path = clip_shard(tmp_path / "t.tar", [(f"k{i}", tone(1.0), 16000, {"i": i}) for i in range(4)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    samples = list(iter_shard(path))
    assert samples[-1].problem.startswith("truncated tar (in member k")
    assert 1 <= len([s for s in samples if s.problem is None]) < 4


def test_decode_mixes_channels_and_resamples():
    stereo = np.stack([tone(1.0, 44100), -0.5 * tone(1.0, 44100)], axis=1)
    decoded = decode_audio(encode_audio(stereo, 44100, "wav"), 16000)
    assert decoded.channels == 2 and decoded.source_rate == 44100
    assert len(decoded.samples) == 16000
    np.testing.assert_allclose(decoded.samples[2000:14000], 0.25 * tone(1.0)[2000:14000], atol=3e-3)


@pytest.mark.parametrize("source_rate", [8000, 22050, 44100, 48000])
def test_resampling_equals_torchaudio_resample_to_the_last_bit(source_rate):
    """The filter is computed once per pair of rates; the output stays torchaudio.functional.resample's."""
    import torch
    import torchaudio

    clips = [np.random.default_rng(n).standard_normal(source_rate // (n + 1)).astype(np.float32) for n in range(3)]
    for clip in clips:
        expected = torchaudio.functional.resample(torch.from_numpy(clip), source_rate, 16000).numpy()
        assert np.array_equal(resample(clip, source_rate, 16000), expected)


@pytest.mark.parametrize("fmt", ["flac", "wav", "ogg", "mp3"])
def test_decode_every_container_format(fmt):
    decoded = decode_audio(encode_audio(tone(1.0, 22050), 22050, fmt), 16000)
    assert abs(len(decoded.samples) - 16000) < 1200  # mp3 and ogg add encoder delay/padding
    assert 0.1 < np.abs(decoded.samples).max() < 0.5


def test_empty_silent_clipped_and_non_finite_audio():
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(0, np.float32), 16000, format="WAV")
    with pytest.raises(AudioProblem, match="empty audio"):
        decode_audio(buffer.getvalue(), 16000)
    assert decode_audio(encode_audio(np.zeros(1600, np.float32), 16000), 16000).silent
    assert decode_audio(encode_audio(np.ones(1600, np.float32), 16000, "wav"), 16000).clipped
    buffer = io.BytesIO()
    sf.write(buffer, np.array([0.1, np.nan, 0.2], np.float32), 16000, format="WAV", subtype="FLOAT")
    with pytest.raises(AudioProblem, match="NaN"):
        decode_audio(buffer.getvalue(), 16000)


def test_crop_rules_follow_x_ares():
    audio = np.arange(25, dtype=np.float32)
    assert [len(c) for c in crop(audio, 10)] == [10, 10]  # the 5-sample remainder is dropped
    assert crop(audio, None)[0] is audio
    short = np.arange(4, dtype=np.float32)
    assert len(crop(short, 10)[0]) == 4
    padded = crop(short, 10, pad_short=True)[0]
    assert len(padded) == 10 and padded[4:].sum() == 0
    assert len(crop(np.arange(10, dtype=np.float32), 10)) == 1


def test_a_tar_ending_in_members_that_are_not_samples_is_read_to_its_end(tmp_path):
    path = clip_shard(tmp_path / "t.tar", [("k0", tone(0.1), 16000, {"i": 0})])
    with tarfile.open(path, "a") as archive:  # a folder entry and a macOS resource file after the samples
        folder = tarfile.TarInfo("folder")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        info = tarfile.TarInfo("__MACOSX/._k0.flac")
        info.size = 600
        archive.addfile(info, io.BytesIO(b"\1" * 600))
    assert [(sample.key, sample.problem) for sample in iter_shard(path)] == [("k0", None)]


def test_a_tar_cut_at_a_header_is_truncated_not_ended(tmp_path):
    """tarfile takes a tar cut in a header for its end: the missing end blocks say it was cut."""
    path = clip_shard(tmp_path / "t.tar", [(f"k{i}", tone(0.1), 16000, {"i": i}) for i in range(3)])
    with tarfile.open(path) as archive:
        third = archive.getmembers()[4].offset
    path.write_bytes(path.read_bytes()[: third + 100])
    samples = list(iter_shard(path))
    assert [sample.key for sample in samples[:2]] == ["k0", "k1"] and samples[2].truncated and samples[2].key == ""
    assert samples[2].problem.startswith("truncated tar (after member k1.json: the file ends without the tar's end")
