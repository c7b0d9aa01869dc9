"""The last fault cells of the hostile-user round (issue 24), on the fault task of ``test_faults``: truncated and
unreadable shards, full disks (a small tmpfs; skipped where none can be mounted), records the report cannot read,
empty members, lock files and bounded archives. Each asserts the one-line message, the exit code and that nothing
good was lost or replaced."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import faults
from helpers.audio import clip_shard
from helpers.cli import xares
from helpers.zenodo_server import FakeZenodo

from xares_hydra.data.audio import decode_audio
from xares_hydra.errors import OutputNotWritten
from xares_hydra.report.cli import main as report_main

EXTRA = "tones_train_0000001.tar"


def fill(folder: Path) -> None:
    """Fill the disk holding ``folder`` to the last byte."""
    descriptor = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(descriptor, b"\1" * 4096):
            pass
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(descriptor)


def files_below(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


# --- truncated and unreadable shards ------------------------------------------------------------------------------


def cut_after_sample(shard: Path, samples: int) -> None:
    """Cut ``shard`` inside the header that follows its first ``samples`` samples (two members each)."""
    with tarfile.open(shard) as archive:
        offset = archive.getmembers()[2 * samples].offset
    shard.write_bytes(shard.read_bytes()[: offset + 100])


@pytest.mark.slow
def test_a_truncated_shard_fails_the_run_and_never_replaces_a_complete_record(root, run):
    shard = root / "data" / "fault_tones" / EXTRA
    clip_shard(shard, faults.clips("extra", 8))
    good_record, _, _ = run(root, name="good", check=True)
    good = faults.results_of(root)
    cut_after_sample(shard, 5)
    record, output, code = run(root, name="cut")
    assert code == 1 and record["status"] == "failed" and "Traceback" not in output
    counts = record["counts"]["tones_train"]
    assert counts["clips"] == 15 and counts["skipped"] == {}, "the 5 samples before the cut counted once, none twice"
    assert counts["incomplete"][EXTRA]["clips_estimate"] is None, "a cut file does not say what it lost"
    assert record["reason"].startswith(f"tones_train is incomplete, a shard could not be read to its end ({EXTRA}: "
                                       "truncated tar (after member extra4.json: ")  # fmt: skip
    assert "nothing after it can be read: a cut file, its missing clips unknown" in record["reason"]
    assert record["reason"].endswith("or accept the data as it is with data.allow_incomplete=true")
    assert faults.results_of(root) == good
    accepted, output, code = run(root, "data.allow_incomplete=true", name="accepted")
    assert code == 0 and accepted["status"] == "ok" and accepted["counts"]["tones_train"]["incomplete"]
    assert all(entry["n_train"] == 15 for result in accepted["scores"].values() for entry in result["rounds"].values())
    assert "Not replacing" in output and "a record of complete data, with this one of incomplete data" in output
    assert faults.results_of(root) == good, "the complete record is kept"
    assert faults.scores(good_record) != {} and (root / "runs" / "accepted" / "result.json").exists()


def test_an_incomplete_record_is_written_where_no_complete_one_is(root, run):
    shard = root / "data" / "fault_tones" / EXTRA
    clip_shard(shard, faults.clips("extra", 8))
    cut_after_sample(shard, 5)
    _, _, code = run(root, "data.allow_incomplete=true")
    assert code == 0
    (kept,) = faults.results_of(root).values()
    assert json.loads(kept)["counts"]["tones_train"]["incomplete"][EXTRA]["problem"].startswith("truncated tar (")


@pytest.mark.slow
def test_a_random_bytes_shard_in_a_sweep_is_named_as_the_reason(root, xares_command, recwarn):
    """Two tasks in one sweep; the only test shard of one is random bytes: its job's reason names that shard."""
    other = (root / "user_conf" / "task" / "fault_tones.yaml").read_text().replace("fault_tones", "fault_other")
    (root / "user_conf" / "task" / "fault_other.yaml").write_text(other)
    (root / "data" / "fault_other").mkdir(parents=True)
    for path in (root / "data" / "fault_tones").glob("*.tar"):
        (root / "data" / "fault_other" / path.name).write_bytes(path.read_bytes())
    unreadable = root / "data" / "fault_tones" / "tones_test_0000000.tar"
    unreadable.write_bytes(np.random.default_rng(0).bytes(20_000))
    sweep = root / "sweep"
    code, _, _ = xares_command("--config-dir", str(root / "user_conf"), "-m", "task=fault_tones,fault_other",
                                   f"hydra.sweep.dir={sweep}", root=root)  # fmt: skip
    records = {
        json.loads(p.read_text())["task"]["name"]: json.loads(p.read_text()) for p in sweep.glob("*/result.json")
    }
    assert code == 1 and records["fault_other"]["status"] == "ok"
    reason = records["fault_tones"]["reason"]
    assert reason.startswith("tones_test is incomplete, a shard could not be read to its end (tones_test_0000000.tar:"
                             " unreadable tar (not a tar archive from its first bytes: ")  # fmt: skip
    assert "label" not in reason
    # the sweep's checks ran to their end (Hydra turns a callback's exception into a warning and goes on)
    assert not [w for w in recwarn if "on_multirun_start raised" in str(w.message)]


