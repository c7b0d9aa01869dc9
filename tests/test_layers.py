"""Layer-wise evaluation: every hidden layer cached from one encode, heads reading one layer or a learned
weighted sum of all of them, without encoding again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.audio import tone_shard
from helpers.cli import SMALL_TIMBRE, exit_code, run_xares, xares
from helpers.encoders import CPU, LayeredMel

from xares_hydra.encode.cache import EncoderCache, LayerNeeds
from xares_hydra.encode.embed import EncodeSettings, encode_shards
from xares_hydra.errors import ConfigError
from xares_hydra.heads.linear_probe import LayerWeightedSum


def test_every_layer_is_cached_and_a_layer_is_chosen_at_load(tmp_path: Path) -> None:
    shard = tone_shard(tmp_path / "train_0.tar", [0.5, 1.0, 1.0, 0.7])
    cache = EncoderCache(tmp_path / "cache")
    settings = EncodeSettings(keep_frames=True, layers=True, frame_layers=(0, -1))
    encode_shards(LayeredMel(), [shard], cache, settings, CPU)

    assert cache.is_complete(shard, True, LayerNeeds(layers=True, frame_layers=(0,)))
    assert not cache.is_complete(shard, True, LayerNeeds(layers=True, frame_layers=(1,)))
    normal, first, middle = cache.load([shard]), cache.load([shard], 0), cache.load([shard], -2)
    np.testing.assert_allclose(first.pooled * 3, normal.pooled, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(middle.pooled * 3 / 2, normal.pooled, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(first.frames(1) * 3, normal.frames(1), rtol=1e-5, atol=1e-4)
    assert first.has_frames and not middle.has_frames  # frames only for encode.frame_layers
    np.testing.assert_array_equal(cache.load([shard], -1).pooled, normal.pooled)
    weighted = cache.load([shard], "weighted")
    assert weighted.layers.shape == (4, 3, 64)
    np.testing.assert_allclose(weighted.layers[:, 2], normal.pooled, rtol=1e-6)
    with pytest.raises(ConfigError, match=r"head.layer=3: the encoder has 3 hidden layers \(0..2\)"):
        cache.load([shard], 3)


def test_a_cache_without_layers_is_encoded_again_when_layers_are_needed(tmp_path: Path) -> None:
    shard = tone_shard(tmp_path / "train_0.tar", [0.5, 1.0, 1.0, 0.7])
    cache = EncoderCache(tmp_path / "cache")
    encode_shards(LayeredMel(), [shard], cache, EncodeSettings(), CPU)
    with pytest.raises(ConfigError, match=r"holds no hidden layers; encode them with encode.layers=all"):
        cache.load([shard], 1)
    assert not cache.is_complete(shard, False, EncodeSettings(layers=True).layer_needs)
    assert encode_shards(LayeredMel(), [shard], cache, EncodeSettings(layers=True), CPU)
    assert cache.load([shard], 1).pooled.shape == (4, 64)
    # the normal output is the last layer: a run without layers reuses this cache
    assert not encode_shards(LayeredMel(), [shard], cache, EncodeSettings(), CPU)


def test_layer_weights_are_a_softmax_and_start_uniform() -> None:
    weighting = LayerWeightedSum(4)
    layers = torch.arange(4.0).repeat_interleave(2).reshape(1, 4, 2)
    assert weighting.weights() == [0.25] * 4
    torch.testing.assert_close(weighting(layers), torch.tensor([[1.5, 1.5]]))
    weighting.logits.data = torch.tensor([0.0, 0.0, 0.0, 50.0])
    torch.testing.assert_close(weighting(layers), torch.tensor([[3.0, 3.0]]))


TINY_DASHENG = ["encoder=dasheng", "encoder.embed_dim=32", "encoder.depth=2", "encoder.num_heads=2"]
SMALL_DEMO = "task.generator.args.scale=0.3"  # the layer plumbing, not the scores


@pytest.fixture(scope="module")
def tiny_dasheng(tmp_path_factory: pytest.TempPathFactory) -> str:
    from helpers.encoders import save_tiny_dasheng

    return str(save_tiny_dasheng(tmp_path_factory.mktemp("dasheng")))


@pytest.mark.slow
def test_one_encode_then_a_layer_sweep_without_encoding(xares_root: Path, tiny_dasheng: str) -> None:
    dasheng = [*TINY_DASHENG, f"encoder.checkpoint={tiny_dasheng}", "task=demo/sounds", SMALL_DEMO]
    assert exit_code(xares(*dasheng, "encode.layers=all", "stage=encode", root=xares_root)) == 0
    cached = sorted((xares_root / "cache" / "demo_sounds").glob("dasheng-*/shards/*/*.npy"))
    assert {path.name for path in cached} == {"pooled.npy", "layers.npy"}
    written = {path: path.stat().st_mtime_ns for path in cached}

    sweep = run_xares("-m", *dasheng, "head.layer=0,1,2,weighted", "head.epochs=1", root=xares_root)

    assert "Encoding" not in sweep.stdout + sweep.stderr
    assert {path: path.stat().st_mtime_ns for path in cached} == written
    records = [json.loads(path.read_text()) for path in (xares_root / "results" / "dasheng").rglob("*.json")]
    by_layer = {record["head"]["layer"]: record for record in records}
    assert set(by_layer) == {0, 1, 2, "weighted"}
    assert all(record["status"] == "ok" for record in records)
    losses = {layer: by_layer[layer]["scores"]["mlp"]["rounds"]["fold1"]["train_loss_history"] for layer in (0, 2)}
    assert losses[0] != losses[2]  # different layers' features
    weighted = by_layer["weighted"]["scores"]
    assert set(weighted) == {"mlp"}  # kNN learns no layer weights
    for round_result in weighted["mlp"]["rounds"].values():
        assert len(round_result["layer_weights"]) == 3
        assert sum(round_result["layer_weights"]) == pytest.approx(1.0, abs=1e-5)
        assert round_result["layer_weights"] != [pytest.approx(1 / 3)] * 3

    record = by_layer[1]
    from dasheng.pretrained.pretrained import Dasheng

    tiny_model = Dasheng(embed_dim=32, depth=2, num_heads=2)
    assert record["encoder"]["parameters"] == sum(parameter.numel() for parameter in tiny_model.parameters())
    assert len(record["encoder"]["weights_sha256"]) == 64
    assert len(record["encoder"]["weight_files"]["checkpoint"]) == 64
    assert record["encoder"]["meta"] == {
        "license": "Apache-2.0",
        "paper": "https://arxiv.org/abs/2406.06992",
        "source": "https://github.com/XiaoMi/dasheng",
        "training_data": ["AudioSet", "VGGSound", "MTG-Jamendo", "ACAV100M"],
    }
    assert "meta" not in record["encoder"]["config"]
    assert record["task"]["version"] == 1 and record["task"]["license"].startswith("generated")

    report_layers(xares_root / "results", xares_root / "report", {"demo_sounds": "Demo sounds"})
    (curve,) = json.loads((xares_root / "report" / "layers.json").read_text())["curves"]
    assert curve["scores"] == {str(layer): by_layer[layer]["scores"]["mlp"]["score"] for layer in (0, 1, 2)}
    assert curve["weighted"] == by_layer["weighted"]["scores"]["mlp"]["score"]
    rounds = by_layer["weighted"]["scores"]["mlp"]["rounds"].values()
    assert curve["weights"] == pytest.approx(np.mean([entry["layer_weights"] for entry in rounds], axis=0), abs=1e-5)


def report_layers(records: Path, out: Path, tasks: dict[str, str]) -> str:
    """Run xares-report; the layer table and figure must cover every task, layers 0-2 and the weighted sum."""
    import subprocess
    import sys

    report = subprocess.run(
        [str(Path(sys.executable).parent / "xares-report"), str(records), "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert f"Wrote {out / 'layers.png'}" in report.stdout
    assert (out / "layers.png").stat().st_size > 10_000
    markdown = (out / "layers.md").read_text()
    for label in tasks.values():
        assert f"## {label}" in markdown
    assert "| Encoder | L0 | L1 | L2 | weighted | learned weights |" in markdown
    return markdown


def test_a_frame_head_on_an_uncached_layer_says_how_to_encode_it(
    xares_root: Path, tiny_dasheng: str, xares_command
) -> None:
    dasheng = [*TINY_DASHENG, f"encoder.checkpoint={tiny_dasheng}", "task=demo/events", "head.epochs=1"]
    code, _, _ = xares_command(
        *dasheng, "encode.layers=all", "encode.frame_layers=[0]", "head.layer=0", root=xares_root
    )
    assert code == 0
    code, out, err = xares_command(*dasheng, "head.layer=1", root=xares_root)
    assert code != 0
    assert "encode.frame_layers=[1]" in out + err


@pytest.mark.slow
def test_layer_report_of_the_demo_suite(xares_root: Path, tiny_dasheng: str) -> None:
    dasheng = [*TINY_DASHENG, f"encoder.checkpoint={tiny_dasheng}", f"++{SMALL_DEMO}"]
    settings = ["head.layer=0,1,2,weighted", "encode.frame_layers=[0,1,2]", "head.epochs=1"]
    run_xares("+benchmark=demo", *dasheng, *settings, root=xares_root)
    tasks = {"demo_sounds": "Demo sounds", "demo_events": "Demo events", "demo_timbre": "Demo timbre"}
    markdown = report_layers(xares_root / "results", xares_root / "report", tasks)
    curves = json.loads((xares_root / "report" / "layers.json").read_text())["curves"]
    by_task = {curve["task"]: curve for curve in curves}
    assert len(by_task) == 7  # every demo task: clip, multi-label, regression, frame, retrieval and ASR heads
    assert all(sorted(curve["scores"]) == ["0", "1", "2"] for curve in curves)
    assert by_task["demo_sounds"]["weights"] and by_task["demo_events"]["weights"] is None
    assert markdown.count("| dasheng |") == 7  # one setting: labelled like a leaderboard column, by the encoder alone


def test_head_layer_on_an_encoder_without_hidden_layers_says_so_in_what_was_typed(xares_root: Path, xares_command):
    code, out, err = xares_command(*SMALL_TIMBRE, "encoder=mel", "head.layer=0", root=xares_root)
    message = " ".join((out + err).split())
    assert code == 1 and "Traceback" not in message
    assert "head.layer=0: encoder mel has one layer, its output" in message and "encode.layers" not in message
