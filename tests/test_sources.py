"""Task sources beyond X-ARES's tars: a local Hugging Face dataset (saved, parquet, audiofolder) and a HEAR task
folder, built from the demo's generated audio, run end to end; a hub id with no network fails in one line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.cli import run_xares

from xares_hydra.data.hear import build_hear
from xares_hydra.data.huggingface import HuggingFaceSchema, Splits, partition_rows
from xares_hydra.data.prepare import DataOptions, prepare_task_data
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.demo.formats import HF_LAYOUTS, write_hear, write_huggingface
from xares_hydra.demo.tasks import generate
from xares_hydra.errors import ConfigError, DataUnavailable

SMALL = {"train_per_class": 12, "valid_per_class": 4, "test_per_class": 6}
QUICK = {"epochs": 20, "learning_rate": 0.01, "do_knn": False}


def timbre_splits(folder: Path, seed: int = 0) -> dict[str, list[Path]]:
    """The demo timbre task (five instruments) at its smallest, as split name -> shards."""
    paths = generate("timbre", folder, seed, SMALL)
    return {split: [path for path in paths if f"_{split}_" in path.name] for split in ("train", "valid", "test")}


def task_yaml(config_dir: Path, name: str, body: dict[str, Any]) -> str:
    """A task YAML in a user's config folder, as a user adds one; returns its ``task=`` option."""
    document = {"defaults": ["/schema/task@_here_", "_self_"], "name": name, **QUICK, **body}
    (config_dir / "task").mkdir(parents=True, exist_ok=True)
    (config_dir / "task" / f"{name}.yaml").write_text(yaml.safe_dump(document))
    return f"task={name}"


def mlp_scores(xares_run, root: Path, config_dir: Path, task: str) -> dict[str, float]:
    scores = {}
    for encoder in ("mel", "noise"):
        record, _ = xares_run(task, f"encoder={encoder}", root=root, config_dir=config_dir)
        assert record["status"] == "ok", record
        scores[encoder] = record["scores"]["mlp"]["score"]
    return scores


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "streaming"), [*((layout, False) for layout in HF_LAYOUTS), ("parquet", True)])
def test_a_local_hugging_face_dataset_runs_end_to_end_and_scores_above_noise(
    layout, streaming, tmp_path, xares_root, xares_run
):
    dataset = write_huggingface(timbre_splits(tmp_path / "shards"), tmp_path / f"hf-{layout}", layout)
    source = {"local_dir": str(dataset), "splits": {"train": "train", "valid": "valid", "test": "test"},
              "streaming": streaming}  # fmt: skip
    name = f"hf_{layout}{'_streamed' if streaming else ''}"
    task = task_yaml(tmp_path / "conf", name, {
        "huggingface": source, "label": {"rule": "class_map", "key": "instrument"},
    })  # fmt: skip
    scores = mlp_scores(xares_run, xares_root, tmp_path / "conf", task)
    assert scores["mel"] > 0.6 > scores["noise"] + 0.15, scores  # five classes: chance is 0.2
    marker = json.loads((xares_root / "data" / name / ".audio_tar_ready").read_text())
    assert marker["classes"] == ["bell", "reed", "sawtooth", "sine", "square"]
    assert marker["clips"] == {"train": 60, "valid": 20, "test": 30}


@pytest.mark.slow
def test_a_hear_folder_runs_end_to_end_with_its_folds_and_scores_above_noise(tmp_path, xares_root, xares_run):
    shards = generate("sounds", tmp_path / "shards", 0, {"per_class": 6, "folds": 3})
    folds = {f"fold0{n}": [path for path in shards if f"_fold{n + 1}_" in path.name] for n in range(3)}
    sounds = ["tone", "chirp", "white_noise", "brown_noise", "clicks", "tremolo"]
    hear = write_hear(folds, tmp_path / "sounds-v1-full", lambda row: [sounds[row["label"]]], event=False, rate=16000)
    task = task_yaml(tmp_path / "conf", "hear_sounds", {
        "hear": {"path": str(hear)}, "splits": None, "folds": ["00", "01", "02"],
        "label": {"rule": "class_map", "key": "label"},
    })  # fmt: skip
    scores = mlp_scores(xares_run, xares_root, tmp_path / "conf", task)
    assert scores["mel"] > 0.45 > scores["noise"] + 0.1, scores  # six classes: chance is 1/6


