"""The fault matrix: each row a hostile-user fault, run through the ``xares`` pipeline (composed and run in this
process as the command runs it) on real tar shards, asserting the one-line message and that nothing was lost
(scores or cache bytes equal a clean run). What needs the process itself (exit codes before Hydra, Ctrl-C,
parallel sweeps) runs the real command."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.audio import clip_shard, tone
from helpers.cli import run_xares
from helpers.faults import (
    clips,
    make_root,
    results_of,
    run_zenodo_task,
    sample_members,
    scores,
    small_disk,
    write_tar,
    zenodo_task,
)
from helpers.zenodo_server import FakeZenodo, fetch
from hydra.errors import ConfigCompositionException

from xares_hydra.atomic import write_json
from xares_hydra.data import zenodo as zenodo_module
from xares_hydra.data.prepare import READY_MARKER
from xares_hydra.errors import DataUnavailable
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.record import storage_problem


def pooled_bytes(root: Path, shard: str) -> bytes:
    (path,) = (root / "cache" / "fault_tones").glob(f"*/shards/{shard}/pooled.npy")
    return path.read_bytes()


# --- config mistakes: one line in the first seconds, no traceback, nothing written -------------------------

CONFIG_MISTAKES = [
    (("stage=encdoe",), "Invalid value 'encdoe', expected one of [all, download, check, encode, plan]"),
    (("head.epochs=0",), "head.epochs=0: must be a number > 0"),
    (("encode.batch_size=-1",), "encode.batch_size=-1: must be a number > 0"),
    (("encode.autocast=fp61",), "Invalid value 'fp61', expected one of [bf16, fp16]"),
    (("+task.head_args.dropout=0.1",), "task.head_args ['dropout']: clip tasks take no head_args"),
    (("+head.learning_rate=1e-3",), "head.learning_rate is not a setting"),
    (("+encode.batchsize=8",), "encode.batchsize is not a setting; did you mean encode.batch_size or encode.batching?"),
    (("paths.cache_root=/dev/full/cache",), "paths.cache_root=/dev/full/cache: /dev/full is a file, not a folder"),
]


@pytest.mark.parametrize(("overrides", "message"), CONFIG_MISTAKES, ids=[o[0] for o, _ in CONFIG_MISTAKES])
def test_config_mistakes_fail_before_any_work(root, run, overrides, message):
    try:
        record, output, code = run(root, *overrides)
    except ConfigCompositionException as refused:  # Hydra refuses it while composing: the command exits 1
        record, output, code = None, f"{refused} {refused.__cause__}", 1
    assert code != 0 and message in " ".join(output.split())
    assert "Traceback" not in output
    assert results_of(root) == {} and not (root / "cache").exists(), "nothing was encoded or recorded"
    if record is not None:
        assert record["status"] == "failed" and record["timings"].get("data") is None, "failed before the data stage"


def test_a_mistake_hydra_refuses_is_one_line_from_the_command(root):
    result = run_xares(
        "--config-dir", str(root / "user_conf"), "task=fault_tones", "stage=encdoe", root=root, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1 and CONFIG_MISTAKES[0][1] in " ".join(output.split())
    assert "Traceback" not in output
    assert results_of(root) == {} and not (root / "cache").exists() and not (root / "outputs").exists()


def test_output_folder_below_a_file_is_one_line(xares_command, xares_root):
    code, _, err = xares_command("paths.output_root=/dev/full/outputs", root=xares_root)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (
        "xares: paths.output_root=/dev/full/outputs: /dev/full is a file, not a folder; "
        "point paths.output_root at a folder"
    )


def test_a_misspelt_setting_gets_did_you_mean_before_hydra_advises_adding_it(xares_command):
    code, _, err = xares_command("head.lrr=0.1")
    assert code == 2 and "Traceback" not in err and "+head.lrr" not in err
    assert err.startswith("xares: head.lrr is not a setting; did you mean head.lr? (known: ")


def test_unknown_task_name_suggests_the_closest(xares_command):
    code, _, err = xares_command("task=urbansound8K")
    assert code == 2
    assert err.startswith("xares: task=urbansound8K does not exist; did you mean task=urbansound8k? ")
    assert "available: asvspoof2015, clotho," in err and len(err.splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_device_cuda_without_gpu_is_one_line(root, run):
    _record, output, code = run(root, "device=cuda")
    assert code == 1 and "device=cuda: no GPU is visible to torch" in output and "Traceback" not in output
    assert results_of(root) == {}


def test_help_says_hydra_options_come_first(xares_command):
    code, output, _ = xares_command("--help")
    assert code == 0 and "Hydra's options (--config-dir, -m, --cfg) come before the overrides" in output


# --- bad audio and bad tars: the run goes on, the skips are named, the good clips are untouched --------------


def test_too_short_clip_is_padded_and_keeps_its_own_frames(root, clean, run):
    clean_root, _clean_record = clean
    clip_shard(root / "data" / "fault_tones" / "tones_train_0000001.tar",
               [("tiny", tone(0.01), 16000, {"pitch": "low"})])  # fmt: skip
    record, output, code = run(root, "encoder._target_=faulty_encoders.NeedsFiftyMilliseconds")
    assert code == 0 and record["status"] == "ok", output
    assert record["counts"]["tones_train"]["warnings"]["shorter than the encoder's minimum input, zero-padded"] == 1
    assert record["encoder"]["min_input_samples"] == 800
    index = [json.loads(line) for line in next((root / "cache").rglob("tones_train_0000001.tar/index.jsonl")).open()]
    assert index[0]["n_samples"] == 160 and index[0]["n_frames"] == 1, "ceil(10 ms / 10 ms hop) = 1 frame"
    assert pooled_bytes(root, "tones_test_0000000.tar") == pooled_bytes(clean_root, "tones_test_0000000.tar")


def test_a_failing_clip_is_isolated_and_only_it_is_skipped(root, clean, run):
    _clean_root, _ = clean
    odd = ("odd", np.full(7777, 0.1, np.float32), 16000, {"pitch": "low"})
    clip_shard(root / "data" / "fault_tones" / "tones_test_0000000.tar", [*clips("test"), odd])
    record, output, code = run(root, "encoder._target_=faulty_encoders.FailsOnOneClip", "encode.check=false")
    assert code == 0 and record["status"] == "ok", output
    assert record["counts"]["tones_test"]["skipped"] == {"encoder error": 1}
    assert record["counts"]["tones_test"]["skip_examples"]["encoder error"] == ["tones_test_0000000.tar/odd"]
    assert record["counts"]["tones_test"]["clips"] == 10, "the skipped clip is not counted as a clip"
    assert all(entry["n_test"] == 10 for result in record["scores"].values() for entry in result["rounds"].values())


def test_too_many_skipped_clips_fail_the_run_with_counts(root, run):
    broken = [(f"broken{i}", b"not audio", "wav", {"pitch": "low"}) for i in range(4)]
    shard = root / "data" / "fault_tones" / "tones_valid_0000001.tar"
    write_tar(shard, [member for key, data, ext, _ in broken
                      for member in ((f"{key}.{ext}", data), (f"{key}.json", b'{"pitch": "low"}'))])  # fmt: skip
    record, _output, code = run(root)
    assert code == 1 and record["status"] == "failed"
    assert "tones_valid: 4 of 14 clips skipped (28.6% > 1.0%): 4 x corrupt or unsupported audio" in record["reason"]
    assert results_of(root) == {}
    assert run(root, "encode.max_skipped_share=0.5", name="accepted")[2] == 0, "the limit is configurable"


def test_duplicate_keys_are_named_and_later_samples_still_read(root, clean, run):
    _clean_root, clean_record = clean
    members = []
    for key, audio, _, labels in clips("train"):
        members += sample_members(key, audio, labels["pitch"])
        if key == "train2":  # the same key again, adjacent, then again later with another label
            members += sample_members(key, audio, "low")
    members += sample_members("train2", tone(0.5), "low")
    write_tar(root / "data" / "fault_tones" / "tones_train_0000000.tar", members)
    record, output, code = run(root)
    assert code == 0 and record["status"] == "ok"
    counts = record["counts"]["tones_train"]
    assert counts["skipped"] == {"duplicate key": 2} and counts["clips"] == 10, "every distinct sample is read"
    assert counts["skip_examples"]["duplicate key"] == ["tones_train_0000000.tar/train2"] * 2
    assert "duplicate key" in output and "train2" in output
    assert scores(record) == scores(clean_record), "the first copy of each key is kept: same scores as clean"


def head_outcome(record: dict, run_dir: Path) -> dict:
    """Each head's score, rounds (sizes, valid scores, epochs) and per-sample test outputs: what the data decides."""
    outcome = {}
    for slot, result in record["scores"].items():
        rounds = {name: {k: v for k, v in entry.items() if k != "seconds"} for name, entry in result["rounds"].items()}
        with np.load(run_dir / result["predictions"]) as saved:
            outputs = {name: saved[name].tolist() for name in sorted(saved.files)}
        outcome[slot] = {"score": result["score"], "rounds": rounds, "outputs": outputs}
    return outcome


