"""Fetch the files of one Zenodo record into ``<data_root>/<task>/``: resumed with Range requests, checksummed,
archives (zip, tar.gz) extracted, and marked ready last with ``.audio_tar_ready`` (X-ARES's marker, which it
writes empty). HTTPS only, to the API's host and ``data.allowed_hosts``; retries are urllib3's ``Retry``."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import tarfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from urllib3.util import Retry

from xares_hydra.atomic import atomic_path, free_bytes, write_json
from xares_hydra.console import stderr_console
from xares_hydra.data.prepare import READY_MARKER, DataOptions, read_ready_marker
from xares_hydra.errors import DataUnavailable
from xares_hydra.locks import file_lock

LOCK_NAME = ".download.lock"
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
CHUNK_BYTES = 1 << 20
MAX_URLS_IN_MESSAGE = 20
USER_AGENT = f"xares-hydra-downloader/0.1 (python-requests {requests.__version__})"
RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})  # asked again; any other error status is final

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
        return {"source": "zenodo", **{key: value for key, value in asdict(self).items() if key != "dest"}}


class _FetchFailure(Exception):
    """An HTTP or network failure; ``str()`` says what failed, for the user."""


class _Interrupted(_FetchFailure):
    """A transfer cut off after its headers: asked again, a file resuming where it stopped."""


def download_record(
    record_id: str,
    dest: Path,
    options: DataOptions,
    *,
    progress: bool = True,
    backoff: float = 2.0,
    max_wait: float = 60.0,
) -> RecordDownload:
    """Fetch every file of a Zenodo record into ``dest`` and mark it ready, as the ``data`` settings say (API,
    timeout, retries, hosts, archive bounds, ``force_download``); ``max_wait`` caps every wait between retries
    (``Retry-After`` included). A second process fetching the same record waits, then finds it ready."""
    record_id, dest, api_base, force = str(record_id), Path(dest), options.zenodo_api, options.force_download
    if not force and (ready := _ready_download(record_id, api_base, dest)) is not None:
        return ready
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with file_lock(dest / LOCK_NAME):
            if not force and (ready := _ready_download(record_id, api_base, dest)) is not None:
                return ready
            with _Session(options, backoff, max_wait) as session:
                return _download_locked(record_id, dest, session, options, progress)
    except OSError as exc:  # the local disk, not the network: network errors are _FetchFailure
        raise DataUnavailable(f"Could not write the dataset files into {dest}: {exc}") from None


def _ready_download(record_id: str, api_base: str, dest: Path) -> RecordDownload | None:
    if (provenance := read_ready_marker(dest)) is None:
        return None
    marked_record = provenance.get("record_id")
    if marked_record is not None and str(marked_record) != record_id:
        raise DataUnavailable(
            f"The folder {dest} holds Zenodo record {marked_record}, not the requested record {record_id} "
            f"(see {dest / READY_MARKER}). Move or delete that folder to download record {record_id}."
        )
    api_base = str(provenance.get("api_base", api_base))
    files = [_file(entry, record_id, api_base) for entry in provenance.get("files", []) if isinstance(entry, dict)]
    return RecordDownload(record_id, api_base, files, dest, list(provenance.get("extracted", [])))


def _download_locked(
    record_id: str, dest: Path, session: _Session, options: DataOptions, progress: bool
) -> RecordDownload:
    api_base, force = options.zenodo_api, options.force_download
    if force:
        (dest / READY_MARKER).unlink(missing_ok=True)
    files: list[ZenodoFile] | None = None
    try:
        files = session.retrying(lambda: _record_files(record_id, api_base, session))
        to_fetch = [file for file in files if force or not _is_complete(dest / file.key, file)]
        missing = sum(max(0, file.size - _part_size(dest / f"{file.key}.part")) for file in to_fetch if file.size)
        _require_space(dest, missing, f"Zenodo record {record_id}")
        with _byte_progress(to_fetch, enabled=progress) as report:
            for file in to_fetch:
                _fetch_verified(file, dest, session, report)
    except _FetchFailure as failure:
        raise DataUnavailable(_unavailable_message(record_id, api_base, files, dest, str(failure))) from None
    archives = [file for file in files if file.key.lower().endswith(ARCHIVE_SUFFIXES)]
    for file in archives:
        _extract_once(dest / file.key, file, dest, options)
    download = RecordDownload(record_id, api_base, files, dest, [file.key for file in archives])
    write_json(dest / READY_MARKER, download.to_dict())
    return download


def _fetch_verified(file: ZenodoFile, dest: Path, session: _Session, report: Callable[[str, int], None]) -> None:
    """Download one file to ``<name>.part``, verify it, rename it; a corrupted copy is fetched once more."""
    part = dest / f"{file.key}.part"
    for _attempt in (1, 2):
        session.retrying(lambda: _stream_to_part(file, part, session, report))
        if (problem := _problem(part, file)) is None:
            os.replace(part, dest / file.key)
            return
        part.unlink(missing_ok=True)
        report(file.key, 0)
    check = "checksum" if file.checksum else "check"
    raise _FetchFailure(f"{file.key} failed its {check} twice in a row ({problem}); the corrupted copy was deleted")


def _stream_to_part(file: ZenodoFile, part: Path, session: _Session, report: Callable[[str, int], None]) -> None:
    """One HTTP request: append the missing bytes of ``file`` to ``part``."""
    offset = _part_size(part)
    if file.size and offset > file.size:
        part.unlink()
        offset = 0
    report(file.key, offset)
    if offset == file.size and offset > 0:
        return
    with session.fetch(file.url, {"Range": f"bytes={offset}-"} if offset else {}) as response:
        resumed_at = response.headers.get("Content-Range", "").partition(" ")[2].partition("-")[0]  # "bytes 1-9/10"
        if offset and not (response.status_code == 206 and resumed_at == str(offset)):
            offset = 0  # the server sends the whole file
        length = response.headers.get("Content-Length", "")
        expected = file.size or (offset + int(length) if length.isdigit() else None)
        if expected is not None:
            _require_space(part.parent, expected - offset, file.key)
        with open(part, "ab" if offset else "wb") as out:
            try:
                for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):  # the bytes as stored
                    out.write(chunk)
                    offset += len(chunk)
                    report(file.key, offset)
            except urllib3.exceptions.HTTPError as error:  # closed early (ProtocolError): said below if size known
                if expected is None or not isinstance(error, urllib3.exceptions.ProtocolError):
                    raise _Interrupted(f"the download from {file.url} broke off: {_reason(error)}") from None
    if expected is not None and offset < expected:
        raise _Interrupted(f"the connection to {file.url} closed after {offset} of {expected} bytes of {file.key}")


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def _require_space(folder: Path, needed: int, what: str) -> None:
    """Fail before fetching when the disk of ``folder`` has less free space than the ``needed`` bytes."""
    if needed <= 0 or (free := free_bytes(folder)) is None:
        return  # free space not known: the download itself will say when the disk is full
    if needed > free:
        raise DataUnavailable(
            f"Not enough disk space to download {what} into {folder.absolute()}: {_megabytes(needed)} still to fetch, "
            f"{_megabytes(free)} free there. Free some space there, or point paths.data_root at a larger disk; "
            "the files (and .part files) already there are kept, and the next run resumes."
        )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e6:.3f} MB"


def _is_complete(path: Path, file: ZenodoFile) -> bool:
    """A file already in place (a run stopped before the ready marker) that needs no fetching."""
    return path.is_file() and (not file.size or path.stat().st_size == file.size) and _problem(path, file) is None


def _problem(path: Path, file: ZenodoFile) -> str | None:
    """Why the bytes at ``path`` are not ``file``: its checksum, or without one the archive's own structure (a zip's
    CRCs, a tar read to its end); None if they are."""
    if file.checksum:
        algorithm = file.checksum.partition(":")[0].lower() if ":" in file.checksum else "md5"
        digest = hashlib.new(algorithm if algorithm in hashlib.algorithms_available else "md5")
        with open(path, "rb") as stream:
            while block := stream.read(CHUNK_BYTES):
                digest.update(block)
        actual = f"{digest.name}:{digest.hexdigest()}"
        return None if actual.lower() == file.checksum.lower() else f"expected {file.checksum}, got {actual}"
    lowered = file.key.lower()
    try:
        if lowered.endswith(".zip"):
            with zipfile.ZipFile(path) as bundle:
                broken = bundle.testzip()
            return f"member {broken} fails its CRC" if broken else None
        if lowered.endswith(TAR_SUFFIXES):
            with tarfile.open(path, "r:*") as bundle:
                for member in bundle:
                    if member.isfile() and (content := bundle.extractfile(member)) is not None:
                        content.read()
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as error:
        return str(error) or type(error).__name__
    return None


def _record_files(record_id: str, api_base: str, session: _Session) -> list[ZenodoFile]:
    """The files of a Zenodo record, from ``GET {api_base}/records/{record_id}``."""
    url = _record_api_url(record_id, api_base)
    with session.fetch(url) as response:
        try:
            record = response.json()
        except requests.JSONDecodeError:
            raise _FetchFailure(f"{url} did not answer with a Zenodo record (the reply is not JSON)") from None
        except requests.RequestException as error:
            raise _Interrupted(f"the download from {url} broke off: {_reason(error)}") from None
    entries = record.get("files") if isinstance(record, dict) else None
    if isinstance(entries, dict):  # InvenioRDM's files endpoint shape: {"entries": [...]}
        entries = entries.get("entries")
    if not entries:
        raise _FetchFailure(f"Zenodo record {record_id} lists no files at {url} (restricted or deleted?)")
    files = [_file(entry, record_id, api_base) for entry in entries]
    for file in files:
        if not file.key or file.key in (".", "..") or Path(file.key).name != file.key or "\\" in file.key:
            raise _FetchFailure(f"the record names a file {file.key!r} that cannot be stored safely")
    return files


def _file(entry: dict[str, Any], record_id: str, api_base: str) -> ZenodoFile:
    """A file from a record's API entry or from a ready marker (which stores ``url`` itself)."""
    key = str(entry.get("key") or entry.get("filename") or "")
    links = entry.get("links") or {}
    url = entry.get("url") or links.get("self") or links.get("content") or links.get("download")
    if not url:
        url = f"{_record_api_url(record_id, api_base)}/files/{urllib.parse.quote(key)}/content"
    return ZenodoFile(key=key, size=int(entry.get("size") or 0), checksum=str(entry.get("checksum") or ""), url=url)


