"""Per-sample test predictions of one round (``clip``: targets and outputs; ``segments``: per-clip segment
counts; ``retrieval``: ranks; ``transcripts``: word edits and texts), from which every score, bootstrap
resample and paired comparison is recomputed; samples are grouped by clip ``keys`` when resampled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xares_hydra.atomic import atomic_path
from xares_hydra.errors import XaresError
from xares_hydra.heads.metrics import (
    REGRESSION_METRICS,
    class_average_precision,
    class_f1,
    f1_from_counts,
    get_metric,
    recall_from_ranks,
    wer_from_counts,
)

CLIP, SEGMENTS, RETRIEVAL, TRANSCRIPTS = "clip", "segments", "retrieval", "transcripts"
_SEP = ":"


@dataclass
class Predictions:
    kind: str
    metric: str
    keys: np.ndarray  # [N] clip key per sample (for retrieval: per clip)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    texts: list[dict[str, str]] | None = None  # ASR only: reference and hypothesis per sample

    def __len__(self) -> int:
        return len(self.keys)

    def score(self, index: np.ndarray | None = None) -> float:
        """The metric over the samples at ``index`` (repeats allowed; None: every sample, as the head scored)."""
        a = self.arrays if index is None else {name: self._take(name, index) for name in self.arrays}
        if self.kind == CLIP:
            return get_metric(self.metric)(a["targets"], a["outputs"])
        if self.kind == SEGMENTS:
            return f1_from_counts(a["counts"].sum(axis=0), "micro" if self.metric.endswith("micro") else "macro")
        if self.kind == RETRIEVAL:
            return recall_from_ranks(a["audio_rank"], a["text_rank"], k=int(self.metric.rsplit("_r", 1)[-1]))
        if self.kind == TRANSCRIPTS:
            return max(0.0, 1.0 - wer_from_counts(a))
        raise XaresError(f"unknown prediction kind {self.kind!r}")

    @property
    def scores_copies(self) -> bool:
        """Whether ``copies_score`` can score weighted copies (``Metric.weighted``: accuracy, mAP)."""
        return self.kind == CLIP and get_metric(self.metric).weighted is not None

    def copies_score(self, weights: np.ndarray) -> np.ndarray:
        """The metric of ``weights[r, i]`` copies of each sample i, per row r of ``weights``, all rows at once."""
        weighted = get_metric(self.metric).weighted if self.kind == CLIP else None
        if weighted is None:
            raise XaresError(f"{self.metric} ({self.kind}) cannot score weighted copies of its samples")
        return weighted(self.arrays["targets"], self.arrays["outputs"], weights)

    def _take(self, name: str, index: np.ndarray) -> np.ndarray:
        if self.kind == RETRIEVAL and name in ("text_rank", "caption_clip"):
            return self.arrays[name][caption_rows(self.arrays["caption_clip"], index)]
        return self.arrays[name][index]

    def mixed(self, other: Predictions, swap: np.ndarray) -> Predictions:
        """These predictions with the samples where ``swap`` (bool [N]) is true taken from ``other``."""
        arrays = {}
        for name, values in self.arrays.items():
            mask = swap[self.arrays["caption_clip"]] if self.kind == RETRIEVAL and name == "text_rank" else swap
            if name in ("targets", "caption_clip", "words"):
                arrays[name] = values
            else:
                arrays[name] = np.where(mask.reshape(-1, *([1] * (values.ndim - 1))), other.arrays[name], values)
        return Predictions(self.kind, self.metric, self.keys, arrays)

    def per_class(self) -> tuple[str, np.ndarray] | None:
        """(measure, value per class): recall of each class (single-label), AP (multi-label), segment F1."""
        if self.kind == SEGMENTS:
            return "F1", class_f1(self.arrays["counts"].sum(axis=0))
        if self.kind != CLIP or self.arrays["outputs"].ndim != 2 or get_metric(self.metric).name in REGRESSION_METRICS:
            return None
        targets, outputs = self.arrays["targets"], self.arrays["outputs"]
        if targets.ndim == 1:
            predicted, n_classes = outputs.argmax(axis=1), outputs.shape[1]
            hits = np.bincount(targets[predicted == targets], minlength=n_classes)
            totals = np.bincount(targets, minlength=n_classes)
            return "accuracy", np.divide(hits, totals, out=np.full(n_classes, np.nan), where=totals > 0)
        return "AP", class_average_precision(targets, outputs)

    def chance(self) -> float | None:
        """The score of an uninformed predictor on these test targets, where the metric has one."""
        a = self.arrays
        if self.kind == RETRIEVAL:
            return float(1.0 / max(1, len(a["audio_rank"])))
        if self.kind == TRANSCRIPTS:
            return 0.0
        name = get_metric(self.metric).name if self.kind == CLIP else None
        if name == "accuracy":
            return float(np.bincount(a["targets"]).max() / len(a["targets"]))
        if name == "mAP":
            prevalence = a["targets"].mean(axis=0)
            return float(prevalence[prevalence > 0].mean())
        if name in ("EER", "pearson", "spearman"):
            return 0.5 if name == "EER" else 0.0
        if name in ("mae", "mse"):
            truth = a["targets"].reshape(len(a["targets"]), -1)
            centre = np.median if name == "mae" else np.mean
            return get_metric(name)(truth, np.broadcast_to(centre(truth, axis=0), truth.shape))
        return None


def caption_rows(caption_clip: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """The captions of the clips at ``clips`` (a clip drawn twice brings its captions twice)."""
    order = np.argsort(caption_clip, kind="stable")
    starts = np.searchsorted(caption_clip[order], np.arange(caption_clip.max(initial=-1) + 2))
    return np.concatenate([order[starts[c] : starts[c + 1]] for c in clips]) if len(clips) else order[:0]


def clip_predictions(metric: str, keys: list[str], targets: np.ndarray, outputs: np.ndarray) -> Predictions:
    return Predictions(CLIP, metric, np.asarray(keys), {"targets": np.asarray(targets), "outputs": np.asarray(outputs)})


# ---------------------------------------------------------------------------------------------- files


def predictions_file(stem: str, slot: str) -> str:
    """File name (next to the record) of one head slot's predictions."""
    return f"{stem}.{slot}.npz"


