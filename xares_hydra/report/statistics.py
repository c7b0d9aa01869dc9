"""Bootstrap intervals, paired permutation tests and Holm's adjustment from per-sample predictions.

Draws are rows of copy counts, scored at once where the metric takes weights; every draw is seeded.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from xares_hydra.errors import XaresError
from xares_hydra.heads.predictions import RETRIEVAL, Predictions, pool

Run = Mapping[str, Predictions]


class NotComparable(XaresError):
    """Two results that were not scored on the same test clips."""


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def text(self) -> str:
        return f"[{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class Comparison:
    difference: float  # score(A) - score(B)
    interval: Interval
    p_value: float
    n_clips: int


def result_score(runs: Sequence[Run], draw: Mapping[str, np.ndarray | None] | None = None) -> float:
    """Mean over runs (seeds) of the mean over rounds; ``draw``: sample indices per round (None: all)."""
    draw = draw or {}
    return float(np.mean([np.mean([item.score(draw.get(name)) for name, item in run.items()]) for run in runs]))


def clip_groups(predictions: Predictions) -> list[np.ndarray]:
    """Sample indices of each clip (crops of one clip share its key; retrieval samples are clips already)."""
    if predictions.kind == RETRIEVAL:
        return [np.array([i]) for i in range(len(predictions))]
    _, inverse = np.unique(predictions.keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(inverse.max(initial=-1) + 2))
    return [order[bounds[g] : bounds[g + 1]] for g in range(len(bounds) - 1)]


class Resampler:
    """Bootstrap draws of clips per round, from one seeded generator."""

    def __init__(self, run: Run, seed: int) -> None:
        self.groups = {name: clip_groups(item) for name, item in run.items()}
        self.single = {name: all(len(g) == 1 for g in groups) for name, groups in self.groups.items()}
        self.flat = {name: np.concatenate(groups) for name, groups in self.groups.items()}
        self.rng = np.random.default_rng(seed)

    def choose(self) -> dict[str, np.ndarray]:
        """One draw: the indices of the clips drawn, per round."""
        return {name: self.rng.integers(0, len(groups), len(groups)) for name, groups in self.groups.items()}

    def samples(self, chosen: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The sample indices of the clips drawn, per round."""
        picks = {}
        for name, groups in self.groups.items():
            single = self.single[name]
            picks[name] = self.flat[name][chosen[name]] if single else np.concatenate([groups[g] for g in chosen[name]])
        return picks


def bootstrap_scores(runs: Sequence[Run], resamples: int, seed: int) -> np.ndarray:
    """``resamples`` scores of the result on clips drawn with replacement (the same draws for every seed)."""
    check_same_clips(runs, runs)
    resampler = Resampler(runs[0], seed)
    choices = [resampler.choose() for _ in range(resamples)]
    return resampled_scores(runs, resampler, choices)


def resampled_scores(
    runs: Sequence[Run], resampler: Resampler, choices: Sequence[Mapping[str, np.ndarray]]
) -> np.ndarray:
    """The result's score on each draw: all draws at once where every round's metric scores weighted copies
    (``Metric.weighted``: accuracy, mAP), else draw by draw."""
    if all(_at_once(item) for run in runs for item in run.values()):
        chosen = {name: np.stack([choice[name] for choice in choices]) for name in resampler.groups}
        copies = {name: _copies(resampler.groups[name], chosen[name]) for name in resampler.groups}
        return _mean_of_means([{name: _in_blocks(item, copies[name]) for name, item in run.items()} for run in runs])
    return np.array([result_score(runs, resampler.samples(choice)) for choice in choices])


def _at_once(item: Predictions) -> bool:
    return item.scores_copies


def _copies(groups: list[np.ndarray], chosen: np.ndarray) -> np.ndarray:
    """[draws, samples]: how many times each sample is in each draw (its clip's count of picks in ``chosen``)."""
    draws, n_clips = chosen.shape
    picks = np.bincount((chosen + n_clips * np.arange(draws)[:, None]).ravel(), minlength=draws * n_clips)
    return picks.astype(np.int32).reshape(draws, n_clips)[:, _clip_of(groups)]


def _clip_of(groups: list[np.ndarray]) -> np.ndarray:
    """The clip of each sample."""
    clip_of = np.empty(sum(len(rows) for rows in groups), dtype=np.intp)
    for clip, rows in enumerate(groups):
        clip_of[rows] = clip
    return clip_of