def _record_api_url(record_id: str, api_base: str) -> str:
    return f"{api_base.rstrip('/')}/records/{record_id}"


class _Session(requests.Session):
    """HTTP for one download: urllib3's retries, a timeout, and only URLs ``check`` accepts, redirects included."""

    def __init__(self, options: DataOptions, backoff: float, max_wait: float) -> None:
        super().__init__()
        self.timeout, self.retries, self.backoff, self.max_wait = options.timeout, options.retries, backoff, max_wait
        self.schemes = ("https", "http") if options.allow_http else ("https",)
        api_host = urllib.parse.urlsplit(options.zenodo_api).hostname or ""
        self.hosts = frozenset({host.lower() for host in options.allowed_hosts} | {api_host}) - {""}
        retry = Retry(
            total=options.retries,
            backoff_factor=backoff,
            backoff_max=max_wait,
            retry_after_max=max_wait,  # type: ignore[arg-type]  # seconds: a float works
            status_forcelist=RETRY_STATUSES,
            raise_on_status=False,  # the last answer comes back, and says what failed
        )
        for prefix in ("https://", "http://"):
            self.mount(prefix, HTTPAdapter(max_retries=retry))
        self.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    def check(self, url: str, redirected_from: str | None = None) -> None:
        """Refuse a URL that is not HTTPS (unless allowed) or leaves the API's host and ``data.allowed_hosts``."""
        parts = urllib.parse.urlsplit(url)
        what = f"the redirect from {redirected_from} to {url}" if redirected_from else url
        if parts.scheme.lower() not in self.schemes:
            fix = "" if parts.scheme.lower() != "http" else " (set data.allow_http=true only for a server you trust)"
            raise _FetchFailure(f"refused {what}: only {' and '.join(self.schemes)} URLs are fetched{fix}")
        host = (parts.hostname or "").lower()
        if host not in self.hosts:
            raise _FetchFailure(
                f"refused {what}: the host {host or '(none)'} is not the API's host ({', '.join(sorted(self.hosts))}); "
                "add it to data.allowed_hosts if you trust it"
            )

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """requests asks this before following a redirect: one that ``check`` refuses is not followed."""
        if target := super().get_redirect_target(resp):
            try:
                self.check(urllib.parse.urljoin(resp.url, target), redirected_from=resp.url)
            except _FetchFailure:
                resp.close()
                raise
        return target

    @contextlib.contextmanager
    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Iterator[requests.Response]:
        """A streamed GET of ``url``, retried by urllib3; an error status raises ``_FetchFailure``."""
        self.check(url)
        try:
            response = self.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as error:
            raise _FetchFailure(self._gave_up(f"could not reach {url}: {_reason(error)}")) from None
        with response:
            status = response.status_code
            if status >= 400:
                described = f"HTTP {status} {response.reason or ''}".rstrip() + f" from {url}"
                if status == 429:
                    described += ": Zenodo is rate limiting downloads, try again later"
                elif status in RETRY_STATUSES:
                    described += " (a server-side problem)"
                elif status == 404:
                    described += ": no such record or file"
                raise _FetchFailure(self._gave_up(described) if status in RETRY_STATUSES else described)
            yield response

    def retrying(self, action: Callable[[], T]) -> T:
        """Run ``action`` again (up to ``retries`` times) when its transfer was cut off; a file resumes there."""
        for attempt in range(self.retries + 1):
            try:
                return action()
            except _Interrupted as cut:
                if attempt == self.retries:
                    raise _FetchFailure(self._gave_up(str(cut))) from None
                time.sleep(min(self.backoff * 2**attempt, self.max_wait))
        raise AssertionError("unreachable")

    def _gave_up(self, what: str) -> str:
        return f"{what} (gave up after {self.retries + 1} attempts)" if self.retries else what


