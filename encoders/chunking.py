"""Shared machinery of the pretrained-model wrappers: chunking, padding and frame trimming.

Long audio is split into chunks (multiples of the hop, so the frame grid runs on across chunks), each
zero-padded just enough for the model's frames; a clip of T samples gives ``ceil(T / hop)`` frames.
Given ``lengths``, a wrapper with ``padded_forward`` runs one padded forward per chunk (``encode_masked``);
the others encode the clips of each true length together, unpadded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from xares_hydra.errors import ConfigError, EncoderContractError

from .xares_exact import BEHAVIOUR_DEFAULT, BEHAVIOUR_XARES, encode_like_xares


def num_frames(n_samples: int, hop_samples: int) -> int:
    """Frames for ``n_samples`` at ``hop_samples`` per frame: one per started hop."""
    return math.ceil(n_samples / hop_samples)


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``[B, size]``: True at each row's first ``lengths`` positions."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


def pad_right(audio: torch.Tensor, length: int) -> torch.Tensor:
    """Zero-pad the last axis up to ``length`` samples (no-op when already that long)."""
    missing = length - audio.shape[-1]
    return torch.nn.functional.pad(audio, (0, missing)) if missing > 0 else audio


def fit_frames(frames: torch.Tensor, n_frames: int, name: str, dim: int = 1) -> torch.Tensor:
    """The first ``n_frames`` frames along ``dim``; fewer frames is a wrapper bug."""
    if frames.shape[dim] < n_frames:
        raise EncoderContractError(
            f"{name} returned {frames.shape[dim]} frames where {n_frames} were expected; "
            "its receptive_field is set too small"
        )
    return frames.narrow(dim, 0, n_frames)


def reflect_padded(audio: torch.Tensor, lengths: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Each row's first ``lengths`` samples reflect-padded by ``left``/``right`` as if alone, zeros after."""
    positions = torch.arange(audio.shape[1] + left + right, device=audio.device)[None, :] - left
    own = lengths[:, None]
    source = positions.abs()
    source = torch.where(source >= own, 2 * (own - 1) - source, source).clamp(0, audio.shape[1] - 1)
    inside = positions < own + right
    return torch.gather(audio, 1, source.expand(audio.shape[0], -1)) * inside


def encode_padded(
    encode: Callable[[torch.Tensor], torch.Tensor],
    audio: torch.Tensor,
    lengths: torch.Tensor,
    frame_count: Callable[[int], int],
) -> torch.Tensor:
    """A zero-padded batch encoded as if each clip were alone: clips of equal length together, unpadded."""
    sizes = [int(length) for length in lengths]
    pieces = {}
    for length in sorted(set(sizes)):
        rows = [row for row, own in enumerate(sizes) if own == length]
        frames = encode(audio[rows, :length])
        pieces.update({row: frames[position, : frame_count(length)] for position, row in enumerate(rows)})
    ordered = [pieces[row] for row in range(len(sizes))]
    return torch.nn.utils.rnn.pad_sequence(ordered, batch_first=True).to(audio.dtype)


