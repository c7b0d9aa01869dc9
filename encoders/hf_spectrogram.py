"""Hugging Face models that take their own spectrogram features: the Audio Spectrogram Transformer (AST) and
CLAP's audio tower. Each row of a padded batch gets its features from its own samples only, so a clip's output
does not depend on its batch-mates."""

from __future__ import annotations

import math
from typing import Any

import torch

from .huggingface import HubEncoder, feature_rows

# Kaldi fbank (AST's feature extractor): 25 ms windows every 10 ms
FBANK_SHIFT_SECONDS, FBANK_WINDOW_SECONDS = 0.010, 0.025
# CLAP has a clip vector only: each frame of this hop carries its chunk's vector, so pooling weighs by duration
CLIP_VECTOR_HOP_MS = 1000.0


class SpectrogramTransformerEncoder(HubEncoder):
    """AST: 16x16 patches of a fixed-length fbank (``max_length`` frames; the native longest input), a frame per
    time patch (``time_stride`` fbank frames: 100 ms), the mean over the frequency patches of that time."""

    padded_forward = True

    def load_model(self, model: Any) -> None:
        self.model = model
        config = model.config
        self.output_dim = config.hidden_size
        self.frequency_patches, self.time_patches = self.model.embeddings.get_shape(config)
        shift, window = (round(seconds * self.sampling_rate) for seconds in (FBANK_SHIFT_SECONDS, FBANK_WINDOW_SECONDS))
        self.hop_size_in_ms = 1000 * FBANK_SHIFT_SECONDS * config.time_stride
        self.receptive_field = window + (config.patch_size - 1) * shift
        self.max_chunk_seconds = self.time_patches * self.hop_size_in_ms / 1000

    def inputs(self, chunk: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        features = self.feature_extractor(
            feature_rows(chunk, lengths), sampling_rate=self.sampling_rate, return_tensors="pt"
        )
        return features.input_values.to(chunk.device)

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        return self._frames(super().encode(chunk))

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._frames(self.model(self.inputs(chunk, lengths)).last_hidden_state)

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """[B, num_hidden_layers + 1, T', D]: every layer's frames (the last one = ``encode``)."""
        return self._frames(super().encode_layers(chunk))

    def _frames(self, hidden: torch.Tensor) -> torch.Tensor:
        """[..., time patches, D] from [..., prefix tokens + patches, D]; the patches run frequency-major."""
        patches = hidden[..., -self.frequency_patches * self.time_patches :, :]
        grid = patches.unflatten(-2, (self.frequency_patches, self.time_patches))
        return grid.mean(dim=-3)


class ClapAudioEncoder(HubEncoder):
    """CLAP's audio tower: the normalised projected embedding of each chunk (at most the feature extractor's
    ``max_length_s``, padded its own way, e.g. repeated), repeated over the chunk's 1 s frames."""

    padded_forward = True

    def load_model(self, model: Any) -> None:
        self.audio_model, self.audio_projection = model.audio_model, model.audio_projection  # the text tower is left
        self.output_dim = model.config.projection_dim
        self.hop_size_in_ms = CLIP_VECTOR_HOP_MS
        self.receptive_field = 1  # a chunk is never zero-padded to whole frames: CLAP pads its own way
        self.max_chunk_seconds = self.feature_extractor.nb_max_samples / self.sampling_rate

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        return self._repeated(self._embeddings(feature_rows(chunk), chunk.device), chunk.shape[-1])

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self._repeated(self._embeddings(feature_rows(chunk, lengths), chunk.device), chunk.shape[-1])

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """[B, 1, T', D]: the projected embedding is the one layer of the tower with the model's width."""
        return self.encode(chunk)[:, None]

    def _embeddings(self, rows: list, device: torch.device) -> torch.Tensor:
        inputs = self.feature_extractor(rows, sampling_rate=self.sampling_rate, return_tensors="pt")
        # the extractor marks a random row "longer" when none is; no chunk is longer than the model's input
        is_longer = torch.zeros(len(rows), 1, dtype=torch.bool, device=device)
        pooled = self.audio_model(input_features=inputs.input_features.to(device), is_longer=is_longer).pooler_output
        return torch.nn.functional.normalize(self.audio_projection(pooled), dim=-1)

    def _repeated(self, vectors: torch.Tensor, samples: int) -> torch.Tensor:
        return vectors[:, None, :].expand(-1, math.ceil(samples / self.hop_samples), -1)