def _reason(error: BaseException) -> str:
    """What went wrong, under the wrappers requests and urllib3 put around a network error."""
    cause = error.args[0] if error.args and isinstance(error.args[0], BaseException) else error
    cause = getattr(cause, "reason", None) or cause
    return str(cause) or type(cause).__name__


def _extract_once(archive: Path, file: ZenodoFile, dest: Path, options: DataOptions) -> None:
    """Extract ``archive`` into ``dest`` unless its marker says this very archive was extracted already. It is
    unpacked into a folder beside its contents, moved into place only when complete, removed otherwise."""
    marker = dest / f".{file.key}.extracted"
    if not options.force_download and marker.is_file() and marker.read_text(encoding="utf-8").strip() == file.checksum:
        return
    staging = dest / f".{file.key}.{os.getpid()}.extracting"
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                _check_extract(archive, dest, [(m.filename, m.file_size, False) for m in bundle.infolist()], options)
                bundle.extractall(staging)
        else:
            with tarfile.open(archive, "r:*") as bundle:
                members = bundle.getmembers()
                special = [(m.name, m.size, m.issym() or m.islnk() or m.isdev()) for m in members]
                _check_extract(archive, dest, special, options)
                if hasattr(tarfile, "data_filter"):
                    bundle.extractall(staging, members=members, filter="data")
                else:  # Python < 3.10.12: the checks above stand in for the filter
                    bundle.extractall(staging, members=members)
        for entry in staging.iterdir():
            _move_into(entry, dest / entry.name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DataUnavailable(
            f"The archive {archive} could not be extracted: {error}. Delete it and download again."
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with atomic_path(marker) as partial:
        partial.write_text(file.checksum + "\n", encoding="utf-8")


def _move_into(source: Path, target: Path) -> None:
    """``source`` moved to ``target``, folders merged into an existing folder there."""
    if source.is_dir() and not source.is_symlink() and target.is_dir():
        for entry in source.iterdir():
            _move_into(entry, target / entry.name)
    else:
        os.replace(source, target)


def _check_extract(archive: Path, dest: Path, members: list[tuple[str, int, bool]], options: DataOptions) -> None:
    """Refuse an archive whose listed members (name, size, whether a link or device) leave ``dest``, are links or
    devices, or exceed a bound or the free space, before any byte is unpacked."""

    def refused(why: str) -> DataUnavailable:
        return DataUnavailable(f"The archive {archive} {why}; it was not extracted (nothing of it is left there).")

    root = dest.resolve()
    for name, _size, special in members:
        if special:
            raise refused(f"holds a link or device ({name})")
        target = (root / name).resolve()
        if Path(name).is_absolute() or (target != root and root not in target.parents):
            raise refused(f"holds a path outside its folder ({name})")
    largest = max(members, key=lambda member: member[1], default=("", 0, False))
    total = sum(size for _, size, _ in members)
    ratio = total / max(archive.stat().st_size, 1)
    max_member, max_total, max_ratio = options.max_member_bytes, options.max_extracted_bytes, options.max_archive_ratio
    if max_member is not None and largest[1] > max_member:
        raise refused(f"holds a member of {largest[1]:,} bytes ({largest[0]}) > data.max_member_bytes="
                      f"{max_member}; raise that bound if you trust the archive")  # fmt: skip
    if max_total is not None and total > max_total:
        raise refused(f"unpacks to {total:,} bytes > data.max_extracted_bytes={max_total}")
    if max_ratio is not None and ratio > max_ratio:
        raise refused(f"unpacks to {total:,} bytes, {ratio:,.0f} times its size > data.max_archive_ratio="
                      f"{max_ratio:g} (a decompression bomb?)")  # fmt: skip
    if (free := free_bytes(dest)) is not None and total > free:
        raise refused(f"unpacks to {_megabytes(total)}, {_megabytes(free)} free in {dest}; free some space there, "
                      "or point paths.data_root at a larger disk")  # fmt: skip


def _unavailable_message(
    record_id: str, api_base: str, files: list[ZenodoFile] | None, dest: Path, what_failed: str
) -> str:
    """One message: what failed, then how to get the files by hand."""
    folder, page = dest.absolute(), f"{api_base.rstrip('/').removesuffix('/api')}/records/{record_id}"
    lines = [
        f"Could not download Zenodo record {record_id}: {what_failed}.",
        "To get the files by hand, run on a machine with internet (a login node, say)",
        f"  xares stage=download task={shlex.quote(folder.name)} paths.data_root={shlex.quote(str(folder.parent))}",
        "which resumes, verifies checksums, extracts archives and marks the folder ready; or download",
    ]
    if files:
        lines.append(f"these {len(files)} files" if len(files) > 1 else "this file")
        lines += [f"  {file.url}" for file in files[:MAX_URLS_IN_MESSAGE]]
        if len(files) > MAX_URLS_IN_MESSAGE:
            lines.append(f"  ... and {len(files) - MAX_URLS_IN_MESSAGE} more (all listed at {page})")
    else:
        lines += [f"every file of the record listed at {page}", f"  (API: {_record_api_url(record_id, api_base)})"]
    lines += [f"into the folder {folder}", f"and then create the empty file {folder / READY_MARKER}."]
    return "\n".join(lines)


@contextlib.contextmanager
def _byte_progress(files: list[ZenodoFile], *, enabled: bool) -> Iterator[Callable[[str, int], None]]:
    """A rich bar over the bytes of ``files``; yields ``report(key, bytes_on_disk)`` (which may go back)."""
    on_disk: dict[str, int] = {}
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=stderr_console, disable=not (enabled and files)) as bar:
        label = files[0].key if len(files) == 1 else f"{len(files)} files"
        task = bar.add_task(f"download {label}", total=sum(file.size for file in files))

        def report(key: str, bytes_on_disk: int) -> None:
            on_disk[key] = bytes_on_disk
            bar.update(task, completed=sum(on_disk.values()))

        yield report
