"""Demo shards rewritten in other benchmarks' formats: a local Hugging Face dataset (``save_to_disk`` output,
parquet files or an audiofolder) and a HEAR task folder, so those sources run offline (demo and tests)."""

from __future__ import annotations

import contextlib
import csv
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from xares_hydra.atomic import write_json
from xares_hydra.data.huggingface import audio_struct
from xares_hydra.data.shards import iter_shard

HF_LAYOUTS = ("saved", "parquet", "audiofolder")
Row = dict[str, Any]  # one clip: key, audio bytes, extension, and its label fields


def shard_rows(shards: Sequence[Path]) -> list[Row]:
    rows = []
    for shard in shards:
        for sample in iter_shard(shard):
            if sample.problem is None:
                fields = sample.labels if isinstance(sample.labels, dict) else {"labels": sample.labels}
                rows.append({"key": sample.key, "audio": sample.audio, "ext": sample.audio_ext, **fields})
    return rows


def write_huggingface(splits: Mapping[str, Sequence[Path]], out: Path, layout: str) -> Path:
    """The shards of each split (split name -> shards) as a local Hugging Face dataset in ``layout``."""
    rows = {split: shard_rows(shards) for split, shards in splits.items()}
    if layout == "audiofolder":
        return _audiofolder(rows, out)
    import datasets

    dataset = datasets.DatasetDict({split: _dataset(split_rows) for split, split_rows in rows.items()})
    if layout == "saved":
        dataset.save_to_disk(str(out))
    elif layout == "parquet":  # the hub's layout: data/<split>-<shard>-of-<shards>.parquet
        for split, part in dataset.items():
            part.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
    else:
        raise ValueError(f"unknown Hugging Face layout {layout!r}; known: {', '.join(HF_LAYOUTS)}")
    return out


def _dataset(rows: list[Row]) -> Any:
    import datasets

    # the audio goes in as arrow's {bytes, path} and is cast to the Audio feature: nothing is decoded or re-encoded
    audio = [{"bytes": row["audio"], "path": f"{row['key']}.{row['ext']}"} for row in rows]
    columns: dict[str, list[Any]] = {"audio": audio}
    features = {"audio": audio_struct()}
    for name in _label_names(rows):
        values = columns[name] = [row[name] for row in rows]
        # text labels as a ClassLabel (as most hub datasets store classes), anything else as its value type
        if all(isinstance(value, str) for value in values):
            features[name] = datasets.ClassLabel(names=sorted(set(values)))
        else:
            features[name] = datasets.Value("float64" if any(isinstance(v, float) for v in values) else "int64")
    plain = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
    return plain.cast_column("audio", datasets.Audio())


def _label_names(rows: list[Row]) -> list[str]:
    return [name for name in rows[0] if name not in ("key", "audio", "ext")]


def _audiofolder(rows: Mapping[str, list[Row]], out: Path) -> Path:
    """``<split>/<key>.<ext>`` with ``<split>/metadata.csv`` naming each file's label fields."""
    for split, split_rows in rows.items():
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        names = _label_names(split_rows)
        with (folder / "metadata.csv").open("w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["file_name", *names])
            for row in split_rows:
                (folder / f"{row['key']}.{row['ext']}").write_bytes(row["audio"])
                writer.writerow([f"{row['key']}.{row['ext']}", *(row[name] for name in names)])
    return out


def write_hear(
    splits: Mapping[str, Sequence[Path]], out: Path, labels_of: Callable[[Row], Any], event: bool, rate: int
) -> Path:
    """The shards of each split (or fold) as a HEAR task folder: ``labels_of`` gives a clip's HEAR labels (a list of
    names, or of ``{label, start, end}`` events in milliseconds); the audio goes to ``<rate>/<split>/``."""
    vocabulary: set[str] = set()
    for split, shards in splits.items():
        folder = out / str(rate) / split
        folder.mkdir(parents=True, exist_ok=True)
        labels = {}
        for row in shard_rows(shards):
            name = f"{row['key']}.{row['ext']}"
            (folder / name).write_bytes(row["audio"])
            labels[name] = labels_of(row)
            vocabulary.update(str(item["label"] if event else item) for item in labels[name])
        (out / f"{split}.json").write_text(json.dumps(labels, indent=1))
    with (out / "labelvocabulary.csv").open("w", newline="") as stream:
        csv.writer(stream).writerows([("idx", "label"), *enumerate(sorted(vocabulary))])
    kfold = all(split.startswith("fold") for split in splits)
    write_json(out / "task_metadata.json", {
        "task_name": out.name, "version": "demo", "embedding_type": "event" if event else "scene",
        "prediction_type": "multilabel" if event else "multiclass",
        "split_mode": "presplit_kfold" if kfold else "trainvaltest", "nfolds": len(splits) if kfold else None,
        "sample_rate": rate,
    })  # fmt: skip
    return out


def generate_huggingface_timbre(out_dir: Path, seed: int, args: dict) -> list[Path]:
    """The demo timbre task as a local Hugging Face dataset (``args.layout``: saved, parquet or audiofolder)."""
    layout = str(args.pop("layout", "saved"))  # ``generate`` hands over its own copy of the arguments
    with _demo_splits("timbre", out_dir, seed, args) as splits:
        return [write_huggingface(splits, out_dir, layout)]


def generate_hear_sounds(out_dir: Path, seed: int, args: dict) -> list[Path]:
    """The demo sounds task (k-fold) as a HEAR task folder: folds fold00.., labels by class name."""
    from xares_hydra.demo.tasks import SOUNDS

    names = list(SOUNDS)
    with _demo_splits("sounds", out_dir, seed, args) as folds:
        hear_folds = {f"fold{int(fold.removeprefix('fold')) - 1:02d}": shards for fold, shards in folds.items()}
        return [write_hear(hear_folds, out_dir, lambda row: [names[row["label"]]], event=False, rate=16000)]


@contextlib.contextmanager
def _demo_splits(name: str, out_dir: Path, seed: int, args: dict) -> Iterator[dict[str, list[Path]]]:
    """The demo task ``name`` generated into a scratch folder beside ``out_dir``: its shards by split (or fold)."""
    from xares_hydra.demo.tasks import generate

    with tempfile.TemporaryDirectory(dir=out_dir.parent) as scratch:
        splits: dict[str, list[Path]] = {}
        for shard in sorted(generate(name, Path(scratch), seed, args)):  # demo_<task>_<split>_000000.tar
            splits.setdefault(shard.name.rsplit("_", 2)[-2], []).append(shard)
        yield splits


# stand-ins in other benchmarks' formats, read by the huggingface and hear sources (they return their folder)
STAND_INS = {"huggingface_timbre": generate_huggingface_timbre, "hear_sounds": generate_hear_sounds}
