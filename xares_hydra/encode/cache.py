"""The embedding cache: every shard of a task encoded once per encoder fingerprint.

Layout under ``<cache_root>/<task>/<encoder>-<fingerprint>/``::

    fingerprint.json            what the fingerprint hashes (for people)
    encoder.json                sampling_rate, output_dim, hop_size_in_ms of the encoder
    shards/<tar name>/
        pooled.npy              [N, D] clip vectors (mean over the clip's frames), encode.clip_dtype (float32)
        frames.f32              [sum of frames, D], raw, memory-mapped (when kept), encode.store_dtype (float32)
        layers.npy              [N, L, D] clip vectors of every hidden layer (encode.layers=all), store_dtype
        frames.layer<k>.f32     frames of hidden layer k, laid out as frames.f32 (encode.frame_layers)
        index.jsonl             per sample: key, clip key, crop, samples, frames, frame offset, labels
        done.json               completion marker, written last: counts, skips, source identity, the stored
                                number types (frame_dtype, clip_dtype; storage.py: float32, float16, bfloat16)

Shards rather than splits are cached (validation = test is encoded once). Hidden layers are not part of
the fingerprint: a shard encoded without them is encoded again, with them, by the first run that needs them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock

from xares_hydra.atomic import atomic_path, read_json, remove_stale_parts, write_json, write_text
from xares_hydra.encode.storage import FLOAT32, STORE_DTYPES, from_stored, to_stored
from xares_hydra.errors import ConfigError
from xares_hydra.locks import RemovedLock, file_lock

if TYPE_CHECKING:  # settings imports LayerNeeds from here
    from xares_hydra.encode.settings import EncodeSettings

log = logging.getLogger("xares")

MAX_EXAMPLES = 3
# head.layer value for the learned softmax-weighted sum of every hidden layer (SUPERB)
WEIGHTED = "weighted"


@dataclass
class ShardCounts:
    samples: int = 0
    crops: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    audio_seconds: float = 0.0
    encode_seconds: float = 0.0
    # reason -> the first few "shard/key" skipped for it
    examples: dict[str, list[str]] = field(default_factory=dict)
    # a truncated shard: its problem and the clips estimated in its unread rest (None: none of it was read)
    unread: dict[str, Any] | None = None

    def skip(self, reason: str, example: str | None = None) -> None:
        self.skipped[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if example is not None and len(examples) < MAX_EXAMPLES:
            examples.append(example)

    def add(self, counts: Mapping[str, Any]) -> None:
        """Adds a finished shard's counts (its ``done.json``)."""
        self.samples += counts["samples"]
        self.crops += counts["crops"]
        self.audio_seconds += counts["audio_seconds"]
        self.skipped.update(counts["skipped"])
        self.warnings.update(counts["warnings"])
        for reason, examples in counts.get("examples", {}).items():
            kept = self.examples.setdefault(reason, [])
            kept.extend(examples[: MAX_EXAMPLES - len(kept)])


