#!/usr/bin/env python
"""Write conf/task/maeb/*.yaml from the installed ``mteb`` package's task metadata (MAEB(v1), the core set).

    pip install 'xares-hydra[mteb]' && python scripts/maeb_tasks.py

Only the task types our heads run are written (audio classification, multi-label classification); the README
("Other benchmarks' tasks") says which MAEB types are left out and why. tests/test_packs.py checks the files
against mteb's metadata.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import mteb
import yaml

BENCHMARK = "MAEB(v1)"
PACK = Path(__file__).resolve().parents[1] / "conf" / "task" / "maeb"
RUN_TYPES = ("AudioClassification", "AudioMultilabelClassification")
FOLDS = 5  # mteb's n_splits for its cross-validated classification tasks


def option(name: str, subset: str | None = None) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"{stem}_{subset.lower()}" if subset else stem


def document(task: Any, subset: str | None) -> dict[str, Any]:
    meta = task.metadata
    multilabel = meta.type == "AudioMultilabelClassification"
    source: dict[str, Any] = {
        "id": meta.dataset["path"],
        "revision": meta.dataset["revision"],
        "config": subset,
        "audio_column": task.input_column_name,
        "columns": [task.label_column_name],
    }
    cross_validated = getattr(task, "is_cross_validation", False)
    if cross_validated:  # mteb scores k-fold cross-validation within its one split
        source |= {"folds_from": meta.eval_splits[0], "seed": 0}
        layout: dict[str, Any] = {"splits": None, "folds": list(range(1, FOLDS + 1))}
    else:
        source |= {"splits": {"train": task.train_split, "test": meta.eval_splits[0]}, "valid_from_train": 0.1}
        layout = {}
    label: dict[str, Any] = {"rule": "multi_hot" if multilabel else "class_map", "key": task.label_column_name}
    if multilabel:  # a list of names, or names joined by commas as in FSDKaggle2019's own CSV files
        label["args"] = {"separator": ","}
    scoring = {"metric": "mAP", "criterion": "BCEWithLogitsLoss"} if multilabel else {"metric": "accuracy"}
    return {
        "defaults": ["/schema/task@_here_", "_self_"],
        "name": f"maeb_{option(meta.name, subset)}",
        "formal_name": f"{meta.name} ({subset})" if subset else meta.name,
        "tags": ["maeb"],
        "version": 1,
        "license": str(meta.license),
        "huggingface": source,
        **layout,
        "label": label,
        **scoring,
    }


def header(task: Any) -> str:
    meta = task.metadata
    description = " ".join(meta.description.split())
    return (
        f"# MAEB {meta.name} ({meta.type}, main score {meta.main_score}): {description}\n"
        f"# Written by scripts/maeb_tasks.py from mteb {mteb.__version__}'s task metadata; MAEB probes it with\n"
        f'# {getattr(task, "samples_per_label", 8)} training clips per class (README, "Other benchmarks\' tasks").\n'
    )


def main() -> int:
    PACK.mkdir(parents=True, exist_ok=True)
    written = []
    for task in mteb.get_benchmark(BENCHMARK).tasks:
        if task.metadata.type not in RUN_TYPES:
            continue
        subsets = [name for name in task.metadata.hf_subsets if name != "default"]
        if len(subsets) > 2:  # scored per language over many configs: not one task of ours
            print(f"left out {task.metadata.name}: {len(subsets)} language subsets", file=sys.stderr)
            continue
        for subset in subsets or [None]:
            content = document(task, subset)
            path = PACK / f"{option(task.metadata.name, subset)}.yaml"
            path.write_text(header(task) + yaml.safe_dump(content, sort_keys=False, width=120))
            written.append(path.name)
    print(f"wrote {len(written)} task(s) to {PACK}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
