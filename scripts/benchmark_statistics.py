#!/usr/bin/env python
"""Report statistics speed: resamples and swaps scored all at once against draw by draw, side by side.

The leaderboard's bootstrap intervals and paired permutation tests rescore a result's saved test predictions
``report.resamples`` times. For accuracy and mAP, ``report/statistics.py`` scores every draw at once (a draw is
a row of copy counts); other metrics go draw by draw. This script times both ways on the same synthetic
predictions, an FSD50K-sized multi-label cell (mAP) and a VoxCeleb-sized single-label one (accuracy), checks
that they agree, and prints seconds per resample and the ratio.

    python scripts/benchmark_statistics.py [--resamples 50] [--clips 10000] [--classes 200]
                                           [--accuracy-clips 4874] [--accuracy-classes 1251]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from unittest import mock

import numpy as np

from xares_hydra.heads.predictions import Predictions, clip_predictions
from xares_hydra.report import statistics


def multi_label(clips: int, classes: int, seed: int) -> dict[str, Predictions]:
    rng = np.random.default_rng(0)
    targets = (rng.random((clips, classes)) < 0.02).astype(np.float32)
    scores = (targets + np.random.default_rng(seed).normal(0, 1.5, targets.shape)).astype(np.float32)
    return {"test": clip_predictions("mAP", [f"c{i}" for i in range(clips)], targets, scores)}


def single_label(clips: int, classes: int, seed: int) -> dict[str, Predictions]:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, classes, clips)
    scores = np.random.default_rng(seed).normal(0, 1, (clips, classes)).astype(np.float32)
    scores[np.arange(clips), targets] += 2.0
    return {"test": clip_predictions("accuracy", [f"c{i}" for i in range(clips)], targets, scores)}


def timed(work: Callable[[], object], draw_by_draw: bool) -> tuple[float, object]:
    with mock.patch.object(statistics, "_at_once", lambda item: False) if draw_by_draw else nullcontext():
        started = time.perf_counter()
        result = work()
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resamples", type=int, default=50, help="resamples per measurement (the report uses 1000)")
    parser.add_argument("--clips", type=int, default=10000, help="test clips of the mAP cell (FSD50K: 10231)")
    parser.add_argument("--classes", type=int, default=200, help="classes of the mAP cell (FSD50K: 200)")
    parser.add_argument("--accuracy-clips", type=int, default=4874, help="test clips of the accuracy cell (VoxCeleb1)")
    parser.add_argument("--accuracy-classes", type=int, default=1251, help="classes of the accuracy cell (VoxCeleb1)")
    arguments = parser.parse_args()
    cells = {
        f"mAP, {arguments.clips} clips x {arguments.classes} classes": partial(
            multi_label, arguments.clips, arguments.classes
        ),
        f"accuracy, {arguments.accuracy_clips} clips x {arguments.accuracy_classes} classes": partial(
            single_label, arguments.accuracy_clips, arguments.accuracy_classes
        ),
    }
    print(f"seconds per resample ({arguments.resamples} resamples; the report makes 1000)")
    print("| cell | what | draw by draw | at once | ratio |\n|:--|:--|--:|--:|--:|")
    for name, make in cells.items():
        a, b = make(seed=1), make(seed=2)
        jobs = {
            "bootstrap interval": partial(statistics.bootstrap_scores, [a], arguments.resamples, seed=0),
            "paired test": partial(statistics.paired_test, [a], [b], arguments.resamples, seed=0, confidence=0.95),
        }
        for what, work in jobs.items():
            slow, expected = timed(work, draw_by_draw=True)
            fast, result = timed(work, draw_by_draw=False)
            if isinstance(result, np.ndarray):
                assert np.allclose(result, expected, rtol=0, atol=1e-12), "the two ways disagree"
            else:
                assert result.p_value == expected.p_value, "the two ways disagree"  # type: ignore[attr-defined]
            per = arguments.resamples
            print(f"| {name} | {what} | {slow / per:.4f} | {fast / per:.4f} | {slow / fast:.1f}x |")


if __name__ == "__main__":
    main()
