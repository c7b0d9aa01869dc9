"""Heads stage: evaluation rounds over cached embeddings, aggregated into one score per head."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xares_hydra.data.labels import MULTI, SINGLE, LabelSpec, convert_labels
from xares_hydra.digest import json_sha256
from xares_hydra.encode.cache import WEIGHTED, EmbeddingSet, EncoderCache
from xares_hydra.encode.placement import torch_threads
from xares_hydra.errors import ConfigError, LabelError, TaskSkipped
from xares_hydra.heads import HEADS, HeadContext, RoundData, heads_for
from xares_hydra.heads.plan import ONLY_HOLDOUT, Round, Subset, in_holdout
from xares_hydra.heads.predictions import Predictions, summary_of

log = logging.getLogger(__name__)

# heads that learn layer weights with head.layer=weighted
WEIGHTED_HEADS = ("linear_probe",)
# what a few-shot round records of each draw
DRAW_KEYS = ("test", "valid", "best_epoch", "n_train")


@dataclass
class HeadResult:
    head: str
    score: float
    std: float
    rounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    # per round; written next to the record (``report/record.py``), summarised in it (chance, per class)
    predictions: dict[str, Predictions] = field(default_factory=dict)
    classes: list[Any] | None = None
    # few-shot (head.shots): the score of each draw
    draws: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        summary = summary_of(self.predictions, self.classes) if self.predictions else {}
        return {
            "head": self.head,
            "score": self.score,
            "std": self.std,
            **({"draws": self.draws} if self.draws is not None else {}),
            **summary,
            "rounds": self.rounds,
            "seconds": round(self.seconds, 3),
        }


def select(partitions: Mapping[str, EmbeddingSet], subset: Subset) -> EmbeddingSet:
    chosen = EmbeddingSet.concat([partitions[name] for name in subset.partitions])
    if subset.holdout is None:
        return chosen
    held = np.array([in_holdout(key) for key in chosen.clip_keys], dtype=bool)
    keep = held if subset.holdout == ONLY_HOLDOUT else ~held
    if not keep.any():
        raise LabelError(f"too few clips in {subset.describe()} to hold out a validation share")
    return chosen.subset(np.flatnonzero(keep))


def evaluate_heads(
    partitions: Mapping[str, EmbeddingSet], rounds: list[Round], context: HeadContext
) -> dict[str, HeadResult]:
    results = {}
    for slot, head_name in heads_for(context.task, context.settings).items():
        if context.settings.layer == WEIGHTED and head_name not in WEIGHTED_HEADS:
            if head_name == "knn":
                log.warning("head.layer=weighted: kNN learns no layer weights and is not run")
                continue
            raise TaskSkipped(
                f"head.layer=weighted learns layer weights with the clip probe only ({context.task.name} uses "
                f"{head_name}); probe its layers one by one with head.layer=N"
            )
        round_data = {item.name: _round_data(partitions, item, HEADS[head_name].selects_model) for item in rounds}
        run = _run_head if context.settings.shots is None else _run_few_shot
        with torch_threads(context.settings.cpu_threads if context.settings.torch_device.type == "cpu" else None):
            results[slot] = run(head_name, rounds, round_data, context)
    return results


def _run_few_shot(
    head_name: str, rounds: list[Round], round_data: dict[str, RoundData], context: HeadContext
) -> HeadResult:
    """The head trained on each draw's few shots (``few_shot_subset``); score and std: mean and standard deviation
    over the draws; per round, each draw's scores. No per-sample predictions: each draw has its own."""
    settings, task = context.settings, context.task
    assert settings.shots is not None
    drawn, clips = [], []
    for draw in range(settings.draws):
        subsets = {
            name: dataclasses.replace(
                data, train=few_shot_subset(data.train, task.label, settings.shots, settings.seed, draw, task.name)
            )
            for name, data in round_data.items()
        }
        # which clips the draw trained on, as a digest: equal across encoders and reruns
        clips.append({name: json_sha256(sorted(set(data.train.clip_keys)))[:16] for name, data in subsets.items()})
        drawn.append(_run_head(head_name, rounds, subsets, context))
    scores = np.array([result.score for result in drawn])
    per_round = {}
    for item in rounds:
        entries = [result.rounds[item.name] for result in drawn]
        valid = [entry["valid"] for entry in entries]
        per_round[item.name] = {
            "test": float(np.mean([entry["test"] for entry in entries])),
            "valid": None if None in valid else float(np.mean(valid)),
            **{key: entries[0][key] for key in ("train_on", "select_on", "test_on", "n_valid", "n_test")},
            "draws": [{**{key: entry[key] for key in DRAW_KEYS}, "train_clips": clips[draw][item.name]}
                      for draw, entry in enumerate(entries)],
        }  # fmt: skip
    return HeadResult(
        head=head_name,
        score=float(scores.mean()),
        std=float(scores.std()),
        rounds=per_round,
        seconds=sum(result.seconds for result in drawn),
        draws=scores.tolist(),
    )


def _round_data(partitions: Mapping[str, EmbeddingSet], item: Round, selects_model: bool) -> RoundData:
    train = item.train if selects_model else item.reference
    return RoundData(select(partitions, train), select(partitions, item.valid), select(partitions, item.test))


