"""``encoder=hf``: every family wrapper on a tiny random model built from its config and loaded from a local
directory: its frames and hop as the model produces them, a padded batch equal to each clip alone, hidden layers,
the choice of family from the config and the message for a model no family takes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers.cli import SMALL_TIMBRE, xares
from helpers.tiny_hf import FAMILIES, tiny_model
from xares_hydra.encoders.hf import NOT_IN_TRANSFORMERS, hub_encoder
from xares_hydra.encoders.huggingface import HubEncoder

from xares_hydra.errors import ConfigError

pytestmark = pytest.mark.slow  # building and loading eighteen models takes half a minute on a busy machine

# families whose wrapper runs one padded forward (attention mask or per-row features) rather than equal lengths
ONE_PADDED_FORWARD = {"wav2vec2", "hubert", "wavlm", "unispeech", "unispeech-sat", "whisper", "qwen2_audio_encoder",
                      "audioflamingo3_encoder", "voxtral_encoder", "glmasr_encoder", "audio-spectrogram-transformer",
                      "clap"}  # fmt: skip


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_hf")
    return {family: tiny_model(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="module")
def encoders(model_dirs: dict[str, Path]) -> dict[str, HubEncoder]:
    return {family: hub_encoder(str(path)) for family, path in model_dirs.items()}


def _noise(seconds: float, rate: int, seed: int) -> torch.Tensor:
    return 0.1 * torch.randn(round(seconds * rate), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", FAMILIES)
def test_frames_follow_the_hop_the_model_produces(encoders: dict[str, HubEncoder], family: str) -> None:
    encoder = encoders[family]
    chunk = encoder.chunk_samples
    produced = encoder.encode(encoder.prepare(_noise(chunk / encoder.sampling_rate, encoder.sampling_rate, 0)[None]))
    # the model's own frames over one native chunk are the chunk over the hop, up to its receptive field's edge
    slack = math.ceil(encoder.receptive_field / encoder.hop_samples) + 1
    assert abs(produced.shape[1] - chunk / encoder.hop_samples) <= slack
    # a short clip, and one chunked at the native limit where that is short (AST, CLAP)
    for seconds in (0.537, min(2.5 * encoder.chunk_seconds, 3.1)):
        audio = _noise(seconds, encoder.sampling_rate, 1)
        frames = encoder(audio[None])
        assert frames.shape == (1, math.ceil(len(audio) / encoder.hop_samples), encoder.output_dim)
        assert torch.isfinite(frames).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_padded_batch_gives_each_clip_its_frames_alone(encoders: dict[str, HubEncoder], family: str) -> None:
    encoder = encoders[family]
    clips = [_noise(seconds, encoder.sampling_rate, seed) for seed, seconds in enumerate((0.31, 0.77, 1.13))]
    batch = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)
    together = encoder(batch, lengths=torch.tensor([len(clip) for clip in clips]))
    for row, clip in enumerate(clips):
        alone = encoder(clip[None])[0]
        kept = together[row, : alone.shape[0]]
        assert (kept - alone).abs().max() <= 1e-4 * alone.abs().max()
        assert (together[row, alone.shape[0] :] == 0).all()
    assert encoder.padded_forward == (family in ONE_PADDED_FORWARD)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_last_hidden_layer_is_the_output(encoders: dict[str, HubEncoder], family: str) -> None:
    encoder = encoders[family]
    audio = _noise(1.37, encoder.sampling_rate, 2)[None]
    layers = encoder.hidden_layers(audio)
    output = encoder(audio)
    assert layers.shape[0] == 1 and layers.shape[2:] == output.shape[1:]
    torch.testing.assert_close(layers[:, -1], output, rtol=1e-5, atol=1e-6)


def test_the_family_comes_from_the_config(encoders: dict[str, HubEncoder]) -> None:
    kinds = {family: type(encoder).__name__ for family, encoder in encoders.items()}
    assert kinds["hubert"] == kinds["wavlm"] == kinds["sew"] == "Wav2Vec2Encoder"
    assert kinds["data2vec-audio"] == "Data2VecEncoder"
    assert kinds["whisper"] == "WhisperEncoder"
    assert kinds["qwen2_audio_encoder"] == "AudioTowerEncoder"
    assert kinds["audioflamingo3_encoder"] == "MaskedAudioTowerEncoder"
    assert kinds["voxtral_encoder"] == kinds["glmasr_encoder"] == "UnpooledAudioTowerEncoder"
    assert kinds["audio-spectrogram-transformer"] == "SpectrogramTransformerEncoder"
    assert kinds["clap"] == "ClapAudioEncoder"
    assert kinds["encodec"] == kinds["dac"] == kinds["mimi"] == "CodecEncoder"
    # the native longest input: AST's 128 fbank frames (12 patches of 100 ms), CLAP's 2 s, Whisper's 30 s
    assert encoders["audio-spectrogram-transformer"].chunk_seconds == pytest.approx(1.2)
    assert encoders["clap"].chunk_seconds == 2.0
    assert encoders["whisper"].chunk_seconds == 30.0


def test_a_model_no_family_takes_is_named_with_the_way_out(tmp_path: Path) -> None:
    import transformers

    transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="model_type 'bert' is not a family") as raised:
        hub_encoder(str(tmp_path))
    assert NOT_IN_TRANSFORMERS in str(raised.value)


def test_compat_xares_keeps_x_ares_wrappers_only_where_x_ares_has_one(model_dirs: dict[str, Path]) -> None:
    assert hub_encoder(str(model_dirs["whisper"]), xares_exact=True).xares_exact
    assert not hub_encoder(str(model_dirs["encodec"]), xares_exact=True).xares_exact
    assert not hub_encoder(str(model_dirs["qwen2_audio_encoder"]), xares_exact=True).xares_exact


def test_xares_encoder_hf_runs_a_demo_task_from_a_local_model_dir(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    record = xares("encoder=hf", f"encoder.model={model_dirs['hubert']}", *SMALL_TIMBRE, root=tmp_path,
                   run_dir=tmp_path / "run")  # fmt: skip
    assert record["status"] == "ok", record.get("reason")
    assert record["encoder"]["name"] == "hf-hubert"
    assert record["encoder"]["class"] == "xares_hydra.encoders.huggingface.Wav2Vec2Encoder"
    assert record["encoder"]["hop_size_in_ms"] == 5.0 and record["encoder"]["output_dim"] == 32
    assert 0.0 <= record["scores"]["mlp"]["score"] <= 1.0
