"""The embedding cache: every shard of a task encoded once per encoder fingerprint.

Layout under ``<cache_root>/<task>/<encoder>-<fingerprint>/``::

    fingerprint.json            what the fingerprint hashes (for people)
    encoder.json                sampling_rate, output_dim, hop_size_in_ms of the encoder
    shards/<tar name>/
        pooled.npy              [N, D] float32 clip vectors (mean over the clip's frames)
        frames.f32              [sum of frames, D] float32, raw, memory-mapped (when kept)
        index.jsonl             per sample: key, clip key, crop, samples, frames, frame offset, labels
        done.json               completion marker, written last: counts, skips, source identity

The cache is keyed by shard rather than by split: splits that share shards (validation = test)
are encoded once, and an interrupted encode resumes at the first unfinished shard.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from xares_hydra.atomic import atomic_path, read_json, write_json

FRAME_DTYPE = np.float32


@dataclass
class ShardCounts:
    samples: int = 0
    crops: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    audio_seconds: float = 0.0
    encode_seconds: float = 0.0

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def warn(self, reason: str) -> None:
        self.warnings[reason] = self.warnings.get(reason, 0) + 1


def source_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class EncoderCache:
    """The cache folder of one (task, encoder fingerprint)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def shard_dir(self, shard: Path) -> Path:
        return self.root / "shards" / shard.name

    def is_complete(self, shard: Path, need_frames: bool) -> bool:
        marker = self.shard_dir(shard) / "done.json"
        if not marker.exists():
            return False
        done = read_json(marker)
        return done["source"] == source_identity(shard) and (done["has_frames"] or not need_frames)

    def lock(self, shard: Path) -> FileLock:
        self.root.joinpath("shards").mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / "shards" / f"{shard.name}.lock"))

    def writer(self, shard: Path, dim: int, keep_frames: bool) -> ShardWriter:
        return ShardWriter(self.shard_dir(shard), shard, dim, keep_frames)

    def save_encoder_info(self, info: dict[str, Any], fingerprint_document: dict[str, Any]) -> None:
        write_json(self.root / "encoder.json", info)
        write_json(self.root / "fingerprint.json", fingerprint_document)

    def encoder_info(self) -> dict[str, Any] | None:
        path = self.root / "encoder.json"
        return read_json(path) if path.exists() else None

    def shard_counts(self, shard: Path) -> dict[str, Any]:
        return read_json(self.shard_dir(shard) / "done.json")["counts"]

    def load(self, shards: Sequence[Path]) -> EmbeddingSet:
        return EmbeddingSet.concat([EmbeddingSet.from_dir(self.shard_dir(shard)) for shard in shards])


class ShardWriter:
    """Appends one shard's embeddings; nothing counts as written until ``finish`` writes the marker."""

    def __init__(self, directory: Path, source: Path, dim: int, keep_frames: bool) -> None:
        self.directory = directory
        self.source = source
        self.dim = dim
        self.keep_frames = keep_frames
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "done.json").unlink(missing_ok=True)
        self._frames_part = directory / f"frames.f32.{os.getpid()}.part"
        self._frames_stream = open(self._frames_part, "wb") if keep_frames else None  # noqa: SIM115
        self._pooled: list[np.ndarray] = []
        self._index: list[dict[str, Any]] = []
        self._frame_offset = 0

    def add(self, meta: dict[str, Any], n_frames: int, frames: np.ndarray | None, pooled: np.ndarray) -> None:
        """One crop: its frame count, its ``[n_frames, D]`` frames (when kept) and its pooled vector."""
        entry = dict(meta, n_frames=int(n_frames), frame_offset=self._frame_offset)
        if self._frames_stream is not None:
            if frames is None or frames.shape[0] != n_frames:
                raise ValueError(f"{meta['key']}: frames are kept for this cache, expected {n_frames} of them")
            self._frames_stream.write(np.ascontiguousarray(frames, dtype=FRAME_DTYPE).tobytes())
            self._frame_offset += int(n_frames)
        self._pooled.append(pooled.astype(np.float32))
        self._index.append(entry)

    def finish(self, counts: ShardCounts) -> None:
        pooled = np.stack(self._pooled) if self._pooled else np.zeros((0, self.dim), np.float32)
        with atomic_path(self.directory / "pooled.npy") as partial, open(partial, "wb") as stream:
            np.save(stream, pooled)
        with atomic_path(self.directory / "index.jsonl") as partial:
            partial.write_text("".join(json.dumps(entry) + "\n" for entry in self._index))
        if self._frames_stream is not None:
            self._frames_stream.close()
            os.replace(self._frames_part, self.directory / "frames.f32")
        write_json(
            self.directory / "done.json",
            {
                "source": source_identity(self.source),
                "has_frames": self.keep_frames,
                "dim": self.dim,
                "total_frames": self._frame_offset,
                "counts": counts.__dict__,
            },
        )

    def abort(self) -> None:
        if self._frames_stream is not None:
            self._frames_stream.close()
            self._frames_part.unlink(missing_ok=True)


