"""The offline demo tasks of the frame, retrieval and ASR heads, run as a user runs them: the log-mel
baseline clearly beats the content-free noise encoder on each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers.cli import run_xares

DEMOS = {
    "demo_events": ("frame", "segmentf1_macro"),
    "demo_captions": ("contrastive", "recallatk_r1"),
    "demo_digits": ("asr", "WER_inv"),
}


def result_record(root: Path, encoder: str, task: str) -> dict:
    paths = sorted((root / "results" / encoder / task).glob("*.json"))
    assert len(paths) == 1, f"expected one result record for {encoder}/{task}, found {paths}"
    return json.loads(paths[0].read_text())


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(DEMOS))
def test_mel_clearly_beats_noise_on_the_demo_task(task, xares_root):
    if task == "demo_digits":
        pytest.importorskip("transformers")
    task_type, metric = DEMOS[task]
    scores, seconds = {}, {}
    for encoder in ("mel", "noise"):
        started = time.perf_counter()
        run_xares(f"task={task.replace('demo_', 'demo/')}", f"encoder={encoder}", root=xares_root)
        seconds[encoder] = time.perf_counter() - started
        record = result_record(xares_root, encoder, task)
        assert record["status"] == "ok"
        assert (record["task"]["task_type"], record["task"]["metric"]) == (task_type, metric)
        scores[encoder] = record["scores"]["mlp"]["score"]
    print(", ".join(f"{task} {encoder}: {scores[encoder]:.3f} in {seconds[encoder]:.0f} s" for encoder in scores))
    assert scores["mel"] > 2 * scores["noise"]
    assert scores["mel"] - scores["noise"] > 0.1
