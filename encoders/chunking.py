"""Shared machinery of the pretrained-model wrappers: chunking, padding and frame trimming.

A wrapper subclasses :class:`ChunkedEncoder` and implements :meth:`ChunkedEncoder.encode` for one
chunk of at most ``chunk_seconds``. The base class splits long audio into chunks (whose lengths are
multiples of the hop, so the frame grid runs on unbroken across chunks), zero-pads each chunk just
enough for the model to emit its frames, and trims the output to ``ceil(samples / hop)`` frames.
A clip of T samples therefore always gives ``ceil(T / hop)`` frames, whatever its length.

Given ``lengths`` (a zero-padded batch), a wrapper with ``padded_forward`` runs ONE padded forward per
chunk, passing the true lengths to :meth:`ChunkedEncoder.encode_masked` (the model's own attention mask
where it has one), and zeroes each clip's frames past its own count. ``padding_invariant = False`` says
that the model has no mask, so a clip's frames move with its batch's padding. Wrappers without
``padded_forward`` encode the clips of each true length together, unpadded (exact, but one call per
distinct length).
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
    """Keep the first ``n_frames`` frames (axis ``dim``: 1 of ``[B, T', D]``, 2 of ``[B, L, T', D]``);
    fewer frames is a wrapper bug."""
    if frames.shape[dim] < n_frames:
        raise EncoderContractError(
            f"{name} returned {frames.shape[dim]} frames where {n_frames} were expected; "
            "its receptive_field is set too small"
        )
    return frames.narrow(dim, 0, n_frames)


def reflect_padded(audio: torch.Tensor, lengths: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """``[B, left + T + right]``: each row's first ``lengths`` samples reflect-padded at both of its ends
    (``left`` and ``right`` samples, as ``torch.stft(center=True)`` pads a clip alone), zeros after."""
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
    """Encode a zero-padded batch exactly as if each clip were alone.

    Clips of equal true length are encoded together without their padding; each clip's frames
    (``frame_count(length)`` of them) are placed in a zero-filled ``[B, max frames, D]`` output.
    """
    sizes = [int(length) for length in lengths]
    pieces = {}
    for length in sorted(set(sizes)):
        rows = [row for row, own in enumerate(sizes) if own == length]
        frames = encode(audio[rows, :length])
        for position, row in enumerate(rows):
            pieces[row] = frames[position, : frame_count(length)]
    longest = max(piece.shape[0] for piece in pieces.values())
    output = audio.new_zeros(len(sizes), longest, pieces[0].shape[-1])
    for row, piece in pieces.items():
        output[row, : piece.shape[0]] = piece
    return output


class ChunkedEncoder(torch.nn.Module):
    """Base class: X-ARES encoder contract around a model that works on bounded-length chunks.

    Subclasses set ``sampling_rate``, ``output_dim`` and ``hop_size_in_ms`` and implement
    :meth:`encode`; they may override :meth:`prepare` (per-chunk processing on the unpadded
    samples, e.g. normalisation). Implementing :meth:`encode_layers` as well gives
    :meth:`hidden_layers` (``encode.layers=all``), chunked and trimmed the same way.
    ``receptive_field`` is the number of samples the model needs for its first frame: chunks are
    padded to ``(n - 1) * hop + receptive_field`` samples for n frames.
    The wrapped model stays frozen in eval mode.

    With ``xares_exact`` (set by ``compat=xares``) the padded batch instead goes through
    :func:`encode_like_xares` with the subclass's :meth:`xares_call`: X-ARES's wrapper, frames untrimmed.
    """

    sampling_rate: int
    output_dim: int
    hop_size_in_ms: float
    # one zero-padded forward per batch given lengths (else: equal lengths encoded together)
    padded_forward: bool = False
    # whether a clip's frames are independent of the padding of a padded forward (within float tolerance)
    padding_invariant: bool = True

    def __init__(
        self, chunk_seconds: float = 10.0, max_chunk_seconds: float | None = None, xares_exact: bool = False
    ) -> None:
        super().__init__()
        if chunk_seconds <= 0 or (max_chunk_seconds is not None and chunk_seconds > max_chunk_seconds):
            raise ConfigError(f"encoder.chunk_seconds={chunk_seconds} must be in (0, {max_chunk_seconds or 'inf'}]")
        self.chunk_seconds = chunk_seconds
        self.xares_exact = xares_exact
        self.receptive_field = 0

    @property
    def behaviour(self) -> str:
        """Which wrapper behaviour runs: ours (``default``) or X-ARES's (``xares``); recorded with the run."""
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
        # A frozen feature extractor: dropout and batch-norm statistics must never switch on.
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
        """Every hidden layer ``[B, L, T', D]`` (layer 0 the input of the first block, the last one what
        :meth:`forward` returns), chunked and trimmed exactly as :meth:`forward`."""
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
