"""Reading a folder of exports as one source (a ``table`` source with ``files:``).

A licensed price feed often arrives as files: the user's own job downloads the price-reporting
agency's daily or monthly export (CSV or xlsx) into a folder. Every regular file whose name
matches the pattern is read, oldest name first, so a later export's value for a period wins.
Hidden files (``.name``, where downloaders write partial files) are skipped. The folder's ETag
is a digest of the names, sizes and modification times of those files: a poll with nothing new
reads nothing.

Bounds: at most ``MAX_FILES`` files and the source's ``max_bytes`` in all. A missing folder
or one with no matching file is a retryable failure (the first export may not be there yet).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
import urllib.parse
import urllib.request
from pathlib import Path

from monitor.core.errors import SourceError, SourceFormatError, SourceUnavailableError
from monitor.core.models import FetchResult
from monitor.core.untrusted import clean_text

__all__ = ["MAX_FILES", "read_folder"]

#: The most files one poll reads (a year of daily exports is 365).
MAX_FILES = 2_000


def read_folder(url: str, *, pattern: str, source: str, etag: str | None, max_bytes: int
                ) -> tuple[FetchResult, list[tuple[str, bytes]]]:
    """The folder's state as a fetch result, and ``(file name, bytes)`` of each matching file.

    A folder whose ETag equals ``etag`` gives ``not_modified`` and no files.
    """
    started = time.monotonic()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise SourceError(f"{source}: a folder source needs a local file:// url", source=source)
    folder = Path(urllib.request.url2pathname(parts.path))
    try:
        entries = _matching(folder, pattern)
    except OSError as exc:
        raise SourceUnavailableError(clean_text(
            f"{source}: cannot list the folder {folder}: {exc.strerror or type(exc).__name__}"),
            source=source) from exc
    if not entries:
        raise SourceUnavailableError(clean_text(
            f"{source}: no file matching {pattern!r} in {folder}"), source=source)
    if len(entries) > MAX_FILES:
        raise SourceFormatError(f"{source}: {len(entries)} files match, more than {MAX_FILES}",
                                source=source)
    digest = hashlib.sha256()
    for path, info in entries:
        digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    folder_etag = f'"{digest.hexdigest()[:32]}"'
    if etag == folder_etag:
        return FetchResult(url=url, status=304, body=b"", not_modified=True, etag=folder_etag,
                           elapsed_s=time.monotonic() - started), []
    files: list[tuple[str, bytes]] = []
    total = 0
    for path, _ in entries:
        try:
            with path.open("rb") as handle:
                body = handle.read(max_bytes - total + 1)
        except OSError as exc:
            raise SourceUnavailableError(clean_text(
                f"{source}: cannot read {path.name}: {exc.strerror or type(exc).__name__}"),
                source=source) from exc
        total += len(body)
        if total > max_bytes:
            raise SourceFormatError(clean_text(
                f"{source}: the {len(entries)} matching files exceed {max_bytes} bytes"),
                source=source)
        files.append((path.name, body))
    return FetchResult(url=url, status=200, body=b"", etag=folder_etag,
                       elapsed_s=time.monotonic() - started), files


def _matching(folder: Path, pattern: str) -> list[tuple[Path, os.stat_result]]:
    """Regular, visible files of ``folder`` matching ``pattern``, sorted by name."""
    found = []
    for path in folder.iterdir():
        if path.name.startswith(".") or not fnmatch.fnmatchcase(path.name, pattern):
            continue
        info = path.stat()
        if stat.S_ISREG(info.st_mode):
            found.append((path, info))
    return sorted(found, key=lambda item: item[0].name)
