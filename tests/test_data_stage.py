"""The data stage end to end, against real HTTP on 127.0.0.1.

FakeZenodo (tests/zenodo_server.py) serves miniature copies of the X-ARES records
(tests/helpers/xares_datasets.py); the downloader's own corner cases have unit tests in test_zenodo.py.
Where the user reads the output (offline message, an interrupted download) the tests run the
``xares`` command; elsewhere they run the same configs in-process, which saves its start-up time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers.xares_datasets import (
    FACTS,
    READY_MARKER,
    check_downloaded_once,
    check_scores,
    check_zenodo_record,
    closed_port_api,
    mini_dataset,
    run_in_process,
    unwrapped,
    zenodo_records,
)
from helpers.zenodo_server import FakeZenodo

ESC50 = FACTS["esc50"].record
SHARED_RECORD = FACTS["librispeechmalefemale"].record


def md5_of(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def esc50_zenodo():
    with FakeZenodo(zenodo_records(["esc50"])) as server:
        yield server


def test_no_server_gives_the_manual_way_out_without_a_traceback(xares_root, run_one):
    unreachable = closed_port_api()
    record, result = run_one(xares_root, "offline", "task=esc50", f"data.zenodo_api={unreachable}", "data.retries=0",
                             "data.allow_http=true",
                             check=False)  # fmt: skip
    output = unwrapped(result.stdout + result.stderr)
    folder = xares_root / "data" / "esc50"
    assert result.returncode == 1 and record["status"] == "unavailable"
    for words in (f"Could not download Zenodo record {ESC50}", "could not reach", f"{unreachable}/records/{ESC50}",
                  f"xares stage=download task=esc50 paths.data_root={folder.parent}", f"into the folder {folder}",
                  f"create the empty file {folder / READY_MARKER}"):  # fmt: skip
        assert words in output, words
    assert "Traceback" not in output


def test_interrupted_download_resumes_and_a_corrupted_file_is_fetched_again(xares_root, esc50_zenodo, run_one):
    zenodo, files = esc50_zenodo, zenodo_records(["esc50"])[ESC50]
    cut, corrupted = "wds-audio-fold-3-0000000.tar", "wds-audio-fold-4-0000000.tar"
    half = len(files[cut]) // 2
    zenodo.cut_connection(cut, after_bytes=half)
    download = ("task=esc50", "stage=download", f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true")
    record, result = run_one(xares_root, "cut", *download, "data.retries=0", check=False)
    assert result.returncode == 1 and f"closed after {half} of {len(files[cut])} bytes" in record["reason"]
    assert (xares_root / "data" / "esc50" / f"{cut}.part").stat().st_size == half

    zenodo.corrupt(corrupted, times=1)
    record, _ = run_one(xares_root, "resumed", *download)
    assert record["status"] == "ok" and record["data"]["shards"] == sorted(mini_dataset("esc50").shards)
    for entry in record["data"]["files"]:
        assert md5_of(xares_root / "data" / "esc50" / entry["key"]) == entry["checksum"]
    assert (zenodo.content_path(ESC50, cut), f"bytes={half}-") in zenodo.range_headers
    assert zenodo.bytes_served[cut] == len(files[cut]), "the second run fetched only the missing half"
    requests = {key: zenodo.requests[zenodo.content_path(ESC50, key)] for key in files}
    assert requests == {key: 2 if key in (cut, corrupted) else 1 for key in files}


def test_stage_download_fetches_the_data_and_stops(xares_root, esc50_zenodo):
    record = run_in_process(
        xares_root, "esc50", "stage=download", f"data.zenodo_api={esc50_zenodo.api_base}", "data.allow_http=true"
    )
    folder = xares_root / "data" / "esc50"
    assert record["status"] == "ok" and record["data"]["record_id"] == ESC50 and not record["scores"]
    assert sorted(path.name for path in folder.glob("*.tar")) == sorted(mini_dataset("esc50").shards)
    assert (folder / READY_MARKER).is_file()
    check_downloaded_once(esc50_zenodo, zenodo_records(["esc50"]))
    for unwritten in ("cache", "results"):
        assert not [path for path in (xares_root / unwritten).rglob("*") if path.is_file()], unwritten


def test_an_xares_data_folder_is_used_without_any_http_request(xares_root, tmp_path):
    env = tmp_path / "xares-env"
    mini_dataset("esc50").write(env / "esc50", marker="")  # X-ARES's env/<task>/ with its empty marker
    with FakeZenodo({}) as zenodo:
        record = run_in_process(
            xares_root, "esc50", f"paths.data_root={env}", f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true"
        )
        assert sum(zenodo.requests.values()) == 0
    assert record["status"] == "ok" and record["data"]["record"] == ESC50
    check_scores(record, "esc50")
    assert not (xares_root / "data").exists()


def test_mini_uses_xares_mini_shards_only(xares_root):
    mini = mini_dataset("asvspoof2015")
    first_shards = sorted(name for name in mini.shards if name.endswith("_0000000.tar"))
    assert len(first_shards) < len(mini.shards), "the miniature record holds more than the mini shards"
    records = zenodo_records(["asvspoof2015"])
    with FakeZenodo(records) as zenodo:
        mini_run = ("data.mini=true", "stage=encode", f"data.zenodo_api={zenodo.api_base}", "data.allow_http=true")
        record = run_in_process(xares_root, "asvspoof2015", *mini_run)
        check_downloaded_once(zenodo, records)
    check_zenodo_record(record, "asvspoof2015", tars=first_shards)


def test_a_record_shared_by_two_tasks_is_downloaded_once_and_linked(xares_root):
    records = zenodo_records(["librispeechmalefemale"])
    with FakeZenodo(records) as zenodo:
        zenodo_api = f"data.zenodo_api={zenodo.api_base}"
        run_in_process(xares_root, "librispeechmalefemale", "stage=download", zenodo_api, "data.allow_http=true")
        requests = sum(zenodo.requests.values())
        record = run_in_process(xares_root, "librispeech", "stage=download", zenodo_api, "data.allow_http=true")
        assert sum(zenodo.requests.values()) == requests, "the second task made HTTP requests"
        check_downloaded_once(zenodo, records)
    first, second = xares_root / "data" / "librispeechmalefemale", xares_root / "data" / "librispeech"
    assert record["status"] == "ok" and record["data"]["record_id"] == SHARED_RECORD
    for name in records[SHARED_RECORD]:
        assert os.path.samefile(first / name, second / name), f"{name} is a copy, not a link"
    assert (second / READY_MARKER).is_file()


def test_plain_http_and_off_host_redirects_are_refused_with_a_clear_reason(xares_root, esc50_zenodo, run_one):
    download = ("task=esc50", "stage=download", f"data.zenodo_api={esc50_zenodo.api_base}")
    record, result = run_one(xares_root, "http", *download, check=False)
    assert result.returncode == 1 and record["status"] == "unavailable"
    assert "only https URLs are fetched (set data.allow_http=true" in record["reason"]
    assert sum(esc50_zenodo.requests.values()) == 0

    esc50_zenodo.redirect_files_to = "localhost"
    record, result = run_one(xares_root, "redirect", *download, "data.allow_http=true", check=False)
    assert result.returncode == 1 and record["status"] == "unavailable"
    assert "refused the redirect from http://127.0.0.1:" in record["reason"]
    assert "the host localhost is not the API's host (127.0.0.1)" in unwrapped(result.stdout + result.stderr)
    assert not list((xares_root / "data" / "esc50").glob("*.tar"))
