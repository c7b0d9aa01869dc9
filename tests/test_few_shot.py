"""Few-shot probing (``head.shots``, ``head.draws``) and the logistic-regression probe (``head=logreg``)."""

import json
import random
import re

import numpy as np
import pytest
from helpers.cli import SMALL_TIMBRE, composed, encoded_shards, exit_code, run_xares, xares
from helpers.heads import clusters, embedding_set, round_data, task
from helpers.records import without_timings
from hydra.errors import ConfigCompositionException

from xares_hydra.data.labels import LabelSpec
from xares_hydra.errors import ConfigError
from xares_hydra.heads import HEADS, HeadContext, HeadSettings, RoundData, heads_for
from xares_hydra.heads.evaluate import few_shot_clips, few_shot_subset
from xares_hydra.heads.metrics import get_metric
from xares_hydra.report.identity import column_key, record_identity
from xares_hydra.report.record import Record

SINGLE_LABELS = {f"clip{i:03d}": np.array(i % 4) for i in range(40)} | {"lonely": np.array(4)}
SMALL_FEW_SHOT = (*SMALL_TIMBRE, "head.shots=2", "head.draws=2")


def test_single_label_draws_take_k_clips_per_class_and_all_of_a_short_class():
    chosen = few_shot_clips(SINGLE_LABELS, "single", shots=3, seed=0, draw=0)
    classes = [int(SINGLE_LABELS[key]) for key in chosen]
    assert sorted(classes) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]


def test_draws_depend_on_keys_labels_seed_and_draw_only():
    shuffled = list(SINGLE_LABELS.items())
    random.Random(1).shuffle(shuffled)
    first = few_shot_clips(SINGLE_LABELS, "single", shots=2, seed=0, draw=0)
    assert sorted(first) == sorted(few_shot_clips(dict(shuffled), "single", shots=2, seed=0, draw=0))
    assert sorted(first) != sorted(few_shot_clips(SINGLE_LABELS, "single", shots=2, seed=0, draw=1))
    assert sorted(first) != sorted(few_shot_clips(SINGLE_LABELS, "single", shots=2, seed=1, draw=0))


def test_multi_label_draws_give_every_label_k_positives_greedily():
    rng = np.random.default_rng(0)
    labels = {f"clip{i:03d}": (rng.random(5) < [0.6, 0.5, 0.3, 0.1, 0.05]).astype(np.float32) for i in range(200)}
    chosen = few_shot_clips(labels, "multi", shots=4, seed=0, draw=0)
    positives = np.stack([labels[key] for key in chosen]).sum(axis=0)
    assert (positives >= 4).all()
    assert len(chosen) <= 4 * 5 and len(set(chosen)) == len(chosen)


def test_a_subset_keeps_every_crop_of_the_chosen_clips_and_needs_classes(caplog):
    features, labels = clusters(6, 3, 4, seed=0)
    crops = embedding_set(np.repeat(features, 2, axis=0), list(np.repeat(labels, 2)))
    crops.clip_keys = [f"clip{i // 2:03d}" for i in range(len(crops))]
    crops.frame_part, crops.frame_offset = np.zeros(len(crops), np.int64), np.zeros(len(crops), np.int64)
    subset = few_shot_subset(crops, LabelSpec(rule="as_int", num_classes=3), shots=2, seed=0, draw=0)
    assert len(subset) == 3 * 2 * 2 and len(set(subset.clip_keys)) == 6
    spec = LabelSpec(rule="class_map", classes=("dog", "cat", "bird"))
    assert len(few_shot_subset(crops, spec, shots=10, seed=0, draw=0, task_name="t")) == len(crops)
    assert "t: 3 class(es) have fewer than 10 training clips (all of them are used): dog, cat, bird" in caplog.text
    with pytest.raises(ConfigError, match=re.escape("head.shots draws clips per class: task t has regression targets")):
        few_shot_subset(crops, LabelSpec(rule="as_float", key="y"), shots=2, seed=0, draw=0, task_name="t")