@dataclass
class EmbeddingSet:
    """Embeddings of a set of samples, in a canonical order (by key, then crop).

    ``pooled`` is in memory; frames stay memory-mapped and are read per sample with ``frames(i)``.
    """

    keys: list[str]
    clip_keys: list[str]
    crops: np.ndarray
    pooled: np.ndarray
    n_frames: np.ndarray
    labels: list[Any]
    frame_parts: list[np.ndarray | None] = field(default_factory=list)
    frame_part: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frame_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    targets: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])

    @property
    def has_frames(self) -> bool:
        return all(part is not None for part in self.frame_parts)

    def frames(self, index: int) -> np.ndarray:
        part = self.frame_parts[self.frame_part[index]]
        if part is None:
            raise RuntimeError("frame embeddings were not kept for this cache (encode.keep_frames)")
        start = int(self.frame_offset[index])
        return part[start : start + int(self.n_frames[index])]

    @classmethod
    def from_dir(cls, directory: Path) -> EmbeddingSet:
        done = read_json(directory / "done.json")
        entries = [json.loads(line) for line in (directory / "index.jsonl").read_text().splitlines()]
        pooled = np.load(directory / "pooled.npy")
        frames = None
        if done["has_frames"] and done["total_frames"] > 0:
            frames = np.memmap(
                directory / "frames.f32", dtype=FRAME_DTYPE, mode="r", shape=(done["total_frames"], done["dim"])
            )
        order = sorted(range(len(entries)), key=lambda i: (entries[i]["clip_key"], entries[i]["crop"]))
        entries = [entries[i] for i in order]
        return cls(
            keys=[entry["key"] for entry in entries],
            clip_keys=[entry["clip_key"] for entry in entries],
            crops=np.array([entry["crop"] for entry in entries], dtype=np.int64),
            pooled=pooled[order] if len(order) else pooled,
            n_frames=np.array([entry["n_frames"] for entry in entries], dtype=np.int64),
            labels=[entry["labels"] for entry in entries],
            frame_parts=[frames if done["has_frames"] else None],
            frame_part=np.zeros(len(entries), dtype=np.int64),
            frame_offset=np.array([entry["frame_offset"] for entry in entries], dtype=np.int64),
        )

    @classmethod
    def concat(cls, sets: Sequence[EmbeddingSet]) -> EmbeddingSet:
        part_base = np.cumsum([0] + [len(s.frame_parts) for s in sets])
        return cls(
            keys=[key for s in sets for key in s.keys],
            clip_keys=[key for s in sets for key in s.clip_keys],
            crops=np.concatenate([s.crops for s in sets]),
            pooled=np.concatenate([s.pooled for s in sets]),
            n_frames=np.concatenate([s.n_frames for s in sets]),
            labels=[label for s in sets for label in s.labels],
            frame_parts=[part for s in sets for part in s.frame_parts],
            frame_part=np.concatenate([s.frame_part + base for s, base in zip(sets, part_base)]),
            frame_offset=np.concatenate([s.frame_offset for s in sets]),
            targets=None if any(s.targets is None for s in sets) else [t for s in sets for t in s.targets],
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> EmbeddingSet:
        indices = np.asarray(indices, dtype=np.int64)
        return EmbeddingSet(
            keys=[self.keys[i] for i in indices],
            clip_keys=[self.clip_keys[i] for i in indices],
            crops=self.crops[indices],
            pooled=self.pooled[indices],
            n_frames=self.n_frames[indices],
            labels=[self.labels[i] for i in indices],
            frame_parts=self.frame_parts,
            frame_part=self.frame_part[indices],
            frame_offset=self.frame_offset[indices],
            targets=None if self.targets is None else [self.targets[i] for i in indices],
        )
