"""Fetch an X-ARES dataset: the files of one Zenodo record, into ``<data_root>/<task>/``.

Each file is resumable (bytes go to ``<name>.part``, a re-run continues with an HTTP Range request),
md5-verified before it gets its final name, and archives (zip, tar.gz) are extracted; tar files are
webdataset shards and stay as they are. The folder is ready once ``.audio_tar_ready`` exists: it is
written last and holds the record's provenance. X-ARES writes the same marker empty, so an existing
X-ARES ``env/<task>/`` folder is accepted as it is.

Only the standard library speaks HTTP here. Every failure a user can act on (no network, rate
limiting, a missing record, a file that keeps failing its checksum) raises ``DataUnavailable`` with
one message that says what failed and how to fetch the files by hand. A file whose size is known (from the
record or the server's Content-Length) is only fetched when its folder's disk has room for the bytes still
missing; otherwise ``DataUnavailable`` names the folder, the space needed and the space free.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import shlex
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock

from xares_hydra.atomic import atomic_path, write_json
from xares_hydra.errors import DataUnavailable

READY_MARKER = ".audio_tar_ready"
LOCK_NAME = ".download.lock"
MANUAL_SCRIPT = "scripts/download_manually.sh"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
CHUNK_BYTES = 1 << 20
MAX_URLS_IN_MESSAGE = 20
USER_AGENT = "xares-hydra-downloader/0.1 (python urllib)"

T = TypeVar("T")


@dataclass
class ZenodoFile:
    key: str
    size: int
    checksum: str  # "md5:<hex>" as Zenodo gives it; empty when the record gives none
    url: str


@dataclass
class RecordDownload:
    """What is in a ready dataset folder: the Zenodo record and the files it was built from."""

    record_id: str
    api_base: str
    files: list[ZenodoFile]
    dest: Path
    extracted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The provenance stored in the ready marker (without ``dest``: the folder may be moved)."""
        return {
            "source": "zenodo",
            "record_id": self.record_id,
            "api_base": self.api_base,
            "files": [asdict(file) for file in self.files],
            "extracted": list(self.extracted),
        }


@dataclass(frozen=True)
class _HttpPolicy:
    timeout: float
    retries: int
    backoff: float
    max_wait: float
    allow_http: bool = False
    hosts: frozenset[str] = frozenset()  # the API's host and data.allowed_hosts


def _hosts(api_base: str, allowed_hosts: Iterable[str]) -> frozenset[str]:
    """The hosts downloads may speak to: the API's and ``data.allowed_hosts``."""
    hosts = {host.lower() for host in allowed_hosts} | {urllib.parse.urlsplit(api_base).hostname or ""}
    return frozenset(hosts - {""})


class _FetchFailure(Exception):
    """An HTTP or network failure; ``str()`` says what failed, for the user."""

    retryable = False