# --- full disks ---------------------------------------------------------------------------------------------------


def test_output_folder_on_a_full_disk_is_one_line_before_any_work(xares_command, xares_root):
    with faults.small_disk(xares_root / "small") as small:
        fill(small)
        code, _, err = xares_command(f"paths.output_root={small}/outputs", "encoder=mel", root=xares_root)
        left = files_below(small)
    assert code == 1 and "Traceback" not in err
    assert err.strip() == (f"xares: paths.output_root={small}/outputs: the disk holding {small} is full (0.0 MB "
                           "free); free space there or point paths.output_root at a larger disk")  # fmt: skip
    assert left == ["filler"], "no config.yaml or log was started there"
    assert not (xares_root / "data").exists(), "no work started"


def test_output_disk_full_at_the_end_keeps_the_record_in_results_root(root, clean, caplog):
    _, clean_record = clean
    with faults.small_disk(root / "small") as small:
        fill(small)
        with caplog.at_level(logging.INFO), pytest.raises(OutputNotWritten) as failure:
            xares("task=fault_tones", root=root, run_dir=small / "run", config_dir=root / "user_conf")
        left = files_below(small)
    assert str(failure.value).startswith(f"disk full writing {small / 'run'}/")
    assert "0.0 MB free there); free space or point paths.* at a larger disk" in str(failure.value)
    assert f"fault_tones (failed): disk full writing {small / 'run'}/" in caplog.text and "Traceback" not in caplog.text
    assert left == ["filler"], "no partial file is left in the full folder"
    (kept,) = [json.loads(data) for data in faults.results_of(root).values()]
    assert kept["status"] == "ok" and faults.scores(kept) == faults.scores(clean_record), (
        "the scores reach results_root"
    )
    for result in kept["scores"].values():
        assert (next((root / "results").rglob(result["predictions"]))).is_file(), "with their predictions"


def test_cache_disk_full_in_numpy_names_the_path(root, run):
    """``np.save`` on a full disk raises an OSError with no errno: still the documented line."""
    with faults.small_disk(root / "small") as small:
        record, output, code = run(root, f"paths.cache_root={small}", "encoder.n_mels=256", "encoder.n_fft=2048")
    assert code == 1 and "Traceback" not in output
    assert record["reason"].startswith(f"disk full writing {small}/fault_tones/")
    assert "/pooled.npy (" in record["reason"], record["reason"]
    assert record["reason"].endswith("MB free there); free space or point paths.* at a larger disk")
    assert faults.results_of(root) == {}


# --- records the report cannot read, odd members, counts ----------------------------------------------------------


