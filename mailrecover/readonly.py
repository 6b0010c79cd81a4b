"""Opening sources so that reading them changes nothing: no locks, no created files, no times.

Every source file and directory a plugin reads is opened here, and here only, so that the
rule "nothing outside a gathered location is read" holds in one place: a symbolic link is
never followed (``O_NOFOLLOW``), and inside ``confined(root)`` the file actually opened must
be the one its path names below the root, not one reached through a linked directory.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import mmap
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Generator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from .spill import spilled

__all__ = [
    "Behind",
    "Buffer",
    "Confinement",
    "NotFollowed",
    "confined",
    "database_copy",
    "describe_link",
    "glance",
    "link_target",
    "list_names",
    "mapped",
    "one_look",
    "open_readonly",
    "read_head",
    "read_message_file",
    "sorted_names",
]


#: The bytes of a source: a mapped file or, for an empty one, plain bytes.
Buffer = bytes | mmap.mmap


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class NotFollowed(OSError):
    """A source that is, or is reached through, a symbolic link: it is not read."""


@dataclass
class Confinement:
    """The gathered location reads are held to."""

    root: str  # absolute, without links of its own at its end
    _real: dict[str, str] = field(default_factory=dict)
    # files outside the root that a store's client keeps at a fixed place beside it (KMail's
    # Akonadi database), allowed one at a time by ``database_copy(path, companion=True)``
    companions: set[str] = field(default_factory=set)

    def real(self, directory: str) -> str:
        """``directory`` resolved, cached: an ancestor is asked once, not once per file."""
        found = self._real.get(directory)
        if found is None:
            found = self._real[directory] = os.path.realpath(directory)
        return found

    def expected(self, path: str) -> str | None:
        """Where ``path`` is when no link lies between it and the root; None when it is
        outside the root and not a companion (a file in a directory the root lies in: a
        log's rotations, the ``prefs.js`` of the profile above ``Mail/``)."""
        root = self.root
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            base = root
        elif path in self.companions:
            base = os.path.commonpath([root, path])  # every folder from there down is checked
        else:
            base = os.path.dirname(path)
            if not (root == base or root.startswith(base.rstrip(os.sep) + os.sep)):
                return None
        if path == base:
            return self.real(base)
        inside = base.rstrip(os.sep) + os.sep
        # ``path`` is absolute and normal (``_checked``): below ``base`` its rest is what
        # relpath would give, without relpath's splitting of both paths for every file read
        rest = path[len(inside) :] if path.startswith(inside) else os.path.relpath(path, base)
        return os.path.join(self.real(base), rest)


_confinement: ContextVar[Confinement | None] = ContextVar("mailrecover_confinement", default=None)


@contextlib.contextmanager
def confined(root: str) -> Iterator[Confinement]:
    """Hold every source opened in this block to ``root`` (see the module's rule)."""
    token = _confinement.set(Confinement(os.path.abspath(root)))
    try:
        yield _confinement.get()  # type: ignore[misc]
    finally:
        _confinement.reset(token)


def link_target(path: str) -> str:
    """What the symbolic link ``path`` points to, as an absolute path ('?' if unreadable)."""
    try:
        target = os.readlink(path)
    except OSError:
        return "?"
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), target))


def describe_link(path: str) -> tuple[bool, str]:
    """Whether the symbolic link ``path`` stays inside the confinement root, and the line
    that reports it: it is never followed, so a file inside is read once, by its own name."""
    target = link_target(path)
    scope = _confinement.get()
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return False, f"symbolic link to {target}, which does not exist: not followed"
    root = scope.real(scope.root) if scope is not None else None
    if root is not None and (real == root or real.startswith(root.rstrip(os.sep) + os.sep)):
        return True, f"symbolic link to {target}: not followed (read under its own name)"
    return False, f"symbolic link to {target}, outside the gathered location: not followed"


