"""Opening sources so that reading them changes nothing: no locks, no created files, no times."""

from __future__ import annotations

import contextlib
import heapq
import mmap
import os
from collections.abc import Generator, Iterator
from datetime import datetime, timezone

from .spill import spilled

__all__ = ["Behind", "Buffer", "mapped", "open_readonly", "read_head", "read_message_file", "sorted_names"]


#: The bytes of a source: a mapped file or, for an empty one, plain bytes.
Buffer = bytes | mmap.mmap


def open_readonly(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor; with O_NOATIME where the system lets us, so atime stays too."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    if noatime:
        try:
            return os.open(path, flags | noatime)
        except PermissionError:
            pass  # O_NOATIME needs ownership of the file
    return os.open(path, flags)


def read_head(path: str | os.PathLike[str], size: int) -> bytes:
    """The first ``size`` bytes of a file (fewer if it is shorter); raises OSError."""
    fd = open_readonly(path)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def read_message_file(path: str | os.PathLike[str]) -> tuple[bytes, datetime]:
    """A one-message file's bytes and its modification time (aware, UTC)."""
    fd = open_readonly(path)
    try:
        st = os.fstat(fd)
        mtime = st.st_mtime
        chunks = []
        # one read of the file's own size: a fixed 1 MB buffer shrunk to each small message
        # left the C heap fragmented, growing ~3 KB per file read (1.4 GB over 500k files)
        want = st.st_size + 1
        while chunk := os.read(fd, want):
            chunks.append(chunk)
            want = 1 << 16  # the file grew while it was read: read on
    finally:
        os.close(fd)
    return b"".join(chunks), datetime.fromtimestamp(mtime, timezone.utc)


@contextlib.contextmanager
def mapped(path: str | os.PathLike[str]) -> Iterator[Buffer]:
    """The file's bytes, mapped read-only (empty bytes for an empty file)."""
    fd = open_readonly(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            yield b""
            return
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as m:
            yield m
    finally:
        os.close(fd)


#: Bytes a reader passes through a mapped file before the pages behind it are let go.
RELEASE_EVERY = 1 << 20


class Behind:
    """Lets go of the mapped pages a forward-only reader has passed, every ``RELEASE_EVERY``
    bytes, so it holds a window of the file, not the file: without it an mbox folder's pages
    stayed mapped until its end (1.2 GB of resident memory for a 1.2 GB Inbox).  The pages
    stay in the page cache and come back if read again; plain bytes need nothing."""

    def __init__(self, data: Buffer) -> None:
        self._data = data if isinstance(data, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED") else None
        self._released = 0

    def reached(self, offset: int) -> None:
        """Nothing before ``offset`` will be read again."""
        if self._data is not None and offset - self._released >= RELEASE_EVERY:
            upto = offset - offset % mmap.PAGESIZE
            self._data.madvise(mmap.MADV_DONTNEED, self._released, upto - self._released)
            self._released = upto


#: Names sorted in memory at once when a directory is listed; a longer listing is sorted in
#: runs of this many (about 1 MB), kept in unlinked temporary files and merged: a folder of a
#: million names holds 100 of them open.
SORT_RUN = 10_000


def sorted_names(path: str | os.PathLike[str]) -> Iterator[str]:
    """The names in directory ``path``, sorted, in memory bounded by ``SORT_RUN`` names
    whatever the directory holds (a Maildir ``cur/`` of a million files would otherwise take
    about 100 MB).  The directory is read now (``OSError`` is raised here); the names come lazily.
    """
    runs: list[Generator[str, None, None]] = []
    names: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) >= SORT_RUN:
                    runs.append(spilled(sorted(names)))
                    names = []
    except BaseException:
        for run in runs:
            run.close()
        raise
    names.sort()
    return _merged(runs, names) if runs else iter(names)


def _merged(runs: list[Generator[str, None, None]], last: list[str]) -> Iterator[str]:
    try:
        yield from heapq.merge(*runs, last)
    finally:
        for run in runs:
            run.close()
