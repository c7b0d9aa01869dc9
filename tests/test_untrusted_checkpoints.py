"""A checkpoint whose unpickling would run code runs nothing unless the user opts in."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from helpers.zenodo_server import FakeZenodo
from xares_hydra.encoders.checkpoints import UntrustedCheckpoint, load_checkpoint


class _WritesFile:
    """Unpickling this object calls ``Path.write_text``: stands for any code an attacker stores."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.marker, "code ran"))


def crafted_checkpoint(directory: Path, marker: Path) -> Path:
    path = directory / "crafted.pt"
    torch.save({"model": {"weight": torch.zeros(2)}, "config": _WritesFile(marker)}, path)
    assert not marker.exists()
    return path


@pytest.fixture
def dasheng_encoder() -> type:
    pytest.importorskip("dasheng")
    from xares_hydra.encoders.dasheng import DashengEncoder

    return DashengEncoder


def test_local_crafted_checkpoint_runs_nothing(dasheng_encoder: type, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    checkpoint = crafted_checkpoint(tmp_path, marker)
    with pytest.raises(UntrustedCheckpoint, match=r"encoder\.trust_checkpoint=true") as failure:
        dasheng_encoder(checkpoint=str(checkpoint), embed_dim=32, depth=2, num_heads=2)
    assert str(checkpoint) in str(failure.value)
    assert not marker.exists()


def test_crafted_checkpoint_from_url_runs_nothing(
    dasheng_encoder: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    marker = tmp_path / "pwned.txt"
    payload = crafted_checkpoint(tmp_path, marker).read_bytes()
    with FakeZenodo({"7": {"crafted.pt": payload}}) as server:
        url = server.file_url("7", "crafted.pt")
        with pytest.raises(UntrustedCheckpoint, match=r"encoder\.trust_checkpoint=true"):
            dasheng_encoder(checkpoint=url, embed_dim=32, depth=2, num_heads=2)
        assert server.content_requests("crafted.pt") == 1
    assert not marker.exists()
    assert len(list((tmp_path / "torch" / "hub" / "checkpoints").iterdir())) == 1  # downloaded, not run


def test_opt_in_unpickles_in_full(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    dump = load_checkpoint(str(crafted_checkpoint(tmp_path, marker)), trust=True, how_to="")
    assert marker.read_text() == "code ran"  # the opt-in really is full unpickling
    assert torch.equal(dump["model"]["weight"], torch.zeros(2))


def test_safetensors_checkpoint_loads_without_opt_in(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors.torch")
    path = tmp_path / "weights.safetensors"
    safetensors.save_file({"weight": torch.arange(3.0)}, str(path))
    assert torch.equal(load_checkpoint(str(path), trust=False, how_to="")["weight"], torch.arange(3.0))


def test_tensor_only_checkpoint_loads_without_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save({"model": {"weight": torch.ones(2)}, "config": {"embed_dim": 32}}, path)
    dump = load_checkpoint(str(path), trust=False, how_to="")
    assert dump["config"] == {"embed_dim": 32} and torch.equal(dump["model"]["weight"], torch.ones(2))


def model_dir_with_code(directory: Path, marker: Path) -> Path:
    """A tiny wav2vec2 directory whose config points AutoModel at Python code shipped beside it."""
    from helpers.encoders import save_tiny_hf

    model = save_tiny_hf("wav2vec2", directory)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "shipped_code.ShippedModel"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "shipped_code.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('code ran')\n"
        "from transformers import Wav2Vec2Model\n\n\n"
        "class ShippedModel(Wav2Vec2Model):  # registering it for AutoModel must not touch Wav2Vec2Model\n"
        "    pass\n"
    )
    return model


def test_code_shipped_with_a_hugging_face_model_does_not_run(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from xares_hydra.encoders.huggingface import Wav2Vec2Encoder

    marker = tmp_path / "pwned.txt"
    model = model_dir_with_code(tmp_path, marker)
    encoder = Wav2Vec2Encoder(model_name_or_path=str(model))
    assert encoder.output_dim == 16 and not marker.exists()
    with contextlib.suppress(Exception):  # with the opt-in the shipped code runs (whatever it does next)
        Wav2Vec2Encoder(model_name_or_path=str(model), trust_remote_code=True)
    assert marker.read_text() == "code ran"