def source_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"name": path.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class EncoderCache:
    """The cache folder of one (task, encoder fingerprint)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def shard_dir(self, shard: Path) -> Path:
        return self.root / "shards" / shard.name

    def is_complete(self, shard: Path, need_frames: bool, need: LayerNeeds | None = None) -> bool:
        marker = self.shard_dir(shard) / "done.json"
        done = read_json(marker) if marker.exists() else None
        if done is None or done["source"] != source_identity(shard) or (need_frames and not done["has_frames"]):
            return False
        return need is None or need.met_by(done)

    def lock(self, shard: Path, blocking: bool = True) -> RemovedLock | FileLock:
        return file_lock(self.root / "shards" / f"{shard.name}.lock", blocking)

    def save_encoder_info(self, info: dict[str, Any], fingerprint_document: dict[str, Any]) -> None:
        write_json(self.root / "encoder.json", info)
        write_json(self.root / "fingerprint.json", fingerprint_document)

    def encoder_info(self) -> dict[str, Any] | None:
        path = self.root / "encoder.json"
        return read_json(path) if path.exists() else None

    def partition_counts(self, shards: Mapping[str, Sequence[Path]]) -> dict[str, dict[str, Any]]:
        """Per partition (its shards in order): clips, crops, audio seconds, skips and warnings by reason; a clip
        already in an earlier shard of the partition is a skipped ``duplicate key`` (``load`` keeps the first)."""
        counts = {}
        for partition, paths in shards.items():
            merged, incomplete = ShardCounts(), {}
            for shard in paths:
                done = read_json(self.shard_dir(shard) / "done.json")["counts"]
                merged.add(done)
                if done.get("unread"):
                    incomplete[shard.name] = done["unread"]
            duplicates = duplicate_clips([(shard.name, self._clip_keys(shard)) for shard in paths])
            for duplicate in duplicates[:MAX_EXAMPLES]:
                log.warning("Skipping %s in %s (%s): duplicate key (an earlier shard of this partition, %s, has it; "
                            "that copy is kept)", duplicate.key, duplicate.shard, partition,
                            duplicate.first_shard)  # fmt: skip
            if len(duplicates) > MAX_EXAMPLES:
                log.warning("%s: %d keys in all are in more than one shard; the first copy of each is used", partition,
                            len(duplicates))  # fmt: skip
            for duplicate in duplicates:
                merged.samples -= 1
                merged.crops -= duplicate.crops
                merged.skip("duplicate key", duplicate.example)
            counts[partition] = {
                "clips": merged.samples,
                "crops": merged.crops,
                "audio_seconds": merged.audio_seconds,
                "skipped": dict(merged.skipped),
                "warnings": dict(merged.warnings),
                "skip_examples": merged.examples,
            }
            if incomplete:
                counts[partition]["incomplete"] = incomplete
        return counts

    def load(self, shards: Sequence[Path], layer: int | str | None = None) -> EmbeddingSet:
        """The embeddings of one partition's shards, a clip key met in an earlier shard left out; ``layer`` picks a
        hidden layer or, ``"weighted"``, keeps all in ``EmbeddingSet.layers`` (None: the normal output)."""
        sets = [EmbeddingSet.from_dir(self.shard_dir(shard), layer) for shard in shards]
        later = {(d.shard, d.key) for d in duplicate_clips([(s.name, e.clip_keys) for s, e in zip(shards, sets)])}
        if later:
            sets = [
                embeddings.subset([i for i, key in enumerate(embeddings.clip_keys) if (shard.name, key) not in later])
                for shard, embeddings in zip(shards, sets)
            ]
        return EmbeddingSet.concat(sets)

    def _clip_keys(self, shard: Path) -> list[str]:
        lines = (self.shard_dir(shard) / "index.jsonl").read_text().splitlines()
        return [json.loads(line)["clip_key"] for line in lines if line]


@dataclass(frozen=True)
class DuplicateClip:
    """A clip whose key an earlier shard of the same partition holds too (that first copy is used)."""

    key: str
    shard: str  # the shard of this (skipped) copy
    first_shard: str  # the shard of the copy that is kept
    crops: int  # the crops of this copy, left out with it

    @property
    def example(self) -> str:
        return f"{self.shard}/{self.key}"


def duplicate_clips(clip_keys: Sequence[tuple[str, Sequence[str]]]) -> list[DuplicateClip]:
    """The later copies of clip keys met in several shards, from (shard name, clip key of every crop) in order."""
    first_shard: dict[str, str] = {}
    found = []
    for shard, keys in clip_keys:
        crops = Counter(keys)
        found += [DuplicateClip(key, shard, first_shard[key], n) for key, n in crops.items() if key in first_shard]
        for key in crops:
            first_shard.setdefault(key, shard)
    return found


@dataclass(frozen=True)
class LayerNeeds:
    """What a run needs of the hidden layers: every layer's clip vectors, and frames of some layers."""

    layers: bool = False
    frame_layers: tuple[int, ...] = ()
    # the layers whose clip vectors are kept (encode.keep_layers); empty: all
    keep_layers: tuple[int, ...] = ()

    def met_by(self, done: Mapping[str, Any]) -> bool:
        """Whether a shard's ``done.json`` holds what is needed."""
        if not (self.layers or self.frame_layers):
            return True
        if not (n_layers := done.get("n_layers", 0)):
            return False
        kept = {layer % n_layers for layer in self.keep_layers} or set(range(n_layers))
        frames = {layer % n_layers for layer in self.frame_layers}
        return frames <= set(done.get("frame_layers", [])) and kept <= set(kept_layers(done))


