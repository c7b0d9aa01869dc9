"""Frame tasks: segment F1, frame targets from events, and the frame probe on memory-mapped caches."""

from __future__ import annotations

import ctypes
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.encode.cache import EmbeddingSet, ShardCounts, ShardWriter
from xares_hydra.encode.settings import EncodeSettings
from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData
from xares_hydra.heads.frame import frame_targets, seconds_to_frames
from xares_hydra.heads.metrics import SegmentF1, get_metric, segment_activity

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter

HOP_MS = 100.0


# ---------------------------------------------------------------- segment F1


def test_segment_f1_macro_and_micro_by_hand():
    # 100 ms hop, 0.2 s segments -> 2 frames per segment; 5 frames -> segments {0,1} {2,3} {4}
    targets = np.array([[1, 0], [0, 0], [0, 0], [0, 0], [1, 0]])
    scores = np.array([[0.2, 0.5], [0.9, 0.1], [0.1, 0.1], [0.6, 0.1], [0.4, 0.1]])
    # class 0: actual segments [1, 0, 1], predicted [1, 1, 0] -> tp 1, fp 1, fn 1 -> F1 = 2/4
    # class 1: never active, 0.5 is not above the threshold -> no decisions at all -> F1 = 0 (macro)
    args = {"hop_size_in_ms": HOP_MS, "segment_length_in_s": 0.2}
    assert get_metric("segmentf1_macro")([targets], [scores], **args) == pytest.approx((0.5 + 0.0) / 2)
    assert get_metric("segmentf1_micro")([targets], [scores], **args) == pytest.approx(2 / 4)


def test_segment_f1_accumulates_over_clips_like_one_pooled_count():
    first = (np.array([[1], [1]]), np.array([[0.9], [0.9]]))  # tp 1 (one 0.2 s segment)
    second = (np.array([[0], [0], [1], [1]]), np.array([[0.7], [0.0], [0.0], [0.0]]))  # fp 1, fn 1
    metric = SegmentF1("micro", hop_size_in_ms=HOP_MS, segment_length_in_s=0.2)
    metric.update(*first)
    metric.update(*second)
    assert metric.compute() == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))


def test_segment_f1_agrees_with_scikit_learn_on_the_pooled_segments():
    rng = np.random.default_rng(0)
    clips = [(rng.random((n, 4)) < 0.2, rng.random((n, 4))) for n in (7, 10, 3)]
    segments = [(segment_activity(t, 3), segment_activity(s > 0.5, 3)) for t, s in clips]
    actual, predicted = (np.concatenate(part) for part in zip(*segments))
    for average in ("macro", "micro"):
        ours = get_metric(f"segmentf1_{average}")(*zip(*clips), hop_size_in_ms=HOP_MS, segment_length_in_s=0.3)
        assert ours == pytest.approx(f1_score(actual, predicted, average=average, zero_division=0))


def test_segments_are_max_pooled_and_keep_a_short_last_segment():
    frames = np.array([[0], [1], [0], [0], [0], [1]], dtype=bool)
    assert segment_activity(frames, 4).ravel().tolist() == [True, True]
    assert segment_activity(frames[:5], 4).ravel().tolist() == [True, False]


# ---------------------------------------------------------------- frame targets