def test_a_hear_event_task_becomes_a_frame_task_with_events_in_seconds(tmp_path):
    shards = generate("events", tmp_path / "shards", 0, {"train": 3, "valid": 2, "test": 2})
    splits = {split: [path for path in shards if f"_{split}_" in path.name] for split in ("train", "valid", "test")}

    def in_ms(row: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"label": e["label"], "start": e["onset"] * 1000, "end": e["offset"] * 1000} for e in row["labels"]]

    hear = write_hear(splits, tmp_path / "events-v1-full", in_ms, event=True, rate=16000)
    label = {"rule": "events", "key": "events", "args": {"separator": ""}}
    task = TaskSpec.from_config({"name": "hear_events", "task_type": "frame", "hear": {"path": str(hear)},
                                 "label": label})  # fmt: skip
    data = prepare_task_data(task, tmp_path / "data", DataOptions())
    assert data.provenance["classes"] == ["beep", "chirp", "clicks", "noise_burst"]
    assert sorted(data.shards) == ["test", "train", "valid"]
    from xares_hydra.data.shards import iter_shard

    original = {sample.key: sample.labels for shard in splits["test"] for sample in iter_shard(shard)}
    built = {sample.key: sample.labels["events"] for sample in iter_shard(data.shards["test"][0])}
    assert built == original, "onsets and offsets come back in seconds, labels as named"
    clip_task = TaskSpec.from_config({"name": "hear_events", "hear": {"path": str(hear)}, "label": label})
    with pytest.raises(ConfigError, match=r"HEAR event task; task\.task_type=clip should be frame"):
        build_hear(clip_task, tmp_path / "other", tmp_path)


def test_a_missing_hear_folder_names_the_file_and_where_to_get_it(tmp_path):
    task = TaskSpec.from_config({"name": "hear_x", "hear": {"path": "nowhere"}, "label": {"rule": "class_map"}})
    with pytest.raises(DataUnavailable, match=r"nowhere/task_metadata.json is missing\. HEAR's task folders .*Zenodo"):
        prepare_task_data(task, tmp_path, DataOptions())


def test_valid_split_is_carved_from_train_with_a_seed_and_folds_are_dealt_or_read(tmp_path):
    import datasets

    loaded = Splits(datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"fold": [1, 2, 3] * 10, "x": list(range(30))}),
        "test": datasets.Dataset.from_dict({"fold": [1] * 5, "x": list(range(5))}),
    }))  # fmt: skip
    task = TaskSpec.from_config({"name": "t", "huggingface": {"id": "a/b"}, "label": {"rule": "class_map"}})
    config = HuggingFaceSchema(splits={"train": "train", "test": "test"}, valid_from_train=0.2, seed=3)
    rows = partition_rows(task, config, loaded)
    assert len(rows["valid"][1]) == 6 and len(rows["train"][1]) == 24 and rows["test"] == ("test", None)  # all
    assert not set(rows["valid"][1]) & set(rows["train"][1])
    assert partition_rows(task, config, loaded) == rows, "the same seed draws the same clips"
    other = partition_rows(task, HuggingFaceSchema(**{**config.__dict__, "seed": 4}), loaded)
    assert other["valid"] != rows["valid"]

    kfold = TaskSpec.from_config({"name": "t", "huggingface": {"id": "a/b"}, "splits": None, "folds": [1, 2, 3],
                                  "label": {"rule": "class_map"}})  # fmt: skip
    by_column = partition_rows(kfold, HuggingFaceSchema(folds_from="train", fold_column="fold"), loaded)
    assert by_column["fold2"] == ("train", list(range(1, 30, 3)))
    dealt = partition_rows(kfold, HuggingFaceSchema(folds_from="train", seed=0), loaded)
    assert sorted(i for _, rows_ in dealt.values() for i in rows_) == list(range(30))
    assert {len(rows_) for _, rows_ in dealt.values()} == {10}
    with pytest.raises(ConfigError, match="names no split for valid"):
        partition_rows(task, HuggingFaceSchema(splits={"train": "train", "test": "test"}), loaded)


@pytest.mark.slow
@pytest.mark.parametrize("streaming", [False, True])
def test_an_unreachable_hub_dataset_ends_in_one_line_with_its_id_revision_and_recipe(streaming, tmp_path, xares_root):
    task = task_yaml(tmp_path / "conf", "hub_task", {
        "huggingface": {"id": "someone/some-audio", "revision": "0123abc", "splits": {"train": "train",
                        "valid": "validation", "test": "test"}, "streaming": streaming},
        "label": {"rule": "class_map", "key": "label"},
    })  # fmt: skip
    started = time.monotonic()
    result = run_xares(
        "--config-dir", str(tmp_path / "conf"), task, "encoder=noise", "data.timeout=5",
        root=xares_root, check=False, env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"},
    )  # fmt: skip
    assert time.monotonic() - started < 60
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    message = " ".join(output.split())  # the console wraps the one logged line at its width
    assert message.count("someone/some-audio (revision 0123abc)") == 1, output
    assert "Hugging Face dataset someone/some-audio (revision 0123abc) cannot be read" in message
    assert "hf download someone/some-audio --repo-type dataset --revision 0123abc" in message
    assert "task.huggingface.local_dir=" in message
    assert not (xares_root / "data" / "hub_task").exists(), "no empty task folder is left behind"


