"""The fault task of the hostile-user rounds (``test_faults``, ``test_fault_cells``): a user config folder with a
two-class tone task and its shards, encoders that fail on purpose, tars written member by member, a small disk."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from helpers.audio import clip_shard, tone
from helpers.zenodo_server import FakeZenodo
from xares_hydra.data.shards import encode_audio

TASK = """\
defaults:
  - /schema/task@_here_
  - _self_
name: fault_tones
splits: {train: tones_train, valid: tones_valid, test: tones_test}
label: {rule: class_map, key: pitch, classes: [low, high]}
epochs: 3
"""
SPLITS = ("train", "valid", "test")
FAULTY_ENCODERS = textwrap.dedent(
    """
    from xares_hydra.encoders.mel import MelEncoder

    class AssertingMel(MelEncoder):
        def forward(self, audio):
            assert audio.shape[1] > 10**9, "this encoder asserts on every input"

    class FailsOnOneClip(MelEncoder):
        # fails on any batch holding a clip of exactly 7777 samples, as a real encoder may fail on one odd input
        def forward(self, audio, lengths=None):
            if audio.shape[1] == 7777 or (lengths is not None and 7777 in lengths.tolist()):
                raise RuntimeError("odd input")
            return super().forward(audio, lengths)

    class NeedsFiftyMilliseconds(MelEncoder):
        # rejects inputs under 50 ms, as encoders with a wide receptive field do
        def forward(self, audio, lengths=None):
            if audio.shape[-1] < 800:
                raise RuntimeError("input too short")
            return super().forward(audio, lengths)
    """
)


def clips(split: str, count: int = 10) -> list[tuple[str, np.ndarray, int, dict]]:
    return [(f"{split}{i}", tone(0.5, 16000, 200 if i % 2 else 2000), 16000, {"pitch": "low" if i % 2 else "high"})
            for i in range(count)]  # fmt: skip


def make_root(root: Path) -> Path:
    """A user config folder with the task and its clean shards under ``root``; returns the config folder."""
    config_dir = root / "user_conf"
    (config_dir / "task").mkdir(parents=True, exist_ok=True)
    (config_dir / "task" / "fault_tones.yaml").write_text(TASK)
    (root / "faulty_encoders.py").write_text(FAULTY_ENCODERS)
    for split in SPLITS:
        clip_shard(root / "data" / "fault_tones" / f"tones_{split}_0000000.tar", clips(split))
    return config_dir


def results_of(root: Path) -> dict[str, bytes]:
    folder = root / "results"
    return (
        {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json"))} if folder.is_dir() else {}
    )


def scores(record: dict) -> dict:
    return {slot: result["score"] for slot, result in record["scores"].items()}


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def sample_members(key: str, audio: np.ndarray, label: str) -> list[tuple[str, bytes]]:
    return [(f"{key}.flac", encode_audio(audio, 16000)), (f"{key}.json", json.dumps({"pitch": label}).encode())]


@contextmanager
def small_disk(folder: Path, size: str = "16k") -> Iterator[Path]:
    """A tmpfs of ``size`` (16 kB) mounted at ``folder`` for the block (skips the test where it cannot be mounted)."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def zenodo_task(root: Path) -> dict[str, bytes]:
    """The task ``zenodo_tones``: fault_tones with its shards in Zenodo record 77; returns the record's files."""
    task = TASK.replace("name: fault_tones", 'name: zenodo_tones\nzenodo_id: "77"')
    (root / "user_conf" / "task" / "zenodo_tones.yaml").write_text(task)
    return {f"tones_{split}_0000000.tar": clip_shard(root / "served" / f"tones_{split}_0000000.tar",
                                                     clips(split)).read_bytes() for split in SPLITS}  # fmt: skip


def run_zenodo_task(run, root: Path, zenodo: FakeZenodo, name: str, *overrides: str) -> tuple[dict, str, int]:
    return run(root, f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true", *overrides, name=name,
               task="zenodo_tones")  # fmt: skip
