#!/usr/bin/env python
"""Write conf/task/maeb/*.yaml from the installed ``mteb`` package's task metadata (MAEB(v1), the core set).

    pip install 'xares-hydra[mteb]' && python scripts/maeb_tasks.py

Only the task types our heads run are written (audio classification, multi-label classification, and the
audio-text retrieval tasks whose data is one table of clips and their captions); the README ("Other benchmarks'
tasks") says which MAEB types are left out and why. A task with several subsets (dataset configurations:
FSD2019Kaggle's two, the languages of MInDS14, SIBFLEURS, CommonVoice and FLEURS) is one YAML per subset, each
weighing 1/<subsets> in the average (MTEB averages a task's subsets into its score); with more than two they go in a
folder of their own (``task=maeb/minds14/en_gb``). tests/test_packs.py checks the files against mteb's metadata.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import mteb
import yaml

BENCHMARK = "MAEB(v1)"
PACK = Path(__file__).resolve().parents[1] / "conf" / "task" / "maeb"
RUN_TYPES = ("AudioClassification", "AudioMultilabelClassification")
FOLDS = 5  # mteb's n_splits for its cross-validated classification tasks
# retrieval tasks whose loader (mteb's ``load_data``) reads one table: its key, audio and caption columns, and the
# separator joining a clip's captions in one text. mteb's other audio retrieval tasks read its corpus/queries/qrels
# tables, joined by ids, which task.huggingface (one table) does not read.
# CommonVoice's and FLEURS's tables are one per language (a configuration each), a clip's caption its transcript;
# FLEURS's id names the sentence, which several recordings share, so its clips are named by row.
CAPTION_TABLES = {
    "ClothoT2ARetrieval": {"key_column": "index", "audio_column": "audio", "text": "text", "separator": "."},
    "CommonVoiceMini21T2ARetrieval": {"key_column": "path", "audio_column": "audio", "text": "sentence"},
    "FleursT2ARetrieval": {"key_column": None, "audio_column": "audio", "text": "transcription"},
}
# the text tower of the transcript tasks, ~100 languages each: hashed words of any script (no download, every script
# covered), as many buckets as bert-base-uncased has tokens, so the tower is the size of Clotho's
MULTILINGUAL_TEXT = {"tokenizer": "builtin_unicode", "vocab_size": 32768}
# what a task's YAML says of how our protocol scores it, beyond the retrieval tasks' common header
NOTES = {
    "FleursT2ARetrieval": "FLEURS holds several recordings of many sentences; our head's match is the clip a "
    "transcript came with,\n# so a sentence's recordings are dealt into different folds (spread_column; README)."
}
# X-ARES's Clotho probe (conf/task/clotho.yaml), trained on the pack task's own captions
RETRIEVAL_PROBE = {
    "crop_length": 30,
    "batch_size_train": 128,
    "epochs": 20,
    "metric": "recallatk_r1",
    "criterion": "AudioTextContrastiveLoss",
    "do_knn": False,
    "head_args": {
        "tokenizer": "bert-base-uncased",
        "tokenizer_download": False,
        "hidden_dim": 1024,
        "temperature": 0.07,
        "x_ares_loss": False,
    },
}
# the corpus each task's audio comes from (matched against an encoder's meta.training_data), as its mteb
# description, reference or citation names it, written as the X-ARES tasks write the same corpora
CORPUS = {
    "BeijingOpera": ["Beijing Opera Percussion"],
    "BirdCLEF": ["BirdCLEF+ 2025"],
    "CommonLanguageAgeDetection": ["CommonLanguage"],
    "CREMA_D": ["CREMA-D"],
    "FSD2019Kaggle": ["FSDKaggle2019"],
    "GTZANGenre": ["GTZAN"],
    "IEMOCAPGender": ["IEMOCAP"],
    "MridinghamTonic": ["Mridingham-Tonic"],
    "VoxCelebSA": ["VoxCeleb"],
    "VoxPopuliLanguageID": ["VoxPopuli"],
    "ClothoT2ARetrieval": ["Clotho"],
    "MInDS14": ["MInDS-14"],
    "SIBFLEURS": ["FLEURS"],  # SIB-Fleurs: FLEURS's recordings with SIB-200's topic labels
    "CommonVoiceMini21T2ARetrieval": ["Common Voice"],
    "FleursT2ARetrieval": ["FLEURS"],
}
SUBFOLDER_OVER = 2  # subsets beyond which a task's YAMLs go in a folder of their own


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def option(name: str, subset: str | None = None) -> str:
    return f"{slug(name)}_{slug(subset)}" if subset else slug(name)


def path_of(name: str, subset: str | None, subsets: int) -> Path:
    """The YAML's file: ``maeb/<task>.yaml``, ``maeb/<task>_<subset>.yaml``, or ``maeb/<task>/<subset>.yaml``."""
    if subset is not None and subsets > SUBFOLDER_OVER:
        return PACK / slug(name) / f"{slug(subset)}.yaml"
    return PACK / f"{option(name, subset)}.yaml"


