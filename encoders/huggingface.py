"""X-ARES baselines from Hugging Face transformers: the Whisper encoder, wav2vec 2.0 and data2vec-audio.

``model_name_or_path`` is a hub name or a local directory; only cached files are used when offline, and
weights that cannot be had raise DataUnavailable saying what to download."""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from xares_hydra.errors import ConfigError, DataUnavailable

from ._optional import require
from .chunking import ChunkedEncoder, length_mask
from .xares_exact import waveform_features_like_xares, whisper_features_like_xares

log = logging.getLogger(__name__)

WHISPER = "openai/whisper-base"
WAV2VEC2 = "facebook/wav2vec2-large-100k-voxpopuli"
DATA2VEC = "facebook/data2vec-audio-base"
WHISPER_WINDOW_SECONDS = 30.0
DEFAULT_CHUNK_SECONDS = 10.0


class HubEncoder(ChunkedEncoder):
    """A transformers audio model and its feature extractor; a subclass loads its model in ``load_model``.

    ``chunk_seconds`` null: the model's native longest input (``max_chunk_seconds``, which ``load_model`` may set
    from the model's config), else 10 s. Chunks' frames are concatenated, so pooling weighs each by its duration."""

    hub_default: str | None = None
    max_chunk_seconds: float | None = None
    model: Any  # the transformers module that encodes

    def __init__(
        self,
        model_name_or_path: str | None = None,
        revision: str | None = None,
        chunk_seconds: float | None = DEFAULT_CHUNK_SECONDS,
        xares_exact: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__(DEFAULT_CHUNK_SECONDS, xares_exact=xares_exact)
        name = model_name_or_path or self.hub_default
        if not name:
            raise ConfigError(
                f"{type(self).__name__} needs encoder.model_name_or_path: a hub name or a local directory"
            )
        source = HubSource(name, revision, self.hub_default or name, trust_remote_code)
        self.feature_extractor = source.load("AutoFeatureExtractor")
        self.sampling_rate = self.feature_extractor.sampling_rate
        model = source.load("AutoModel", dtype=torch.float32)
        self.weights_revision = source.revision_of(model)
        self.load_model(model)
        native = self.max_chunk_seconds or DEFAULT_CHUNK_SECONDS
        self.set_chunk_seconds(native if chunk_seconds is None else chunk_seconds, self.max_chunk_seconds)
        self.eval()

    def load_model(self, model: Any) -> None:
        """Sets ``model`` (what encodes, from the loaded ``model``), ``output_dim`` and ``hop_size_in_ms``."""
        raise NotImplementedError

    def inputs(self, chunk: torch.Tensor) -> torch.Tensor:
        """The model's input of a chunk; the chunk itself by default."""
        return chunk

    def outputs(self, chunk: torch.Tensor, **kwargs: Any) -> Any:
        """The model's output object on a chunk; ``kwargs`` go to its forward."""
        return self.model(self.inputs(chunk), **kwargs)

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        return self.outputs(chunk).last_hidden_state

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """[B, layers + 1, T', D]: the model's ``output_hidden_states`` (the last one = ``encode``)."""
        return stacked_hidden_states(self.outputs(chunk, output_hidden_states=True))

    @classmethod
    def has_xares_wrapper(cls) -> bool:
        """Whether X-ARES ships a wrapper of this family whose behaviour ``compat=xares`` reproduces."""
        return cls.xares_call is not ChunkedEncoder.xares_call


class WhisperEncoder(HubEncoder):
    """Whisper's audio encoder: every input padded to 30 s (so a padded batch is one forward), frames past the
    chunk dropped; ``xares_exact`` keeps all 1,500 frames."""

    hub_default = WHISPER
    max_chunk_seconds = WHISPER_WINDOW_SECONDS
    padded_forward = True

    def load_model(self, model: Any) -> None:
        self.model = self.encoder_of(model)
        self.output_dim = self.model.config.hidden_size
        extractor_hop_ms = 1000 * self.feature_extractor.hop_length / self.sampling_rate
        # X-ARES reports the extractor's hop although the encoder's frames are several extractor hops apart
        self.hop_size_in_ms = extractor_hop_ms if self.xares_exact else extractor_hop_ms * math.prod(self.strides())

    def encoder_of(self, model: Any) -> Any:
        """The module that encodes audio, from the loaded model."""
        return model.get_encoder()

    def strides(self) -> list[int]:
        """Extractor frames per output frame, as factors: the convolutional front end's strides."""
        return [self.model.conv1.stride[0], self.model.conv2.stride[0]]

    def features(self, chunk: torch.Tensor, lengths: torch.Tensor | None = None, mask: bool = False) -> Any:
        """Log-mel features of each row (of its first ``lengths`` samples), padded to the window; ``mask``: with
        the ``attention_mask`` of the rows' own frames."""
        return self.feature_extractor(
            feature_rows(chunk, lengths),
            sampling_rate=self.sampling_rate,
            return_tensors="pt",
            return_attention_mask=mask,
            device=str(chunk.device),
        ).to(chunk.device)

    def inputs(self, chunk: torch.Tensor) -> torch.Tensor:
        return self.features(chunk).input_features

    def xares_call(self, batch: torch.Tensor) -> torch.Tensor:
        features = whisper_features_like_xares(self.feature_extractor, batch, self.sampling_rate)
        return self.model(features.to(batch.device)).last_hidden_state


class AudioTowerEncoder(WhisperEncoder):
    """The Whisper-like audio tower of an audio language model (Qwen2-Audio): Whisper's 30 s log-mel input, its
    frames average-pooled 2:1 after the transformer (40 ms). A full model's tower is taken and the rest left (the
    language model is loaded with it: save the tower alone to load less)."""

    xares_call = ChunkedEncoder.xares_call  # X-ARES has no wrapper of it
    pools_frames = True  # its output frames are average-pooled after the transformer

    def encoder_of(self, model: Any) -> Any:
        return getattr(model, "audio_tower", model)

    def strides(self) -> list[int]:
        return [*super().strides(), *([self.model.avg_pooler.stride[0]] if self.pools_frames else [])]


class UnpooledAudioTowerEncoder(AudioTowerEncoder):
    """An audio tower whose output is Whisper's 20 ms frames (Voxtral, GLM-ASR: their language models' adapters
    stack frames; the tower does not pool them)."""

    pools_frames = False


class MaskedAudioTowerEncoder(AudioTowerEncoder):
    """Audio Flamingo 3's tower (also Music Flamingo's): Qwen2-Audio's, told by a feature mask which of the 30 s
    window's frames are audio (its attention skips the rest), as its processor always does."""

    def outputs(self, chunk: torch.Tensor, lengths: torch.Tensor | None = None, **kwargs: Any) -> Any:
        features = self.features(chunk, lengths, mask=True)
        return self.model(features.input_features, input_features_mask=features.attention_mask, **kwargs)

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.outputs(chunk, lengths).last_hidden_state


class Wav2Vec2Encoder(HubEncoder):
    """A waveform model with a convolutional front end (wav2vec 2.0, data2vec-audio, HuBERT, ...)."""

    hub_default = WAV2VEC2

    def load_model(self, model: Any) -> None:
        self.model = model
        config = model.config
        self.normalize = bool(self.feature_extractor.do_normalize)
        # checkpoints trained with an attention mask take padded batches in one forward; the others
        # (group-norm front ends) see padding in their normalisation, so equal lengths are encoded together
        self.padded_forward = bool(self.feature_extractor.return_attention_mask)
        self.output_dim = config.hidden_size
        self.hop_size_in_ms = 1000 * math.prod(config.conv_stride) / self.sampling_rate
        self.receptive_field = receptive_field(config.conv_kernel, config.conv_stride)

    def prepare(self, chunk: torch.Tensor) -> torch.Tensor:
        if not self.normalize:
            return chunk
        mean = chunk.mean(dim=-1, keepdim=True)
        var = chunk.var(dim=-1, keepdim=True, unbiased=False)
        return (chunk - mean) / torch.sqrt(var + 1e-7)

    def prepare_padded(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.normalize:
            return chunk
        kept = length_mask(lengths, chunk.shape[-1]).to(chunk.dtype)
        count = lengths[:, None].to(chunk.dtype)
        mean = (chunk * kept).sum(dim=-1, keepdim=True) / count
        var = (((chunk - mean) * kept) ** 2).sum(dim=-1, keepdim=True) / count
        return (chunk - mean) / torch.sqrt(var + 1e-7) * kept

    def xares_call(self, batch: torch.Tensor) -> torch.Tensor:
        values = waveform_features_like_xares(self.feature_extractor, batch, self.sampling_rate)
        return self.model(values.to(batch.device)).last_hidden_state

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = length_mask(lengths, chunk.shape[-1]).long()
        return self.model(chunk, attention_mask=mask).last_hidden_state


class Data2VecEncoder(Wav2Vec2Encoder):
    hub_default = DATA2VEC

    def load_model(self, model: Any) -> None:
        super().load_model(model)
        # its stack of positional convolutions carries the padding into the clip's frames despite the mask
        self.padded_forward = False


def feature_rows(chunk: torch.Tensor, lengths: torch.Tensor | None = None) -> list:
    """Each row's samples as a numpy array, cut to its length (feature extractors take lists)."""
    rows = chunk.float().cpu().numpy()
    return list(rows) if lengths is None else [row[: int(n)] for row, n in zip(rows, lengths.tolist(), strict=True)]


def stacked_hidden_states(outputs: Any) -> torch.Tensor:
    """[B, L, T', D] from a transformers output: the embeddings and every layer, the last one replaced by
    ``last_hidden_state`` (stable-layer-norm models such as wav2vec 2.0 large norm it after the last layer).
    Layers at a coarser rate than the output (SEW squeezes time inside its transformer) repeat each frame."""
    frames = outputs.last_hidden_state.shape[1]
    return torch.stack([*(_at_length(h, frames) for h in outputs.hidden_states[:-1]), outputs.last_hidden_state], 1)


def _at_length(layer: torch.Tensor, frames: int) -> torch.Tensor:
    """``layer`` [B, t, D] with each frame repeated to ``frames`` frames (the last one repeated to fill), or, at a
    finer rate than the output (an audio tower pools after its transformer), averaged over each output frame's."""
    if layer.shape[1] == frames:
        return layer
    if layer.shape[1] > frames:
        factor = layer.shape[1] // frames
        return torch.nn.functional.avg_pool1d(layer.transpose(1, 2), factor, factor).transpose(1, 2)[:, :frames]
    repeated = layer.repeat_interleave(math.ceil(frames / layer.shape[1]), dim=1)[:, :frames]
    return torch.cat([repeated, repeated[:, -1:].expand(-1, frames - repeated.shape[1], -1)], dim=1)


def receptive_field(kernels: list[int], strides: list[int]) -> int:
    """Samples a stack of 1-d convolutions needs for its first output frame."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return field


@dataclass(frozen=True)
class HubSource:
    """A hub name or local directory (``name``); ``hub_name`` is what the download instructions name."""

    name: str
    revision: str | None
    hub_name: str
    trust_remote_code: bool = False

    def revision_of(self, model: Any) -> str | None:
        """The hub commit the weights came from (None for a local directory without one)."""
        return getattr(model.config, "_commit_hash", None) or self.revision

    def load(self, auto_class: str, **kwargs: Any) -> Any:
        """``transformers.<auto_class>.from_pretrained``; local files only when offline."""
        loader = getattr(require("transformers", extra="huggingface"), auto_class)
        if _is_local_path(self.name):
            path = Path(self.name).expanduser()
            name, local_only, missing = str(path), True, f"the model directory {path} cannot be loaded"
            how_to = _how_to_download(self.hub_name, self.revision)
            if not path.is_dir():
                raise DataUnavailable(f"the model directory {path} does not exist. {how_to}")
        else:
            offline = _offline_reason()
            name, local_only = self.name, offline is not None
            missing = f"{name!r} is not in the local Hugging Face cache ({offline})"
            if not offline:
                missing = f"{name!r} cannot be fetched from the Hugging Face hub"
            how_to = _how_to_download(self.name, self.revision)
        try:
            return loader.from_pretrained(
                name,
                revision=self.revision,
                local_files_only=local_only,
                trust_remote_code=self.trust_remote_code,  # said either way: transformers would ask on a terminal
                **kwargs,
            )
        except (OSError, ValueError) as err:
            if not self.trust_remote_code and "trust_remote_code" in str(err):
                raise ConfigError(
                    f"encoder.model={self.name} ships its own model code, which runs only with "
                    "encoder.trust_remote_code=true: set it if you trust the repository and who made it (SECURITY.md)"
                ) from err
            raise DataUnavailable(f"{missing}. {how_to}. Details: {err}") from err


def _how_to_download(hub_name: str, revision: str | None) -> str:
    rev = f" --revision {revision}" if revision else ""
    return (
        f"On a machine with internet run `hf download {hub_name}{rev} --local-dir DIR` "
        f"(older huggingface_hub: `huggingface-cli download ...`), copy DIR here "
        "and set encoder.model_name_or_path=DIR"
    )


def _is_local_path(name: str) -> bool:
    """A directory rather than a hub name ("org/model")."""
    return Path(name).expanduser().exists() or name.startswith(("/", ".", "~")) or name.count("/") > 1


def _offline_reason() -> str | None:
    """Why only locally cached files can be used, or None when the hub may be asked."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{variable} is set"
    return None if _hub_reachable() else "the hub is unreachable"


@functools.cache
def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of the hub, so an offline machine does not wait through the hub client's retries."""
    if urllib.request.getproxies():
        return True  # cannot probe through a proxy: let the hub client try
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        log.warning("the Hugging Face hub (%s) is unreachable: using cached files only", endpoint.netloc)
        return False
    return True
