"""`xares-report --compare` picks columns by encoder and settings, values with commas included."""

from __future__ import annotations

import pytest

from xares_hydra.errors import ConfigError
from xares_hydra.report.compare import select_column, settings_in
from xares_hydra.report.leaderboard import Column

COLUMNS = [
    Column("mel", "mel"),
    Column("mel [encoder.layers=[1, 2], lr=0.1]", "mel", "encoder.layers=[1, 2], lr=0.1"),
    Column("mel [encoder.layers=[3], lr=0.1]", "mel", "encoder.layers=[3], lr=0.1"),
]


def test_a_list_value_is_one_setting() -> None:
    assert settings_in("encoder.layers=[1, 2], lr=0.1") == ["encoder.layers=[1, 2]", "lr=0.1"]
    assert settings_in("") == []


@pytest.mark.parametrize(
    ("selector", "label"),
    [
        ("mel", "mel"),
        ("mel [layers=[1, 2]]", "mel [encoder.layers=[1, 2], lr=0.1]"),
        ("mel [head.lr=0.1, encoder.layers=[3]]", "mel [encoder.layers=[3], lr=0.1]"),
    ],
)
def test_selectors_name_their_column(selector: str, label: str) -> None:
    assert select_column(COLUMNS, selector).label == label


def test_an_ambiguous_selector_lists_the_columns() -> None:
    with pytest.raises(ConfigError, match=r"matches 2 columns; columns: mel, mel \[encoder.layers=\[1, 2\]"):
        select_column(COLUMNS, "mel [lr=0.1]")
