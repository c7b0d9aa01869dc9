"""The one table writer: a header and rows of text cells, with one alignment letter per column (``l``eft,
``r``ight, ``c``entre), as Markdown lines or a rich table for the terminal; rows of values as CSV; a report's
files written from one stem."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from itertools import zip_longest
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

from xares_hydra.atomic import write_json, write_text

_MARKDOWN_ALIGN = {"l": ":--", "r": "--:", "c": ":--:"}
_RICH_ALIGN: dict[str, Literal["left", "right", "center"]] = {"l": "left", "r": "right", "c": "center"}


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str | None]], align: str) -> list[str]:
    """A None cell is left blank (``| |``), an empty one padded as any other (``|  |``)."""
    return [_markdown_row(header), "|" + "".join(f"{_MARKDOWN_ALIGN[a]}|" for a in align), *map(_markdown_row, rows)]


def _markdown_row(cells: Sequence[str | None]) -> str:
    return "|" + "|".join(" " if cell is None else f" {cell} " for cell in cells) + "|"


def rich_table(
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    align: str = "",
    caption: str | None = None,
    styles: Sequence[str | None] = (),
) -> Table:
    """Columns not given an alignment are left-aligned, those not given a style plain."""
    table = Table(title=title, caption=caption)
    for name, letter, style in zip_longest(header, align[: len(header)], styles[: len(header)]):
        table.add_column(name, justify=_RICH_ALIGN[letter or "l"], style=style)
    for row in rows:
        table.add_row(*row)
    return table


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], lineterminator: str = "\r\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_files(stem: Path, files: dict[str, Any]) -> list[Path]:
    """``stem`` + each suffix: text as it is, anything else (``.json``) as JSON; the paths, in ``files``' order."""
    paths = [stem.with_name(stem.name + suffix) for suffix in files]
    for path, content in zip(paths, files.values()):
        (write_text if isinstance(content, str) else write_json)(path, content)
    return paths