def test_shots_and_probe_are_checked():
    with pytest.raises(ConfigError, match=r"head\.shots=0"):
        HeadSettings(shots=0)
    with pytest.raises(ConfigCompositionException) as refused:
        composed("head.probe=svm")
    assert "Invalid value 'svm', expected one of [linear, logreg]" in str(refused.value.__cause__)
    with pytest.raises(ConfigError, match=re.escape("head.probe=logreg classifies clips")):
        heads_for(task(rule="as_float", metric="mse", criterion="MSELoss"), HeadSettings(probe="logreg"))


def test_logreg_probe_separates_clusters_single_and_multi_label():
    single = task()
    context = HeadContext(single, HeadSettings(probe="logreg"), get_metric("accuracy"), {})
    assert heads_for(single, context.settings) == {"mlp": "logreg", "knn": "knn"}
    assert HEADS["logreg"].run(round_data(), context).test > 0.9
    multi = task(metric="mAP", rule="multi_hot", n_classes=4, criterion="BCEWithLogitsLoss")
    hot = [np.eye(4)[label] for label in clusters(30, 4, 16, seed=1)[1]]
    data = RoundData(*(embedding_set(clusters(30, 4, 16, seed=s)[0], hot) for s in (1, 2, 3)))
    assert HEADS["logreg"].run(data, HeadContext(multi, HeadSettings(probe="logreg"), get_metric("mAP"), {})).test > 0.9


def test_few_shot_settings_are_part_of_the_identity_and_absent_ones_change_nothing():
    def record(**head: object) -> Record:
        return Record.model_validate({"schema": 2, "task": {"name": "t"}, "encoder": {"name": "mel"}, "scores": {},
                                      "head": {"lr": 0.01, "seed": 1, **head}})  # fmt: skip

    base, unset = record(), record(probe="linear", shots=None, draws=5)
    assert column_key(unset) == column_key(base), "records from before few-shot keep their column"
    one, eight = (record(shots=k, draws=5) for k in (1, 8))
    assert len({record_identity(one), record_identity(eight), record_identity(base)}) == 3
    assert column_key(one, leave_out=("shots",)) == column_key(eight, leave_out=("shots",))


@pytest.mark.slow
def test_draws_are_the_same_for_every_encoder_and_rerun(xares_root):
    records = [
        xares(*SMALL_FEW_SHOT, f"encoder={encoder}", root=xares_root, run_dir=xares_root / "runs" / name)
        for encoder, name in (("mel", "mel"), ("noise", "noise"), ("mel", "mel-again"))
    ]
    draws = [
        [entry["train_clips"] for entry in record["scores"]["mlp"]["rounds"]["test"]["draws"]] for record in records
    ]
    assert draws[0] == draws[1] == draws[2] and len(set(draws[0])) == 2, "two different draws, the same everywhere"
    assert without_timings(records[0]["scores"]) == without_timings(records[2]["scores"]), "a rerun repeats each draw"
    for record in records:
        for slot in ("mlp", "knn"):
            score = record["scores"][slot]
            assert len(score["draws"]) == 2 and score["score"] == pytest.approx(np.mean(score["draws"]))
            assert score["std"] == pytest.approx(np.std(score["draws"]))
            assert {entry["n_train"] for entry in score["rounds"]["test"]["draws"]} == {2 * 5}  # 2 clips x 5 classes


@pytest.mark.slow
def test_a_shots_sweep_reads_only_the_cache(xares_root):
    assert exit_code(xares(*SMALL_TIMBRE, "stage=encode", root=xares_root)) == 0
    sweep = xares_root / "sweep"
    run_xares("-m", *SMALL_TIMBRE, "head.shots=1,2,4", "head.draws=2", f"hydra.sweep.dir={sweep}", root=xares_root)
    records = [json.loads(path.read_text()) for path in sweep.glob("*/result.json")]
    assert sorted(record["head"]["shots"] for record in records) == [1, 2, 4]
    assert all(record["status"] == "ok" for record in records)
    assert not encoded_shards(sweep), "the sweep encoded nothing"
    stored = list((xares_root / "results" / "mel" / "demo_timbre").glob("*.json"))
    assert len(stored) == 3, "each shot count keeps its own record"
