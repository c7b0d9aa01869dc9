"""Encoders for the tests: hand-checkable ones (block means, a layered log-mel, an X-ARES encoder file), tiny
pretrained models saved to disk (random weights, no download), and clips to feed them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from xares_hydra.encoders.chunking import ChunkedEncoder
from xares_hydra.encoders.mel import MelEncoder

SR = 16000
HOP = 160  # samples in a 10 ms frame
CPU = torch.device("cpu")


class BlockMeans(torch.nn.Module):
    """X-ARES contract, told nothing about padding: one frame per 10 ms block, the block's mean magnitude plus one.
    Frame-local, so chunks at whole blocks give the same frames; padding blocks give 1, which would move any pooled
    vector they entered. ``max_samples`` and ``max_amplitude`` make a device that runs out of memory on a bigger call
    or a louder crop; ``calls`` counts the forward calls."""

    sampling_rate, output_dim, hop_size_in_ms = SR, 4, 10.0

    def __init__(self, max_samples: int | None = None, max_amplitude: float | None = None) -> None:
        super().__init__()
        self.max_samples = max_samples
        self.max_amplitude = max_amplitude
        self.calls = 0

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.max_samples is not None and audio.numel() > self.max_samples:
            raise RuntimeError(f"[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                               f"you tried to allocate {audio.numel() * 4} bytes")  # fmt: skip
        if self.max_amplitude is not None and audio.abs().max() > self.max_amplitude:
            raise MemoryError()
        blocks = torch.nn.functional.pad(audio, (0, -audio.shape[1] % HOP)).unflatten(1, (-1, HOP))
        return (blocks.abs().mean(-1, keepdim=True) + 1).expand(-1, -1, self.output_dim).contiguous()


class LayeredMel(MelEncoder):
    """An own encoder opting in: three 'layers' (log-mel scaled by 1, 2, 3), the last one its output."""

    def hidden_layers(self, audio: torch.Tensor) -> torch.Tensor:
        frames = super().forward(audio) / 3
        return torch.stack([frames, 2 * frames, 3 * frames], dim=1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return super().forward(audio)


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


XARES_STYLE_FILE = textwrap.dedent(
    '''
    import torch
    import torchaudio


    class MyCustomEncoder(torch.nn.Module):
        """Written for X-ARES, unchanged (its README's example, with a log-mel as the model)."""

        def __init__(self):
            super().__init__()
            self.sampling_rate = 16000
            self.output_dim = 40
            self.hop_size_in_ms = 10
            self.model = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=40)
            self.custom_max_audio_length = int(self.sampling_rate * 10)

        def forward(self, audio: torch.Tensor):
            if audio.ndim == 1:
                audio = audio.unsqueeze(0)
            with torch.inference_mode():
                if audio.shape[-1] > self.custom_max_audio_length:
                    embeds = [self.encode(chunk) for chunk in audio.split(self.custom_max_audio_length, dim=-1)]
                    return torch.cat(embeds, dim=1)
                return self.encode(audio)

        def encode(self, audio):
            return (self.model(audio) + 1e-6).log().transpose(1, 2)
    '''
)
