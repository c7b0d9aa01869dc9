"""``encoder=hf`` on audio language models' Whisper-like audio towers (Qwen2-Audio, Audio Flamingo 3, Voxtral,
GLM-ASR), saved alone or inside the full model, built through the encoder group's own entry: frames and every hidden
layer equal to the tower's own at its own rate (40 ms where the tower pools Whisper's 20 ms frames 2:1 after its
transformer), Audio Flamingo 3's feature mask passed as its processor passes it, and a demo task run on each."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers.cli import SMALL_TIMBRE, composed, xares
from helpers.tiny_hf import tiny_model

from xares_hydra.config.instantiate import build_encoder

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # each forward runs the tower over Whisper's 30 s window

# the tower's model_type: its wrapper, its frame hop (ms), and the full models that carry it
TOWERS = {
    "qwen2_audio_encoder": ("AudioTowerEncoder", 40.0, ("qwen2_audio",)),
    "audioflamingo3_encoder": ("MaskedAudioTowerEncoder", 40.0, ("audioflamingo3", "musicflamingo")),
    "voxtral_encoder": ("UnpooledAudioTowerEncoder", 20.0, ("voxtral",)),
    "glmasr_encoder": ("UnpooledAudioTowerEncoder", 20.0, ("glmasr",)),
}
FULL_MODELS = [(full, tower) for tower, (_, _, fulls) in TOWERS.items() for full in fulls]
TINY_TEXT_MODEL = {"model_type": "qwen2", "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 32}  # fmt: skip


@pytest.fixture(scope="module")
def tower_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audio_towers")
    return {tower: tiny_model(tower, root / tower) for tower in TOWERS}


def _encoder(path: Path, *overrides: str) -> torch.nn.Module:
    return build_encoder(composed("encoder=hf", f"encoder.model={path}", *overrides).encoder)


def _audio(samples: int) -> torch.Tensor:
    return 0.1 * torch.randn(1, samples, generator=torch.Generator().manual_seed(0))


def _own_outputs(tower: torch.nn.Module, features: dict, masked: bool) -> tuple[object, list[torch.Tensor]]:
    """The tower's own forward on its processor's features (the feature mask where the tower takes one), and what
    each of its transformer layers returned, caught by forward hooks."""
    mask = {"input_features_mask": features["attention_mask"]} if masked else {}
    caught: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: caught.append(out)) for layer in tower.layers]
    try:
        return tower(features["input_features"], output_hidden_states=True, **mask), caught
    finally:
        for hook in hooks:
            hook.remove()


@pytest.mark.parametrize("family", TOWERS)
def test_the_towers_frames_and_layers_are_its_own(tower_dirs: dict[str, Path], family: str) -> None:
    wrapper, hop_ms, _ = TOWERS[family]
    encoder = _encoder(tower_dirs[family], "compat=xares")
    assert type(encoder).__name__ == wrapper and not encoder.xares_exact  # X-ARES has no such wrapper
    assert (encoder.sampling_rate, encoder.output_dim, encoder.chunk_seconds) == (16000, 32, 30.0)
    assert encoder.hop_size_in_ms == hop_ms
    audio = _audio(37_000)
    frames = encoder(audio)
    assert frames.shape == (1, math.ceil(37_000 / (16 * hop_ms)), 32)

    tower = transformers.AutoModel.from_pretrained(tower_dirs[family])
    features = encoder.feature_extractor(
        list(audio.numpy()), sampling_rate=16000, return_tensors="pt", return_attention_mask=True
    )
    masked = wrapper == "MaskedAudioTowerEncoder"
    own, layer_outputs = _own_outputs(tower, features, masked)
    assert len(layer_outputs) == tower.config.num_hidden_layers
    for hidden, caught in zip(own.hidden_states[1:-1], layer_outputs, strict=False):  # the last one is normed
        torch.testing.assert_close(hidden, caught)
    n = frames.shape[1]
    torch.testing.assert_close(frames, own.last_hidden_state[:, :n])
    layers = encoder.hidden_layers(audio)
    assert layers.shape == (1, tower.config.num_hidden_layers + 1, n, 32)
    # the inner layers run at 20 ms: where the tower pools, each 40 ms frame is the mean of its two
    pooled = own.last_hidden_state.shape[1]
    for index, hidden in enumerate(own.hidden_states[:-1]):
        assert hidden.shape[1] == 1500
        expected = hidden.unflatten(1, (pooled, 1500 // pooled)).mean(dim=2)[:, :n]
        torch.testing.assert_close(layers[:, index], expected)
    torch.testing.assert_close(layers[:, -1], frames)


def test_audio_flamingo_3s_feature_mask_changes_its_frames(tower_dirs: dict[str, Path]) -> None:
    """The mask is what makes the frames the tower's: without it the padding of the 30 s window is attended to."""
    encoder = _encoder(tower_dirs["audioflamingo3_encoder"])
    audio = _audio(21_000)
    features = encoder.feature_extractor(
        list(audio.numpy()), sampling_rate=16000, return_tensors="pt", return_attention_mask=True
    )
    tower = transformers.AutoModel.from_pretrained(tower_dirs["audioflamingo3_encoder"])
    unmasked = tower(features.input_features, input_features_mask=torch.ones_like(features.attention_mask))
    frames = encoder(audio)
    assert (frames - unmasked.last_hidden_state[:, : frames.shape[1]]).abs().max() > 1e-3


@pytest.mark.parametrize(("full", "family"), FULL_MODELS)
def test_a_full_audio_language_model_is_encoded_by_its_tower(
    tower_dirs: dict[str, Path], tmp_path: Path, full: str, family: str
) -> None:
    tower = transformers.AutoModel.from_pretrained(tower_dirs[family])
    config = transformers.AutoConfig.for_model(full, audio_config=tower.config.to_dict(), text_config=TINY_TEXT_MODEL)
    model = transformers.AutoModel.from_config(config)
    model.audio_tower.load_state_dict(tower.state_dict())
    model.save_pretrained(tmp_path / full)
    transformers.WhisperFeatureExtractor.from_pretrained(tower_dirs[family]).save_pretrained(tmp_path / full)

    encoder = _encoder(tmp_path / full)
    assert type(encoder).__name__ == TOWERS[family][0] and encoder.hop_size_in_ms == TOWERS[family][1]
    audio = _audio(21_000)
    torch.testing.assert_close(encoder(audio), _encoder(tower_dirs[family])(audio))


@pytest.mark.parametrize("family", ["audioflamingo3_encoder", "voxtral_encoder", "glmasr_encoder"])
def test_xares_encoder_hf_runs_a_demo_task_on_the_tower(
    tower_dirs: dict[str, Path], tmp_path: Path, family: str
) -> None:
    record = xares("encoder=hf", f"encoder.model={tower_dirs[family]}", *SMALL_TIMBRE, root=tmp_path,
                   run_dir=tmp_path / "run")  # fmt: skip
    assert record["status"] == "ok", record.get("reason")
    assert record["encoder"]["class"] == f"xares_hydra.encoders.huggingface.{TOWERS[family][0]}"
    assert record["encoder"]["hop_size_in_ms"] == TOWERS[family][1] and record["encoder"]["output_dim"] == 32
    assert 0.0 <= record["scores"]["mlp"]["score"] <= 1.0
