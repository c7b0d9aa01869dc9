"""``encoder=hf`` on a model that ships its own code (MERT): a local model folder with a small remote-code module
and config carrying MERT's architecture name and config fields loads only with ``encoder.trust_remote_code=true``,
as the HuBERT-like waveform family; without the opt-in the run stops with one line saying how to opt in."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.cli import composed
from helpers.tiny_hf import TINY_CONV, TINY_POSITION, TINY_TRANSFORMER

from xares_hydra.config.instantiate import build_encoder
from xares_hydra.errors import ConfigError

transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.slow  # building and loading the model folder takes several seconds

# MERT's own files define MERTConfig (model_type mert_model) and MERTModel; these are small stand-ins with its fields
CONFIGURATION = """
from transformers import HubertConfig


class MERTConfig(HubertConfig):
    model_type = "mert_model"

    def __init__(self, feature_extractor_cqt=False, feature_extractor_cqt_bins=336, deepnorm=False,
                 attention_relax=-1.0, **kwargs):
        super().__init__(**kwargs)
        self.feature_extractor_cqt = feature_extractor_cqt
        self.feature_extractor_cqt_bins = feature_extractor_cqt_bins
        self.deepnorm = deepnorm
        self.attention_relax = attention_relax
"""
MODELING = """
from transformers import HubertModel

from .configuration_MERT import MERTConfig


class MERTModel(HubertModel):
    config_class = MERTConfig
"""
MERT_RATE = 24000  # MERT's sampling rate


@pytest.fixture(scope="module")
def mert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mert") / "MERT-tiny"
    config = transformers.HubertConfig(
        **TINY_TRANSFORMER, **TINY_CONV, **TINY_POSITION, feat_extract_norm="layer", do_stable_layer_norm=True
    )
    torch.manual_seed(0)
    transformers.HubertModel(config).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=MERT_RATE, do_normalize=True, return_attention_mask=True
    ).save_pretrained(directory)
    (directory / "configuration_MERT.py").write_text(CONFIGURATION)
    (directory / "modeling_MERT.py").write_text(MODELING)
    saved = json.loads((directory / "config.json").read_text())
    saved.update(
        model_type="mert_model", architectures=["MERTModel"],
        auto_map={"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
        feature_extractor_cqt=False, feature_extractor_cqt_bins=336, deepnorm=False, attention_relax=-1.0,
    )  # fmt: skip
    (directory / "config.json").write_text(json.dumps(saved))
    return directory


def _encoder(path: Path, *overrides: str) -> torch.nn.Module:
    return build_encoder(composed("encoder=hf", f"encoder.model={path}", *overrides).encoder)


def test_mert_loads_with_the_opt_in_as_a_waveform_model(mert_dir: Path) -> None:
    encoder = _encoder(mert_dir, "encoder.trust_remote_code=true")
    assert type(encoder).__name__ == "Wav2Vec2Encoder" and type(encoder.model).__name__ == "MERTModel"
    # 80 samples per frame at 24 kHz
    assert (encoder.sampling_rate, encoder.output_dim) == (MERT_RATE, 32)
    assert encoder.hop_size_in_ms == pytest.approx(1000 * 80 / MERT_RATE)
    audio = 0.1 * torch.randn(1, 30_001, generator=torch.Generator().manual_seed(0))
    frames = encoder(audio)
    assert frames.shape == (1, math.ceil(30_001 / 80), 32)
    layers = encoder.hidden_layers(audio)
    assert layers.shape == (1, 3, frames.shape[1], 32)
    torch.testing.assert_close(layers[:, -1], frames)
    # the frames are MERTModel's own on the normalised audio
    normalised = (audio - audio.mean()) / torch.sqrt(audio.var(unbiased=False) + 1e-7)
    padded = torch.nn.functional.pad(normalised, (0, encoder.receptive_field))
    own = encoder.model(padded).last_hidden_state[:, : frames.shape[1]]
    torch.testing.assert_close(frames, own, rtol=1e-4, atol=1e-5)


def test_without_the_opt_in_mert_stops_with_one_line_saying_how(mert_dir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _encoder(mert_dir)
    message = str(raised.value)
    assert "\n" not in message
    assert str(mert_dir) in message and "encoder.trust_remote_code=true" in message
