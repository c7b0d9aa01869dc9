#!/usr/bin/env python
"""How sensitive a task's score is to tiny changes of its cached frames: the task run from one float32 cache with
the frames multiplied by (1 + eps * N(0, 1)) for each eps and seed (eps=0: the cache as written). float16 storage
changes frames by up to 2^-11 (about 5e-4) relative; if eps=1e-6 already moves the score as much as float16 does,
the change is the head's sensitivity, not the storage.

    python scripts/asr_sensitivity.py --root DIR [--task demo/digits] [--seeds 0 1 2] [--eps 0 1e-6 1e-4]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_module

import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)
from xares_hydra.config import settings as config
from xares_hydra.data.prepare import prepare_task_data
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.embed import ensure_encoded
from xares_hydra.heads import HeadContext
from xares_hydra.heads.evaluate import evaluate_heads, load_partitions
from xares_hydra.heads.metrics import get_metric
from xares_hydra.heads.plan import evaluation_rounds


def score(root: Path, task_name: str, encoder: str, seed: int, eps: float) -> float:
    overrides = [f"task={task_name}", f"encoder={encoder}", f"seed={seed}", "head.cpu_threads=1", f"paths.root={root}"]
    with initialize_config_module("xares_hydra.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    task = TaskSpec.from_config(config.plain(cfg.task))
    data = prepare_task_data(task, config.data_root(cfg), config.data_options(cfg))
    task = task.with_classes(data.classes)
    spec = config.encoder_spec(cfg, task, name=encoder)
    cache = config.cache_of(cfg, task, spec)
    info = ensure_encoded(spec, cache, data.shards_used(), config.encode_settings(cfg, task), config.device(cfg))
    partitions, _ = load_partitions(cache, data.shards, task.label, None)
    noise = np.random.default_rng(1000 + seed)
    for embeddings in partitions.values():
        embeddings.pooled = (embeddings.pooled * (1 + eps * noise.standard_normal(embeddings.pooled.shape))).astype(
            np.float32
        )
        parts = [None if part is None else np.asarray(part, np.float32) for part in embeddings.frame_parts]
        embeddings.frame_parts = [
            None if part is None else (part * (1 + eps * noise.standard_normal(part.shape))).astype(np.float32)
            for part in parts
        ]
    context = HeadContext(task, config.head_settings(cfg), get_metric(task.metric), info, config.plain(cfg.compat))
    results = evaluate_heads(partitions, evaluation_rounds(task, select_on_test=False), context)
    return float(next(iter(results.values())).to_dict()["score"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="XARES_ROOT holding (or to hold) data and cache")
    parser.add_argument("--task", default="demo/digits")
    parser.add_argument("--encoder", default="mel")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eps", type=float, nargs="+", default=[0.0, 1e-6, 1e-4])
    args = parser.parse_args()
    print(f"{'seed':>4} " + " ".join(f"{f'eps={eps:g}':>10}" for eps in args.eps))
    for seed in args.seeds:
        scores = [score(args.root, args.task, args.encoder, seed, eps) for eps in args.eps]
        print(f"{seed:>4} " + " ".join(f"{value:>10.4f}" for value in scores), flush=True)


if __name__ == "__main__":
    main()