class ChunkedEncoder(torch.nn.Module):
    """The X-ARES contract around a frozen model of bounded-length chunks: subclasses set ``sampling_rate``,
    ``output_dim``, ``hop_size_in_ms`` (and ``receptive_field``, the samples of the first frame) and implement
    :meth:`encode`; ``xares_exact`` (``compat=xares``) runs :meth:`xares_call` as X-ARES's wrapper does."""

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float
    padded_forward: bool = False  # one zero-padded forward per batch given lengths
    padding_invariant: bool = True  # a clip's frames do not depend on a padded forward's padding

    def __init__(
        self, chunk_seconds: float = 10.0, max_chunk_seconds: float | None = None, xares_exact: bool = False
    ) -> None:
        super().__init__()
        self.set_chunk_seconds(chunk_seconds, max_chunk_seconds)
        self.xares_exact = xares_exact
        self.receptive_field = 0

    def set_chunk_seconds(self, chunk_seconds: float, max_chunk_seconds: float | None = None) -> None:
        """The longest audio one forward sees; at most the model's native longest input ``max_chunk_seconds``."""
        if chunk_seconds <= 0 or (max_chunk_seconds is not None and chunk_seconds > max_chunk_seconds + 1e-9):
            raise ConfigError(f"encoder.chunk_seconds={chunk_seconds} must be in (0, {max_chunk_seconds or 'inf'}]")
        self.chunk_seconds = chunk_seconds

    @property
    def behaviour(self) -> str:
        """Ours (``default``) or X-ARES's (``xares``); recorded with the run."""
        return BEHAVIOUR_XARES if self.xares_exact else BEHAVIOUR_DEFAULT

    @property
    def hop_samples(self) -> int:
        return round(self.sampling_rate * self.hop_size_in_ms / 1000)

    @property
    def chunk_samples(self) -> int:
        samples = round(self.chunk_seconds * self.sampling_rate)
        chunk = samples - samples % self.hop_samples
        if chunk <= 0:
            raise ConfigError(f"encoder.chunk_seconds={self.chunk_seconds} is shorter than one hop")
        return chunk

    def prepare(self, chunk: torch.Tensor) -> torch.Tensor:
        """Processing of an unpadded chunk ``[B, t]`` before padding; identity by default."""
        return chunk

    def encode(self, chunk: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, T', D]`` of a padded chunk ``[B, t]``; at least the requested frames."""
        raise NotImplementedError

    def xares_call(self, batch: torch.Tensor) -> torch.Tensor:
        """Frames of one call of X-ARES's wrapper on ``[B, t]`` (``xares_exact``), all the model returns."""
        raise ConfigError(f"{type(self).__name__} has no X-ARES wrapper behaviour: leave xares_exact false")

    def encode_layers(self, chunk: torch.Tensor) -> torch.Tensor:
        """Every hidden layer ``[B, L, T', D]`` of a padded chunk, the last one equal to :meth:`encode`'s output."""
        raise NotImplementedError(f"{type(self).__name__} does not expose its hidden layers")

    def prepare_padded(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`prepare` for a zero-padded chunk whose rows hold ``lengths`` true samples."""
        return self.prepare(chunk)

    def encode_masked(self, chunk: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` for a zero-padded chunk; ``lengths`` are the samples each row's frames need."""
        return self.encode(chunk)

    def train(self, mode: bool = True) -> ChunkedEncoder:
        return super().train(False)

    def frame_count(self, n_samples: int) -> int:
        return num_frames(n_samples, self.hop_samples)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Frames ``[B, T', D]``; with ``lengths`` (zero-padded batch), each clip as if encoded alone."""
        audio = _batch_of(audio)
        if self.xares_exact:  # X-ARES's wrappers see the padded batch only: lengths are not theirs to use
            with torch.inference_mode():
                return encode_like_xares(self.xares_call, audio.float(), self.sampling_rate, self.chunk_seconds)
        if lengths is not None and not self.padded_forward:
            return encode_padded(self.forward, audio, lengths, self.frame_count)
        audio = audio.float()
        if audio.shape[-1] == 0:
            return audio.new_zeros(audio.shape[0], 0, self.output_dim)
        with torch.inference_mode():
            chunks = audio.split(self.chunk_samples, dim=-1)
            if lengths is None:
                return torch.cat([self._encode_chunk(chunk) for chunk in chunks], dim=1)
            lengths = lengths.to(audio.device)
            starts = range(0, audio.shape[-1], self.chunk_samples)
            pieces = [self._encode_padded_chunk(chunk, lengths - start) for chunk, start in zip(chunks, starts)]
            return torch.cat(pieces, dim=1)

    def hidden_layers(self, audio: torch.Tensor) -> torch.Tensor:
        """Every hidden layer ``[B, L, T', D]`` (the last one what :meth:`forward` returns), chunked alike."""
        audio = _batch_of(audio)
        if self.xares_exact:
            raise ConfigError(
                "hidden layers come from the default wrapper behaviour only: encode.layers=all does not combine "
                "with X-ARES's wrapper behaviour (compat=xares)"
            )
        audio = audio.float()
        with torch.inference_mode():
            chunks = audio.split(self.chunk_samples, dim=-1)
            return torch.cat([self._encode_chunk(chunk, self.encode_layers, frame_dim=2) for chunk in chunks], dim=2)

    def _encode_chunk(
        self, chunk: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor] | None = None, frame_dim: int = 1
    ) -> torch.Tensor:
        n_frames = num_frames(chunk.shape[-1], self.hop_samples)
        needed = (n_frames - 1) * self.hop_samples + self.receptive_field
        frames = (encode or self.encode)(pad_right(self.prepare(chunk), needed))
        return fit_frames(frames, n_frames, type(self).__name__, dim=frame_dim)

    def _encode_padded_chunk(self, chunk: torch.Tensor, remaining: torch.Tensor) -> torch.Tensor:
        """One forward of the rows that still have audio in this chunk; frames past a row's own are zero."""
        own = remaining.clamp(0, chunk.shape[-1])
        n_frames = num_frames(chunk.shape[-1], self.hop_samples)
        output = chunk.new_zeros(chunk.shape[0], n_frames, self.output_dim)
        rows = own > 0
        if not rows.any():
            return output
        own = own[rows]
        longest = int(own.max())
        frames_needed = (own + self.hop_samples - 1) // self.hop_samples
        samples_needed = torch.maximum(own, (frames_needed - 1) * self.hop_samples + self.receptive_field)
        width = int(samples_needed.max())
        prepared = pad_right(self.prepare_padded(chunk[rows, :longest], own), width)
        encoded = self.encode_masked(prepared, samples_needed)
        frames = fit_frames(encoded, num_frames(longest, self.hop_samples), type(self).__name__)
        kept = length_mask(frames_needed, frames.shape[1])
        output[rows, : frames.shape[1]] = frames * kept[..., None]
        return output


def _batch_of(audio: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` audio, a lone ``[T]`` clip as a batch of one; any other shape breaks the contract."""
    if audio.ndim == 1:
        audio = audio.unsqueeze(0)
    if audio.ndim != 2:
        raise EncoderContractError(f"expected audio of shape [B, T], got {tuple(audio.shape)}")
    return audio
