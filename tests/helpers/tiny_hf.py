"""Tiny random Hugging Face audio models of every family ``encoder=hf`` reads, built from their configs (no
download) and saved with ``save_pretrained`` into a directory, which the wrappers load as a local model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

transformers = __import__("pytest").importorskip("transformers", reason="the huggingface extra is not installed")

TINY_TRANSFORMER = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
# a three-layer convolutional front end: 5 * 4 * 4 = 80 samples per frame (5 ms at 16 kHz)
TINY_CONV = {"conv_dim": (16, 16, 16), "conv_stride": (5, 4, 4), "conv_kernel": (10, 4, 4)}
TINY_POSITION = {"num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}


def _waveform(config_class: str, layer_norm: bool, **extra: Any) -> Callable[[], tuple[Any, Any]]:
    def build() -> tuple[Any, Any]:
        config = getattr(transformers, config_class)(
            **{**TINY_TRANSFORMER, **TINY_CONV, **TINY_POSITION, **extra},
            feat_extract_norm="layer" if layer_norm else "group", do_stable_layer_norm=layer_norm,
        )  # fmt: skip
        extractor = transformers.Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, do_normalize=True, return_attention_mask=layer_norm
        )
        return config, extractor

    return build


def _whisper() -> tuple[Any, Any]:
    config = transformers.WhisperConfig(
        d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=37, decoder_ffn_dim=37, num_mel_bins=80, max_source_positions=1500, vocab_size=100,
        max_target_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    return config, transformers.WhisperFeatureExtractor(feature_size=80)


def _qwen2_audio_tower() -> tuple[Any, Any]:
    # Qwen2-Audio's audio tower: Whisper's 30 s of log-mel frames in, 1,500 transformer frames pooled 2:1
    config = transformers.Qwen2AudioEncoderConfig(
        d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=37, num_mel_bins=80,
        max_source_positions=1500,
    )  # fmt: skip
    return config, transformers.WhisperFeatureExtractor(feature_size=80)


def _audio_tower(config_class: str) -> Callable[[], tuple[Any, Any]]:
    """A Whisper-like audio-LLM tower (Audio Flamingo 3, Voxtral, GLM-ASR): Whisper's 30 s of log-mel frames in."""

    def build() -> tuple[Any, Any]:
        config = getattr(transformers, config_class)(**TINY_TRANSFORMER, num_mel_bins=80)
        return config, transformers.WhisperFeatureExtractor(feature_size=80)

    return build


def _ast() -> tuple[Any, Any]:
    # 128 fbank frames (1.28 s) of 16 bands: 12 time patches of 10 frames (100 ms), one frequency patch row
    config = transformers.ASTConfig(**TINY_TRANSFORMER, max_length=128, num_mel_bins=16)
    return config, transformers.ASTFeatureExtractor(num_mel_bins=16, max_length=128)


def _clap() -> tuple[Any, Any]:
    # HTS-AT on a 64 x 64 image of a 256-frame, 16-band log-mel spectrogram (4 strips of 64 frames)
    audio = {"spec_size": 64, "num_mel_bins": 16, "window_size": 4, "depths": (1, 1), "num_attention_heads": (2, 2),
             "patch_embeds_hidden_size": 16, "hidden_size": 32, "projection_dim": 8}  # fmt: skip
    text = {**TINY_TRANSFORMER, "vocab_size": 100, "max_position_embeddings": 32, "projection_dim": 8}
    config = transformers.ClapConfig(text_config=text, audio_config=audio, projection_dim=8)
    extractor = transformers.ClapFeatureExtractor(
        feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=2, truncation="rand_trunc"
    )
    return config, extractor


def _encodec() -> tuple[Any, Any]:
    config = transformers.EncodecConfig(
        sampling_rate=16000, hidden_size=16, num_filters=4, upsampling_ratios=(4, 2), num_lstm_layers=1,
        codebook_size=16, target_bandwidths=(1.5,),
    )  # fmt: skip
    return config, transformers.EncodecFeatureExtractor(feature_size=1, sampling_rate=16000)


def _dac() -> tuple[Any, Any]:
    config = transformers.DacConfig(
        encoder_hidden_size=4, downsampling_ratios=(4, 8), decoder_hidden_size=8, hidden_size=16,
        n_codebooks=2, codebook_size=16, codebook_dim=4, sampling_rate=16000,
    )  # fmt: skip
    return config, transformers.DacFeatureExtractor(feature_size=1, sampling_rate=16000, hop_length=32)


def _mimi() -> tuple[Any, Any]:
    config = transformers.MimiConfig(
        sampling_rate=16000, frame_rate=125.0, hidden_size=16, num_filters=4, upsampling_ratios=[8, 8],
        num_hidden_layers=1, intermediate_size=32, num_attention_heads=2, num_key_value_heads=2, head_dim=8,
        codebook_size=16, codebook_dim=8, num_quantizers=2, vector_quantization_hidden_dimension=8,
        upsample_groups=16, sliding_window=64, max_position_embeddings=4096,
    )  # fmt: skip
    return config, transformers.EncodecFeatureExtractor(feature_size=1, sampling_rate=16000)


transformers.utils.logging.disable_progress_bar()

FAMILIES: dict[str, Callable[[], tuple[Any, Any]]] = {
    "wav2vec2": _waveform("Wav2Vec2Config", layer_norm=True),
    "wav2vec2-group-norm": _waveform("Wav2Vec2Config", layer_norm=False),
    "hubert": _waveform("HubertConfig", layer_norm=True),
    "wavlm": _waveform("WavLMConfig", layer_norm=True, num_buckets=16, max_bucket_distance=40),
    "data2vec-audio": _waveform("Data2VecAudioConfig", layer_norm=True, num_conv_pos_embeddings=5),
    "unispeech": _waveform("UniSpeechConfig", layer_norm=True),
    "unispeech-sat": _waveform("UniSpeechSatConfig", layer_norm=True),
    "sew": _waveform("SEWConfig", layer_norm=False, squeeze_factor=2),
    "whisper": _whisper,
    "qwen2_audio_encoder": _qwen2_audio_tower,
    "audioflamingo3_encoder": _audio_tower("AudioFlamingo3EncoderConfig"),
    "voxtral_encoder": _audio_tower("VoxtralEncoderConfig"),
    "glmasr_encoder": _audio_tower("GlmAsrEncoderConfig"),
    "audio-spectrogram-transformer": _ast,
    "clap": _clap,
    "encodec": _encodec,
    "dac": _dac,
    "mimi": _mimi,
}


def tiny_model(family: str, directory: Path) -> Path:
    """A random model of ``family`` saved (config, weights, feature extractor) into ``directory``."""
    config, extractor = FAMILIES[family]()
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config)
    model.save_pretrained(directory)
    extractor.save_pretrained(directory)
    return directory
