"""Training-data overlap: an encoder whose meta.training_data names a task's corpus is marked in the record and in
the leaderboard, and ``--exclude-overlap`` leaves those scores out of the averages."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.cli import SMALL_TIMBRE, xares
from helpers.records import make_record

from xares_hydra.data.taskspec import training_overlap
from xares_hydra.report.bundle import stored
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.leaderboard import OVERLAP_MARK, build_leaderboard, leaderboard_markdown
from xares_hydra.report.record import Record, write_record

# a catalog entry in the user's config dir, as conf/encoder/hf/*.yaml are, trained on the demo tasks' corpus
DEMO_TRAINED = """defaults:
  - /encoder/hf@_here_
  - _self_
model: {model}
meta:
  family: hubert
  training_data: [LibriSpeech, xares-hydra demo]
"""


def test_corpora_are_matched_loosely_and_only_when_both_sides_declare() -> None:
    assert training_overlap(["Libri-Light", "librispeech"], ["LibriCount", "LibriSpeech"]) == ["LibriSpeech"]
    assert training_overlap(["AudioSet"], ["ESC-50"]) == []
    assert training_overlap(None, ["ESC-50"]) is None and training_overlap(["AudioSet"], None) is None


@pytest.mark.slow
def test_a_catalog_entry_trained_on_the_demo_corpus_is_marked_in_the_record(tmp_path: Path) -> None:
    from helpers.tiny_hf import tiny_model

    config_dir = tmp_path / "conf"
    (config_dir / "encoder" / "hf").mkdir(parents=True)
    model = tiny_model("hubert", tmp_path / "hubert")
    (config_dir / "encoder" / "hf" / "demo_trained.yaml").write_text(DEMO_TRAINED.format(model=model))
    record = xares("encoder=hf/demo_trained", *SMALL_TIMBRE, root=tmp_path, run_dir=tmp_path / "run",
                   config_dir=config_dir)  # fmt: skip
    assert record["status"] == "ok", record.get("reason")
    assert record["task"]["corpus"] == ["xares-hydra demo"]
    assert record["encoder"]["training_overlap"] == ["xares-hydra demo"]
    plain = xares("encoder=mel", *SMALL_TIMBRE, root=tmp_path, run_dir=tmp_path / "mel")
    assert plain["encoder"]["training_overlap"] is None  # mel declares no training data


def _records() -> list[Record]:
    seen = make_record("esc50", "seen", 0.9, weight=100)
    seen.encoder.training_overlap = ["ESC-50"]
    return [
        seen,
        make_record("gtzan_genre", "seen", 0.5, weight=100),
        make_record("esc50", "unseen", 0.7, weight=100),
        make_record("gtzan_genre", "unseen", 0.6, weight=100),
    ]


def test_overlapping_scores_are_marked_and_can_leave_the_averages() -> None:
    counted = build_leaderboard(_records(), published=False)
    markdown = leaderboard_markdown(counted)
    assert f"0.900 {OVERLAP_MARK}" in markdown and f"0.700 {OVERLAP_MARK}" not in markdown
    mlp = counted.tables[0]
    assert mlp.averages["all", "seen"].score == pytest.approx(0.7)
    excluded = build_leaderboard(_records(), published=False, exclude_overlap=True).tables[0]
    assert excluded.averages["all", "seen"].score == pytest.approx(0.5) and excluded.averages["all", "seen"].tasks == 1
    assert excluded.averages["all", "unseen"].score == pytest.approx(0.65)


def test_xares_report_exclude_overlap(tmp_path: Path) -> None:
    for record in _records():
        write_record(stored(record), None, tmp_path / "results")
    assert report_main([str(tmp_path / "results"), "--out", str(tmp_path / "out"), "--exclude-overlap"]) == 0
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "left out of the averages" in text and f"0.900 {OVERLAP_MARK}" in text