def test_duplicate_keys_across_shards_keep_the_first_copy(root, tmp_path, run):
    """A second train shard holds two new clips and, again, keys of shard 0 (other audio, other label)."""
    extra = clips("extra", 2)
    copies = [(key, tone(0.5, 16000, 700), rate, {"pitch": "low" if labels["pitch"] == "high" else "high"})
              for key, _, rate, labels in clips("train") if key in ("train2", "train5")]  # fmt: skip
    clip_shard(root / "data" / "fault_tones" / "tones_train_0000001.tar", [extra[0], *copies, extra[1]])
    record, output, code = run(root)
    assert code == 0 and record["status"] == "ok", output
    counts = record["counts"]["tones_train"]
    assert counts["skipped"] == {"duplicate key": 2} and counts["clips"] == 12 and counts["crops"] == 12
    later = "tones_train_0000001.tar"
    assert counts["skip_examples"]["duplicate key"] == [f"{later}/train2", f"{later}/train5"]
    for key in ("train2", "train5"):
        message = (f"Skipping {key} in {later} (tones_train): duplicate key (an earlier shard of this partition, "
                   "tones_train_0000000.tar, has it; that copy is kept)")  # fmt: skip
        assert message in " ".join(output.split())
    # the same data without the copies: the heads saw exactly the first copies and the new clips
    reference_root = tmp_path / "reference"
    make_root(reference_root)
    clip_shard(reference_root / "data" / "fault_tones" / "tones_train_0000001.tar", extra)
    reference, _, _ = run(reference_root, check=True)
    assert reference["counts"]["tones_train"]["clips"] == 12 and not reference["counts"]["tones_train"]["skipped"]
    outcome = head_outcome(record, root / "runs" / "run")
    assert outcome == head_outcome(reference, reference_root / "runs" / "run")
    assert all(entry["n_train"] == 12 for result in outcome.values() for entry in result["rounds"].values())


