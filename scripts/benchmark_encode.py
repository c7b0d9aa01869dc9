"""Encode stage against the encoder's own forward, on variable-length clips (no download needed).

A shard of clips of 0.3 to 10 s is generated, and a dasheng-architecture transformer (``dasheng``
package) gets seeded random weights. Timed, alternating, median of ``--repeats``:

- encoder only: the same already-decoded clips, length-sorted, zero-padded batches, one forward each
  (the limit for any encode loop);
- the encode stage (``encode.batching=bucketed``, the default): decode, batch, encode, write the cache;
- the encode stage with ``encode.batching=exact`` (identical-length batches: one call per distinct length).

Also prints how far a clip's pooled vector moves when the same model runs on a padded batch without a
mask (as an X-ARES encoder file calls it) instead of alone, and the batching ``encode.batching=auto`` (the
default) chooses for the model with and without its mask (the contract check's padding probe). CPU, and CUDA
when present.

    python scripts/benchmark_encode.py [--clips 240] [--depth 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from xares_hydra.encoders.dasheng import DashengEncoder

from xares_hydra.data.audio import decode_audio
from xares_hydra.data.shards import encode_audio, iter_shard, write_shard
from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.checker import measure_padding
from xares_hydra.encode.contract import auto_batching
from xares_hydra.encode.embed import EncodeSettings, encode_shards

RATE = 16000


def make_shard(path: Path, clips: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(clips):
        seconds = rng.uniform(0.3, 10.0)
        audio = (0.1 * rng.standard_normal(round(seconds * RATE))).astype(np.float32)
        samples.append((f"clip{index:05d}", encode_audio(audio, RATE, "flac"), "flac", {"label": index % 2}))
    write_shard(path, samples)
    return path


def make_encoder(directory: Path, depth: int) -> DashengEncoder:
    from dasheng.pretrained.pretrained import Dasheng

    torch.manual_seed(0)
    checkpoint = directory / "dasheng_random.pt"
    torch.save({"model": Dasheng(embed_dim=768, depth=depth, num_heads=12).state_dict(), "config": {}}, checkpoint)
    return DashengEncoder(checkpoint=str(checkpoint), depth=depth)


class WithoutMask(torch.nn.Module):
    """The model as an X-ARES encoder file calls it: ``forward(audio)`` only, told nothing of the padding."""

    def __init__(self, encoder: DashengEncoder) -> None:
        super().__init__()
        self.inner = encoder
        self.sampling_rate, self.output_dim = encoder.sampling_rate, encoder.output_dim
        self.hop_size_in_ms = encoder.hop_size_in_ms

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.inner(audio)

    def frame_count(self, n_samples: int) -> int:
        return self.inner.frame_count(n_samples)


def encoder_only(encoder: DashengEncoder, clips: list[np.ndarray], batch_size: int, device: torch.device) -> None:
    ordered = sorted(clips, key=len, reverse=True)
    with torch.inference_mode():
        for start in range(0, len(ordered), batch_size):
            batch = ordered[start : start + batch_size]
            audio = torch.zeros(len(batch), len(batch[0]))
            for row, clip in enumerate(batch):
                audio[row, : len(clip)] = torch.from_numpy(clip)
            encoder(audio.to(device), torch.tensor([len(clip) for clip in batch], device=device)).cpu()


def encode_stage(encoder, shard: Path, batching: str, batch_size: int, device: torch.device, work: Path) -> None:
    cache = EncoderCache(Path(tempfile.mkdtemp(dir=work)))
    encode_shards(encoder, [shard], cache, EncodeSettings(batch_size=batch_size, batching=batching), device)


def timed(run: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def unmasked_drift(encoder: DashengEncoder, clips: list[np.ndarray], device: torch.device) -> tuple[float, float]:
    """Cosine distance of pooled vectors: a clip alone vs in a padded batch of 8 run without a mask."""
    batch = sorted(clips[:8], key=len, reverse=True)
    audio = torch.zeros(len(batch), len(batch[0]))
    for row, clip in enumerate(batch):
        audio[row, : len(clip)] = torch.from_numpy(clip)
    distances = []
    with torch.inference_mode():
        padded = encoder.encode(audio.to(device))
        for row, clip in enumerate(batch):
            own = encoder.frame_count(len(clip))
            alone = encoder.encode(torch.from_numpy(clip)[None].to(device))[0, :own].mean(0)
            together = padded[row, :own].mean(0)
            distances.append(1 - float(torch.nn.functional.cosine_similarity(alone, together, dim=0)))
    return float(np.mean(distances)), float(np.max(distances))


def run(device: torch.device, args: argparse.Namespace, work: Path) -> None:
    shard = make_shard(work / f"bench_{device.type}_0.tar", args.clips, seed=0)
    clips = [decode_audio(sample.audio, RATE).samples for sample in iter_shard(shard)]
    hours = sum(len(clip) for clip in clips) / RATE / 3600
    encoder = make_encoder(work, args.depth).to(device).eval()
    runs = {
        "encoder only (sorted padded batches)": lambda: encoder_only(encoder, clips, args.batch_size, device),
        "encode stage, batching=bucketed": lambda: encode_stage(
            encoder, shard, "bucketed", args.batch_size, device, work
        ),
        "encode stage, batching=exact": lambda: encode_stage(encoder, shard, "exact", args.batch_size, device, work),
    }
    runs[next(iter(runs))]()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, job in runs.items():
            seconds[name].append(timed(job, device))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    limit = medians["encoder only (sorted padded batches)"]
    print(f"\n{device.type}: {args.clips} clips of 0.3-10 s ({hours * 60:.1f} min of audio), dasheng width 768, "
          f"{args.depth} blocks, batch {args.batch_size}, median of {args.repeats}")  # fmt: skip
    print("| what | seconds | x encoder only |\n|:--|--:|--:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} | {value / limit:.2f} |")
    mean, worst = unmasked_drift(encoder, clips, device)
    print(f"the same model without a mask (as an X-ARES file calls it): a padded clip's pooled vector is "
          f"{mean:.2e} (mean) / {worst:.2e} (worst) cosine distance from the clip alone")  # fmt: skip
    for name, model in (("with its mask (lengths)", encoder), ("without a mask", WithoutMask(encoder))):
        padding = measure_padding(model, device)
        print(f"encode.batching=auto for the model {name}: {auto_batching(padding, layers=False)} "
              f"({padding.describe()})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=240)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        for device in devices:
            run(device, args, Path(work))


if __name__ == "__main__":
    main()