def test_frame_targets_from_events_at_the_hop_size():
    events = [(0.2, 1.1, 0), (1.0, 5.0, 1), (2.9, 3.3, 2)]
    # hop 0.5 s: frames ceil(onset / hop) .. ceil(offset / hop), clipped to the 6 embedding frames
    expected = np.array(
        [
            [0, 0, 0],
            [1, 0, 0],  # class 0: ceil(0.4) = 1 .. ceil(2.2) = 3
            [1, 1, 0],  # class 1: ceil(2.0) = 2 .. ceil(10) = 10 -> 6
            [0, 1, 0],
            [0, 1, 0],
            [0, 1, 0],  # class 2 starts at ceil(5.8) = 6: past the last frame
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(frame_targets(events, 6, 3, 0.5), expected)


def test_frame_targets_of_a_crop_are_relative_to_its_start():
    events = [(0.2, 1.1, 0), (1.0, 5.0, 1), (2.9, 3.3, 2)]
    expected = np.zeros((6, 3), dtype=np.float32)
    expected[0, 0] = 1  # ceil(-1.6) -> 0 .. ceil(0.2) = 1
    expected[0:6, 1] = 1  # 0 .. 8 -> 6
    expected[4, 2] = 1  # ceil(3.8) = 4 .. ceil(4.6) = 5
    np.testing.assert_array_equal(frame_targets(events, 6, 3, 0.5, start_s=1.0), expected)


def test_seconds_to_frames_ignores_float_noise():
    assert seconds_to_frames(0.07, 0.01) == 7
    assert seconds_to_frames(0.075, 0.01) == 8
    assert seconds_to_frames(10.0, 0.04) == 250


# ---------------------------------------------------------------- the frame probe on a real cache


def cached_frames(directory: Path, clips: Sequence[tuple[np.ndarray, list]]) -> EmbeddingSet:
    """Write (frames, events) clips through the cache's shard writer and read them back memory-mapped."""
    directory.mkdir(parents=True)
    source = directory / "source.tar"
    source.write_bytes(b"")
    writer = ShardWriter(directory, source, clips[0][0].shape[1], EncodeSettings(keep_frames=True))
    for index, (frames, events) in enumerate(clips):
        meta = {"key": f"clip{index:05d}", "clip_key": f"clip{index:05d}", "crop": 0, "labels": events}
        writer.add(meta, len(frames), frames, frames.mean(0))
    writer.finish(ShardCounts(samples=len(clips)))
    embeddings = EmbeddingSet.from_dir(directory)
    embeddings.targets = [[tuple(event) for event in events] for events in embeddings.labels]
    return embeddings


def signal_clips(n: int, seed: int, n_frames: int = 30, dim: int = 8) -> list[tuple[np.ndarray, list]]:
    """A fixed background pattern plus noise; while an event of class c is on, dimension c rises by 4.
    (The pattern keeps the probe's LayerNorm from blowing quiet frames' noise up to unit scale.)"""
    rng = np.random.default_rng(seed)
    background = np.resize([3.0, -3.0], dim).astype(np.float32)
    background[:2] = 0
    clips = []
    for _ in range(n):
        frames = background + 0.5 * rng.normal(size=(n_frames, dim)).astype(np.float32)
        events = []
        for class_index in range(2):
            onset = int(rng.integers(0, n_frames - 5))
            offset = onset + int(rng.integers(3, 12))
            frames[onset:offset, class_index] += 4.0
            events.append([onset * HOP_MS / 1000, offset * HOP_MS / 1000, class_index])
        clips.append((frames, events))
    return clips


def frame_task(metric: str = "segmentf1_macro") -> TaskSpec:
    return TaskSpec.from_config(
        {
            "name": "frames",
            "task_type": "frame",
            "label": {"rule": "events", "classes": ["a", "b"]},
            "metric": metric,
            "metric_args": {"segment_length_in_s": 0.2},
            "criterion": "BCEWithLogitsLoss",
        }
    )


def run_frame_probe(data: RoundData, **settings):
    task = frame_task()
    context = HeadContext(
        task, HeadSettings(device="cpu", **settings), get_metric(task.metric), {"hop_size_in_ms": HOP_MS}
    )
    return HEADS["frame_probe"].run(data, context)


@pytest.fixture(scope="module")
def signal_round(tmp_path_factory) -> RoundData:
    root = tmp_path_factory.mktemp("frames")
    return RoundData(
        cached_frames(root / "train", signal_clips(60, 1)),
        cached_frames(root / "valid", signal_clips(15, 2)),
        cached_frames(root / "test", signal_clips(15, 3)),
    )


def test_frame_probe_learns_a_separable_frame_signal(signal_round):
    result = run_frame_probe(signal_round, lr=5e-2, epochs=6, batch_size=4)
    assert result.test > 0.95
    assert result.valid == max(result.extra["valid_history"])
    assert result.extra["train_loss_history"][-1] < result.extra["train_loss_history"][0]


def test_frame_probe_is_deterministic(signal_round):
    first = run_frame_probe(signal_round, lr=1e-3, epochs=2, batch_size=8, seed=3)
    second = run_frame_probe(signal_round, lr=1e-3, epochs=2, batch_size=8, seed=3)
    assert first.test == second.test
    assert first.extra == second.extra


def anonymous_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def release_large_frees() -> None:
    """glibc raises its mmap threshold after large frees (up to 32 MB) and then keeps freed heap memory of up to
    twice that, so what earlier tests in the process allocated would decide how much RSS a batch leaves behind.
    A fixed 1 MB threshold gives every large buffer its own mapping, returned when freed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    libc.malloc_trim(0)


class PeakMemory:
    """Peak memory of a block two ways: the process's anonymous (heap) RSS, sampled every few milliseconds
    (memory-mapped file pages are not in it), and tracemalloc's peak of Python and numpy allocations."""

    def __enter__(self) -> PeakMemory:
        release_large_frees()
        self.baseline = self.peak = anonymous_rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        tracemalloc.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, anonymous_rss_bytes())
            time.sleep(0.002)

    def __exit__(self, *_) -> None:
        _, self.traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, anonymous_rss_bytes())

    @property
    def anonymous_growth(self) -> int:
        return self.peak - self.baseline

    def describe(self) -> str:
        return f"anonymous RSS +{self.anonymous_growth / 2**20:.1f} MiB, traced peak {self.traced_peak / 2**20:.1f} MiB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status (Linux)")
def test_frame_probe_streams_frames_larger_than_its_memory_budget(tmp_path):
    """~320 MB of cached frames train and score with extra heap bounded by the batch (a few batch-sized buffers:
    frames stacked, normalised, their gradients), not by the data."""
    dim, n_frames, n_clips, batch_size = 256, 500, 640, 16
    budget = 12 * batch_size * n_frames * dim * 4 + 16 * 2**20  # 110 MiB; measured 50 to 74 MiB
    rng = np.random.default_rng(0)
    block = rng.normal(size=(n_frames, dim)).astype(np.float32)
    large = cached_frames(
        tmp_path / "train",
        [(np.roll(block, index, axis=0), [[0.0, 1.0 + index % 7, index % 2]]) for index in range(n_clips)],
    )
    small = cached_frames(tmp_path / "valid", [(block, [[0.5, 2.0, 0]])] * 4)
    data_bytes = large.n_frames.sum() * dim * 4
    assert data_bytes > 2.5 * budget
    run_frame_probe(RoundData(small, small, small), epochs=1, batch_size=batch_size)  # torch warm-up, not measured
    with PeakMemory() as memory:
        result = run_frame_probe(RoundData(large, small, small), epochs=1, batch_size=batch_size)
    with PeakMemory() as control:  # the measures do see frames read into memory
        everything = np.concatenate([large.frames(index) for index in range(len(large))])
        del everything
    print(f"frames {data_bytes / 2**20:.0f} MiB; training: {memory.describe()}; reading all: {control.describe()}")
    assert np.isfinite(result.extra["train_loss_history"][0])
    assert memory.anonymous_growth < budget and memory.traced_peak < budget
    assert control.anonymous_growth > 0.9 * data_bytes and control.traced_peak > 0.9 * data_bytes
