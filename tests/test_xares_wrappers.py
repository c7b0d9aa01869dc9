"""compat=xares: the baseline wrappers give exactly the frames X-ARES's example wrappers give (tiny models).

X-ARES 0.1.3's wrappers: audio up to 10 s in one call on the padded batch; longer audio in 10 s chunks,
a last chunk under 1 s zero-padded to 1 s; Whisper keeps all 1,500 frames of its 30 s window and reports
a 10 ms hop; wav2vec2 and data2vec normalise the padded batch as one example and pass no attention mask.
The default mode of the same wrappers trims frames to the audio, reports the true hop and encodes each
clip as if alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from helpers.cli import composed, run_xares
from helpers.encoders import assert_cuda_matches_cpu, audio, save_tiny_dasheng, save_tiny_hf
from xares_hydra.encoders.chunking import ChunkedEncoder

from xares_hydra.config.settings import encoder_spec, plain
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.checker import run_checks

SR = 16000
# issue 12's tolerance for a clip encoded in a padded batch with its attention mask versus alone
MASKED_TOLERANCE = 1e-4

Build = Callable[[str, bool], ChunkedEncoder]


def build(kind: str, directory: Path, xares_exact: bool) -> ChunkedEncoder:
    if kind == "dasheng":
        from xares_hydra.encoders.dasheng import DashengEncoder

        checkpoint = str(save_tiny_dasheng(directory))
        return DashengEncoder(checkpoint=checkpoint, embed_dim=32, depth=2, num_heads=2, xares_exact=xares_exact)
    from xares_hydra.encoders.huggingface import Data2VecEncoder, Wav2Vec2Encoder, WhisperEncoder

    cls = {"whisper": WhisperEncoder, "wav2vec2": Wav2Vec2Encoder, "data2vec": Data2VecEncoder}[kind]
    return cls(model_name_or_path=str(save_tiny_hf(kind, directory)), xares_exact=xares_exact)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    """tiny(kind, xares_exact): the same saved weights in either behaviour, built once per module."""
    built: dict[tuple[str, bool], ChunkedEncoder] = {}

    def get(kind: str, xares_exact: bool) -> ChunkedEncoder:
        if (kind, xares_exact) not in built:
            built[kind, xares_exact] = build(kind, tmp_path_factory.mktemp(kind), xares_exact)
        return built[kind, xares_exact]

    yield get


def zero_padded(clip: torch.Tensor, samples: int) -> torch.Tensor:
    return torch.nn.functional.pad(clip, (0, samples - clip.shape[-1]))


# ----------------------------------------------------------------------------- Whisper


def test_whisper_keeps_the_30_second_window_and_reports_the_extractor_hop(tiny: Build) -> None:
    compat, default = tiny("whisper", True), tiny("whisper", False)
    clip = audio(2, 3.0)
    assert (compat.behaviour, compat.hop_size_in_ms) == ("xares", 10.0)
    assert (default.behaviour, default.hop_size_in_ms) == ("default", 20.0)
    frames = compat(clip)
    assert frames.shape == (2, 1500, 16)
    trimmed = default(clip)
    assert trimmed.shape == (2, 150, 16)
    # the same model: the default's frames are the first 150 of the padded window's 1,500
    torch.testing.assert_close(trimmed, frames[:, :150], atol=1e-5, rtol=1e-5)
    assert frames[:, 150:].abs().sum() > 0, "the padding frames are kept, not zeroed"


def test_whisper_long_clip_gives_1500_frames_per_10_second_chunk(tiny: Build) -> None:
    compat = tiny("whisper", True)
    clip = audio(1, 25.0, seed=1)
    frames = compat(clip)
    assert frames.shape == (1, 3 * 1500, 16)
    last_chunk = compat(clip[:, 20 * SR :])  # 5 s, under 10 s: one call
    torch.testing.assert_close(frames[:, 3000:], last_chunk, atol=1e-5, rtol=1e-5)
    assert tiny("whisper", False)(clip).shape == (1, 1250, 16)


# ----------------------------------------------------------------------------- the 1 s tail, all four


@pytest.mark.parametrize(("kind", "head_frames", "tail_frames"), [("wav2vec2", 499, 49), ("dasheng", 250, 25)])
def test_a_tail_under_one_second_is_zero_padded_to_one_second(
    tiny: Build, kind: str, head_frames: int, tail_frames: int
) -> None:
    compat = tiny(kind, True)
    clip = audio(2, 10.5, seed=2)
    frames = compat(clip)
    assert frames.shape[1] == head_frames + tail_frames
    tail = compat(zero_padded(clip[:, 10 * SR :], SR))  # 0.5 s padded to 1 s, encoded in one call
    torch.testing.assert_close(frames[:, head_frames:], tail, atol=1e-5, rtol=1e-5)
    unpadded = compat(clip[:, 10 * SR :])
    assert unpadded.shape[1] < tail_frames
    trimmed = {"wav2vec2": 525, "dasheng": 263}[kind]  # ceil(10.5 s / hop): the default mode's grid
    assert tiny(kind, False)(clip).shape[1] == trimmed


def test_whisper_and_data2vec_pad_the_tail_too(tiny: Build) -> None:
    clip = audio(1, 10.5, seed=3)
    assert tiny("whisper", True)(clip).shape[1] == 2 * 1500
    data2vec = tiny("data2vec", True)
    frames = data2vec(clip)
    torch.testing.assert_close(frames[:, 499:], data2vec(zero_padded(clip[:, 10 * SR :], SR)), atol=1e-5, rtol=1e-5)


def test_dasheng_runs_its_own_forward_on_the_padded_batch(tiny: Build) -> None:
    compat, default = tiny("dasheng", True), tiny("dasheng", False)
    batch = audio(2, 2.5, seed=4)
    batch[1, SR:] = 0  # a shorter clip zero-padded in the batch, as X-ARES's encode batches hold it
    with torch.inference_mode():
        own = compat.model(batch)
    torch.testing.assert_close(compat(batch), own, atol=0, rtol=0)
    assert default(batch).shape[1] == 63


# ----------------------------------------------------------------------------- wav2vec2: the batch normalisation


def test_wav2vec2_normalises_the_padded_batch_as_one_example(tiny: Build) -> None:
    """X-ARES hands the extractor a [B, T] torch tensor: one mean and variance for all B x T values."""
    compat = tiny("wav2vec2", True)
    assert compat.feature_extractor.do_normalize and compat.feature_extractor.return_attention_mask
    assert compat.model.config.feat_extract_norm == "layer", "a model that would take an attention mask"
    batch = torch.cat([audio(1, 2.0, seed=5), zero_padded(audio(1, 1.2, seed=6), 2 * SR)])
    joint = (batch - batch.mean()) / torch.sqrt(batch.var(unbiased=False) + 1e-7)
    with torch.inference_mode():
        expected = compat.model(joint).last_hidden_state
    torch.testing.assert_close(compat(batch), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["wav2vec2", "data2vec"])
def test_a_clip_depends_on_its_batch_mate_in_compat_mode_only(tiny: Build, kind: str) -> None:
    clip = audio(1, 2.0, seed=7)
    quiet_mate = zero_padded(audio(1, 1.0, seed=8), 2 * SR)
    offset_mate = zero_padded(0.5 + audio(1, 1.5, seed=9), 2 * SR)  # a DC offset moves the joint mean
    compat, default = tiny(kind, True), tiny(kind, False)
    with_quiet = compat(torch.cat([clip, quiet_mate]))[0]
    with_offset = compat(torch.cat([clip, offset_mate]))[0]
    assert (with_quiet - with_offset).abs().max() > 0.1
    alone = default(clip)[0]
    for mate, mate_length in ((quiet_mate, SR), (offset_mate, 3 * SR // 2)):
        in_batch = default(torch.cat([clip, mate]), torch.tensor([2 * SR, mate_length]))[0]
        torch.testing.assert_close(in_batch, alone, atol=MASKED_TOLERANCE, rtol=MASKED_TOLERANCE)
    assert default(clip).shape[1] == 100 and compat(clip).shape[1] == 99  # trimmed grid vs the model's own


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", ["dasheng", "whisper", "wav2vec2", "data2vec"])
def test_x_ares_behaviour_on_cuda_matches_cpu(tiny: Build, kind: str) -> None:
    assert_cuda_matches_cpu(tiny(kind, True), audio(2, 10.5, seed=10))


# ----------------------------------------------------------------------------- the contract checker


def test_checker_does_not_hold_x_ares_wrappers_to_what_they_do_not_do(tiny: Build) -> None:
    results = {result.name: result for result in run_checks(tiny("whisper", True), torch.device("cpu"))}
    assert all(result.passed for result in results.values())
    assert results["hop size matches frame count"].detail.startswith("not checked")
    default = {result.name: result for result in run_checks(tiny("whisper", False), torch.device("cpu"))}
    assert "expected 50.0" in default["hop size matches frame count"].detail


# ----------------------------------------------------------------------------- configs


XARES_CHECKPOINTS = {  # encoder config: the checkpoint X-ARES's example wrapper loads
    "dasheng": ("model", "dasheng_base"),
    "wav2vec2": ("model_name_or_path", "facebook/wav2vec2-large-100k-voxpopuli"),
    "whisper": ("model_name_or_path", "openai/whisper-base"),
    "data2vec": ("model_name_or_path", "facebook/data2vec-audio-base"),
}


@pytest.mark.parametrize("name", sorted(XARES_CHECKPOINTS))
def test_baseline_configs_load_x_ares_checkpoints_and_compat_switches_their_behaviour(name: str) -> None:
    key, checkpoint = XARES_CHECKPOINTS[name]
    specs = {}
    for mode in ("default", "xares"):
        cfg = composed("task=demo/sounds", f"encoder={name}", f"compat={mode}")
        assert plain(cfg.encoder)[key] == checkpoint
        assert plain(cfg.encoder)["xares_exact"] is (mode == "xares")
        specs[mode] = encoder_spec(cfg, TaskSpec.from_config(plain(cfg.task)), name=name)
    assert specs["default"].fingerprint != specs["xares"].fingerprint
    assert specs["xares"].fingerprint_document["encoder"]["xares_exact"] is True


# ----------------------------------------------------------------------------- the record, end to end


@pytest.mark.slow
def test_compat_runs_record_the_x_ares_behaviour_and_its_hop(xares_root: Path, tmp_path: Path) -> None:
    weights = save_tiny_hf("whisper", tmp_path)
    sweep = xares_root / "sweep"
    run_xares("-m", "task=demo/timbre", "task.generator.args.train_per_class=4",
              "task.generator.args.valid_per_class=2", "task.generator.args.test_per_class=2", "task.epochs=2",
              "encoder=whisper", f"encoder.model_name_or_path={weights}", "compat=default,xares",
              f"hydra.sweep.dir={sweep}", root=xares_root)  # fmt: skip
    records = {record["mode"]: record for record in map(json.loads, map(Path.read_text, sweep.glob("*/result.json")))}
    assert records["xares"]["status"] == records["default"]["status"] == "ok"
    assert records["xares"]["encoder"]["behaviour"] == "xares"
    assert records["xares"]["encoder"]["hop_size_in_ms"] == 10.0
    assert records["xares"]["encoder"]["config"]["xares_exact"] is True
    assert records["default"]["encoder"]["behaviour"] == "default"
    assert records["default"]["encoder"]["hop_size_in_ms"] == 20.0
    assert records["default"]["encoder"]["fingerprint"] != records["xares"]["encoder"]["fingerprint"]
