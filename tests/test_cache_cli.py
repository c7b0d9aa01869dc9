"""``xares-cache``: lists the caches with the records that use them; ``prune --unused --dry-run`` lists exactly the
caches no record uses, ``prune`` removes them, except one a running job holds (its shard lock taken)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers.audio import clip_shard, tone
from helpers.cli import REPO
from helpers.records import record_document
from xares_hydra.encoders.mel import MelEncoder

from xares_hydra.encode.cache import EncoderCache
from xares_hydra.encode.cache_cli import main
from xares_hydra.encode.embed import EncodeSettings, encode_shards
from xares_hydra.report.summary import human_bytes


@pytest.fixture
def caches(tmp_path):
    """Three caches: one a record uses, two no record uses; and the records folder."""
    shard = clip_shard(tmp_path / "data" / "s_0.tar", [("clip0", tone(0.5), 16000, {"label": 0})])
    folders = {}
    names = (("esc50", "mel-aaaaaaaaaaaa"), ("esc50", "mel-bbbbbbbbbbbb"), ("vocalsound", "noise-cccccccccccc"))
    for task, name in names:
        folders[name] = tmp_path / "cache" / task / name
        encode_shards(MelEncoder(), [shard], EncoderCache(folders[name]), EncodeSettings(), torch.device("cpu"))
    record = record_document("esc50", "mel", 0.5)
    record["encoder"]["fingerprint"] = "aaaaaaaaaaaa"
    (tmp_path / "results" / "mel" / "esc50").mkdir(parents=True)
    (tmp_path / "results" / "mel" / "esc50" / "default-1.json").write_text(json.dumps(record))
    return tmp_path, folders, shard


def cli(root, *arguments):
    return main(["--cache-root", str(root / "cache"), "--records", str(root / "results"), *arguments])


def listed(output: str) -> set[str]:
    return {word for line in output.splitlines() for word in line.split() if "-" in word and word[-12:].isalnum()}


def test_list_shows_every_cache_with_its_size_and_users(caches, capsys):
    root, folders, _ = caches
    assert cli(root, "list") == 0
    output = capsys.readouterr().out
    assert listed(output) == set(folders)
    rows = {cells[2]: cells for line in output.splitlines() if len(cells := [c.strip() for c in line.split("│")]) > 6}
    assert rows["mel-aaaaaaaaaaaa"][1] == "esc50" and rows["noise-cccccccccccc"][1] == "vocalsound"
    assert [rows[name][5] for name in sorted(folders)] == ["1", "0", "0"]  # records using each
    for name, folder in folders.items():
        assert rows[name][3] == human_bytes(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()))


def test_prune_dry_run_lists_exactly_the_unused_caches_and_removes_nothing(caches, capsys):
    root, folders, _ = caches
    assert cli(root, "prune", "--unused", "--dry-run") == 0
    assert listed(capsys.readouterr().out) == {"mel-bbbbbbbbbbbb", "noise-cccccccccccc"}
    assert all(folder.is_dir() for folder in folders.values())


def test_prune_removes_the_unused_caches_but_not_one_a_running_job_holds(caches, capsys):
    root, folders, shard = caches
    held = folders["noise-cccccccccccc"]
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from xares_hydra.encode.cache import EncoderCache
        with EncoderCache(Path({str(held)!r})).lock(Path({str(shard)!r})):
            print("held", flush=True)
            sys.stdin.readline()
    """)
    job = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           cwd=REPO)  # fmt: skip
    try:
        assert job.stdout.readline().strip() == "held"
        assert cli(root, "prune", "--unused") == 0
    finally:
        job.communicate("\n", timeout=30)
    captured = capsys.readouterr()
    assert listed(captured.out) == {"mel-bbbbbbbbbbbb"}
    assert f"{held} is held by a running job: kept" in captured.err
    assert not folders["mel-bbbbbbbbbbbb"].exists()
    assert folders["mel-aaaaaaaaaaaa"].is_dir() and held.is_dir()

    assert cli(root, "prune", "--unused") == 0  # released: now it goes, and its empty task folder with it
    assert not held.exists() and not held.parent.exists()


def test_prune_by_encoder_and_a_prune_without_a_filter_is_refused(caches, capsys):
    root, folders, _ = caches
    with pytest.raises(SystemExit):
        cli(root, "prune")
    assert cli(root, "prune", "--encoder", "mel") == 0
    assert [name for name, folder in folders.items() if folder.exists()] == ["noise-cccccccccccc"]