def test_report_names_a_record_of_an_unknown_schema_and_fails_unless_skip_bad(clean, tmp_path, capsys):
    clean_root, _ = clean
    results = tmp_path / "results"
    shutil.copytree(clean_root / "results", results)
    (good,) = results.rglob("*.json")
    newer = results / "mel" / "other_task" / "default-0000000000.json"
    newer.parent.mkdir(parents=True)
    newer.write_text(json.dumps(dict(json.loads(good.read_text()), schema=99)))
    assert report_main([str(results), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{newer}: record schema 99, this xares-report reads schema 1, 2" in " ".join(err.split())
    assert report_main([str(results), "--out", str(tmp_path / "out"), "--skip-bad"]) == 0


def test_an_empty_audio_member_is_named_empty(root, run):
    members = [
        member
        for key, audio, _, labels in faults.clips("train")
        for member in faults.sample_members(key, audio, labels["pitch"])
    ]
    members += [("empty.flac", b""), ("empty.json", b'{"pitch": "low"}')]
    faults.write_tar(root / "data" / "fault_tones" / "tones_train_0000000.tar", members)
    record, output, code = run(root)
    assert code == 0 and record["counts"]["tones_train"]["skipped"] == {"empty audio member": 1}
    assert "Skipping empty in tones_train_0000000.tar: empty audio member (0 bytes)" in output
    assert record["counts"]["tones_train"]["clips"] == 10


# --- lock files -----------------------------------------------------------------------------------------------------

COUNTER = """
import sys
from pathlib import Path
from xares_hydra.locks import file_lock

folder = Path(sys.argv[1])
for _ in range(200):
    with file_lock(folder / "counter.lock"):
        counter = folder / "counter"
        value = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(value + 1))  # not atomic: a second holder would lose increments
"""


def test_lock_files_are_removed_and_still_exclude_each_other(tmp_path):
    """Four processes increment a counter under the lock, whose file is deleted on every release."""
    jobs = [subprocess.Popen([sys.executable, "-c", COUNTER, str(tmp_path)]) for _ in range(4)]
    assert all(job.wait(timeout=120) == 0 for job in jobs)
    assert (tmp_path / "counter").read_text() == "800", "no increment was lost: never two holders at once"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter"], "no lock file is left"


def test_a_run_leaves_no_lock_files(clean):
    clean_root, _ = clean
    assert list((clean_root / "cache").rglob("shards/*.tar")), "the cache holds its shards"
    assert not list(clean_root.rglob("*.lock")), "no lock file is left in the data, cache or results folders"


# --- downloaded archives: bounded like tar members ------------------------------------------------------------------

ZEROS = 20_000_000  # a thousandfold compressible member, as a 2 MB archive of 2 GiB of zeros


def zeros_archive(kind: str) -> bytes:
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            bundle.writestr("zeros.bin", bytes(ZEROS))
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
            info = tarfile.TarInfo("zeros.bin")
            info.size = ZEROS
            bundle.addfile(info, io.BytesIO(bytes(ZEROS)))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_decompression_bomb_is_refused_before_a_byte_is_unpacked(root, run, kind):
    name = f"bomb.{kind}"
    served = dict(faults.zenodo_task(root), **{name: zeros_archive(kind)})
    folder = root / "data" / "zenodo_tones"
    with FakeZenodo({"77": served}) as zenodo:
        record, output, code = faults.run_zenodo_task(run, root, zenodo, "ratio")
        assert code == 1 and record["status"] == "unavailable" and "Traceback" not in output
        ratio = ZEROS / len(served[name])
        assert record["reason"] == (f"The archive {folder / name} unpacks to {ZEROS:,} bytes, {ratio:,.0f} times its "
                                    "size > data.max_archive_ratio=200 (a decompression bomb?); it was not extracted "
                                    "(nothing of it is left there).")  # fmt: skip
        record, _, code = faults.run_zenodo_task(run, root, zenodo, "member", "data.max_archive_ratio=null",
                                          "data.max_member_bytes=1000000")  # fmt: skip
        member = f"The archive {folder / name} holds a member of {ZEROS:,} bytes (zeros.bin) > data.max_member_bytes="
        assert code == 1 and record["reason"].startswith(member + "1000000")
    assert sorted(path.name for path in folder.iterdir()) == sorted(served), "the downloads, nothing unpacked"


def test_an_archive_larger_than_the_free_space_unpacked_is_refused_and_leaves_nothing(root, run):
    served = dict(faults.zenodo_task(root), **{"bomb.zip": zeros_archive("zip")})
    with faults.small_disk(root / "small", "2m") as small, FakeZenodo({"77": served}) as zenodo:
        record, output, code = faults.run_zenodo_task(run, root, zenodo, "full", f"paths.data_root={small}",
                                               "data.max_archive_ratio=null")  # fmt: skip
        folder = small / "zenodo_tones"
        left = sorted(path.name for path in folder.iterdir())
    assert code == 1 and record["status"] == "unavailable" and "Traceback" not in output
    assert re.match(re.escape(f"The archive {folder / 'bomb.zip'} unpacks to 20.0 MB, ") + r"[\d.]+ MB free in "
                    + re.escape(f"{folder}; free some space there, or point paths.data_root at a larger disk"),
                    record["reason"]), record["reason"]  # fmt: skip
    assert left == sorted(served), "the downloads are kept, nothing partial was unpacked"
    assert faults.results_of(root) == {}


# --- checkpoints ----------------------------------------------------------------------------------------------------


def test_a_plain_http_checkpoint_is_refused_unless_allowed(root, run, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    with FakeZenodo({"5": {"dasheng.pt": b"weights"}}) as server:
        url = server.file_url("5", "dasheng.pt")
        record, output, code = run(root, "encoder=dasheng", f"encoder.checkpoint={url}")
        assert server.content_requests("dasheng.pt") == 0, "nothing was fetched"
        allowed, _, _ = run(root, "encoder=dasheng", f"encoder.checkpoint={url}", "data.allow_http=true", name="ok")
        assert server.content_requests("dasheng.pt") == 1 and "plain-HTTP" not in allowed["reason"], "allowed: fetched"
    assert code == 1 and record["status"] == "failed" and "Traceback" not in output
    assert record["reason"] == (f"encoder.checkpoint={url}: a plain-HTTP address, refused (data.allow_http=false): "
                                "use its https:// address or a local file, or set data.allow_http=true only for a "
                                "server you trust")  # fmt: skip
    assert faults.results_of(root) == {}


# --- long clips -------------------------------------------------------------------------------------------------------


def test_a_long_stereo_clip_is_held_once_as_mono_while_decoded(tmp_path):
    """Ten silent minutes of stereo FLAC: decoding holds the mono clip and one block, not the channels whole."""
    rate, minutes = 16000, 10
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", rate, 2, format="FLAC", subtype="PCM_16") as flac:
        for _ in range(minutes):
            flac.write(np.zeros((60 * rate, 2), np.float32))
    tracemalloc.start()
    try:
        decoded = decode_audio(buffer.getvalue(), rate)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mono_bytes = minutes * 60 * rate * 4
    assert decoded.samples.shape == (minutes * 60 * rate,) and decoded.silent and decoded.channels == 2
    assert peak < 1.3 * mono_bytes, f"peak {peak / 1e6:.0f} MB for a {mono_bytes / 1e6:.0f} MB mono clip"


FILLING_ENCODER = """
import os
from pathlib import Path
from xares_hydra.encoders.mel import MelEncoder

class FillsTheOutputDisk(MelEncoder):
    # fills the disk of $FILL_FOLDER at its first call, as another job writing there would
    def forward(self, audio, lengths=None):
        filler = Path(os.environ["FILL_FOLDER"]) / "filler"
        if not filler.exists():
            descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(descriptor, b"\\1" * 4096):
                    pass
            except OSError:
                pass
            os.close(descriptor)
        return super().forward(audio, lengths)
"""


@pytest.mark.slow
def test_the_command_whose_output_disk_fills_keeps_the_scores_and_exits_1(root, clean, xares_command, monkeypatch):
    _, clean_record = clean
    (root / "filling.py").write_text(FILLING_ENCODER)
    with faults.small_disk(root / "small", "2m") as small:
        monkeypatch.setenv("FILL_FOLDER", str(small))
        code, out, err = xares_command("--config-dir", str(root / "user_conf"), "task=fault_tones",
                                       "encoder._target_=filling.FillsTheOutputDisk", f"hydra.run.dir={small}/run",
                                       root=root)  # fmt: skip
    output = " ".join((out + err).split())
    assert code == 1 and "Traceback" not in output and "Logging error" not in output
    line = re.escape(f"disk full writing {small}/run/") + r"\S+ \([\d,]+ bytes to write, 0\.0 MB free there\)"
    assert re.search(line, output), output
    (kept,) = [json.loads(data) for data in faults.results_of(root).values()]
    assert kept["status"] == "ok" and faults.scores(kept) == faults.scores(clean_record), (
        "the scores reach results_root"
    )
