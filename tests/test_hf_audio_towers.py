"""``encoder=hf`` on an audio language model's audio tower (Qwen2-Audio's Whisper-like encoder), saved alone or
inside the full model, built through the encoder group's own entry: a frame per 40 ms (Whisper's 20 ms frames
pooled 2:1 after the transformer), frames equal to the tower's own, every hidden layer at that rate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers.cli import composed
from helpers.tiny_hf import tiny_model

from xares_hydra.config.instantiate import build_encoder

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # each forward runs the tower over Whisper's 30 s window


@pytest.fixture(scope="module")
def tower_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model("qwen2_audio_encoder", tmp_path_factory.mktemp("qwen2_audio") / "tower")


def _encoder(path: Path, *overrides: str) -> torch.nn.Module:
    return build_encoder(composed("encoder=hf", f"encoder.model={path}", *overrides).encoder)


def _audio(samples: int) -> torch.Tensor:
    return 0.1 * torch.randn(1, samples, generator=torch.Generator().manual_seed(0))


def test_the_towers_frames_and_layers_are_its_own_at_40_ms(tower_dir: Path) -> None:
    encoder = _encoder(tower_dir, "compat=xares")
    assert type(encoder).__name__ == "AudioTowerEncoder" and not encoder.xares_exact  # X-ARES has no such wrapper
    assert (encoder.sampling_rate, encoder.output_dim, encoder.chunk_seconds) == (16000, 32, 30.0)
    assert encoder.hop_size_in_ms == 40.0
    audio = _audio(37_000)
    frames = encoder(audio)
    assert frames.shape == (1, math.ceil(37_000 / 640), 32)

    tower = transformers.Qwen2AudioEncoder.from_pretrained(tower_dir)
    features = encoder.feature_extractor(list(audio.numpy()), sampling_rate=16000, return_tensors="pt")
    own = tower(features.input_features, output_hidden_states=True)
    n = frames.shape[1]
    torch.testing.assert_close(frames, own.last_hidden_state[:, :n])
    layers = encoder.hidden_layers(audio)
    assert layers.shape == (1, tower.config.encoder_layers + 1, n, 32)
    # the inner layers run at 20 ms: each 40 ms frame is the mean of its two
    for index, hidden in enumerate(own.hidden_states[:-1]):
        assert hidden.shape[1] == 1500
        torch.testing.assert_close(layers[:, index], hidden.unflatten(1, (750, 2)).mean(dim=2)[:, :n])
    torch.testing.assert_close(layers[:, -1], frames)


def test_a_full_qwen2_audio_model_is_encoded_by_its_tower(tower_dir: Path, tmp_path: Path) -> None:
    tower = transformers.Qwen2AudioEncoder.from_pretrained(tower_dir)
    text = {"model_type": "qwen2", "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32}  # fmt: skip
    config = transformers.Qwen2AudioConfig(audio_config=tower.config.to_dict(), text_config=text)
    full = transformers.Qwen2AudioForConditionalGeneration(config)
    full.model.audio_tower.load_state_dict(tower.state_dict())
    full.save_pretrained(tmp_path / "full")
    transformers.WhisperFeatureExtractor.from_pretrained(tower_dir).save_pretrained(tmp_path / "full")

    encoder = _encoder(tmp_path / "full")
    assert type(encoder).__name__ == "AudioTowerEncoder" and encoder.hop_size_in_ms == 40.0
    audio = _audio(21_000)
    torch.testing.assert_close(encoder(audio), _encoder(tower_dir)(audio))