def save_predictions(path: Path, rounds: Mapping[str, Predictions]) -> list[Path]:
    """Every round in one ``.npz`` (``<round>:<array>``); ASR texts also as JSON lines (``.jsonl``)."""
    arrays: dict[str, Any] = {}  # np.savez_compressed's stubs take only Any for named arrays
    lines = []
    for name, item in rounds.items():
        arrays[f"{name}{_SEP}kind"] = np.asarray(item.kind)
        arrays[f"{name}{_SEP}metric"] = np.asarray(item.metric)
        arrays[f"{name}{_SEP}keys"] = np.asarray(item.keys, dtype=str)
        arrays.update({f"{name}{_SEP}{key}": value for key, value in item.arrays.items()})
        lines += [json.dumps({"round": name, "key": str(k), **t}) for k, t in zip(item.keys, item.texts or [])]
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    written = [path]
    if lines:
        with atomic_path(path.with_suffix(".jsonl")) as partial:
            partial.write_text("\n".join(lines) + "\n")
        written.append(path.with_suffix(".jsonl"))
    return written


def load_predictions(path: Path) -> dict[str, Predictions]:
    """The rounds of a predictions file, in the order they were written."""
    rounds: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in data.files:
            round_name, key = name.rsplit(_SEP, 1)
            rounds.setdefault(round_name, {})[key] = data[name]
    texts: dict[str, list[dict[str, str]]] = {}
    if path.with_suffix(".jsonl").exists():
        for line in path.with_suffix(".jsonl").read_text().splitlines():
            entry = json.loads(line)
            texts.setdefault(entry["round"], []).append({name: entry[name] for name in ("reference", "hypothesis")})
    result = {}
    for name, arrays in rounds.items():
        kind, metric, keys = str(arrays.pop("kind")), str(arrays.pop("metric")), arrays.pop("keys")
        result[name] = Predictions(kind, metric, keys, arrays, texts.get(name))
    return result


def summary_of(rounds: Mapping[str, Predictions], classes: list[Any] | None) -> dict[str, Any]:
    """Per-class values over all rounds' test samples pooled, and the chance level: for the record."""
    pooled = pool(list(rounds.values()))
    result: dict[str, Any] = {"chance": pooled.chance()}
    if (per_class := pooled.per_class()) is not None:
        measure, values = per_class
        result["per_class"] = {
            "measure": measure,
            "classes": [str(name) for name in classes or range(len(values))],
            "values": [None if np.isnan(value) else float(value) for value in values],
        }
    return result


def pool(rounds: list[Predictions]) -> Predictions:
    """The rounds' samples as one set (k-fold: every clip once, each scored by the head that held it out)."""
    first = rounds[0]
    if len(rounds) == 1 or first.kind == RETRIEVAL:  # retrieval tasks have one round
        return first
    arrays = {name: np.concatenate([item.arrays[name] for item in rounds]) for name in first.arrays}
    return Predictions(first.kind, first.metric, np.concatenate([item.keys for item in rounds]), arrays)
