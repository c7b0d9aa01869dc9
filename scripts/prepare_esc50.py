#!/usr/bin/env python
"""Turn the original ESC-50 release into X-ARES-format tar shards, ready for ``xares task=esc50``.

    python scripts/prepare_esc50.py ESC-50-master ~/.xares-hydra/data/esc50
    xares task=esc50                                  # OUT_DIR is <data_root>/esc50
    xares task=esc50 paths.data_root=/some/where      # or OUT_DIR is /some/where/esc50

ESC50_DIR is the release folder (github.com/karolpiczak/ESC-50): ``audio/*.wav`` and
``meta/esc50.csv`` (filename, fold, target, category, esc10, src_file, take). Each fold becomes
``wds-audio-fold-<fold>-0000000.tar`` (more shards with ``--max-per-shard``), the names of X-ARES's
Zenodo record 14614287. A sample is the clip's wav bytes, unchanged, under the key of its file name
(X-ARES replaces dots in the stem with ``_``), and a ``.json`` with ``label`` (the integer target,
which X-ARES scores) and the csv's other columns. The ``.audio_tar_ready`` marker, written last,
tells xares-hydra (and X-ARES) that the folder is complete, so nothing is downloaded; it records
where the shards came from (the result records show it as their data provenance).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_json
from xares_hydra.data.prepare import READY_MARKER

COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
SHARD_NAME = "wds-audio-fold-{fold}-{index:07d}.tar"
ANY_SHARD = "wds-audio-fold-*-*.tar"


class PrepareError(Exception):
    """Something about ESC50_DIR or OUT_DIR that the user has to fix."""


@dataclass(frozen=True)
class Clip:
    path: Path
    fold: int
    labels: dict[str, Any]

    @property
    def key(self) -> str:
        return self.path.stem.replace(".", "_")


def read_metadata(esc50_dir: Path) -> list[Clip]:
    """The clips listed in ``meta/esc50.csv``, each with its .json labels; every listed wav must exist."""
    meta = esc50_dir / "meta" / "esc50.csv"
    if not meta.is_file():
        raise PrepareError(f"{meta} not found: ESC50_DIR must be the ESC-50 release folder (audio/, meta/esc50.csv)")
    with open(meta, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
        if missing:
            raise PrepareError(f"{meta} lacks the column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
        clips = [_clip(esc50_dir, row, line) for line, row in enumerate(reader, start=2)]
    if not clips:
        raise PrepareError(f"{meta} lists no clips")
    return clips


def _clip(esc50_dir: Path, row: dict[str, str], line: int) -> Clip:
    path = esc50_dir / "audio" / row["filename"]
    if not path.is_file():
        raise PrepareError(f"esc50.csv line {line} names {row['filename']}, which is not in {path.parent}")
    try:
        labels = {
            "label": int(row["target"]),
            "category": row["category"],
            "filename": row["filename"],
            "fold": int(row["fold"]),
            "esc10": row["esc10"].strip().lower() == "true",
            "src_file": row["src_file"],
            "take": row["take"],
        }
    except ValueError as error:
        raise PrepareError(f"esc50.csv line {line}: fold and target must be integers ({error})") from None
    return Clip(path, labels["fold"], labels)


def shards_of(clips: Sequence[Clip], max_per_shard: int | None) -> Iterator[tuple[str, list[Clip]]]:
    """(tar name, clips) for every fold, in csv order, at most ``max_per_shard`` clips per tar."""
    for fold in sorted({clip.fold for clip in clips}):
        in_fold = [clip for clip in clips if clip.fold == fold]
        size = max_per_shard or len(in_fold)
        for index, start in enumerate(range(0, len(in_fold), size)):
            yield SHARD_NAME.format(fold=fold, index=index), in_fold[start : start + size]


def prepare(esc50_dir: Path, out_dir: Path, max_per_shard: int | None = None) -> list[Path]:
    """Write the shards and the ready marker; returns the shards written."""
    clips = read_metadata(esc50_dir)
    from xares_hydra.data.shards import write_shard  # imports torch (through webdataset): only once the input is good

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / READY_MARKER).unlink(missing_ok=True)
    for stale in out_dir.glob(ANY_SHARD):  # from an earlier run with other shard sizes
        stale.unlink()
    written = []
    for name, members in shards_of(clips, max_per_shard):
        samples = ((clip.key, clip.path.read_bytes(), "wav", clip.labels) for clip in members)
        write_shard(out_dir / name, samples)
        written.append(out_dir / name)
        print(f"{name}: {len(members)} clips")
    marker = {"source": "prepared", "tool": "scripts/prepare_esc50.py", "from": str(esc50_dir.resolve())}
    write_json(out_dir / READY_MARKER, marker)
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("esc50_dir", type=Path, metavar="ESC50_DIR", help="the ESC-50 release folder")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="the task folder to write, <data_root>/esc50")
    parser.add_argument("--max-per-shard", type=int, default=None, metavar="N",
                        help="at most N clips per tar (default: one tar per fold)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.max_per_shard is not None and args.max_per_shard < 1:
        parser.error("--max-per-shard must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        written = prepare(args.esc50_dir, args.out_dir, args.max_per_shard)
    except PrepareError as error:
        print(f"prepare_esc50: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {len(written)} shards and {READY_MARKER} into {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