def layer_index(layer: int, n_layers: int, where: str, key: str = "head.layer") -> int:
    """``layer`` (negative counts from the end) as an index in ``range(n_layers)``; a clear error outside it."""
    if n_layers == 0:
        raise ConfigError(
            f"{key}={layer}: {where} holds no hidden layers; encode them with encode.layers=all "
            "(the encoder needs a hidden_layers method, README 'Layer-wise evaluation')"
        )
    if not -n_layers <= layer < n_layers:
        raise ConfigError(f"{key}={layer}: the encoder has {n_layers} hidden layers (0..{n_layers - 1})")
    return layer % n_layers


class ShardWriter:
    """Appends one shard's embeddings; nothing counts as written until ``finish`` writes the marker."""

    def __init__(self, directory: Path, source: Path, dim: int, settings: EncodeSettings) -> None:
        self.directory, self.source, self.dim = directory, source, dim
        # of frames and hidden layers, and of clip vectors (``storage``)
        self.frame_dtype, self.clip_dtype = settings.store_dtype, settings.clip_dtype
        self.keep_frames, self.needs = settings.frames, settings.layer_needs
        self._kept_layers: list[int] = []
        self._n_layers = 0
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "done.json").unlink(missing_ok=True)
        remove_stale_parts(directory)
        self._streams: dict[str, Any] = {}
        if self.keep_frames:
            self._open_frames("frames.f32")
        self._pooled: list[np.ndarray] = []
        self._layers: list[np.ndarray] = []
        self._frame_layers: list[int] = []
        self._index: list[dict[str, Any]] = []
        self._frame_offset = 0

    def _open_frames(self, name: str) -> None:
        part = self.directory / f"{name}.{os.getpid()}.part"
        self._streams[name] = (part, open(part, "wb"))  # noqa: SIM115

    def add(
        self,
        meta: dict[str, Any],
        n_frames: int,
        frames: np.ndarray | None,
        pooled: np.ndarray,
        layer_pooled: np.ndarray | None = None,
        layer_frames: np.ndarray | None = None,
    ) -> None:
        """One crop: frames ``[n_frames, D]`` (when kept), clip vector ``[D]``; with hidden layers also ``[L, D]``
        and ``[L, n_frames, D]`` (of which the ``frame_layers`` are written)."""
        entry = dict(meta, n_frames=int(n_frames), frame_offset=self._frame_offset)
        if layer_pooled is not None:
            self._add_layers(layer_pooled)
        if self.keep_frames:
            if frames is None or frames.shape[0] != n_frames:
                raise ValueError(f"{meta['key']}: frames are kept for this cache, expected {n_frames} of them")
            self._write_frames("frames.f32", frames)
            for layer in self._frame_layers:
                assert layer_frames is not None, "frame layers are only kept with hidden layers"
                self._write_frames(frame_file(layer), layer_frames[layer])
            self._frame_offset += int(n_frames)
        self._pooled.append(pooled.astype(np.float32))
        self._index.append(entry)

    def _add_layers(self, layer_pooled: np.ndarray) -> None:
        if not self._layers:
            self._n_layers = len(layer_pooled)
            self._frame_layers = self._layer_indices("frame_layers", self.needs.frame_layers)
            for layer in self._frame_layers:
                self._open_frames(frame_file(layer))
            kept = self._layer_indices("keep_layers", self.needs.keep_layers)
            self._kept_layers = kept or list(range(self._n_layers))
        self._layers.append(layer_pooled[self._kept_layers].astype(np.float32))

    def _layer_indices(self, key: str, layers: Sequence[int]) -> list[int]:
        return sorted({layer_index(layer, self._n_layers, "the encoder", f"encode.{key}") for layer in layers})

    def _write_frames(self, name: str, frames: np.ndarray) -> None:
        self._streams[name][1].write(to_stored(frames, self.frame_dtype).tobytes())

    def finish(self, counts: ShardCounts) -> None:
        """Writes the shard and its marker; ``counts`` takes the clips and crops written (a clip skipped for an
        encoder error is no clip)."""
        counts.samples, counts.crops = len({entry["clip_key"] for entry in self._index}), len(self._index)
        pooled = np.stack(self._pooled) if self._pooled else np.zeros((0, self.dim), np.float32)
        pooled = to_stored(pooled, self.clip_dtype)
        with atomic_path(self.directory / "pooled.npy", pooled.nbytes) as partial, open(partial, "wb") as stream:
            np.save(stream, pooled)
        write_text(self.directory / "index.jsonl", "".join(json.dumps(entry) + "\n" for entry in self._index))
        if self._layers:
            layers = to_stored(np.stack(self._layers), self.frame_dtype)
            with atomic_path(self.directory / "layers.npy", layers.nbytes) as partial, open(partial, "wb") as stream:
                np.save(stream, layers)
        for name, (part, stream) in self._streams.items():
            stream.close()
            os.replace(part, self.directory / name)
        write_json(
            self.directory / "done.json",
            {
                "source": source_identity(self.source),
                "has_frames": self.keep_frames,
                "dim": self.dim,
                "total_frames": self._frame_offset,
                "n_layers": self._n_layers,
                "kept_layers": self._kept_layers,
                "frame_layers": self._frame_layers,
                "frame_dtype": self.frame_dtype,
                "clip_dtype": self.clip_dtype,
                "counts": counts.__dict__,
            },
        )

    def abort(self) -> None:
        for part, stream in self._streams.values():
            stream.close()
            part.unlink(missing_ok=True)


