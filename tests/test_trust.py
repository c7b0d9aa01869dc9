"""Numbers you can trust while iterating on an encoder: each case through the real ``xares`` command.

A user module edited between runs is re-encoded; ``encode.force`` re-encodes; different settings
keep their own records and columns while ``0.01``, ``1e-2`` and the task default are one; a sweep
checks the network and the encoder once before its first job and exits non-zero unless jobs
succeeded; a data root is checked and left clean.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers.cli import SMALL_TIMBRE, run_xares

from xares_hydra.report.cli import main as report_main

UNREACHABLE_API = "data.zenodo_api=http://127.0.0.1:9/api"  # nothing listens on port 9: refused at once


def user_module(folder: Path, scale: float) -> None:
    """A user's encoder module on the path; every build appends a line to ``builds.txt``."""
    (folder / "myconv.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path

            from xares_hydra.encoders.mel import MelEncoder

            SCALE = {scale}


            class MyConv(MelEncoder):
                def __init__(self, bands: int = 32):
                    super().__init__(n_mels=bands)
                    with open(Path(__file__).with_name("builds.txt"), "a") as builds:
                        builds.write("built\\n")

                def forward(self, audio):
                    return super().forward(audio) * SCALE


            class Broken(MelEncoder):
                def __init__(self):
                    raise OSError("checkpoint weights.pt not found")
            """
        )
    )


def builds(root: Path) -> int:
    path = root / "builds.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def last_lines(result) -> list[str]:
    """The last line of stdout and of stderr (the summary line goes to whichever the logging config says)."""
    return [stream.strip().splitlines()[-1] for stream in (result.stdout, result.stderr) if stream.strip()]


def record_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def run(root: Path, name: str, *overrides: str) -> tuple[dict, str]:
    run_dir = root / "runs" / name
    result = run_xares(*SMALL_TIMBRE, f"hydra.run.dir={run_dir}", *overrides, root=root)
    return record_of(run_dir), result.stdout + result.stderr


MYCONV = ("encoder=custom", "encoder._target_=myconv.MyConv")


@pytest.fixture(scope="module")
def edited(tmp_path_factory) -> dict:
    """Runs of a user module before and after an edit, then with encode.force=true."""
    root = tmp_path_factory.mktemp("edited")
    user_module(root, scale=1.0)
    before, _ = run(root, "before", *MYCONV)
    user_module(root, scale=0.0)
    after, after_log = run(root, "after", *MYCONV)
    forced, forced_log = run(root, "forced", *MYCONV, "encode.force=true")
    return {"root": root, "before": before, "after": after, "after_log": after_log, "forced": forced,
            "forced_log": forced_log}  # fmt: skip


@pytest.mark.slow
def test_editing_a_user_module_re_encodes_and_changes_the_scores(edited):
    before, after = edited["before"], edited["after"]
    assert before["encoder"]["fingerprint"] != after["encoder"]["fingerprint"]
    assert before["encoder"]["identity"] != after["encoder"]["identity"], "another column in reports"
    assert "Encoding" in edited["after_log"] and "are in the cache" not in edited["after_log"]
    assert before["scores"]["knn"]["score"] > 0.5
    chance = 0.2  # all-zero embeddings, 5 classes
    assert after["scores"]["knn"]["score"] == after["scores"]["mlp"]["score"] == chance
    results = sorted((edited["root"] / "results" / "MyConv" / "demo_timbre").glob("*.json"))
    assert len(results) == 2, "the edited encoder's record does not replace the old one"


@pytest.mark.slow
def test_encode_force_re_encodes_a_complete_cache(edited):
    assert "Encoding" in edited["forced_log"] and "are in the cache" not in edited["forced_log"]
    assert edited["forced"]["encoder"]["fingerprint"] == edited["after"]["encoder"]["fingerprint"]


@pytest.mark.slow
def test_stage_check_prints_the_fingerprint_inputs(edited, xares_command):
    code, out, err = xares_command("stage=check", "check.long_seconds=2", *MYCONV, root=edited["root"])
    assert code == 0, out + err
    assert "cache fingerprint" in out and "code.sha256" in out
    assert str(edited["root"]) in out, "the folder whose .py files are digested"
    assert edited["after"]["encoder"]["code"]["sha256"] in out, "the digest the report's label names"


@pytest.mark.slow
def test_report_columns_of_an_edited_module_name_its_code_digest_and_first_run(edited):
    results = edited["root"] / "results"
    assert report_main([str(results), "--resamples", "0"]) == 0
    board = (results / "leaderboard.md").read_text()
    records = [json.loads(path.read_text()) for path in (results / "MyConv" / "demo_timbre").glob("*.json")]
    codes = {record["encoder"]["code"]["sha256"] for record in records}
    assert codes == {edited[run]["encoder"]["code"]["sha256"] for run in ("before", "after")} and len(codes) == 2
    for record in records:  # the forced run replaced the edited run's record: its time is the column's first run
        first_run = record["created"][:16].replace("T", " ")
        label = f"MyConv [code {record['encoder']['code']['sha256'][:8]} from {first_run}]"
        assert label in board, (label, board)


@pytest.fixture(scope="module")
def settings_sweep(tmp_path_factory) -> dict:
    """Two encoder settings, then one head setting typed three ways (and at its task default)."""
    root = tmp_path_factory.mktemp("settings")
    user_module(root, scale=1.0)
    run_xares("-m", *SMALL_TIMBRE, *MYCONV, "+encoder.bands=16,24", f"hydra.sweep.dir={root / 'sweep'}", root=root)
    built_after_encoding = builds(root)
    heads = run_xares("-m", *SMALL_TIMBRE, *MYCONV, "+encoder.bands=16", "head.lr=0.01,1e-2,1e-3",
                      f"hydra.sweep.dir={root / 'heads'}", root=root)  # fmt: skip
    return {"root": root, "built_after_encoding": built_after_encoding, "heads_log": heads.stdout + heads.stderr}


@pytest.mark.slow
def test_each_encoder_setting_keeps_its_own_record_and_column(settings_sweep):
    root = settings_sweep["root"]
    records = [json.loads(path.read_text()) for path in (root / "results" / "MyConv" / "demo_timbre").glob("*.json")]
    by_bands = {record["encoder"]["config"]["bands"]: record for record in records if record["head"]["lr"] == 0.01}
    assert set(by_bands) == {16, 24}, "bands=24 did not replace bands=16"
    board = (root / "sweep" / "leaderboard.md").read_text()
    assert "MyConv [encoder.bands=16]" in board and "MyConv [encoder.bands=24]" in board


@pytest.mark.slow
def test_a_setting_is_one_record_and_column_however_it_is_typed(settings_sweep):
    root = settings_sweep["root"]
    board = (root / "heads" / "leaderboard.md").read_text()
    header = next(line for line in board.splitlines() if line.startswith("| Task |"))
    assert header.count("MyConv") == 2, header  # lr=0.01 (typed twice, = the task default) and lr=0.001
    assert "MyConv [lr=0.001]" in header and "| MyConv |" in header
    files = list((root / "results" / "MyConv" / "demo_timbre").glob("*.json"))
    assert len(files) == 3, "bands=16 at lr 0.01 and 0.001, bands=24 at lr 0.01"


@pytest.mark.slow
def test_a_head_sweep_over_a_complete_cache_never_builds_the_encoder(settings_sweep):
    # the first sweep: built once by the sweep's checks, once per setting by the job that encodes it
    assert settings_sweep["built_after_encoding"] == 4
    assert builds(settings_sweep["root"]) == 4, "the head sweep built no encoder"
    assert "passes the encoder contract" not in settings_sweep["heads_log"]


def test_an_offline_sweep_stops_before_its_first_job_with_one_message(xares_root):
    sweep = xares_root / "offline"
    result = run_xares("-m", "task=esc50,cremad,subway_broadcast", UNREACHABLE_API, f"hydra.sweep.dir={sweep}",
                       root=xares_root, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert output.count("cannot be reached") == 1 and "esc50 (record 14614287)" in output
    assert "cremad (record" in output and "subway_broadcast" not in output, "private data is never downloaded"
    assert any(line.endswith("sweep not started: a check every job depends on failed") for line in last_lines(result))
    assert not list(sweep.glob("*/result.json")), "no job started"
    assert not (xares_root / "data").exists() or not any((xares_root / "data").iterdir())


def test_an_encoder_that_cannot_load_stops_the_sweep_before_its_first_job(xares_root):
    user_module(xares_root, scale=1.0)
    sweep = xares_root / "broken"
    result = run_xares("-m", *SMALL_TIMBRE, "encoder=custom", "encoder._target_=myconv.Broken", "head.lr=1e-3,1e-2",
                       f"hydra.sweep.dir={sweep}", root=xares_root, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1 and output.count("checkpoint weights.pt not found") == 1
    assert not list(sweep.glob("*/result.json"))


@pytest.mark.slow
def test_a_sweep_with_a_failed_job_exits_non_zero_with_counts_and_skipped_jobs_do_not(xares_root):
    user_module(xares_root, scale=1.0)
    # encoder=custom without a _target_ is skipped, like a private task whose data is not present
    ok = run_xares("-m", *SMALL_TIMBRE, "encoder=mel,custom", f"hydra.sweep.dir={xares_root / 'a'}", root=xares_root)
    assert any(line.endswith("sweep: 2 jobs: 1 ok, 1 skipped, 0 unavailable, 0 failed") for line in last_lines(ok))
    both = "encoder._target_=myconv.MyConv,myconv.Broken"
    failing = run_xares("-m", *SMALL_TIMBRE, "encoder=custom", both, "encode.check=false",
                        f"hydra.sweep.dir={xares_root / 'b'}", root=xares_root, check=False)  # fmt: skip
    assert failing.returncode == 1
    assert any(line.endswith("sweep: 2 jobs: 1 ok, 0 skipped, 0 unavailable, 1 failed") for line in last_lines(failing))


def test_a_data_root_without_task_data_is_named_and_left_clean(xares_root, xares_command):
    empty = xares_root / "empty"
    empty.mkdir()
    code, out, err = xares_command("task=esc50", f"paths.data_root={empty}", UNREACHABLE_API, "data.retries=0",
                                   root=xares_root)  # fmt: skip
    output = out + err
    assert code == 1
    assert f"paths.data_root={empty} exists but holds no task data" in output and str(empty / "esc50") in output
    assert list(empty.iterdir()) == [], "no task folder or lock file left behind"
    assert xares_command(*SMALL_TIMBRE, "stage=download", f"paths.data_root={empty}", root=xares_root)[0] == 0
    assert sorted(path.name for path in empty.iterdir()) == ["demo_timbre"], "no lock file left behind"
