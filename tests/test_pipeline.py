"""The core pipeline on the offline demo suite: run in this process as ``xares`` runs it, a sweep through the real
command."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers.audio import clip_shard, tone
from helpers.cli import exit_code, record_of, run_xares
from helpers.faults import TASK
from helpers.records import without_timings

from xares_hydra.data.shards import encode_audio, write_shard

CLIP_DEMOS = ("demo_sounds", "demo_timbre", "demo_mixtures")
# smaller demo sets where the test is about plumbing, not scores
SMALL = "task.generator.args.scale=0.4"
SMALL_TIMBRE = ("task=demo/timbre", SMALL)
CLIP_DEMO_SWEEP = "task=" + ",".join(name.replace("demo_", "demo/") for name in CLIP_DEMOS)
CHANCE = {"demo_sounds": 1 / 6, "demo_timbre": 1 / 5}


@pytest.fixture
def run_task(xares_run):
    """``xares <overrides>`` in this process, roots under ``root``; its record and what it logged and printed."""

    def run(root: Path, name: str, *overrides: str, config_dir: Path | None = None) -> tuple[dict, str]:
        root.mkdir(parents=True, exist_ok=True)
        record, output = xares_run(*overrides, root=root, run_dir=root / "runs" / name, config_dir=config_dir)
        assert record == record_of(root / "runs" / name)
        return record, output

    return run


@pytest.fixture(scope="module")
def shared_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipeline")


def test_bare_xares_runs_the_default_demo_task_offline(shared_root, xares_command):
    code, _, err = xares_command(f"hydra.run.dir={shared_root / 'runs' / 'bare'}", root=shared_root)
    record = record_of(shared_root / "runs" / "bare")
    assert code == 0 and record["status"] == "ok"
    assert "Warning" not in err and "ended: demo_sounds · mel: ok" in err
    assert (record["task"]["name"], record["encoder"]["name"], record["mode"]) == ("demo_sounds", "mel", "default")
    mlp, knn = record["scores"]["mlp"], record["scores"]["knn"]
    assert sorted(mlp["rounds"]) == [f"fold{i}" for i in range(1, 6)]
    assert mlp["score"] == pytest.approx(np.mean([r["test"] for r in mlp["rounds"].values()]))
    assert mlp["std"] == pytest.approx(np.std([r["test"] for r in mlp["rounds"].values()]))
    assert all(r["select_on"] != r["test_on"] for r in mlp["rounds"].values()), "never selects on the test fold"
    assert knn["rounds"]["fold1"]["train_on"] == "fold2+fold3+fold4+fold5"
    assert record["counts"]["fold1"]["clips"] > 0 and record["counts"]["fold1"]["skipped"] == {}
    assert set(record["timings"]) >= {"data", "encode", "heads", "total"}
    assert record["versions"]["torch"] and record["config"]["task"]["name"] == "demo_sounds"
    assert list((shared_root / "results" / "mel" / "demo_sounds").glob("default-*.json"))


def test_head_override_reaches_the_record_and_reuses_the_cache(shared_root, run_task):
    first, _ = run_task(shared_root, "lr1", *SMALL_TIMBRE, "head.lr=1e-2")
    assert first["head"]["lr"] == 0.01 and first["config"]["head"]["lr"] == 0.01
    second, output = run_task(shared_root, "lr2", *SMALL_TIMBRE, "head.lr=1e-2")
    assert second["timings"]["encode"] < 0.2 * first["timings"]["encode"] and second["timings"]["encode"] < 1.0
    assert "Encoding" not in output
    assert without_timings(second["scores"]) == without_timings(first["scores"]), "same seed, same scores"
    other_lr, _ = run_task(shared_root, "lr3", *SMALL_TIMBRE, "head.lr=1e-3")
    assert other_lr["encoder"]["fingerprint"] == first["encoder"]["fingerprint"]
    assert other_lr["scores"]["mlp"] != first["scores"]["mlp"]


def test_scores_repeat_exactly_from_scratch(tmp_path, run_task):
    first, _ = run_task(tmp_path / "a", "x", *SMALL_TIMBRE)
    second, _ = run_task(tmp_path / "b", "x", *SMALL_TIMBRE)
    assert without_timings(first["scores"]) == without_timings(second["scores"])


@pytest.mark.slow
def test_multirun_sweep_encodes_each_task_once_and_summarises(xares_root):
    sweep = xares_root / "sweep"
    result = run_xares("-m", CLIP_DEMO_SWEEP, SMALL, "head.lr=1e-3,1e-2", f"hydra.sweep.dir={sweep}",
                       root=xares_root)  # fmt: skip
    records = [json.loads(path.read_text()) for path in sweep.glob("*/result.json")]
    assert len(records) == 6 and all(r["status"] == "ok" for r in records)
    assert {(r["task"]["name"], r["head"]["lr"]) for r in records} == {
        (t, lr) for t in CLIP_DEMOS for lr in (1e-3, 1e-2)
    }
    logs = "".join(path.read_text() for path in sweep.glob("*/xares.log"))
    encoded = [line.split("Encoding ")[1].strip() for line in logs.splitlines() if "Encoding " in line]
    assert len(encoded) == len(set(encoded)) > 0, "every shard is encoded exactly once"
    assert "faiss" not in result.stdout + result.stderr + logs, "faiss's INFO lines (which build it loaded) are quiet"
    summary = json.loads((sweep / "summary.json").read_text())
    assert len(summary["rows"]) == 6
    averages = {(a["variant"].replace(f" {SMALL}", ""), a["scope"]): a for a in summary["averages"]}
    expected = sum(r["scores"]["mlp"]["score"] * r["task"]["eval_weight"] for r in records if r["head"]["lr"] == 1e-2)
    expected /= sum(r["task"]["eval_weight"] for r in records if r["head"]["lr"] == 1e-2)
    over_all = [entry for (_, scope), entry in averages.items() if scope == "all"]
    assert len(over_all) == 2, "one column per learning rate"
    assert any(entry["mlp"] == pytest.approx(expected) for entry in over_all)
    assert (sweep / "summary.csv").read_text().startswith("task,")
    assert "| **Weighted average (public tasks)** |" in (sweep / "summary.md").read_text()
    assert "weighted averages" in result.stdout


@pytest.mark.slow
def test_mel_is_far_above_chance_and_noise_is_near_it(xares_root):
    sweep = xares_root / "sweep"
    run_xares("-m", CLIP_DEMO_SWEEP, "encoder=mel,noise", f"hydra.sweep.dir={sweep}", root=xares_root)
    scores = {}
    for path in sweep.glob("*/result.json"):
        record = json.loads(path.read_text())
        for slot, result in record["scores"].items():
            scores[record["task"]["name"], record["encoder"]["name"], slot] = result["score"]
    for task, chance in CHANCE.items():
        for slot in ("mlp", "knn"):
            assert scores[task, "mel", slot] > chance + 0.25, (task, slot, scores[task, "mel", slot])
            assert scores[task, "noise", slot] < chance + 0.15, (task, slot, scores[task, "noise", slot])
    assert scores["demo_mixtures", "mel", "mlp"] > scores["demo_mixtures", "noise", "mlp"] + 0.3


LOCAL_TASK = TASK.replace("name: fault_tones", "name: local_tones")  # the fault suite's two-tone task


def local_tones(root: Path) -> Path:
    config_dir = root / "user_conf"
    (config_dir / "task").mkdir(parents=True)
    (config_dir / "task" / "local_tones.yaml").write_text(LOCAL_TASK)
    data = root / "data" / "local_tones"
    for split in ("train", "valid", "test"):
        clips = [(f"{split}{i}", tone(0.5, 16000, 200 if i % 2 else 2000), 16000, {"pitch": "low" if i % 2 else "high"})
                 for i in range(8)]  # fmt: skip
        clip_shard(data / f"tones_{split}_0000000.tar", clips)
    return config_dir


def test_bad_samples_are_skipped_with_a_warning_and_counted(xares_root, run_task):
    config_dir = local_tones(xares_root)
    shard = xares_root / "data" / "local_tones" / "tones_train_0000001.tar"
    write_shard(shard, [("broken", b"not audio", "wav", {"pitch": "low"}),
                        ("unlabelled", encode_audio(tone(0.5), 16000), "flac", {"pitch": "purple"})])  # fmt: skip
    record, output = run_task(xares_root, "bad", "task=local_tones", config_dir=config_dir)
    assert record["status"] == "ok"
    assert record["counts"]["tones_train"]["skipped"] == {"corrupt or unsupported audio": 1}
    assert record["counts"]["label_skips"]["tones_train"] == 1
    assert "broken" in output and "tones_train_0000001.tar" in output and "unlabelled" in output


BROKEN_ENCODERS = textwrap.dedent(
    """
    import torch
    from xares_hydra.encoders.mel import MelEncoder

    class WrongRank(MelEncoder):
        def forward(self, audio):
            return super().forward(audio).mean(1)

    class Explodes(MelEncoder):
        def forward(self, audio):
            return super().forward(audio) / 0.0
    """
)


@pytest.mark.parametrize(("target", "message"), [("WrongRank", "rank 2"), ("Explodes", "NaN or infinite")])
def test_a_broken_encoder_fails_before_encoding(xares_root, run_task, target, message):
    config_dir = local_tones(xares_root)
    (xares_root / "broken_encoders.py").write_text(BROKEN_ENCODERS)
    overrides = ("task=local_tones", "encoder=custom", f"encoder._target_=broken_encoders.{target}")
    record, output = run_task(xares_root, target, *overrides, config_dir=config_dir)
    assert exit_code(record) == 1
    assert record["status"] == "failed" and message in record["reason"] and "contract" in record["reason"]
    assert "Traceback" not in output
    assert not list((xares_root / "cache").rglob("done.json")), "nothing was encoded"