def identity(task: Any, subset: str | None, subsets: int = 1) -> dict[str, Any]:
    meta = task.metadata
    weight = {"eval_weight": round(1 / subsets, 6)} if subsets > 1 else {}
    return {
        "defaults": ["/schema/task@_here_", "_self_"],
        "name": f"maeb_{option(meta.name, subset)}",
        "formal_name": f"{meta.name} ({subset})" if subset else meta.name,
        "corpus": CORPUS[meta.name],
        "tags": ["maeb"],
        "version": 1,
        "license": str(meta.license),
        **weight,
    }


def retrieval_document(task: Any, subset: str | None, subsets: int) -> dict[str, Any]:
    """A caption-table retrieval task: MAEB scores its one (test) split, dealt here into folds for our probe."""
    meta, table = task.metadata, CAPTION_TABLES[task.metadata.name]
    source = {
        "id": meta.dataset["path"],
        "revision": meta.dataset["revision"],
        "config": subset or meta.dataset.get("name"),
        "audio_column": table["audio_column"],
        "key_column": table["key_column"],
        "columns": [table["text"]],
        "folds_from": meta.eval_splits[0],
        "seed": 0,
    }
    label: dict[str, Any] = {"rule": "captions", "key": table["text"]}
    if "separator" in table:  # several captions in one text
        label["args"] = {"separator": table["separator"]}
    probe = RETRIEVAL_PROBE
    if subset is not None:  # one language of many; a sentence read more than once is read in different folds
        probe = {**probe, "head_args": {**probe["head_args"], **MULTILINGUAL_TEXT}}
        source["spread_column"] = table["text"]
    return {
        **identity(task, subset, subsets),
        "task_type": "contrastive",
        "huggingface": source,
        "splits": None,
        "folds": list(range(1, FOLDS + 1)),
        "label": label,
        **probe,
    }


def document(task: Any, subset: str | None, subsets: int) -> dict[str, Any]:
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
        **identity(task, subset, subsets),
        "huggingface": source,
        **layout,
        "label": label,
        **scoring,
    }


def header(task: Any) -> str:
    meta = task.metadata
    description = " ".join(meta.description.split())
    if meta.name in CAPTION_TABLES:
        protocol = (
            f"# MAEB scores its {meta.eval_splits[0]} split zero-shot ({meta.category}, a model's text tower); here\n"
            "# a probe learns audio->text on four of five folds of it and scores the fifth (recall@1 both ways;\n"
            "# recall@5 in the record): not comparable with MAEB's numbers (README, \"Other benchmarks' tasks\").\n"
        )
    else:
        protocol = (
            f"# MAEB probes it with {getattr(task, 'samples_per_label', 8)} training clips per class "
            '(README, "Other benchmarks\' tasks").\n'
        )
    if len(meta.hf_subsets) > 1:
        protocol += (
            f"# One of its {len(meta.hf_subsets)} subsets (dataset configurations), each scored alone; MTEB averages "
            "them into the task's score,\n# so each weighs 1/<subsets> in our weighted average.\n"
        )
        if meta.name in CAPTION_TABLES:
            protocol += (
                f"# A clip's caption is its transcript, tokenized by {MULTILINGUAL_TEXT['tokenizer']} (hashed words of "
                "any script, no download; README).\n"
            )
    if meta.name in NOTES:
        protocol += f"# {NOTES[meta.name]}\n"
    return (
        f"# MAEB {meta.name} ({meta.type}, main score {meta.main_score}): {description}\n"
        f"# Written by scripts/maeb_tasks.py from mteb {mteb.__version__}'s task metadata.\n{protocol}"
    )


def main() -> int:
    PACK.mkdir(parents=True, exist_ok=True)
    written = []
    for task in mteb.get_benchmark(BENCHMARK).tasks:
        retrieval = task.metadata.name in CAPTION_TABLES
        if not retrieval and task.metadata.type not in RUN_TYPES:
            continue
        subsets = [name for name in task.metadata.hf_subsets if name != "default"]
        for subset in subsets or [None]:
            content = (retrieval_document if retrieval else document)(task, subset, len(subsets))
            path = path_of(task.metadata.name, subset, len(subsets))
            path.parent.mkdir(exist_ok=True)
            path.write_text(header(task) + yaml.safe_dump(content, sort_keys=False, width=120))
            written.append(path.relative_to(PACK).as_posix())
    print(f"wrote {len(written)} task(s) to {PACK}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