def _run_head(
    head_name: str, rounds: list[Round], round_data: dict[str, RoundData], context: HeadContext
) -> HeadResult:
    started = time.perf_counter()
    per_round, predictions = {}, {}
    for item in rounds:
        data = round_data[item.name]
        round_started = time.perf_counter()
        score = HEADS[head_name].run(data, context)
        per_round[item.name] = {
            "test": score.test,
            "valid": score.valid,
            "best_epoch": score.best_epoch,
            "train_on": (item.train if HEADS[head_name].selects_model else item.reference).describe(),
            "select_on": item.valid.describe() if HEADS[head_name].selects_model else None,
            "test_on": item.test.describe(),
            "n_train": len(data.train),
            "n_valid": len(data.valid),
            "n_test": len(data.test),
            "seconds": round(time.perf_counter() - round_started, 3),
            **score.extra,
        }
        if score.predictions is not None:
            predictions[item.name] = score.predictions
        log.info("%s %s: %s = %.4f", head_name, item.name, context.metric.name, score.test)
    tests = np.array([entry["test"] for entry in per_round.values()], dtype=np.float64)
    return HeadResult(
        head=head_name,
        score=float(tests.mean()),
        std=float(tests.std()) if len(tests) > 1 else 0.0,
        rounds=per_round,
        seconds=time.perf_counter() - started,
        predictions=predictions,
        classes=list(context.task.label.classes) if context.task.label.classes else None,
    )


def load_partitions(
    cache: EncoderCache, shards: Mapping[str, list[Path]], spec: LabelSpec, layer: int | str | None = None
) -> tuple[dict[str, EmbeddingSet], dict[str, int]]:
    """Each partition's cached embeddings (of hidden layer ``layer``, see ``EncoderCache.load``) with targets
    attached, and its count of bad-label skips: samples whose labels do not fit are dropped and counted."""
    partitions, label_skips = {}, {}
    for name, paths in shards.items():
        embeddings = cache.load(paths, layer)
        targets, problems = convert_labels(embeddings.labels, spec)
        if problems:
            for index, reason in problems[:3]:
                log.warning("Skipping %s (%s): %s", embeddings.keys[index], name, reason)
            log.warning("%s: %d of %d samples skipped for bad labels", name, len(problems), len(embeddings))
        if len(problems) == len(embeddings):
            reason = problems[0][1] if problems else "no samples"
            raise LabelError(
                f"no sample of partition {name} has usable labels (first problem: {reason}); "
                f"check task.label (rule {spec.rule!r}, key {spec.key!r}) against the dataset's .json fields"
            )
        bad = {index for index, _ in problems}
        embeddings.targets = targets
        partitions[name] = embeddings.subset([i for i in range(len(embeddings)) if i not in bad]) if bad else embeddings
        label_skips[name] = len(problems)
    return partitions, label_skips


# Few-shot draws (``head.shots``): K training clips per class, or for multi-label tasks K positives per label
# picked greedily. A draw depends only on the clips' keys and labels, the seed and the draw's number, never on the
# encoder or the order clips were cached in, so every encoder trains on the same clips (paired tests stay valid).


def draw_rank(clip_key: str, seed: int, draw: int) -> int:
    """A clip's place in draw ``draw``: a hash of the seed, the draw and its key."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{draw}/{clip_key}".encode()).digest()[:8], "big")


def few_shot_clips(clip_labels: dict[str, np.ndarray], kind: str, shots: int, seed: int, draw: int) -> list[str]:
    """The clip keys of one draw. ``clip_labels``: per clip its class index (single-label) or multi-hot vector."""
    order = sorted(clip_labels, key=lambda key: (draw_rank(key, seed, draw), key))
    chosen: list[str] = []
    if kind == SINGLE:
        taken: dict[int, int] = defaultdict(int)
        for key in order:
            label = int(clip_labels[key])
            if taken[label] < shots:
                taken[label] += 1
                chosen.append(key)
        return chosen
    hot = np.stack([clip_labels[key] for key in order]) > 0.5
    counts = np.zeros(hot.shape[1], dtype=np.int64)
    picked = np.zeros(len(order), dtype=bool)
    for label in np.argsort(hot.sum(axis=0), kind="stable"):  # rarest label first, so common ones fill up on the way
        for row in np.flatnonzero(hot[:, label] & ~picked):
            if counts[label] >= shots:
                break
            picked[row] = True
            counts += hot[row]
    return [order[row] for row in np.flatnonzero(picked)]


def few_shot_subset(
    train: EmbeddingSet, label: LabelSpec, shots: int, seed: int, draw: int, task_name: str = "task"
) -> EmbeddingSet:
    """The training samples (every crop) of the clips that draw ``draw`` picks."""
    if label.kind not in (SINGLE, MULTI):
        raise ConfigError(
            f"head.shots draws clips per class: task {task_name} has {label.kind} targets (use head.shots=null)"
        )
    clip_labels: dict[str, np.ndarray] = {}
    for clip_key, target in zip(train.clip_keys, train.known_targets):
        clip_labels.setdefault(clip_key, np.asarray(target))
    chosen = set(few_shot_clips(clip_labels, label.kind, shots, seed, draw))
    if draw == 0:  # the classes with fewer clips than shots, said once
        labels = np.stack(list(clip_labels.values()))
        per_class = np.bincount(labels.astype(np.int64)) if label.kind == SINGLE else (labels > 0.5).sum(axis=0)
        if len(short := np.flatnonzero((per_class > 0) & (per_class < shots))):
            names = [str(label.classes[index]) if label.classes else str(index) for index in short[:10]]
            message = "%s: %d class(es) have fewer than %d training clips (all of them are used): %s"
            log.warning(message, task_name, len(short), shots, ", ".join(names))
    return train.subset([row for row, key in enumerate(train.clip_keys) if key in chosen])