def kept_layers(done: Mapping[str, Any]) -> list[int]:
    """The hidden layers a shard's ``layers.npy`` holds, in order (encode.keep_layers keeps some of them)."""
    return done.get("kept_layers", list(range(done.get("n_layers", 0))))


def frame_file(layer: int) -> str:
    return f"frames.layer{layer}.f32"


@dataclass
class EmbeddingSet:
    """Embeddings of samples ordered by key, then crop; frames stay memory-mapped (``frames(i)``), ``layers``
    ([N, L, D]) is there only for ``head.layer=weighted``."""

    keys: list[str]
    clip_keys: list[str]
    crops: np.ndarray
    pooled: np.ndarray
    n_frames: np.ndarray
    labels: list[Any]
    frame_parts: list[np.ndarray | None] = field(default_factory=list)
    frame_part: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frame_offset: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # the stored number type of each frame part
    frame_dtypes: list[str] = field(default_factory=list)
    targets: list[Any] | None = None
    layers: np.ndarray | None = None

    @property
    def known_targets(self) -> list[Any]:
        if self.targets is None:
            raise RuntimeError("this embedding set has no targets yet; convert its labels first")
        return self.targets

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def dim(self) -> int:
        return int(self.pooled.shape[1])

    @property
    def has_frames(self) -> bool:
        return all(part is not None for part in self.frame_parts)

    def frames(self, index: int) -> np.ndarray:
        """The frames of sample ``index`` as float32 ``[n_frames, D]``."""
        part = self.frame_parts[self.frame_part[index]]
        if part is None:
            raise RuntimeError("frame embeddings were not kept for this cache (encode.keep_frames)")
        start = int(self.frame_offset[index])
        stored = part[start : start + int(self.n_frames[index])]
        return stored if stored.dtype == np.float32 else from_stored(stored, self.frame_dtypes[self.frame_part[index]])

    @classmethod
    def from_dir(cls, directory: Path, layer: int | str | None = None) -> EmbeddingSet:
        done = read_json(directory / "done.json")
        entries = [json.loads(line) for line in (directory / "index.jsonl").read_text().splitlines()]
        frame_dtype = done.get("frame_dtype", FLOAT32)
        pooled, layers = from_stored(np.load(directory / "pooled.npy"), done.get("clip_dtype", FLOAT32)), None
        frames_name: str | None = "frames.f32"
        n_layers = done.get("n_layers", 0)
        if layer == WEIGHTED:
            if not n_layers:
                raise ConfigError(
                    f"head.layer=weighted: the cache {directory.parent.parent} holds no hidden layers; "
                    "encode them with encode.layers=all"
                )
            layers = from_stored(np.load(directory / "layers.npy", mmap_mode="r"), frame_dtype)
        elif layer is not None:
            index = layer_index(int(layer), n_layers, f"the cache {directory.parent.parent}")
            if index != n_layers - 1:
                if index not in (kept := kept_layers(done)):
                    raise ConfigError(
                        f"head.layer={index}: the cache {directory.parent.parent} keeps layers {kept} only; add it to "
                        "encode.keep_layers (the shards are encoded again with it)"
                    )
                stored = np.load(directory / "layers.npy", mmap_mode="r")[:, kept.index(index)]
                pooled = from_stored(stored, frame_dtype)
                frames_name = frame_file(index) if index in done.get("frame_layers", []) else None
        frames = None
        if done["has_frames"] and frames_name is not None and done["total_frames"] > 0:
            shape = (done["total_frames"], done["dim"])
            frames = np.memmap(directory / frames_name, dtype=STORE_DTYPES[frame_dtype], mode="r", shape=shape)
        order = sorted(range(len(entries)), key=lambda i: (entries[i]["clip_key"], entries[i]["crop"]))
        entries = [entries[i] for i in order]
        return cls(
            keys=[entry["key"] for entry in entries],
            clip_keys=[entry["clip_key"] for entry in entries],
            crops=np.array([entry["crop"] for entry in entries], dtype=np.int64),
            pooled=pooled[order],
            n_frames=np.array([entry["n_frames"] for entry in entries], dtype=np.int64),
            labels=[entry["labels"] for entry in entries],
            frame_parts=[frames],
            frame_dtypes=[frame_dtype],
            frame_part=np.zeros(len(entries), dtype=np.int64),
            frame_offset=np.array([entry["frame_offset"] for entry in entries], dtype=np.int64),
            layers=None if layers is None else np.array(layers[order]),
        )

    @classmethod
    def concat(cls, sets: Sequence[EmbeddingSet]) -> EmbeddingSet:
        part_base = np.cumsum([0] + [len(s.frame_parts) for s in sets])
        rows = {name: _joined([getattr(s, name) for s in sets]) for name in ROW_FIELDS}
        rows["frame_part"] = np.concatenate([s.frame_part + base for s, base in zip(sets, part_base)])
        parts = [part for s in sets for part in s.frame_parts]
        return cls(**rows, frame_parts=parts, frame_dtypes=[dtype for s in sets for dtype in s.frame_dtypes])

    def subset(self, indices: Sequence[int] | np.ndarray) -> EmbeddingSet:
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(self, **{name: _rows(getattr(self, name), indices) for name in ROW_FIELDS})


# the fields of EmbeddingSet with one entry per sample
ROW_FIELDS = [
    item.name for item in dataclasses.fields(EmbeddingSet) if item.name not in ("frame_parts", "frame_dtypes")
]


def _rows(values: Any, indices: np.ndarray) -> Any:
    if values is None:
        return None
    return values[indices] if isinstance(values, np.ndarray) else [values[i] for i in indices]


def _joined(parts: list[Any]) -> Any:
    if any(part is None for part in parts):
        return None
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return [value for part in parts for value in part]
