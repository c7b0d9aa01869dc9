"""The cost report: a row per encoder with its parameters, FLOPs, throughput, peak memory and device beside its
MLP average, and the score-against-FLOPs figure with the Pareto front marked."""

from __future__ import annotations

import csv
from pathlib import Path

from helpers.records import make_record
from matplotlib.image import imread
from rich.console import Console

from xares_hydra.report.cost import PARETO_MARK, pareto_front
from xares_hydra.report.record import CostInfo, Record
from xares_hydra.report.reports import write_reports

# encoder: (MLP score, parameters, FLOPs per audio second); "mid" costs more than "small" and scores less
ENCODERS = {"small": (0.8, 1_000_000, 1e9), "mid": (0.7, 5_000_000, 2e9), "large": (0.9, 90_000_000, 4e10)}


def _costed(encoder: str) -> Record:
    score, parameters, flops = ENCODERS[encoder]
    record = make_record("esc50", encoder, score)
    record.encoder.parameters = parameters
    record.encoder.cost = CostInfo(flops_per_second=flops, throughput=250.0, peak_memory_bytes=3 * 2**20,
                                   peak_memory_kind="peak RSS", device_name="Test CPU")  # fmt: skip
    return record


def test_the_pareto_front_keeps_what_nothing_beats() -> None:
    assert pareto_front([(1.0, 0.8), (2.0, 0.7), (40.0, 0.9), (1.0, 0.8), (None, 0.99)]) == {0, 2, 3}
    assert pareto_front([(2.0, 0.5), (1.0, 0.5)]) == {1}


def test_report_writes_cost_columns_and_the_score_against_cost_figure(tmp_path: Path) -> None:
    records = [_costed(name) for name in ENCODERS] + [make_record("esc50", "uncosted", 0.99)]
    console = Console(record=True, width=200)
    written = write_reports(records, tmp_path, console=console, statistics=None)
    assert tmp_path / "cost.md" in written and tmp_path / "figures" / "score_vs_cost.png" in written
    rows = {row["encoder"]: row for row in csv.DictReader((tmp_path / "cost.csv").open())}
    assert set(rows) == {"small", "mid", "large"}  # an encoder without a recorded cost has no cost row
    assert {name for name, row in rows.items() if row["pareto"] == "True"} == {"small", "large"}
    assert float(rows["large"]["flops_per_second"]) == 4e10 and rows["mid"]["device"] == "Test CPU"
    markdown = (tmp_path / "cost.md").read_text()
    assert f"| small | 0.800 | 1.00 | 1.000 | 250.0 | 3 (peak RSS) | Test CPU | {PARETO_MARK} |" in markdown
    assert "| mid | 0.700 | 5.00 | 2.000 | 250.0 | 3 (peak RSS) | Test CPU |  |" in markdown
    assert "GFLOPs per audio s" in console.export_text()
    assert imread(tmp_path / "figures" / "score_vs_cost.png").shape[2] in (3, 4)