def _in_blocks(item: Predictions, weights: np.ndarray, entries: int = 1 << 22) -> np.ndarray:
    """``item.copies_score`` a block of rows at a time (bounded memory for large test sets)."""
    step = max(1, entries // max(1, weights.shape[1]))
    return np.concatenate([item.copies_score(weights[start : start + step]) for start in range(0, len(weights), step)])


def _mean_of_means(runs: Sequence[Mapping[str, np.ndarray]]) -> np.ndarray:
    """``result_score`` of every draw at once, from each run's per-round scores of every draw."""
    per_run = [np.stack(list(rounds.values()), axis=1).mean(axis=1) for rounds in runs]
    return np.stack(per_run, axis=1).mean(axis=1)


def percentile_interval(scores: np.ndarray, confidence: float) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(scores, [tail, 100 - tail])
    return Interval(float(low), float(high))


def check_same_clips(a: Sequence[Run], b: Sequence[Run]) -> None:
    for run in [*a, *b]:
        if run.keys() != a[0].keys() or any(not np.array_equal(run[name].keys, a[0][name].keys) for name in a[0]):
            raise NotComparable("the results were not scored on the same test clips in the same rounds")


def paired_test(a: Sequence[Run], b: Sequence[Run], resamples: int, seed: int, confidence: float) -> Comparison:
    """score(A) - score(B), its paired bootstrap interval and permutation p (seeds paired in order; extra runs
    of the longer side enter the difference and the interval, not the swaps)."""
    check_same_clips(a, b)
    resampler = Resampler(a[0], seed)
    choices = [resampler.choose() for _ in range(resamples)]
    differences = resampled_scores(a, resampler, choices) - resampled_scores(b, resampler, choices)
    return Comparison(
        result_score(a) - result_score(b),
        percentile_interval(differences, confidence),
        permutation_p(a, b, resamples, seed),
        sum(len(groups) for groups in resampler.groups.values()),
    )


def permutation_p(a: Sequence[Run], b: Sequence[Run], resamples: int, seed: int) -> float:
    """The two-sided p-value of ``paired_test``'s permutation test alone (no bootstrap interval)."""
    check_same_clips(a, b)
    observed = result_score(a) - result_score(b)
    null = _swap_distribution(a, b, resamples, np.random.default_rng(seed + 1))
    return _two_sided_p(null, observed, exact=len(null) < resamples)


def _swap_distribution(a: Sequence[Run], b: Sequence[Run], resamples: int, rng: np.random.Generator) -> np.ndarray:
    pairs = list(zip(a, b))
    groups = {name: clip_groups(item) for name, item in a[0].items()}
    n_clips = sum(len(g) for g in groups.values())
    if 2**n_clips <= resamples:
        patterns = np.array(list(itertools.product([False, True], repeat=n_clips)), dtype=bool)
    else:
        patterns = rng.random((resamples, n_clips)) < 0.5
    swaps, start = {}, 0  # per round: [pattern, sample] whether the sample's clip is swapped
    for name, clips in groups.items():
        swaps[name], start = patterns[:, start : start + len(clips)][:, _clip_of(clips)], start + len(clips)
    if all(_at_once(item) for run in [*a, *b] for item in run.values()):
        return _swapped_at_once(pairs, swaps)
    null = []
    for i in range(len(patterns)):
        swapped_a = [{n: run_a[n].mixed(run_b[n], swaps[n][i]) for n in run_a} for run_a, run_b in pairs]
        swapped_b = [{n: run_b[n].mixed(run_a[n], swaps[n][i]) for n in run_b} for run_a, run_b in pairs]
        null.append(result_score(swapped_a) - result_score(swapped_b))
    return np.array(null)


def _swapped_at_once(pairs: list[tuple[Run, Run]], swaps: Mapping[str, np.ndarray]) -> np.ndarray:
    """The swap distribution all at once (``Metric.weighted``): each round's samples of A followed by B's, the
    swapped A one copy of B's prediction where its clip is swapped and of A's elsewhere, the swapped B the rest."""
    copies: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # per round: (swapped A, swapped B); the same for every pair
    for name, swapped in swaps.items():
        swap = swapped.astype(np.int32)
        copies[name] = (np.concatenate([1 - swap, swap], axis=1), np.concatenate([swap, 1 - swap], axis=1))
    joined = [{name: pool([run_a[name], run_b[name]]) for name in swaps} for run_a, run_b in pairs]
    swapped_a = [{name: _in_blocks(both[name], copies[name][0]) for name in swaps} for both in joined]
    swapped_b = [{name: _in_blocks(both[name], copies[name][1]) for name in swaps} for both in joined]
    return _mean_of_means(swapped_a) - _mean_of_means(swapped_b)


def _two_sided_p(null: np.ndarray, observed: float, exact: bool) -> float:
    """As ``scipy.stats.permutation_test``: twice the smaller one-sided p, with a relative tolerance for ties."""
    gamma = abs(1e-14 * observed)
    adjustment = 0 if exact else 1
    less = (np.sum(null <= observed + gamma) + adjustment) / (len(null) + adjustment)
    greater = (np.sum(null >= observed - gamma) + adjustment) / (len(null) + adjustment)
    return float(min(1.0, 2 * min(less, greater)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, at most 1), in the input order."""
    order, m = np.argsort(p_values, kind="stable"), len(p_values)
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * np.asarray(p_values, float)[order]))
    return adjusted.tolist()
