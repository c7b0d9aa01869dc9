"""The frame head's offline demo task at full size, run as ``xares`` runs it (in this process): the log-mel baseline
clearly beats the content-free noise encoder. (The retrieval and ASR demo tasks are checked on test_paper_results'
shared sweep; at its half size the frame task's margin over noise is too small for this test's bar.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import xares


def result_record(root: Path, encoder: str, task: str) -> dict:
    paths = sorted((root / "results" / encoder / task).glob("*.json"))
    assert len(paths) == 1, f"expected one result record for {encoder}/{task}, found {paths}"
    return json.loads(paths[0].read_text())


@pytest.mark.slow
def test_mel_clearly_beats_noise_on_the_demo_events_task(xares_root):
    scores = {}
    for encoder in ("mel", "noise"):
        xares("task=demo/events", f"encoder={encoder}", root=xares_root)
        record = result_record(xares_root, encoder, "demo_events")
        assert record["status"] == "ok"
        assert (record["task"]["task_type"], record["task"]["metric"]) == ("frame", "segmentf1_macro")
        scores[encoder] = record["scores"]["mlp"]["score"]
    assert scores["mel"] > 2 * scores["noise"], scores
    assert scores["mel"] - scores["noise"] > 0.1, scores