def test_truncated_member_is_reported_as_truncated(root, run):
    shard = root / "data" / "fault_tones" / "tones_train_0000001.tar"
    clip_shard(shard, clips("extra", 4))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2 + 2000])  # in the data of a member
    record, output, _code = run(root, "encode.max_skipped_share=1", "data.allow_incomplete=true")
    counts = record["counts"]["tones_train"]
    assert counts["skipped"] == {"truncated tar": 1}
    assert counts["skip_examples"]["truncated tar"][0].startswith("tones_train_0000001.tar/extra")
    assert "in tones_train_0000001.tar: truncated tar (" in output and "nothing after it can be read" in output


# --- records: only finished work reaches results_root ---------------------------------------------------------


@pytest.mark.slow
def test_interrupt_during_encode_is_one_line_and_keeps_the_good_record(root, clean, run):
    _, _clean_record = clean
    record, _, code = run(root, name="good")
    good = results_of(root)
    assert code == 0 and good
    shutil.rmtree(root / "cache")
    command = [str(Path(sys.executable).parent / "xares"), "--config-dir", str(root / "user_conf"), "task=fault_tones",
               f"hydra.run.dir={root / 'runs' / 'cut'}", "encode.batch_size=1"]  # fmt: skip
    env = dict(os.environ, XARES_ROOT=str(root), COLUMNS="200")
    # a shell's background job starts with SIGINT ignored, which Python then keeps: the command gets the default
    process = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Encoding tones_" in line:
            process.send_signal(signal.SIGINT)
            break
    output = "".join(lines) + process.stdout.read()
    assert process.wait(timeout=120) == 130
    assert "interrupted during encode; rerun the same command to resume" in output and "Traceback" not in output
    assert results_of(root) == good, "the scored record in results_root is untouched"
    cut = json.loads((root / "runs" / "cut" / "result.json").read_text())
    assert cut["status"] == "failed" and cut["reason"] == "interrupted during encode"
    resumed, _, code = run(root, name="resumed")
    assert code == 0 and scores(resumed) == scores(record)


