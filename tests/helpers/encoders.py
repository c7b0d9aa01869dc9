"""Tiny pretrained-model encoders saved to disk (random weights, no download), and clips to feed them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from xares_hydra.encoders.chunking import ChunkedEncoder

SR = 16000


def audio(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, round(seconds * SR), generator=generator)


def save_tiny_dasheng(directory: Path) -> Path:
    pretrained = pytest.importorskip("dasheng.pretrained.pretrained")
    torch.manual_seed(0)
    model = pretrained.Dasheng(embed_dim=32, depth=2, num_heads=2)
    path = directory / "dasheng_tiny.pt"
    torch.save({"model": model.state_dict(), "config": {"embed_dim": 32}}, path)
    return path


def save_tiny_hf(kind: str, directory: Path) -> Path:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    small = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32, "hidden_size": 16}
    conv = {"conv_dim": (8,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
    if kind == "whisper":
        config = transformers.WhisperConfig(
            d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=64,
            max_target_positions=16, num_mel_bins=80, max_source_positions=1500, pad_token_id=0,
            bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        )  # fmt: skip
        model = transformers.WhisperModel(config)
        extractor = transformers.WhisperFeatureExtractor(feature_size=80)
    elif kind == "wav2vec2":
        layer_norms = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}  # as in the large models
        model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**small, **conv, **layer_norms))
        extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    else:
        model = transformers.Data2VecAudioModel(transformers.Data2VecAudioConfig(**small, **conv))
        extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    path = directory / kind
    model.save_pretrained(path)
    extractor.save_pretrained(path)
    return path


def assert_cuda_matches_cpu(encoder: ChunkedEncoder, clips: torch.Tensor) -> None:
    on_cpu = encoder(clips)
    try:
        on_gpu = encoder.to("cuda")(clips.cuda())
    finally:
        encoder.to("cpu")
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=2e-3, rtol=2e-3)
