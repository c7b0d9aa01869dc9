"""Metrics by name, each with its direction: ``metric(targets, outputs) -> float``. Accuracy and mAP also
score many weighted copies of the samples at once (``Metric.weighted``), for the report's bootstrap."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from xares_hydra.errors import ConfigError
from xares_hydra.registry import Registry


@dataclass(frozen=True)
class Metric:
    """A named score with its direction; ``streaming`` builds a clip-by-clip accumulator (frame tasks)."""

    name: str
    compute: Callable[..., float]
    higher_is_better: bool = True
    streaming: Callable[..., SegmentF1] | None = None
    weighted: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None

    def __call__(self, targets: Any, outputs: Any, **kwargs: Any) -> float:
        return float(self.compute(targets, outputs, **kwargs))

    def better(self, candidate: float, incumbent: float | None) -> bool:
        """Strictly better (ties keep the earlier epoch, as X-ARES's checkpointing does)."""
        if incumbent is None or np.isnan(incumbent):
            return not np.isnan(candidate)
        return candidate > incumbent if self.higher_is_better else candidate < incumbent

    def accumulator(self, **args: Any) -> SegmentF1:
        if self.streaming is None:
            streaming = ", ".join(name for name in METRICS if METRICS[name].streaming is not None)
            raise ConfigError(f"task.metric={self.name!r} cannot score frame tasks; use one of {streaming}")
        return self.streaming(**args)


METRICS: Registry[Metric] = Registry("metric", "task.metric")


# ``@metric(name, **fields)`` registers a metric; ``fields``: the other fields of ``Metric``
metric = METRICS.decorator(Metric)
get_metric = METRICS.get


def weighted_accuracy(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights``: exactly ``accuracy`` of that many copies of each sample."""
    right = (np.argmax(scores, axis=1) == np.asarray(targets)).astype(np.int64)
    return (weights @ right) / weights.sum(axis=1)


def weighted_mean_average_precision(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row of ``weights``: ``mean_average_precision`` of that many copies of each sample (up to rounding)."""
    targets, scores = np.asarray(targets, dtype=np.float64), np.asarray(scores)
    total, present = np.zeros(len(weights)), np.zeros(len(weights))
    for k in np.flatnonzero(targets.sum(axis=0) > 0):
        precision, has_positive = weighted_average_precision(targets[:, k], scores[:, k], weights)
        total += np.where(has_positive, precision, 0.0)
        present += has_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(present > 0, total / present, np.nan)


def weighted_average_precision(
    positive: np.ndarray, scores: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``average_precision`` per row of ``weights``, and whether the row has a positive copy. The samples are
    ranked once; only the thresholds that hold a positive sample add recall, so only there are counts read."""
    order, last_of_threshold = ranked_thresholds(scores)
    ranked_positive = positive[order]
    positive_ranks = np.flatnonzero(ranked_positive)
    threshold_of_rank = np.searchsorted(last_of_threshold, np.arange(len(scores)))
    ends = last_of_threshold[np.unique(threshold_of_rank[positive_ranks])]
    ranked_weights = weights[:, order].astype(np.int32, copy=False)
    ranked = np.cumsum(ranked_weights, axis=1, dtype=np.int64)[:, ends]
    positive_copies = np.cumsum(ranked_weights[:, positive_ranks] * ranked_positive[positive_ranks], axis=1)
    true_positives = positive_copies[:, np.searchsorted(positive_ranks, ends, side="right") - 1]
    positives = true_positives[:, -1:] if len(ends) else np.zeros((len(weights), 1))
    gained = np.diff(true_positives, axis=1, prepend=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(gained != 0, gained / positives * (true_positives / ranked), 0.0)
    return terms.sum(axis=1), positives[:, 0] > 0


@metric("accuracy", weighted=weighted_accuracy)
def accuracy(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(targets)))


@metric("mAP", weighted=weighted_mean_average_precision)
def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's ``average_precision_score(average="macro")`` over the classes with a positive (ours: faster)."""
    values = class_average_precision(targets, scores)
    return float(np.mean(values[~np.isnan(values)])) if not np.isnan(values).all() else float("nan")


def class_average_precision(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The AP of each class; nan where a class has no positive."""
    targets, scores = np.asarray(targets), np.asarray(scores)
    values = np.full(targets.shape[1], np.nan)
    for k in np.flatnonzero(targets.sum(axis=0) > 0):
        values[k] = average_precision(targets[:, k], scores[:, k])
    return values


def ranked_thresholds(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples ranked by score, high to low (ties in sample order), and the last rank of each distinct score."""
    order = np.argsort(-scores, kind="mergesort")
    ranked_scores = scores[order]
    return order, np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]


def average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """Uninterpolated AP of one class: sum over score thresholds of recall gained times precision there."""
    order, last_of_threshold = ranked_thresholds(scores)
    ranked_positive = positive[order].astype(np.float64)
    true_positives = np.cumsum(ranked_positive)[last_of_threshold]
    precision = true_positives / (last_of_threshold + 1)
    recall_gained = np.diff(np.r_[0.0, true_positives]) / true_positives[-1]
    return float(np.sum(recall_gained * precision))


@metric("EER", higher_is_better=False)
def equal_error_rate(targets: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate of a two-class task; scores are class scores, the positive class is 1."""
    from sklearn.metrics import roc_curve  # scikit-learn loads on first use (most of a second)

    scores = np.asarray(scores)
    positive = scores[:, 1] - scores[:, 0] if scores.ndim == 2 else scores
    false_positive, true_positive, _ = roc_curve(np.asarray(targets), positive)
    false_negative = 1 - true_positive
    at = np.nanargmin(np.abs(false_negative - false_positive))
    return float((false_positive[at] + false_negative[at]) / 2)


def _columns(targets: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regression targets and predictions as [N, targets] float arrays (one target: [N] or [N, 1])."""
    truth = np.asarray(targets, dtype=np.float64)
    truth = truth.reshape(len(truth), -1)
    return truth, np.asarray(predictions, dtype=np.float64).reshape(truth.shape)


def _mean_error(targets: np.ndarray, predictions: np.ndarray, power: int) -> float:
    """Mean absolute (power 1) or squared (2) error, averaged over the targets (scikit-learn's ``uniform_average``)."""
    truth, predicted = _columns(targets, predictions)
    return float(np.mean(np.abs(truth - predicted) ** power))


metric("mse", higher_is_better=False)(partial(_mean_error, power=2))
metric("mae", higher_is_better=False)(partial(_mean_error, power=1))


def _mean_correlation(targets: np.ndarray, predictions: np.ndarray, rank: bool) -> float:
    """Pearson (or, on ranks, Spearman) correlation per target, averaged; nan where a column is constant."""
    from scipy import stats

    correlation = stats.spearmanr if rank else stats.pearsonr
    values = [
        float(correlation(a, b)[0]) if len(a) > 1 and np.ptp(a) != 0 and np.ptp(b) != 0 else float("nan")
        for a, b in zip(*(column.T for column in _columns(targets, predictions)))
    ]
    return float(np.mean(values))


metric("pearson")(partial(_mean_correlation, rank=False))
metric("spearman")(partial(_mean_correlation, rank=True))
# what a regression head reports besides its task metric
REGRESSION_METRICS = ("mse", "mae", "pearson", "spearman")


# ---------------------------------------------------------------- frame tasks: segment-based F1


def segment_activity(frames: np.ndarray, segment_frames: int) -> np.ndarray:
    """[T, C] frame activity -> [ceil(T / segment_frames), C] bool: a segment is active where any frame is
    (a last, shorter segment keeps the trailing frames X-ARES's max-pooling drops)."""
    frames = np.asarray(frames, dtype=bool)
    return np.logical_or.reduceat(frames, np.arange(0, len(frames), segment_frames), axis=0)


def class_f1(counts: np.ndarray) -> np.ndarray:
    """Per-class F1 of [3, C] counts (true positives, false positives, false negatives); 0 where undefined."""
    true_positive, false_positive, false_negative = counts
    denominator = 2 * true_positive + false_positive + false_negative
    return np.divide(2 * true_positive, denominator, out=np.zeros(len(denominator)), where=denominator > 0)


def f1_from_counts(counts: np.ndarray, average: str) -> float:
    """``macro``: mean of the per-class F1; ``micro``: F1 of the counts pooled over classes."""
    return float(class_f1(counts.sum(axis=1, keepdims=True) if average == "micro" else counts).mean())


class SegmentF1:
    """Segment-based F1 (``macro`` or ``micro``) of frame probabilities active above ``threshold``, max-pooled into
    segments and accumulated clip by clip (a class with no positives and no predictions scores 0)."""

    def __init__(
        self, average: str, hop_size_in_ms: float, segment_length_in_s: float = 1.0, threshold: float = 0.5
    ) -> None:
        self.average = average
        # encoder frames per scoring segment: ceil(segment length / hop), as X-ARES pools them
        self.segment_frames = max(1, math.ceil(segment_length_in_s / (hop_size_in_ms / 1000.0) - 1e-9))
        self.threshold = threshold
        self.counts: np.ndarray | None = None  # [3, C]: true positives, false positives, false negatives

    def update(self, targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """One clip's targets and probabilities [T, C]; returns its [3, C] counts (TP, FP, FN per class)."""
        actual = segment_activity(np.asarray(targets) > 0.5, self.segment_frames)
        predicted = segment_activity(np.asarray(scores) > self.threshold, self.segment_frames)
        counts = np.stack([(predicted & actual).sum(0), (predicted & ~actual).sum(0), (~predicted & actual).sum(0)])
        counts = counts.astype(np.int64)
        self.counts = counts if self.counts is None else self.counts + counts
        return counts

    def compute(self) -> float:
        return float("nan") if self.counts is None else f1_from_counts(self.counts, self.average)

    def over(self, targets: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> float:
        for clip_targets, clip_scores in zip(targets, scores, strict=True):
            self.update(clip_targets, clip_scores)
        return self.compute()


for _average in ("macro", "micro"):
    _segment_f1 = partial(SegmentF1, _average)  # per-clip targets and probabilities; hop_size_in_ms, ...
    metric(f"segmentf1_{_average}", streaming=_segment_f1)(lambda t, s, build=_segment_f1, **a: build(**a).over(t, s))


# ---------------------------------------------------------------- audio-text retrieval


def retrieval_ranks(similarity: np.ndarray, caption_clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based rank of each clip's best own caption (-1: none) and of each caption's clip in a [clips, captions]
    similarity; ``caption_clip[j]``: the clip of caption j; ties count against the hit."""
    similarity = np.asarray(similarity, dtype=np.float64)
    caption_clip = np.asarray(caption_clip, dtype=np.int64)
    n_clips, n_captions = similarity.shape
    own = np.zeros((n_clips, n_captions), dtype=bool)
    own[caption_clip, np.arange(n_captions)] = True
    best_own = np.where(own, similarity, -np.inf).max(axis=1, keepdims=True)
    audio_rank = np.where(own, False, similarity >= best_own).sum(axis=1)
    own_score = similarity[caption_clip, np.arange(n_captions)]
    text_rank = (similarity >= own_score).sum(axis=0) - 1
    return np.where(own.any(axis=1), audio_rank, -1), text_rank


def recall_from_ranks(audio_rank: np.ndarray, text_rank: np.ndarray, k: int = 1) -> float:
    """Recall@k averaged over audio->text and text->audio (X-ARES's ``recallatk``), from ``retrieval_ranks``."""
    return float((np.mean(audio_rank[audio_rank >= 0] < k) + np.mean(text_rank < k)) / 2)


@metric("recallatk_r1")
def recall_at_1(caption_clip: np.ndarray, similarity: np.ndarray) -> float:
    return recall_from_ranks(*retrieval_ranks(similarity, caption_clip), k=1)


# ---------------------------------------------------------------- speech recognition


def word_edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, deletions, insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def transcript_counts(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, np.ndarray]:
    """Per transcript, on lower-cased, whitespace-split text: its word ``edits`` and reference ``words``."""
    pairs = [(r.lower().split(), h.lower().split()) for r, h in zip(references, hypotheses, strict=True)]
    edits = [word_edits(reference, hypothesis) for reference, hypothesis in pairs]
    return {"edits": np.array(edits, dtype=np.int64), "words": np.array([len(r) for r, _ in pairs], dtype=np.int64)}


def wer_from_counts(counts: Mapping[str, np.ndarray]) -> float:
    """All word edits / all reference words of ``transcript_counts`` (no reference words: 0, or inf if any edit)."""
    edits, words = int(counts["edits"].sum()), int(counts["words"].sum())
    if words == 0:
        return 0.0 if edits == 0 else float("inf")
    return edits / words


@metric("WER_inv")
def inverse_word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """max(0, 1 - corpus WER (as jiwer)): higher is better, like every other X-ARES score."""
    return max(0.0, 1.0 - wer_from_counts(transcript_counts(references, hypotheses)))