def test_a_failed_rerun_never_replaces_a_scored_record(root, run):
    run(root, name="good", check=True)
    good = results_of(root)
    record, output, code = run(root, "encoder._target_=faulty_encoders.AssertingMel", name="broken")
    assert code == 1 and record["status"] == "failed"
    assert "encoder raised AssertionError: this encoder asserts on every input" in output
    assert "Traceback" not in output
    assert results_of(root) == good


# --- environment -------------------------------------------------------------------------------------------------


def test_disk_full_names_the_path(root, run):
    with small_disk(root / "small") as small:
        record, output, code = run(root, f"paths.cache_root={small}")
    assert code == 1 and "Traceback" not in output
    assert "disk full writing " + str(small) in record["reason"]
    assert re.search(r" \([\d,]+ bytes to write, 0\.0 MB free there\); free space or point paths", record["reason"])
    assert results_of(root) == {}


def test_a_download_larger_than_the_disk_fails_first_naming_the_folder_and_sizes(root, run):
    served = zenodo_task(root)
    with small_disk(root / "small") as small, FakeZenodo({"77": served}) as zenodo:
        record, output, code = run_zenodo_task(run, root, zenodo, "full", f"paths.data_root={small}")
        requests = sum(zenodo.content_requests(name) for name in served)
        left = sorted(str(path.relative_to(small)) for path in small.rglob("*") if path.is_file())
    assert record == json.loads((root / "runs" / "full" / "result.json").read_text())
    output = " ".join(output.split())
    needed = sum(len(content) for content in served.values()) / 1e6
    message = (re.escape(f"Not enough disk space to download Zenodo record 77 into {small / 'zenodo_tones'}: "
                         f"{needed:.1f} MB still to fetch, ") + r"0\.0\d\d MB free there\. "
               + re.escape("Free some space there, or point paths.data_root at a larger disk"))  # fmt: skip
    assert code == 1 and "Traceback" not in output
    assert record["status"] == "unavailable" and re.match(message, record["reason"]) and re.search(message, output)
    assert requests == 0 and left == [], "nothing was fetched, no file was left there"
    assert results_of(root) == {}


def test_disk_full_names_the_bytes_being_written(tmp_path):
    document = {"values": list(range(10_000))}
    size = len(json.dumps(document, indent=2)) + 1
    with small_disk(tmp_path / "small") as small:
        with pytest.raises(OSError) as failure:
            write_json(small / "big.json", document)
        message = storage_problem(failure.value)
        left = list(small.iterdir())
    assert message == (
        f"disk full writing {small / 'big.json'} ({size:,} bytes to write, 0.0 MB free there); "
        "free space or point paths.* at a larger disk"
    )
    assert left == [], "no partial file is left behind"


def test_stale_part_files_of_dead_processes_are_removed(root, clean, run):
    clean_root, _ = clean
    shard_dir = next((clean_root / "cache").rglob("shards/tones_train_0000000.tar")).relative_to(clean_root)
    stale = root / shard_dir / "frames.f32.999999.part"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed run")
    run(root, check=True)
    assert not stale.exists()
    assert pooled_bytes(root, "tones_train_0000000.tar") == pooled_bytes(clean_root, "tones_train_0000000.tar")


# --- downloads without checksums ------------------------------------------------------------------------------------