class _TransientFailure(_FetchFailure):
    retryable = True

    def __init__(self, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class _ChecksumMismatch(Exception):
    def __init__(self, file: ZenodoFile, actual: str) -> None:
        check, problem = ("checksum", f"expected {file.checksum}, got {actual}") if file.checksum else ("check", actual)
        super().__init__(f"{file.key} failed its {check} twice in a row ({problem}); the corrupted copy was deleted")
        self.file = file


# ---------------------------------------------------------------------------------------------
# public API


def read_ready_marker(dest: Path) -> dict[str, Any] | None:
    """The provenance in ``dest``'s ready marker; ``{}`` for an empty (X-ARES) marker; None if not ready."""
    marker = Path(dest) / READY_MARKER
    if not marker.is_file():
        return None
    try:
        content = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return content if isinstance(content, dict) else {}


def record_files(
    record_id: str,
    *,
    api_base: str,
    timeout: float = 60,
    retries: int = 3,
    backoff: float = 2.0,
    max_wait: float = 60.0,
    allow_http: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> list[ZenodoFile]:
    """The files of a Zenodo record, from ``GET {api_base}/records/{record_id}``."""
    policy = _HttpPolicy(timeout, retries, backoff, max_wait, allow_http, _hosts(api_base, allowed_hosts))
    try:
        return _fetch_record_files(str(record_id), api_base, policy)
    except _FetchFailure as failure:
        raise DataUnavailable(_unavailable_message(str(record_id), api_base, None, None, str(failure))) from None


def download_record(
    record_id: str,
    dest: Path,
    *,
    api_base: str,
    timeout: float = 60,
    retries: int = 3,
    force: bool = False,
    progress: bool = True,
    backoff: float = 2.0,
    max_wait: float = 60.0,
    allow_http: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> RecordDownload:
    """Fetch every file of a Zenodo record into ``dest`` (resumable, checksummed) and mark it ready.

    ``backoff`` is the first wait between retries (doubled each time); ``max_wait`` caps every wait,
    a server's ``Retry-After`` included. Two processes fetching the same record take turns: the
    second one finds the ready marker and returns. Only HTTPS is spoken (plain HTTP too with
    ``allow_http``), and only with the API's host and ``allowed_hosts``, redirects included.
    """
    record_id, dest = str(record_id), Path(dest)
    if not force and (ready := _ready_download(record_id, api_base, dest)) is not None:
        return ready
    policy = _HttpPolicy(timeout, retries, backoff, max_wait, allow_http, _hosts(api_base, allowed_hosts))
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with FileLock(str(dest / LOCK_NAME)):
            if not force and (ready := _ready_download(record_id, api_base, dest)) is not None:
                return ready
            return _download_locked(record_id, api_base, dest, policy, force=force, progress=progress)
    except OSError as exc:  # the local disk, not the network: network errors are _FetchFailure
        raise DataUnavailable(f"Could not write the dataset files into {dest}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# the download, with the folder locked


def _ready_download(record_id: str, api_base: str, dest: Path) -> RecordDownload | None:
    provenance = read_ready_marker(dest)
    if provenance is None:
        return None
    marked_record = provenance.get("record_id")
    if marked_record is not None and str(marked_record) != record_id:
        raise DataUnavailable(
            f"The folder {dest} holds Zenodo record {marked_record}, not the requested record {record_id} "
            f"(see {dest / READY_MARKER}). Move or delete that folder to download record {record_id}."
        )
    files = [_file_from_dict(entry) for entry in provenance.get("files", []) if isinstance(entry, dict)]
    return RecordDownload(
        record_id=record_id,
        api_base=str(provenance.get("api_base", api_base)),
        files=files,
        dest=dest,
        extracted=list(provenance.get("extracted", [])),
    )


def _download_locked(
    record_id: str, api_base: str, dest: Path, policy: _HttpPolicy, *, force: bool, progress: bool
) -> RecordDownload:
    if force:
        (dest / READY_MARKER).unlink(missing_ok=True)
    files: list[ZenodoFile] | None = None
    try:
        files = _fetch_record_files(record_id, api_base, policy)
        _check_file_names(files)
        to_fetch = [file for file in files if force or not _is_complete(dest / file.key, file)]
        missing = sum(max(0, file.size - _part_size(dest / f"{file.key}.part")) for file in to_fetch if file.size)
        _require_space(dest, missing, f"Zenodo record {record_id}")
        with _ByteProgress(to_fetch, enabled=progress) as bar:
            for file in to_fetch:
                _fetch_verified(file, dest, policy, bar)
    except _FetchFailure as failure:
        raise DataUnavailable(_unavailable_message(record_id, api_base, files, dest, str(failure))) from None
    except _ChecksumMismatch as mismatch:
        raise DataUnavailable(_unavailable_message(record_id, api_base, files, dest, str(mismatch))) from None
    extracted = [file.key for file in files if _is_archive(file.key)]
    for file in files:
        if _is_archive(file.key):
            _extract_once(dest / file.key, file, dest, force=force)
    download = RecordDownload(record_id=record_id, api_base=api_base, files=files, dest=dest, extracted=extracted)
    write_json(dest / READY_MARKER, download.to_dict())
    return download


def _fetch_verified(file: ZenodoFile, dest: Path, policy: _HttpPolicy, bar: _ByteProgress) -> None:
    """Download one file to ``<name>.part``, verify it, rename it; a corrupted copy is fetched once more."""
    part = dest / f"{file.key}.part"
    for attempt in (1, 2):
        digest = _retrying(lambda: _stream_to_part(file, part, policy, bar), policy)
        actual = f"{_algorithm(file.checksum)}:{digest.hexdigest()}"
        if file.checksum and actual.lower() == file.checksum.lower():
            os.replace(part, dest / file.key)
            return
        if not file.checksum:  # nothing to compare with: the archive's own structure must be intact
            problem = _archive_problem(part, file.key)
            if problem is None:
                os.replace(part, dest / file.key)
                return
            actual = problem
        part.unlink(missing_ok=True)
        bar.report(file.key, 0)
        if attempt == 2:
            raise _ChecksumMismatch(file, actual)


def _stream_to_part(file: ZenodoFile, part: Path, policy: _HttpPolicy, bar: _ByteProgress) -> Any:
    """One HTTP request: append the missing bytes of ``file`` to ``part``; returns the running hash."""
    offset = part.stat().st_size if part.exists() else 0
    if file.size and offset > file.size:
        part.unlink()
        offset = 0
    digest = _hash_of_prefix(part, file.checksum, offset)
    bar.report(file.key, offset)
    if offset == file.size and offset > 0:
        return digest
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with _open(file.url, policy, headers) as response:
        if offset and not _resumes_at(response, offset):
            offset, digest = 0, hashlib.new(_algorithm(file.checksum))
        expected = file.size or _announced_total(response, offset)
        if expected is not None:
            _require_space(part.parent, expected - offset, file.key)
        with open(part, "ab" if offset else "wb") as out:
            for chunk in _chunks(response, file.url):
                out.write(chunk)
                digest.update(chunk)
                offset += len(chunk)
                bar.report(file.key, offset)
    if expected is not None and offset < expected:
        raise _TransientFailure(f"the connection to {file.url} closed after {offset} of {expected} bytes of {file.key}")
    return digest


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def _require_space(folder: Path, needed: int, what: str) -> None:
    """Fail before fetching when the disk of ``folder`` has less free space than the ``needed`` bytes."""
    if needed <= 0:
        return
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # not known: the download itself will say when the disk is full
    if needed > free:
        raise DataUnavailable(
            f"Not enough disk space to download {what} into {folder.absolute()}: {_megabytes(needed)} still to fetch, "
            f"{_megabytes(free)} free there. Free some space there, or point paths.data_root at a larger disk; "
            "the files (and .part files) already there are kept, and the next run resumes."
        )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e6:.3f} MB"


def _announced_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The file's full size from Content-Length (plus the resume offset); None when the server sends none."""
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _archive_problem(path: Path, name: str) -> str | None:
    """Why the tar or zip at ``path`` is incomplete (its own structure, read to the end); None if intact."""
    lowered = name.lower()
    try:
        if lowered.endswith(".zip"):
            with zipfile.ZipFile(path) as bundle:
                broken = bundle.testzip()
            return f"member {broken} fails its CRC" if broken else None
        if lowered.endswith(TAR_SUFFIXES):
            with tarfile.open(path, "r:*") as bundle:
                for member in bundle:
                    if member.isfile():
                        stream = bundle.extractfile(member)
                        if stream is not None:
                            stream.read()
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as error:
        return str(error) or type(error).__name__
    return None


def _resumes_at(response: http.client.HTTPResponse, offset: int) -> bool:
    """True when the server answered the Range request with the bytes from ``offset`` on (206)."""
    if response.status != 206:
        return False
    content_range = response.headers.get("Content-Range", "")  # "bytes 100-999/1000"
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return start == offset


def _is_complete(path: Path, file: ZenodoFile) -> bool:
    if not file.size:  # the record gives no size: a file there was only renamed after its checks
        return path.is_file() and _archive_problem(path, file.key) is None
    if not path.is_file() or path.stat().st_size != file.size:
        return False
    if not file.checksum:
        return True
    digest = _hash_of_prefix(path, file.checksum, file.size)
    return f"{_algorithm(file.checksum)}:{digest.hexdigest()}".lower() == file.checksum.lower()


def _hash_of_prefix(path: Path, checksum: str, size: int) -> Any:
    digest = hashlib.new(_algorithm(checksum))
    if size:
        with open(path, "rb") as stream:
            while block := stream.read(min(CHUNK_BYTES, size)):
                digest.update(block)
                size -= len(block)
    return digest


def _algorithm(checksum: str) -> str:
    algorithm = checksum.partition(":")[0].lower() if ":" in checksum else "md5"
    return algorithm if algorithm in hashlib.algorithms_available else "md5"


# ---------------------------------------------------------------------------------------------
# Zenodo's REST API


def _fetch_record_files(record_id: str, api_base: str, policy: _HttpPolicy) -> list[ZenodoFile]:
    url = _record_api_url(record_id, api_base)
    body = _retrying(lambda: _read_all(url, policy), policy)
    try:
        record = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _FetchFailure(f"{url} did not answer with a Zenodo record (the reply is not JSON)") from None
    entries = record.get("files") if isinstance(record, dict) else None
    if isinstance(entries, dict):  # InvenioRDM's files endpoint shape: {"entries": [...]}
        entries = entries.get("entries")
    if not entries:
        raise _FetchFailure(f"Zenodo record {record_id} lists no files at {url} (restricted or deleted?)")
    return [_file_from_entry(entry, record_id, api_base) for entry in entries]


def _file_from_entry(entry: dict[str, Any], record_id: str, api_base: str) -> ZenodoFile:
    key = str(entry.get("key") or entry.get("filename") or "")
    links = entry.get("links") or {}
    url = links.get("self") or links.get("content") or links.get("download")
    if not url:
        url = f"{_record_api_url(record_id, api_base)}/files/{urllib.parse.quote(key)}/content"
    return ZenodoFile(key=key, size=int(entry.get("size") or 0), checksum=str(entry.get("checksum") or ""), url=url)


def _file_from_dict(entry: dict[str, Any]) -> ZenodoFile:
    return ZenodoFile(
        key=str(entry.get("key", "")),
        size=int(entry.get("size", 0)),
        checksum=str(entry.get("checksum", "")),
        url=str(entry.get("url", "")),
    )


def _check_file_names(files: list[ZenodoFile]) -> None:
    for file in files:
        if not file.key or file.key in (".", "..") or Path(file.key).name != file.key or "\\" in file.key:
            raise _FetchFailure(f"the record names a file {file.key!r} that cannot be stored safely")


def _record_api_url(record_id: str, api_base: str) -> str:
    return f"{api_base.rstrip('/')}/records/{record_id}"


def _record_page_url(record_id: str, api_base: str) -> str:
    base = api_base.rstrip("/")
    if base.endswith("/api"):
        return f"{base[: -len('/api')]}/records/{record_id}"
    return _record_api_url(record_id, api_base)


# ---------------------------------------------------------------------------------------------
# HTTP with retries


def _retrying(action: Callable[[], T], policy: _HttpPolicy) -> T:
    """Run ``action``, retrying transient failures with exponential backoff (Retry-After honoured)."""
    for attempt in range(policy.retries + 1):
        try:
            return action()
        except _TransientFailure as failure:
            if attempt == policy.retries:
                if policy.retries:
                    raise _TransientFailure(f"{failure} (gave up after {attempt + 1} attempts)") from None
                raise
            wait = failure.retry_after if failure.retry_after is not None else policy.backoff * 2**attempt
            time.sleep(max(0.0, min(wait, policy.max_wait)))
    raise AssertionError("unreachable")


def _check_url(url: str, policy: _HttpPolicy, redirected_from: str | None = None) -> None:
    """Refuse a URL that is not HTTPS (unless allowed) or leaves the API's host and ``data.allowed_hosts``."""
    parts = urllib.parse.urlsplit(url)
    what = f"the redirect from {redirected_from} to {url}" if redirected_from else url
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme.lower() not in schemes:
        fix = "" if parts.scheme.lower() != "http" else " (set data.allow_http=true only for a server you trust)"
        raise _FetchFailure(f"refused {what}: only {' and '.join(schemes)} URLs are fetched{fix}")
    host = (parts.hostname or "").lower()
    if host not in policy.hosts:
        raise _FetchFailure(
            f"refused {what}: the host {host or '(none)'} is not the API's host ({', '.join(sorted(policy.hosts))}); "
            "add it to data.allowed_hosts if you trust it"
        )


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL that ``_check_url`` accepts."""

    def __init__(self, policy: _HttpPolicy) -> None:
        self.policy = policy

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_url(urllib.parse.urljoin(req.full_url, newurl), self.policy, redirected_from=req.full_url)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@contextlib.contextmanager
def _open(url: str, policy: _HttpPolicy, headers: dict[str, str]) -> Iterator[http.client.HTTPResponse]:
    _check_url(url, policy)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        response = urllib.request.build_opener(_CheckedRedirects(policy)).open(request, timeout=policy.timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise _http_failure(url, error.code, error.reason, error.headers) from None
    except (OSError, http.client.HTTPException) as error:
        raise _TransientFailure(f"could not reach {url}: {_network_reason(error)}") from None
    with response:
        yield response


def _read_all(url: str, policy: _HttpPolicy) -> bytes:
    with _open(url, policy, {}) as response:
        return b"".join(_chunks(response, url))


def _chunks(response: http.client.HTTPResponse, url: str) -> Iterator[bytes]:
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except (OSError, http.client.HTTPException) as error:
            raise _TransientFailure(f"the download from {url} broke off: {_network_reason(error)}") from None
        if not chunk:
            return
        yield chunk


def _http_failure(url: str, status: int, reason: str, headers: Any) -> _FetchFailure:
    described = f"HTTP {status} {reason} from {url}".rstrip()
    if status == 429:
        retry_after = _retry_after_seconds(headers.get("Retry-After") if headers else None)
        return _TransientFailure(f"{described}: Zenodo is rate limiting downloads, try again later", retry_after)
    if status >= 500 or status == 408:
        return _TransientFailure(f"{described} (a server-side problem)")
    if status == 404:
        return _FetchFailure(f"{described}: no such record or file")
    return _FetchFailure(described)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _network_reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason) or type(reason).__name__


# ---------------------------------------------------------------------------------------------
# archives


def _is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _extract_once(archive: Path, file: ZenodoFile, dest: Path, *, force: bool) -> None:
    """Extract ``archive`` into ``dest`` unless its marker says this very archive was extracted already."""
    marker = dest / f".{file.key}.extracted"
    if not force and marker.is_file() and marker.read_text(encoding="utf-8").strip() == file.checksum:
        return
    try:
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, dest)
        else:
            _extract_tar(archive, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DataUnavailable(
            f"The archive {archive} could not be extracted: {error}. Delete it and download again."
        ) from None
    with atomic_path(marker) as partial:
        partial.write_text(file.checksum + "\n", encoding="utf-8")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            _check_inside(dest, member.filename, archive)
        bundle.extractall(dest)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        members = bundle.getmembers()
        for member in members:
            _check_inside(dest, member.name, archive)
            if member.issym() or member.islnk() or member.isdev():
                raise DataUnavailable(
                    f"The archive {archive} holds a link or device ({member.name}); it was not extracted."
                )
        if hasattr(tarfile, "data_filter"):
            bundle.extractall(dest, members=members, filter="data")
        else:  # Python < 3.10.12: the checks above stand in for the filter
            bundle.extractall(dest, members=members)


def _check_inside(dest: Path, member: str, archive: Path) -> None:
    root = dest.resolve()
    target = (root / member).resolve()
    if Path(member).is_absolute() or (target != root and root not in target.parents):
        raise DataUnavailable(
            f"The archive {archive} holds a path outside its folder ({member}); it was not extracted."
        )


# ---------------------------------------------------------------------------------------------
# small helpers


def _unavailable_message(
    record_id: str, api_base: str, files: list[ZenodoFile] | None, dest: Path | None, what_failed: str
) -> str:
    """One message: what failed, then how to get the files by hand."""
    folder = str(dest.absolute()) if dest is not None else "<data_root>/<task name>"
    lines = [
        f"Could not download Zenodo record {record_id}: {what_failed}.",
        "To get the files by hand on a machine with internet, run (from the xares-hydra source tree)",
        f"  {MANUAL_SCRIPT} {record_id} {shlex.quote(folder) if dest is not None else folder}",
        "which resumes, verifies checksums, extracts archives and marks the folder ready; or download",
    ]
    if files:
        lines.append(f"these {len(files)} files" if len(files) > 1 else "this file")
        lines += [f"  {file.url}" for file in files[:MAX_URLS_IN_MESSAGE]]
        if len(files) > MAX_URLS_IN_MESSAGE:
            lines.append(
                f"  ... and {len(files) - MAX_URLS_IN_MESSAGE} more "
                f"({MANUAL_SCRIPT} --list {record_id} prints them all)"
            )
    else:
        lines.append(f"every file of the record listed at {_record_page_url(record_id, api_base)}")
        lines.append(f"  (API: {_record_api_url(record_id, api_base)})")
    lines.append(f"into the folder {folder}")
    lines.append(f"and then create the empty file {Path(folder) / READY_MARKER}.")
    return "\n".join(lines)


class _ByteProgress:
    """A rich progress bar over the bytes of the files being fetched; silent when disabled."""

    def __init__(self, files: list[ZenodoFile], *, enabled: bool) -> None:
        self._bytes_of: dict[str, int] = {}
        self._progress = None
        if enabled and files:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            label = files[0].key if len(files) == 1 else f"{len(files)} files"
            self._task = self._progress.add_task(f"download {label}", total=sum(f.size for f in files))

    def __enter__(self) -> _ByteProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def report(self, key: str, bytes_on_disk: int) -> None:
        """Record that ``key`` has ``bytes_on_disk`` bytes so far (it may go back, after a restart)."""
        self._bytes_of[key] = bytes_on_disk
        if self._progress is not None:
            self._progress.update(self._task, completed=sum(self._bytes_of.values()))