@pytest.mark.slow
@pytest.mark.parametrize("option", ["demo/hf_timbre", "demo/hear_sounds"])
def test_the_demo_stand_ins_generate_their_source_folder_and_rebuild_when_it_changes(option, tmp_path):
    from helpers.cli import composed

    from xares_hydra.config.settings import plain

    def prepared(scale: float):
        cfg = composed(f"task={option}", f"task.generator.args.scale={scale}")
        return prepare_task_data(TaskSpec.from_config(plain(cfg.task)), tmp_path, DataOptions())

    small = prepared(0.2)
    clips = small.provenance["clips"]
    assert set(clips) == set(small.shards) and all(count > 0 for count in clips.values())
    assert small.provenance.get("classes") and len(small.provenance["classes"]) in (5, 6)
    assert (tmp_path / TaskSpec.from_config(plain(composed(f"task={option}").task)).source_folder).is_dir()
    larger = prepared(0.4)
    assert sum(larger.provenance["clips"].values()) > sum(clips.values()), "a new generation rebuilds the shards"


def built_clips(task: TaskSpec, data_root: Path) -> tuple[dict[str, list[tuple[str, Any]]], dict[str, Any]]:
    """Partition -> its clips' (key, labels) in shard order, and the provenance, of the task's built shards."""
    from xares_hydra.data.shards import iter_shard

    data = prepare_task_data(task, data_root, DataOptions())
    clips = {partition: [(s.key, s.labels) for shard in shards for s in iter_shard(shard)]
             for partition, shards in data.shards.items()}  # fmt: skip
    return clips, {key: data.provenance[key] for key in ("clips", "classes")}


HF_MAPPINGS = {  # how a dataset's splits become the task's partitions
    "valid_from_train": {"huggingface": {"splits": {"train": "train", "test": "test"}, "valid_from_train": 0.25,
                                         "seed": 7}},
    "dealt_folds": {"huggingface": {"folds_from": "train", "seed": 3}, "splits": None, "folds": [1, 2, 3]},
    "fold_column": {"huggingface": {"folds_from": "test", "fold_column": "instrument"}, "splits": None,
                    "folds": [0, 1, 2, 3, 4]},
    "valid_is_test": {"huggingface": {"splits": {"train": "train", "valid": "test", "test": "test"}}},
}  # fmt: skip


@pytest.mark.parametrize("mapping", sorted(HF_MAPPINGS))
def test_a_streamed_dataset_gives_the_clips_of_the_cached_one(mapping, tmp_path, caplog):
    """task.huggingface.streaming reads the rows as datasets' IterableDataset: the same clips in every partition
    (a drawn valid split, dealt folds, folds by a column), the same labels and class list, as read cached."""
    caplog.set_level(logging.INFO, logger="xares_hydra.data.huggingface")
    dataset = write_huggingface(timbre_splits(tmp_path / "shards"), tmp_path / "hf", "parquet")
    body = HF_MAPPINGS[mapping]
    built = {}
    for streaming in (True, False):  # streamed first: no cached read has left the splits' sizes in datasets' cache
        source = {"local_dir": str(dataset), **body["huggingface"], "streaming": streaming}
        task = TaskSpec.from_config({"name": f"hf_{streaming}", **body, "huggingface": source,
                                     "label": {"rule": "class_map", "key": "instrument"}})  # fmt: skip
        built[streaming] = built_clips(task, tmp_path / "data")
    assert built[True] == built[False]
    clips, provenance = built[True]
    assert provenance["classes"] == ["bell", "reed", "sawtooth", "sine", "square"]
    assert len(clips) == (len(body["folds"]) if "folds" in body else 3)
    assert all(clips.values()), "every partition has clips"
    if mapping == "valid_from_train":
        assert len(clips["valid"]) == 15 and len(clips["train"]) == 45, "a quarter of train's 60 clips"
        assert all(key.startswith("train-") for key, _ in clips["valid"])
    if mapping == "valid_is_test":
        assert clips["valid"] == clips["test"] and len(clips["test"]) == 30, "one split, two partitions"
    counted = "Counting the rows of split" in caplog.text
    assert counted == (mapping in ("valid_from_train", "dealt_folds")), "a split drawn from is counted, no other"


