"""The Zenodo downloader against a real HTTP server on 127.0.0.1 (tests/zenodo_server.py), no mocks."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
import zipfile

import pytest
from helpers.xares_datasets import closed_port_api
from helpers.zenodo_server import FakeZenodo, fetch, running_fake_zenodo

from xares_hydra.data.prepare import READY_MARKER, read_ready_marker
from xares_hydra.errors import DataUnavailable

RECORD = "14614287"
SHARD_A = os.urandom(50_000)
SHARD_B = os.urandom(30_000)
FILES = {"wds-audio-fold-1-000000.tar": SHARD_A, "wds-audio-fold-2-000000.tar": SHARD_B}


@pytest.fixture
def zenodo():
    yield from running_fake_zenodo({RECORD: FILES})


def md5(data: bytes) -> str:
    return f"md5:{hashlib.md5(data).hexdigest()}"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            bundle.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


# --- the normal path --------------------------------------------------------------------------


def test_the_record_is_read_from_zenodo_json(zenodo, tmp_path):
    files = fetch(RECORD, tmp_path, zenodo.api_base).files
    assert [(f.key, f.size, f.checksum) for f in files] == [(k, len(v), md5(v)) for k, v in FILES.items()]
    assert files[0].url == zenodo.file_url(RECORD, files[0].key)


def test_content_links_are_accepted(tmp_path):
    with FakeZenodo({RECORD: FILES}, link_name="content") as server:
        files = fetch(RECORD, tmp_path, server.api_base).files
        assert files[1].url == server.file_url(RECORD, files[1].key)


def test_full_download_verifies_checksums_and_writes_provenance_marker(zenodo, tmp_path):
    download = fetch(RECORD, tmp_path / "esc50", zenodo.api_base)

    dest = tmp_path / "esc50"
    for key, content in FILES.items():
        assert (dest / key).read_bytes() == content
        assert not (dest / f"{key}.part").exists()
    marker = read_ready_marker(dest)
    assert marker == download.to_dict()
    assert marker["record_id"] == RECORD and marker["api_base"] == zenodo.api_base
    assert {(f["key"], f["size"], f["checksum"]) for f in marker["files"]} == {
        (k, len(v), md5(v)) for k, v in FILES.items()
    }
    assert download.dest == dest and download.extracted == []


def test_complete_files_are_not_fetched_again_and_force_fetches_them(zenodo, tmp_path):
    fetch(RECORD, tmp_path, zenodo.api_base)
    (tmp_path / READY_MARKER).unlink()

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert zenodo.content_requests("wds-audio-fold-1-000000.tar") == 1
    assert read_ready_marker(tmp_path)["record_id"] == RECORD

    fetch(RECORD, tmp_path, zenodo.api_base, force_download=True)
    assert zenodo.content_requests("wds-audio-fold-1-000000.tar") == 2


def test_progress_bar_runs(zenodo, tmp_path):
    fetch(RECORD, tmp_path, zenodo.api_base, progress=True)
    assert read_ready_marker(tmp_path) is not None


# --- resume, corruption, retries --------------------------------------------------------------


def test_interrupted_download_leaves_part_and_next_call_resumes_with_range(zenodo, tmp_path):
    key = "wds-audio-fold-1-000000.tar"
    zenodo.cut_connection(key, after_bytes=20_000)

    with pytest.raises(DataUnavailable, match="closed after 20000 of 50000 bytes"):
        fetch(RECORD, tmp_path, zenodo.api_base, retries=0)
    assert (tmp_path / f"{key}.part").stat().st_size == 20_000
    assert read_ready_marker(tmp_path) is None

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert (tmp_path / key).read_bytes() == SHARD_A
    assert (zenodo.content_path(RECORD, key), "bytes=20000-") in zenodo.range_headers
    assert zenodo.bytes_served[key] < 2 * len(SHARD_A)


def test_interruption_is_resumed_within_one_call(zenodo, tmp_path):
    key = "wds-audio-fold-2-000000.tar"
    zenodo.cut_connection(key, after_bytes=10_000, times=2)

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert (tmp_path / key).read_bytes() == SHARD_B
    assert [header for _, header in zenodo.range_headers] == ["bytes=10000-", "bytes=20000-"]
    assert zenodo.bytes_served[key] == len(SHARD_B)


def test_server_answering_200_to_range_restarts_the_file(zenodo, tmp_path):
    key = "wds-audio-fold-1-000000.tar"
    zenodo.cut_connection(key, after_bytes=5_000)
    zenodo.ignore_range = True

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert (tmp_path / key).read_bytes() == SHARD_A
    assert zenodo.range_headers == [(zenodo.content_path(RECORD, key), "bytes=5000-")]


def test_corrupted_file_is_fetched_again_and_verified(zenodo, tmp_path):
    key = "wds-audio-fold-2-000000.tar"
    zenodo.corrupt(key, times=1)

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert (tmp_path / key).read_bytes() == SHARD_B
    assert zenodo.content_requests(key) == 2


def test_persistently_corrupted_file_raises_naming_the_file(zenodo, tmp_path):
    key = "wds-audio-fold-2-000000.tar"
    zenodo.corrupt(key, times=5)

    with pytest.raises(DataUnavailable, match=f"{key} failed its checksum") as failure:
        fetch(RECORD, tmp_path, zenodo.api_base)
    assert zenodo.content_requests(key) == 2
    assert not (tmp_path / key).exists() and not (tmp_path / f"{key}.part").exists()
    assert "xares stage=download" in str(failure.value)


def test_rate_limit_honours_retry_after_then_succeeds(zenodo, tmp_path):
    zenodo.rate_limit(times=1, retry_after=1)

    started = time.monotonic()
    fetch(RECORD, tmp_path, zenodo.api_base, max_wait=60)
    assert time.monotonic() - started >= 0.9
    assert zenodo.requests[zenodo.record_path(RECORD)] == 2
    assert read_ready_marker(tmp_path)["record_id"] == RECORD


def test_persistent_rate_limit_says_zenodo_is_rate_limiting(zenodo, tmp_path):
    zenodo.rate_limit(times=10, retry_after=30)

    with pytest.raises(DataUnavailable, match=r"HTTP 429.*Zenodo is rate limiting") as failure:
        fetch(RECORD, tmp_path, zenodo.api_base)
    assert "gave up after 3 attempts" in str(failure.value)


def test_server_errors_are_retried(zenodo, tmp_path):
    zenodo.fail(times=2, status=503)

    fetch(RECORD, tmp_path, zenodo.api_base)
    assert read_ready_marker(tmp_path)["record_id"] == RECORD


# --- failures that reach the user -------------------------------------------------------------


def test_nothing_listening_gives_a_manual_way_out(tmp_path):
    api_base = closed_port_api()

    with pytest.raises(DataUnavailable) as failure:
        fetch(RECORD, tmp_path / "esc50", api_base)
    message = str(failure.value)
    assert f"{api_base}/records/{RECORD}" in message
    assert f"xares stage=download task=esc50 paths.data_root={tmp_path}" in message
    assert "Traceback" not in message
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


def test_failure_while_downloading_lists_every_file_url(zenodo, tmp_path):
    zenodo.cut_connection("wds-audio-fold-2-000000.tar", after_bytes=0, times=10)

    with pytest.raises(DataUnavailable) as failure:
        fetch(RECORD, tmp_path, zenodo.api_base)
    message = str(failure.value)
    for key in FILES:
        assert zenodo.file_url(RECORD, key) in message
    assert f"into the folder {tmp_path}" in message


def test_unknown_record_is_a_404_without_retries(zenodo, tmp_path):
    with pytest.raises(DataUnavailable, match="HTTP 404"):
        fetch("999", tmp_path, zenodo.api_base)
    assert zenodo.requests[zenodo.record_path("999")] == 1


def test_a_record_never_read_points_at_its_page(tmp_path):
    api_base = closed_port_api()
    with pytest.raises(DataUnavailable) as failure:
        fetch(RECORD, tmp_path, api_base, retries=0)
    message = str(failure.value)
    assert f"every file of the record listed at {api_base.removesuffix('/api')}/records/{RECORD}" in message
    assert "gave up" not in message, "no retries, so none given up"


# --- ready markers and concurrency ------------------------------------------------------------


def test_existing_ready_marker_means_no_http_request(zenodo, tmp_path):
    fetch(RECORD, tmp_path, zenodo.api_base)
    requests_before = sum(zenodo.requests.values())

    again = fetch(RECORD, tmp_path, closed_port_api())
    fetch(RECORD, tmp_path, zenodo.api_base)
    assert sum(zenodo.requests.values()) == requests_before
    assert {f.key for f in again.files} == set(FILES)


def test_empty_xares_marker_is_accepted(tmp_path):
    (tmp_path / READY_MARKER).touch()

    assert read_ready_marker(tmp_path) == {}
    download = fetch(RECORD, tmp_path, closed_port_api())
    assert download.record_id == RECORD and download.files == []


def test_no_marker_reads_as_not_ready(tmp_path):
    assert read_ready_marker(tmp_path) is None
    assert read_ready_marker(tmp_path / "missing") is None


def test_marker_of_another_record_is_refused(zenodo, tmp_path):
    fetch(RECORD, tmp_path, zenodo.api_base)
    with pytest.raises(DataUnavailable, match=f"holds Zenodo record {RECORD}, not the requested record 42"):
        fetch("42", tmp_path, zenodo.api_base)


def test_two_threads_downloading_one_record_both_succeed_with_one_copy(zenodo, tmp_path):
    results, errors = [], []

    def fetch_once() -> None:
        try:
            results.append(fetch(RECORD, tmp_path, zenodo.api_base))
        except Exception as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=fetch_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == [] and len(results) == 2
    for key, content in FILES.items():
        assert (tmp_path / key).read_bytes() == content
        assert zenodo.content_requests(key) == 1
    assert not list(tmp_path.glob("*.part"))


# --- archives ---------------------------------------------------------------------------------


def test_archives_are_extracted_and_tar_shards_kept(tmp_path):
    archive_zip = zip_bytes({"audio/a.wav": b"RIFF-a", "labels.csv": b"a,1\n"})
    archive_tgz = tar_gz_bytes({"more/b.wav": b"RIFF-b"})
    shard = tar_gz_bytes({"x.flac": b"fLaC"})  # any bytes: a .tar is never opened
    files = {"bundle.zip": archive_zip, "extra.tar.gz": archive_tgz, "shard-000000.tar": shard}
    with FakeZenodo({RECORD: files}) as server:
        download = fetch(RECORD, tmp_path, server.api_base)

    assert (tmp_path / "audio" / "a.wav").read_bytes() == b"RIFF-a"
    assert (tmp_path / "labels.csv").read_bytes() == b"a,1\n"
    assert (tmp_path / "more" / "b.wav").read_bytes() == b"RIFF-b"
    assert (tmp_path / "shard-000000.tar").read_bytes() == shard
    assert sorted(download.extracted) == ["bundle.zip", "extra.tar.gz"]
    assert sorted(read_ready_marker(tmp_path)["extracted"]) == ["bundle.zip", "extra.tar.gz"]
    assert (tmp_path / ".bundle.zip.extracted").read_text().strip() == md5(archive_zip)


def test_archive_with_path_traversal_is_refused(tmp_path):
    evil = zip_bytes({"../escaped.txt": b"nope"})
    with FakeZenodo({RECORD: {"evil.zip": evil}}) as server, pytest.raises(DataUnavailable, match="outside"):
        fetch(RECORD, tmp_path / "dest", server.api_base)
    assert not (tmp_path / "escaped.txt").exists()
    assert read_ready_marker(tmp_path / "dest") is None


# --- untrusted servers: HTTPS only, the API's host only ----------------------------------------


def test_plain_http_is_refused_without_allow_http(zenodo, tmp_path):
    with pytest.raises(DataUnavailable, match=r"only https URLs are fetched \(set data\.allow_http=true"):
        fetch(RECORD, tmp_path, zenodo.api_base, allow_http=False)
    assert sum(zenodo.requests.values()) == 0 and not list(tmp_path.glob("*.tar*"))


def test_a_file_link_on_another_host_is_refused(zenodo, tmp_path):
    zenodo.link_host = "localhost"  # the same server under another name: following it would work
    with pytest.raises(DataUnavailable, match=r"the host localhost is not the API's host \(127\.0\.0\.1\)"):
        fetch(RECORD, tmp_path, zenodo.api_base)
    assert zenodo.content_requests("wds-audio-fold-1-000000.tar") == 0
    assert read_ready_marker(tmp_path) is None


def test_a_redirect_to_another_host_is_refused(zenodo, tmp_path):
    zenodo.redirect_files_to = "localhost"
    with pytest.raises(DataUnavailable) as failure:
        fetch(RECORD, tmp_path, zenodo.api_base)
    message = str(failure.value)
    first = "wds-audio-fold-1-000000.tar"
    redirect = f"{zenodo.file_url(RECORD, first)} to {zenodo.file_url(RECORD, first, 'localhost')}"
    assert f"refused the redirect from {redirect}" in message
    assert "add it to data.allowed_hosts if you trust it" in message
    assert zenodo.content_requests(first) == 1  # the redirecting request only: not followed, not retried
    assert read_ready_marker(tmp_path) is None and not (tmp_path / first).exists()


def test_allowed_hosts_let_a_trusted_redirect_through(zenodo, tmp_path):
    zenodo.redirect_files_to = "localhost"
    fetch(RECORD, tmp_path, zenodo.api_base, allowed_hosts=["localhost"])
    assert {key: (tmp_path / key).read_bytes() for key in FILES} == FILES
    assert zenodo.content_requests("wds-audio-fold-1-000000.tar") == 2  # the redirect, then the file
