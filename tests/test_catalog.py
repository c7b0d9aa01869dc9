"""The X-ARES task catalog: every task YAML against a miniature copy of its real dataset.

The miniature datasets (tests/helpers/xares_datasets.py) are written from X-ARES's facts, not from our
YAMLs: a YAML with a wrong record, tar pattern, label field, class order, crop length or weight
fails here. End-to-end runs go through the real ``xares`` command and a local stand-in for
Zenodo's API (tests/zenodo_server.py), so they download, verify, encode and score as users do.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli import REPO, composed
from helpers.xares_datasets import (
    BUILDERS,
    FACTS,
    check_downloaded_once,
    check_scores,
    check_zenodo_record,
    closed_port_api,
    expected_target,
    mini_dataset,
    private_tasks,
    public_clip_tasks,
    run_in_process,
    run_sweep,
    unwrapped,
    zenodo_records,
)
from helpers.zenodo_server import FakeZenodo
from omegaconf import OmegaConf

import xares_hydra.config.schema  # noqa: F401  (registers the config schemas)
from xares_hydra.data.labels import CAPTIONS, EVENTS, MULTI, TRANSCRIPT, convert_labels
from xares_hydra.data.prepare import find_shards
from xares_hydra.data.taskspec import TaskSpec
from xares_hydra.heads import HEADS

TASK_DIR = REPO / "conf" / "task"
TASK_YAMLS = sorted(path.stem for path in TASK_DIR.glob("*.yaml") if not path.stem.startswith("demo_"))
NON_CLIP_TASKS = ("desed", "maestro", "clotho", "librispeech")
HEAD_OF_TASK_TYPE = {"frame": ("frame_probe", "frame.py"), "contrastive": ("retrieval", "retrieval.py"),
                     "asr": ("asr", "asr.py")}  # fmt: skip
# offline and fast: a download-free tokenizer and language model, few epochs ("++": set or add)
NON_CLIP_OVERRIDES = {
    "desed": ["task.epochs=3"],
    "maestro": ["task.epochs=3"],
    "clotho": ["++task.head_args.tokenizer=builtin", "task.epochs=3"],
    "librispeech": ["++task.head_args.language_model=builtin-tiny", "++task.head_args.max_new_tokens=16",
                    "task.epochs=2"],
}  # fmt: skip
SLOW_NON_CLIP = {"librispeech"}


@functools.cache
def composed_task(name: str) -> TaskSpec:
    return TaskSpec.from_config(OmegaConf.to_container(composed(f"task={name}").task, resolve=True))


# ---------------------------------------------------------------------------------------------
# every YAML against the facts (fast: no subprocess)


def test_every_task_yaml_has_a_miniature_dataset():
    assert set(TASK_YAMLS) <= set(BUILDERS), "add a builder to tests/helpers/xares_datasets.py for each new task"
    assert set(public_clip_tasks()) <= set(TASK_YAMLS), "an X-ARES clip task has no YAML"
    assert set(private_tasks()) <= set(TASK_YAMLS), "an X-ARES private task has no YAML"


@pytest.mark.parametrize("name", TASK_YAMLS)
def test_task_yaml_matches_the_xares_facts(name):
    task, facts = composed_task(name), FACTS[name]
    assert (task.zenodo_id, task.private) == (facts.record, facts.private)
    assert (task.task_type, task.crop_length) == (facts.task_type, facts.crop_length)
    assert (task.eval_weight, task.do_knn) == (facts.eval_weight, facts.knn)


@pytest.mark.parametrize("name", TASK_YAMLS)
def test_task_patterns_find_exactly_the_records_shards(name, tmp_path):
    mini = mini_dataset(name)
    found = find_shards(composed_task(name), mini.write(tmp_path))
    assert {partition: [path.name for path in paths] for partition, paths in found.items()} == {
        partition: sorted(tars) for partition, tars in mini.partitions.items()
    }


@pytest.mark.parametrize("name", TASK_YAMLS)
def test_task_label_rule_gives_the_xares_targets(name):
    task, mini = composed_task(name), mini_dataset(name)
    samples = [clip.sample for clips in mini.tars().values() for clip in clips]
    targets, problems = convert_labels([sample.labels for sample in samples], task.label)
    assert problems == []
    assert [comparable(target, task.label.kind) for target in targets] == [
        expected_target(name, sample) for sample in samples
    ]


def comparable(target: Any, kind: str) -> Any:
    if kind == MULTI:
        return tuple(int(index) for index in np.flatnonzero(target))
    if kind == EVENTS:
        return [(pytest.approx(onset), pytest.approx(offset), index) for onset, offset, index in target]
    if kind in (CAPTIONS, TRANSCRIPT):
        return target
    return int(target)


# ---------------------------------------------------------------------------------------------
# end to end through ``xares`` and FakeZenodo


def check_weighted_averages(summary: dict[str, Any], records: dict[str, dict[str, Any]]) -> None:
    """summary.json's averages are sum(score * weight) / sum(weight), with X-ARES's weights."""
    averages = {entry["scope"]: entry for entry in summary["averages"]}
    scored = [record for record in records.values() if record["status"] == "ok"]
    for slot in ("mlp", "knn"):
        weighted = [(r["scores"][slot]["score"], FACTS[r["task"]["name"]].eval_weight) for r in scored
                    if slot in r["scores"]]  # fmt: skip
        expected = sum(score * weight for score, weight in weighted) / sum(weight for _, weight in weighted)
        for scope in ("public", "all"):
            assert averages[scope][slot] == pytest.approx(expected), (scope, slot)
            assert averages[scope][f"{slot}_tasks"] == len(weighted)


def check_private_skips(records: dict[str, dict[str, Any]], data_root: Path) -> None:
    for name in private_tasks():
        record = records[name]
        assert record["status"] == "skipped", name
        assert str(data_root / name) in record["reason"]
        assert "tar shards" in record["reason"]


@pytest.mark.slow
def test_esc50_and_fsd50k_download_once_and_score(xares_root):
    """The small representative of the catalog run: a k-fold task with kNN and a multi-label one."""
    tasks = ["esc50", "fsd50k"]
    records_served = zenodo_records(tasks)
    with FakeZenodo(records_served) as zenodo:
        records, summary = run_sweep(
            xares_root, xares_root / "sweep", f"task={','.join(tasks)}", "encoder=mel",
            f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true",
        )  # fmt: skip
        check_downloaded_once(zenodo, records_served)
    for name in tasks:
        check_zenodo_record(records[name], name)
        check_scores(records[name], name)
    assert sorted(records["esc50"]["scores"]["knn"]["rounds"]) == [f"fold{k}" for k in range(1, 6)]
    check_weighted_averages(summary, records)


@pytest.mark.slow
def test_every_public_clip_task_downloads_once_and_scores(xares_root):
    """One sweep over the whole catalog but the frame/contrastive/ASR tasks (their own tests below)."""
    records_served = zenodo_records(public_clip_tasks())
    exclude = ",".join(["demo*", *NON_CLIP_TASKS])
    with FakeZenodo(records_served) as zenodo:
        records, summary = run_sweep(
            xares_root, xares_root / "sweep", f"task=glob(*,exclude=[{exclude}])", "encoder=mel",
            f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true",
        )  # fmt: skip
        check_downloaded_once(zenodo, records_served)
    assert set(records) == set(TASK_YAMLS) - set(NON_CLIP_TASKS)
    for name in public_clip_tasks():
        check_zenodo_record(records[name], name)
        check_scores(records[name], name)
    check_private_skips(records, xares_root / "data")
    check_weighted_averages(summary, records)


def missing_parts(name: str) -> str | None:
    """Why a frame/contrastive/ASR task cannot run yet: its YAML or its head is not there."""
    if not (TASK_DIR / f"{name}.yaml").exists():
        return f"conf/task/{name}.yaml is not written yet"
    head, module = HEAD_OF_TASK_TYPE[FACTS[name].task_type]
    if head not in HEADS:
        return f"the {head} head (xares_hydra/heads/{module}) is not there yet"
    return None


def non_clip_param(name: str) -> Any:
    marks = [pytest.mark.skipif(missing_parts(name) is not None, reason=str(missing_parts(name)))]
    return pytest.param(name, marks=[*marks, pytest.mark.slow] if name in SLOW_NON_CLIP else marks)


@pytest.mark.parametrize("name", [non_clip_param(name) for name in NON_CLIP_TASKS])
def test_frame_contrastive_and_asr_tasks_run_end_to_end(name, xares_root, run_one):
    records_served = zenodo_records([name])
    with FakeZenodo(records_served) as zenodo:
        record, _ = run_one(xares_root, name, f"task={name}", "encoder=mel", f"data.zenodo_api={zenodo.api_base}",
                            "data.allow_http=true",
                            *NON_CLIP_OVERRIDES[name])  # fmt: skip
        check_downloaded_once(zenodo, records_served)
    check_zenodo_record(record, name)
    check_scores(record, name)
    assert record["task"]["task_type"] == FACTS[name].task_type


# ---------------------------------------------------------------------------------------------
# private tasks: never downloaded, placed by the user


def test_private_task_without_data_says_where_to_put_the_shards(xares_root, run_one):
    api = f"data.zenodo_api={closed_port_api()}"
    record, result = run_one(xares_root, "snap", "task=finger_snap", api, "data.allow_http=true", check=False)
    folder = xares_root / "data" / "finger_snap"
    output = unwrapped(result.stdout + result.stderr)
    assert result.returncode == 1, "a single run that scores nothing is an error (in a sweep it stays skipped)"
    assert record["status"] == "skipped"
    assert not record["scores"]
    for words in ("private data that is never downloaded", "finger_snap_train*.tar", "finger_snap_test*.tar",
                  f"into {folder}", "paths.data_root"):  # fmt: skip
        assert words in record["reason"], words
        assert words in output, words
    assert "Traceback" not in output
    assert not folder.exists()


def test_private_task_runs_on_shards_placed_in_its_folder(xares_root):
    mini = mini_dataset("finger_snap")
    mini.write(xares_root / "data" / "finger_snap")  # no ready marker: private data needs none
    record = run_in_process(xares_root, "finger_snap", f"data.zenodo_api={closed_port_api()}", "data.allow_http=true")
    assert record["status"] == "ok"
    assert record["data"]["source"] == "local"
    check_scores(record, "finger_snap")
    assert {partition: record["counts"][partition]["clips"] for partition in mini.partitions} == {
        partition: mini.clips(partition) for partition in mini.partitions
    }
