"""A stand-in for Zenodo's REST API, served from memory on 127.0.0.1, for tests.

    with FakeZenodo({"123": {"a.tar": b"..."}}) as zenodo:
        fetch("123", tmp_path, zenodo.api_base, retries=0)  # download_record with the stand-in's settings

It answers ``GET /api/records/<id>`` in Zenodo's JSON shape and
``GET /api/records/<id>/files/<key>/content`` with HTTP Range support (206 + Content-Range), counts
requests per path, and injects faults on demand: a connection cut after N bytes of a file, corrupted
bytes, 429 rate limiting with Retry-After, 5xx errors, servers that ignore Range, file links on
another host (``link_host``), file requests redirected to another host (``redirect_files_to``). An
unknown record or file is a 404. It listens only on 127.0.0.1 and stops when the ``with`` block ends.

As a pytest fixture::

    @pytest.fixture
    def zenodo():
        yield from running_fake_zenodo({"123": {"a.tar": b"..."}})
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from xares_hydra.data.prepare import DataOptions
from xares_hydra.data.zenodo import RecordDownload, download_record

RECORD_PATH = re.compile(r"^/api/records/(?P<record>[^/]+)/?$")
CONTENT_PATH = re.compile(r"^/api/records/(?P<record>[^/]+)/files/(?P<key>[^/]+)/content$")
RANGE_HEADER = re.compile(r"^bytes=(?P<start>\d+)-(?P<end>\d*)$")


@dataclass
class _Cut:
    after_bytes: int
    times: int


class FakeZenodo:
    """Zenodo records held in memory: ``{record_id: {file name: content}}``."""

    def __init__(self, records: Mapping[str, Mapping[str, bytes]], *, link_name: str = "self") -> None:
        self.records = {str(record): dict(files) for record, files in records.items()}
        self.link_name = link_name  # "self" (records endpoint) or "content" (files endpoint style)
        self.requests: Counter[str] = Counter()  # path -> number of GET requests
        self.range_headers: list[tuple[str, str]] = []  # (path, Range header) of every ranged request
        self.bytes_served: Counter[str] = Counter()  # file key -> body bytes sent
        self.ignore_range = False  # True: answer 200 with the whole file even to Range requests
        self.bare_records = False  # True: records list no size and no checksum (some Zenodo records)
        self.send_length = True  # False: no Content-Length header (a cut then looks like the end of the file)
        self.link_host = "127.0.0.1"  # the host named in the records' file links
        self.redirect_files_to: str | None = None  # a host: file requests not addressed to it get a 302 there
        self._cuts: dict[str, _Cut] = {}
        self._corruptions: Counter[str] = Counter()
        self._rate_limits = 0
        self._retry_after = "1"
        self._server_errors: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeZenodo:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeZenodo:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeZenodo is not running; use it as a context manager or call start()")
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def record_path(self, record_id: str) -> str:
        return f"/api/records/{record_id}"

    def content_path(self, record_id: str, key: str) -> str:
        return f"/api/records/{record_id}/files/{urllib.parse.quote(key)}/content"

    def file_url(self, record_id: str, key: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{self.content_path(record_id, key)}"

    def content_requests(self, key: str) -> int:
        """How many times the content of file ``key`` was requested (any record)."""
        suffix = f"/files/{urllib.parse.quote(key)}/content"
        return sum(count for path, count in self.requests.items() if path.endswith(suffix))

    # --- fault injection ----------------------------------------------------------------------

    def cut_connection(self, key: str, *, after_bytes: int, times: int = 1) -> None:
        """Cut the connection after ``after_bytes`` body bytes of ``key``, for its next ``times`` requests."""
        self._cuts[key] = _Cut(after_bytes=after_bytes, times=times)

    def corrupt(self, key: str, *, times: int = 1) -> None:
        """Serve flipped bytes (same length) for ``key`` on its next ``times`` requests."""
        self._corruptions[key] = times

    def rate_limit(self, *, times: int = 1, retry_after: float | str = 1) -> None:
        """Answer the next ``times`` requests (any path) with 429 and ``Retry-After: retry_after``."""
        self._rate_limits = times
        self._retry_after = str(retry_after)

    def fail(self, *, times: int = 1, status: int = 503) -> None:
        """Answer the next ``times`` requests (any path) with HTTP ``status``."""
        self._server_errors = [status] * times

    # --- the answers ----------------------------------------------------------------------

    def _record_json(self, record_id: str) -> dict[str, object]:
        files = self.records[record_id]
        entries = [
            {
                "id": hashlib.md5(f"{record_id}/{key}".encode()).hexdigest(),
                "key": key,
                "size": len(content),
                "checksum": f"md5:{hashlib.md5(content).hexdigest()}",
                "links": {self.link_name: self.file_url(record_id, key, self.link_host)},
            }
            for key, content in files.items()
        ]
        if self.bare_records:
            entries = [{name: value for name, value in entry.items() if name not in ("size", "checksum")}
                       for entry in entries]  # fmt: skip
        record = int(record_id) if record_id.isdigit() else record_id
        return {
            "id": record,
            "recid": str(record_id),
            "metadata": {"title": f"record {record_id}"},
            "files": entries,
        }

    def _take_fault(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            if self._rate_limits > 0:
                self._rate_limits -= 1
                return 429, {"Retry-After": self._retry_after}
            if self._server_errors:
                return self._server_errors.pop(0), {}
        return None

    def _take_corruption(self, key: str) -> bool:
        with self._lock:
            if self._corruptions[key] > 0:
                self._corruptions[key] -= 1
                return True
        return False

    def _take_cut(self, key: str) -> int | None:
        with self._lock:
            cut = self._cuts.get(key)
            if cut is None or cut.times <= 0:
                return None
            cut.times -= 1
            return cut.after_bytes

    def _count(self, path: str, range_header: str | None) -> None:
        with self._lock:
            self.requests[path] += 1
            if range_header:
                self.range_headers.append((path, range_header))

    def _served(self, key: str, n_bytes: int) -> None:
        with self._lock:
            self.bytes_served[key] += n_bytes


def running_fake_zenodo(records: Mapping[str, Mapping[str, bytes]], **options: object) -> Iterator[FakeZenodo]:
    """For pytest fixtures: ``yield from running_fake_zenodo({...})``."""
    with FakeZenodo(records, **options) as server:  # type: ignore[arg-type]
        yield server


def fetch(
    record: str, dest: Path, api_base: str, *, progress: bool = False, max_wait: float = 0.05, **data: Any
) -> RecordDownload:
    """``download_record`` from a stand-in: plain HTTP, short timeouts and waits, no progress bar; ``data``: other
    ``data`` settings (``retries=0``, ``force_download=True``, ``allowed_hosts=[...]``)."""
    options = DataOptions(**{"zenodo_api": api_base, "timeout": 2.0, "retries": 2, "allow_http": True, **data})
    return download_record(record, dest, options, progress=progress, backoff=0.01, max_wait=max_wait)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeZenodo/1.0"

    @property
    def fake(self) -> FakeZenodo:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # silence the per-request log
        pass

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        range_header = self.headers.get("Range")
        self.fake._count(path, range_header)
        fault = self.fake._take_fault()
        if fault is not None:
            status, headers = fault
            self._send_json(status, {"status": status, "message": "injected fault"}, headers)
            return
        if match := RECORD_PATH.match(path):
            self._answer_record(match["record"])
        elif (match := CONTENT_PATH.match(path)) and self._redirected(match["record"], match["key"]):
            return
        elif match:
            self._answer_content(match["record"], urllib.parse.unquote(match["key"]), range_header)
        else:
            self._send_json(404, {"status": 404, "message": "The requested URL was not found."})

    def _redirected(self, record_id: str, quoted_key: str) -> bool:
        target = self.fake.redirect_files_to
        if target is None or urllib.parse.urlsplit(f"//{self.headers.get('Host', '')}").hostname == target:
            return False
        self.send_response(302)
        self.send_header("Location", self.fake.file_url(record_id, urllib.parse.unquote(quoted_key), target))
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def _answer_record(self, record_id: str) -> None:
        if record_id not in self.fake.records:
            self._send_json(404, {"status": 404, "message": "The persistent identifier does not exist."})
            return
        self._send_json(200, self.fake._record_json(record_id))

    def _answer_content(self, record_id: str, key: str, range_header: str | None) -> None:
        content = self.fake.records.get(record_id, {}).get(key)
        if content is None:
            self._send_json(404, {"status": 404, "message": "File not found."})
            return
        if self.fake._take_corruption(key):
            content = bytes(byte ^ 0xFF for byte in content)
        status, start, end = 200, 0, len(content) - 1
        if range_header and not self.fake.ignore_range:
            match = RANGE_HEADER.match(range_header)
            if match is None or int(match["start"]) >= len(content):
                self._send_json(416, {"status": 416, "message": "Range not satisfiable"},
                                {"Content-Range": f"bytes */{len(content)}"})  # fmt: skip
                return
            status, start = 206, int(match["start"])
            end = min(int(match["end"]), end) if match["end"] else end
        body = content[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if self.fake.send_length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(content)}")
        self.end_headers()
        cut = self.fake._take_cut(key)
        if cut is not None:
            body = body[:cut]
            self.close_connection = True
        # counted before sending: a client may finish reading (and a test look) before this thread returns
        self.fake._served(key, len(body))
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
