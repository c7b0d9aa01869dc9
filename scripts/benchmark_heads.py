#!/usr/bin/env python
"""Head-training speed: xares-hydra's in-memory probe against an X-ARES-style loop, side by side.

X-ARES stores every clip's frame embeddings in webdataset tars and, for each epoch of the linear
probe, streams those tars again: read, decode each .npy, mean-pool, batch. xares-hydra trains from
the pooled vectors held in memory. Both train the same probe (LayerNorm + Linear, Adam, same epochs
and batch size) on the same embeddings; the script prints seconds per run and the ratio.

    python scripts/benchmark_heads.py [--clips 4000] [--frames 50] [--dim 768] [--classes 50] [--epochs 10]
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import webdataset as wds

from xares_hydra.heads.linear_probe import build_probe
from xares_hydra.heads.training import cosine_lr


def make_embeddings(clips: int, frames: int, dim: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, clips)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    sequences = centres[labels][:, None, :] + rng.normal(size=(clips, frames, dim)).astype(np.float32)
    return sequences, labels


def write_encoded_tars(folder: Path, sequences: np.ndarray, labels: np.ndarray, per_shard: int = 1000) -> list[str]:
    """Frame embeddings as X-ARES keeps them: one .npy and one .json per clip in tar shards."""
    paths = []
    for start in range(0, len(sequences), per_shard):
        path = folder / f"encoded-{start // per_shard:06d}.tar"
        with wds.TarWriter(str(path)) as sink:
            for index in range(start, min(start + per_shard, len(sequences))):
                buffer = io.BytesIO()
                np.save(buffer, sequences[index])
                sink.write({"__key__": f"clip{index:07d}", "npy": buffer.getvalue(),
                            "json": json.dumps({"label": int(labels[index])}).encode()})  # fmt: skip
        paths.append(str(path))
    return paths


def train_streaming(shards: list[str], dim: int, classes: int, epochs: int, batch: int) -> float:
    """The X-ARES way: every epoch re-reads the tars, decodes and pools each clip."""
    torch.manual_seed(0)
    model = build_probe(dim, classes, None)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for epoch in range(epochs):
        for group in optimiser.param_groups:
            group["lr"] = cosine_lr(epoch, epochs, 1e-3, 0.1)
        dataset = wds.WebDataset(shards, shardshuffle=False, empty_check=False).shuffle(2000).decode()
        for samples in wds.WebLoader(dataset.to_tuple("npy", "json").batched(batch), batch_size=None):
            features = torch.from_numpy(np.stack([clip.mean(0) for clip in samples[0]]))
            targets = torch.tensor([label["label"] for label in samples[1]])
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(features), targets).backward()
            optimiser.step()
    return time.perf_counter() - started


def train_in_memory(pooled: np.ndarray, labels: np.ndarray, classes: int, epochs: int, batch: int) -> float:
    """xares-hydra: pooled vectors in memory, a seeded permutation per epoch."""
    torch.manual_seed(0)
    features, targets = torch.from_numpy(pooled), torch.from_numpy(labels)
    model = build_probe(features.shape[1], classes, None)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for epoch in range(epochs):
        for group in optimiser.param_groups:
            group["lr"] = cosine_lr(epoch, epochs, 1e-3, 0.1)
        order = torch.randperm(len(features), generator=generator)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(features[rows]), targets[rows]).backward()
            optimiser.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4000)
    parser.add_argument("--frames", type=int, default=50, help="frames per clip (2 s at 40 ms)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--classes", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    sequences, labels = make_embeddings(args.clips, args.frames, args.dim, args.classes)
    with tempfile.TemporaryDirectory() as folder:
        shards = write_encoded_tars(Path(folder), sequences, labels)
        streaming = train_streaming(shards, args.dim, args.classes, args.epochs, args.batch)
    in_memory = train_in_memory(sequences.mean(axis=1), labels, args.classes, args.epochs, args.batch)
    print(f"linear probe, {args.clips} clips x {args.frames} frames x {args.dim} dims, {args.epochs} epochs:")
    print(f"  X-ARES-style (tars re-read every epoch): {streaming:8.2f} s")
    print(f"  xares-hydra (pooled vectors in memory):  {in_memory:8.2f} s")
    print(f"  speed-up: {streaming / in_memory:.1f}x")


if __name__ == "__main__":
    main()