def test_download_without_size_or_checksum_is_verified_by_the_archive(tmp_path):
    shard = clip_shard(tmp_path / "wds-audio-fold-1-000000.tar", clips("fold", 12))
    content = shard.read_bytes()
    dest = tmp_path / "dest"
    with FakeZenodo({"77": {shard.name: content}}) as zenodo:
        zenodo.bare_records, zenodo.send_length = True, False
        zenodo.cut_connection(shard.name, after_bytes=len(content) // 2, times=1)
        fetch("77", dest, zenodo.api_base)
        assert zenodo.content_requests(shard.name) == 2, "the cut copy was detected and fetched again"
    assert (dest / shard.name).read_bytes() == content and (dest / READY_MARKER).exists()


def test_download_cut_twice_is_never_marked_ready_and_a_rerun_repairs_it(tmp_path):
    shard = clip_shard(tmp_path / "wds-audio-fold-1-000000.tar", clips("fold", 12))
    content = shard.read_bytes()
    dest = tmp_path / "dest"
    with FakeZenodo({"77": {shard.name: content}}) as zenodo:
        zenodo.bare_records, zenodo.send_length = True, False
        zenodo.cut_connection(shard.name, after_bytes=len(content) // 2, times=2)
        with pytest.raises(Exception, match="failed its check twice"):
            fetch("77", dest, zenodo.api_base, retries=1)
        assert not (dest / READY_MARKER).exists() and not (dest / shard.name).exists()
        fetch("77", dest, zenodo.api_base, retries=1)
    assert (dest / shard.name).read_bytes() == content and (dest / READY_MARKER).exists()


def test_a_run_whose_download_is_cut_once_fetches_it_again_and_scores(root, clean, run):
    """The real ``xares`` command on a task whose shards come from a Zenodo record without sizes or checksums,
    served without Content-Length: the connection is cut once in the middle of the train shard."""
    _clean_root, clean_record = clean
    served = zenodo_task(root)
    with FakeZenodo({"77": served}) as zenodo:
        zenodo.bare_records, zenodo.send_length = True, False
        cut = "tones_train_0000000.tar"
        zenodo.cut_connection(cut, after_bytes=len(served[cut]) // 2, times=1)
        record, output, code = run_zenodo_task(run, root, zenodo, "zenodo")
        requests = {name: zenodo.content_requests(name) for name in served}
        assert zenodo.bytes_served[cut] == len(served[cut]) // 2 + len(served[cut]), "the cut copy, then all of it"
    assert code == 0, output
    assert requests == {name: 2 if name == cut else 1 for name in served}, "only the cut file was fetched again"
    folder = root / "data" / "zenodo_tones"
    assert {name: (folder / name).read_bytes() for name in served} == served
    assert (folder / READY_MARKER).exists() and not list(folder.glob("*.part"))
    assert record == json.loads((root / "runs" / "zenodo" / "result.json").read_text())
    assert record["status"] == "ok" and record["data"]["record_id"] == "77"
    assert record["counts"]["tones_train"]["clips"] == 10 and not record["counts"]["tones_train"]["skipped"]
    assert scores(record) == scores(clean_record), "the same shards as the local task: the same scores"


MB = 1_000_000


def with_free_space(monkeypatch, free: int) -> list[Path]:
    """Make every folder's disk report ``free`` bytes free to the downloader; returns the folders it asked about."""
    asked, real = [], shutil.disk_usage

    def disk_usage(path):
        asked.append(Path(path))
        return real(path)._replace(free=free)

    monkeypatch.setattr(zenodo_module.shutil, "disk_usage", disk_usage)
    return asked


def test_download_larger_than_the_free_space_fails_before_fetching_and_resumes(tmp_path, monkeypatch):
    content = np.random.default_rng(0).bytes(5 * MB // 2)
    dest = tmp_path / "dest"
    dest.mkdir()
    part = dest / "audio.bin.part"
    with FakeZenodo({"77": {"audio.bin": content}}) as zenodo:
        asked = with_free_space(monkeypatch, MB)
        with pytest.raises(DataUnavailable) as failure:
            fetch("77", dest, zenodo.api_base)
        assert str(failure.value).startswith(
            f"Not enough disk space to download Zenodo record 77 into {dest}: 2.5 MB still to fetch, 1.0 MB free "
            "there. Free some space there, or point paths.data_root at a larger disk"
        )
        assert asked == [dest] and zenodo.content_requests("audio.bin") == 0, "checked before any byte was fetched"
        assert list(dest.iterdir()) == [], "no file, not even a lock, is left there"
        # a partial download counts: only the missing bytes are needed, and the partial file is never touched
        part.write_bytes(content[: 3 * MB // 2])
        with_free_space(monkeypatch, MB // 2)
        with pytest.raises(DataUnavailable, match=r"1\.0 MB still to fetch, 0\.5 MB free there"):
            fetch("77", dest, zenodo.api_base)
        assert part.read_bytes() == content[: 3 * MB // 2] and zenodo.content_requests("audio.bin") == 0
        with_free_space(monkeypatch, 6 * MB // 5)
        fetch("77", dest, zenodo.api_base)
        assert zenodo.range_headers == [(zenodo.content_path("77", "audio.bin"), f"bytes={3 * MB // 2}-")]
    assert (dest / "audio.bin").read_bytes() == content and (dest / READY_MARKER).exists() and not part.exists()


def test_download_without_a_size_in_the_record_checks_the_content_length(tmp_path, monkeypatch):
    content = np.random.default_rng(1).bytes(5 * MB // 2)
    dest = tmp_path / "dest"
    with FakeZenodo({"77": {"audio.bin": content}}) as zenodo:
        zenodo.bare_records = True  # no size in the record: the server's Content-Length is the first to tell
        with_free_space(monkeypatch, 2 * MB)
        with pytest.raises(DataUnavailable) as failure:
            fetch("77", dest, zenodo.api_base)
        assert str(failure.value).startswith(
            f"Not enough disk space to download audio.bin into {dest}: 2.5 MB still to fetch, 2.0 MB free there."
        )
        assert zenodo.content_requests("audio.bin") == 1, "asked once, not retried"
        assert not (dest / "audio.bin.part").exists() and not (dest / READY_MARKER).exists()
        monkeypatch.undo()
        fetch("77", dest, zenodo.api_base)
    assert (dest / "audio.bin").read_bytes() == content and (dest / READY_MARKER).exists()


# --- reports, folders, threads ---------------------------------------------------------------------------


def test_report_names_an_unreadable_record_and_fails_unless_skip_bad(clean, tmp_path, capsys):
    clean_root, _ = clean
    results = tmp_path / "results"
    shutil.copytree(clean_root / "results", results)
    (good,) = results.rglob("*.json")
    broken = good.with_name("default-0000000000.json")
    broken.write_text(good.read_text()[:100])
    assert report_main([str(results), "--out", str(tmp_path / "out")]) == 1
    assert f"cannot read {broken}" in capsys.readouterr().err
    assert report_main([str(results), "--out", str(tmp_path / "out"), "--skip-bad"]) == 0
    assert "fault_tones" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.slow
def test_parallel_sweeps_and_runs_get_their_own_folders_and_threads(root):
    sweep = ["--config-dir", str(root / "user_conf"), "-m", "task=fault_tones", "head.lr=1e-3,1e-2",
             "hydra/launcher=parallel", "hydra.launcher.n_jobs=2"]  # fmt: skip
    env = dict(os.environ, XARES_ROOT=str(root), COLUMNS="200")
    xares = str(Path(sys.executable).parent / "xares")
    processes = [subprocess.Popen([xares, *sweep], env=env, cwd=root, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(2)]  # fmt: skip
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    sweeps = sorted((root / "outputs" / "multirun").glob("*/*"))
    assert len(sweeps) == 2, "two sweeps started together have two folders"
    cores = len(os.sched_getaffinity(0))
    for folder in sweeps:
        rows = json.loads((folder / "summary.json").read_text())["rows"]
        assert len(rows) == 2, "each summary lists exactly its own two jobs"
        for record in folder.glob("*/result.json"):
            assert json.loads(record.read_text())["threads"] == max(1, cores // 2), "cores / parallel jobs"