def _where(fd: int, path: str) -> str:
    """The file a descriptor really opened: exact on Linux, its resolved name elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(path)


def _checked(fd: int, path: str | os.PathLike[str]) -> int:
    """``fd`` if it is the file its path names below the confinement root; else closed, raised."""
    scope = _confinement.get()
    if scope is None:
        return fd
    name = os.path.abspath(os.fspath(path))
    where, expected = _where(fd, name), scope.expected(name)
    if where == expected:
        return fd
    os.close(fd)
    if expected is None:
        raise NotFollowed(errno.EXDEV, f"outside the gathered location {scope.root}: not read", name)
    raise NotFollowed(errno.ELOOP, f"reached through a symbolic link (it is {where}): not followed", name)


def _refused(e: OSError, path: str | os.PathLike[str]) -> OSError:
    """ELOOP from O_NOFOLLOW, said plainly: which link, and to where."""
    name = os.fspath(path)
    if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(name):
        return NotFollowed(errno.ELOOP, f"symbolic link to {link_target(name)}: not followed", name)
    return e


def open_readonly(path: str | os.PathLike[str]) -> int:
    """A read-only descriptor on a regular file, never through a symbolic link; with
    O_NOATIME where the system lets us, so atime stays too.  O_NONBLOCK: a fifo must not hang us."""
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    try:
        try:
            fd = os.open(path, flags | noatime) if noatime else os.open(path, flags)
        except PermissionError:
            if not noatime:
                raise
            fd = os.open(path, flags)  # O_NOATIME needs ownership of the file
    except OSError as e:
        raise _refused(e, path) from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
        raise OSError(code, "not a regular file", os.fspath(path))
    return _checked(fd, path)


_T = TypeVar("_T")
#: What was read of paths during ``one_look``, by what and of which path; None outside it.
_glances: ContextVar[dict[tuple[str, str], object] | None] = ContextVar("mailrecover_glances", default=None)


@contextlib.contextmanager
def one_look() -> Iterator[None]:
    """While the walk asks every plugin whether it reads one path: what their ``detect``
    reads of it (``read_head``, ``glance``) is read once, not once for each plugin."""
    token = _glances.set({})
    try:
        yield
    finally:
        _glances.reset(token)


def glance(what: str, path: str, compute: Callable[[], _T]) -> _T:
    """``compute()``, done once for ``what`` of ``path`` in a ``one_look`` (every time
    outside one); what raises is not kept, so the next caller meets the failure afresh."""
    seen = _glances.get()
    if seen is None:
        return compute()
    key = (what, os.fspath(path))
    if key not in seen:
        seen[key] = compute()
    return seen[key]  # type: ignore[return-value]


def read_head(path: str | os.PathLike[str], size: int) -> bytes:
    """The first ``size`` bytes of a file (fewer if it is shorter); raises OSError."""
    seen = _glances.get()
    if seen is None:
        return _read_head(path, size)
    key = ("head", os.fspath(path))
    kept = seen.get(key)
    if isinstance(kept, tuple):
        wanted, head = kept
        if size <= wanted or len(head) < wanted:  # as much as asked, or the whole file
            return head[:size]
    wanted = max(size, _LOOK)  # the next plugin's look is most likely further than this one's
    head = _read_head(path, wanted)
    seen[key] = (wanted, head)
    return head[:size]


_LOOK = 64 << 10  # as far as the plugins' sniffs of a message or mbox look


def _read_head(path: str | os.PathLike[str], size: int) -> bytes:
    fd = open_readonly(path)
    try:
        length = os.fstat(fd).st_size
        # a generous allowance (MH's 4 MB for .mh_sequences) is no buffer of that size for a small file
        return os.read(fd, length + 1 if 0 < length < size else size)
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
    return b"".join(chunks), datetime.fromtimestamp(mtime, UTC)


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
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW)
    except OSError as e:
        raise _refused(e, path) from None
    fd = _checked(fd, path)
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) >= SORT_RUN:
                    runs.append(spilled(sorted(names)))
                    names = []
    except BaseException:
        for run in runs:
            run.close()
        raise
    finally:
        os.close(fd)
    names.sort()
    return _merged(runs, names) if runs else iter(names)


def list_names(path: str | os.PathLike[str]) -> list[str]:
    """The names in a small directory, sorted; a linked directory is not listed (``NotFollowed``)."""
    return list(sorted_names(path))


def _merged(runs: list[Generator[str, None, None]], last: list[str]) -> Iterator[str]:
    try:
        yield from heapq.merge(*runs, last)
    finally:
        for run in runs:
            run.close()


#: Files SQLite keeps beside a database: committed pages not yet in it (WAL), or the undo
#: record of a write that never finished (a hot rollback journal).
_DATABASE_SIDES = ("-wal", "-journal")


@contextlib.contextmanager
def database_copy(path: str | os.PathLike[str], *, companion: bool = False) -> Iterator[sqlite3.Connection]:
    """A mail client's SQLite database, opened on a private copy made through
    ``open_readonly``: SQLite opening the source would follow links, take locks and may
    create ``-wal``/``-shm`` files beside it.  Its ``-wal`` and ``-journal`` are copied with
    it, so the copy shows what the client last committed.  ``companion``: the file lies
    outside the gathered location, where the store's client keeps it (KMail's Akonadi
    database beside ``local-mail``); it is read by its real name, no link on the way.
    Raises ``OSError`` when the file cannot be read; SQLite's errors come from the queries.
    """
    name = os.path.abspath(os.fspath(path))
    scope = _confinement.get()
    added = [name, *(name + side for side in _DATABASE_SIDES)] if companion and scope is not None else []
    if scope is not None:
        scope.companions.update(added)
    try:
        with tempfile.TemporaryDirectory(prefix="mailrecover-db-") as tmp:  # 0700
            copy = os.path.join(tmp, "copy.db")
            _copy_file(name, copy)
            for side in _DATABASE_SIDES:
                try:
                    _copy_file(name + side, copy + side)
                except FileNotFoundError:
                    continue
            db = sqlite3.connect(copy)  # read-write on the copy: a WAL or hot journal is applied there
            try:
                yield db
            finally:
                db.close()
    finally:
        if scope is not None:
            scope.companions.difference_update(added)


def _copy_file(source: str, target: str) -> None:
    fd = open_readonly(source)
    with os.fdopen(fd, "rb") as src, open(target, "xb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