def test_a_streamed_split_uses_the_size_its_metadata_gives_and_a_wrong_one_is_one_line(tmp_path, caplog):
    dataset = write_huggingface(timbre_splits(tmp_path / "shards"), tmp_path / "hf", "parquet")
    source = {"local_dir": str(dataset), "splits": {"train": "train", "test": "test"}, "valid_from_train": 0.25,
              "streaming": True}  # fmt: skip
    label = {"rule": "class_map", "key": "instrument"}
    caplog.set_level(logging.INFO, logger="xares_hydra.data.huggingface")

    def card(train_rows: int) -> None:  # a hub dataset's card: its splits' sizes in the dataset_info metadata
        splits = "".join(f"  - name: {name}\n    num_bytes: 0\n    num_examples: {rows}\n"
                         for name, rows in (("train", train_rows), ("valid", 20), ("test", 30)))  # fmt: skip
        (dataset / "README.md").write_text(f"---\ndataset_info:\n  splits:\n{splits}---\n")

    card(60)
    clips, _ = built_clips(TaskSpec.from_config({"name": "hf_card", "huggingface": source, "label": label}),
                           tmp_path / "data")  # fmt: skip
    assert len(clips["valid"]) == 15 and "Counting the rows" not in caplog.text
    card(61)
    wrong = TaskSpec.from_config({"name": "hf_wrong", "huggingface": source, "label": label})
    with pytest.raises(DataUnavailable, match=r"task hf_wrong: the folder \S+ cannot be read \(ValueError: split "
                       r"train streamed 60 rows, but the dataset's metadata gives 61.*streaming=false\)"):  # fmt: skip
        prepare_task_data(wrong, tmp_path / "data", DataOptions())


def test_streaming_a_saved_dataset_or_an_audiofolder_is_one_line_saying_to_read_it_cached(tmp_path):
    splits = timbre_splits(tmp_path / "shards")
    for layout, kind in (("saved", "a saved dataset"), ("audiofolder", "an audiofolder")):
        folder = write_huggingface(splits, tmp_path / layout, layout)
        source = {"local_dir": str(folder), "splits": {"train": "train", "valid": "valid", "test": "test"},
                  "streaming": True}  # fmt: skip
        task = TaskSpec.from_config({"name": f"hf_{layout}", "huggingface": source,
                                     "label": {"rule": "class_map", "key": "instrument"}})  # fmt: skip
        with pytest.raises(ConfigError, match=f"reads a hub id or a folder of parquet files; .* is {kind}, read "
                           "from disk as it is: set task.huggingface.streaming=false"):  # fmt: skip
            prepare_task_data(task, tmp_path / "data", DataOptions())


def test_a_missing_local_dataset_folder_is_one_line_naming_it_and_leaves_no_task_folder(tmp_path):
    source = {"local_dir": "absent", "splits": {"train": "train", "valid": "valid", "test": "test"}}
    task = TaskSpec.from_config({"name": "hf_x", "huggingface": source, "label": {"rule": "class_map", "key": "y"}})
    with pytest.raises(DataUnavailable, match=r"the folder \S*absent cannot be read \(FileNotFoundError: no folder"):
        prepare_task_data(task, tmp_path, DataOptions())
    assert not (tmp_path / "hf_x").exists()


@pytest.mark.slow
def test_a_regression_task_reads_its_float_targets_from_hugging_face_columns(tmp_path, xares_root, xares_run):
    """speechocean762's path: targets are float columns of a Hugging Face dataset (here the demo pitch task's)."""
    paths = generate("pitch", tmp_path / "shards", 0, {"scale": 0.5})
    splits = {split: [path for path in paths if f"_{split}_" in path.name] for split in ("train", "valid", "test")}
    dataset = write_huggingface(splits, tmp_path / "hf-pitch", "parquet")
    task = task_yaml(tmp_path / "conf", "hf_pitch", {
        "task_type": "regression", "huggingface": {"local_dir": str(dataset), "splits": {"train": "train",
        "test": "test"}, "valid_from_train": 0.2}, "label": {"rule": "targets", "args": {"keys": ["pitch"]}},
        "metric": "mse", "criterion": "MSELoss", "eval_weight": 0, "epochs": 30,
    })  # fmt: skip
    scores = mlp_scores(xares_run, xares_root, tmp_path / "conf", task)
    assert scores["mel"] < 0.5 * scores["noise"], scores  # mean squared error in semitones²: lower is better
