"""``mbox:PATH``: one mboxrd file per folder, laid out as mail clients import them.

INBOX is ``PATH/INBOX``, folder ``A/B`` is ``PATH/A.sbd/B``.  Lines that start with
``From `` after any number of ``>`` get one more ``>``, so the quoting can be undone
exactly.

A target folder may be shared with a mail client or another job, so nothing in a file is
ever cut or overwritten.  The journal remembers where each file's last whole message ends;
bytes found after that point are finished only when they are exactly the start of the
message this run is about to write (its own write, stopped halfway), and otherwise kept as
another program's mail, with the restored mail appended after them.  Each message is
written holding the locks mail clients honour: a dot-lock (``INBOX.lock``) and an ``fcntl``
lock.  Folders and files are reached from the root without following symbolic links.

Each run also reads every folder file it writes to and appends again what the plan wants
and the file no longer holds, whatever the journal says (see ``_Index``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError
from ..model import Flag, JournalState
from ..private import open_private_at, open_root, private_dir_at, write_all
from . import Journal, Outgoing, Verification, link_error, open_below, safe_parts

__all__ = ["MboxTarget", "mboxrd_quote"]

log = logging.getLogger(__name__)

_FROM = re.compile(rb"^(>*From )", re.M)
_LOCK_POLL = 0.1  # seconds between tries for a lock another program holds


def mboxrd_quote(raw: bytes) -> bytes:
    """The message with every ``>*From `` line quoted once more, ending in a newline."""
    body = _FROM.sub(rb">\1", raw)
    return body if body.endswith(b"\n") else body + b"\n"


def _status(flags: frozenset[Flag]) -> bytes:
    """Status/X-Status fields, the state mbox readers (mutt, Dovecot, Thunderbird) understand."""
    status = "RO" if Flag.SEEN in flags else "O"
    x = "".join(
        c
        for f, c in ((Flag.ANSWERED, "A"), (Flag.FLAGGED, "F"), (Flag.DELETED, "D"), (Flag.DRAFT, "T"))
        if f in flags
    )
    out = f"Status: {status}\n"
    if x:
        out += f"X-Status: {x}\n"
    return out.encode("ascii")


@dataclass
class _Mbox:
    """One folder's file: the folder holding it (for the file and its dot-lock), open."""

    rel: str  # below the root, '/'-separated: the journal's name for the file
    shown: str  # as the user sees it in messages
    dir_fd: int
    name: str
    fd: int = -1  # open only while this tool holds the locks
    end: int | None = None  # where this tool's last write into it ended, once looked up

    def close(self) -> None:
        os.close(self.dir_fd)


class MboxTarget:
    def __init__(self, path: str, *, lock_wait: float = 30.0) -> None:
        self.root = Path(path).expanduser().absolute()
        self.description = f"mbox:{self.root}"
        self.problems: list[str] = []
        self.lock_wait = lock_wait  # seconds to wait for a mail client's lock before stopping
        self._indexes: dict[str, _Index] = {}  # what each folder file held when first looked at
        self.verification = Verification()

    def _names(self, folder: str) -> list[str]:
        """The path below the root: ``A.sbd``, ``B`` for folder ``A/B``."""
        parts = safe_parts(folder, suffixes=(".sbd", ".msf", ".lock"))  # never posing as a tree or a lock
        return [*(p + ".sbd" for p in parts[:-1]), parts[-1]]

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        written = 0
        try:
            root_fd = open_root(self.root)
        except OSError as e:
            raise TargetError(f"cannot create {self.root}: {e.strerror or e}") from e
        box: _Mbox | None = None
        self._indexes.clear()  # looked at afresh each run, whatever the journal says
        check = self.verification = Verification()
        try:
            for item in items:
                check.planned += 1
                names = self._names(item.folder)
                done = journal.state(item.key) == JournalState.DONE
                data = self._entry(item)
                found, digest = self._look(root_fd, names, data, journal.ref(item.key) if done else None)
                if found is not None:
                    check.present += 1
                    if not done:  # written before, journal lost
                        journal.mark(
                            item.key, JournalState.DONE, f"{'/'.join(names)}:{found} sha256={digest}"
                        )
                    progress(1)
                    continue
                check.repaired += done
                if box is None or box.rel != "/".join(names):
                    if box is not None:
                        box.close()
                        box = None
                    box = self._folder(root_fd, names)
                try:
                    with self._locked(box):
                        at, end = self._append(box, data, journal)
                except OSError as e:
                    raise TargetError(f"cannot write {box.shown}: {e.strerror or e}") from e
                journal.mark_many(
                    [
                        (item.key, JournalState.DONE, f"{box.rel}:{at} sha256={digest}"),
                        (f"file:{box.rel}", JournalState.END, str(end)),
                    ]
                )
                written += 1
                progress(1)
        finally:
            if box is not None:
                box.close()
            os.close(root_fd)
        check.present += written
        check.missing = check.planned - check.present
        return written

    def verify(self, items: Iterable[Outgoing], journal: Journal) -> Verification:
        """Look for each item in its folder file without writing (see ``_Index``)."""
        self._indexes.clear()
        check = Verification()
        try:
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            root_fd = -1  # gone: every message is missing
        try:
            for item in items:
                check.planned += 1
                ref = journal.ref(item.key) if journal.state(item.key) == JournalState.DONE else None
                check.present += (
                    self._look(root_fd, self._names(item.folder), self._entry(item), ref)[0] is not None
                )
        finally:
            if root_fd >= 0:
                os.close(root_fd)
        check.missing = check.planned - check.present
        return check

    def _look(self, root_fd: int, names: list[str], entry: bytes, ref: str | None) -> tuple[int | None, str]:
        """Where ``entry`` is in its folder file (or ``None``), and its body's digest.  Where the
        journal recorded another body as written (the message's canonical copy has changed since),
        that one answers for it too: appending the new one would make the mail appear twice."""
        message_id, digest, _ = _identity(entry, 0, len(entry))
        earlier = ref.rpartition(" sha256=")[2] if ref and " sha256=" in ref else digest
        rel = "/".join(names)
        index = self._indexes.get(rel)
        if index is None:
            index = self._indexes[rel] = _Index.of_file(root_fd, names)
        return index.take(message_id, {digest, earlier}), digest

    def _folder(self, root_fd: int, names: list[str]) -> _Mbox:
        """The folder that holds the file, created below the root without following a symbolic link."""
        dir_fd, shown = os.dup(root_fd), self.root
        try:
            for name in names[:-1]:
                try:
                    fd = private_dir_at(dir_fd, name)
                except OSError as e:
                    raise link_error(dir_fd, name, str(shown / name), e) from e
                os.close(dir_fd)
                dir_fd, shown = fd, shown / name
        except BaseException:
            os.close(dir_fd)
            raise
        return _Mbox("/".join(names), str(shown / names[-1]), dir_fd, names[-1])

    def _open(self, box: _Mbox) -> int:
        """Open (creating) the file, never through a symbolic link, never one with other names."""
        try:
            fd = open_private_at(box.dir_fd, box.name, os.O_RDWR)
        except OSError as e:
            raise link_error(box.dir_fd, box.name, box.shown, e) from e
        info = os.fstat(fd)
        why = (
            "is not a regular file"
            if not stat.S_ISREG(info.st_mode)
            else "has other hard links, which writing it would change too"
            if info.st_nlink > 1
            else ""
        )
        if why:
            os.close(fd)
            raise TargetError(f"{box.shown} {why}; restore leaves it alone: move it or choose another target")
        return fd

    @contextlib.contextmanager
    def _locked(self, box: _Mbox) -> Iterator[None]:
        """Hold the file's dot-lock and ``fcntl`` lock, as mail clients do, waiting a while for them.

        The file is opened under the dot-lock each time: a client that replaced it meanwhile
        (compacting by rename, as Thunderbird does) is never written past.
        """
        deadline = time.monotonic() + self.lock_wait
        lock = box.name + ".lock"
        while True:
            try:
                fd = os.open(
                    lock,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=box.dir_fd,
                )
                break
            except FileExistsError:
                if not _remove_stale_lock(box.dir_fd, lock):
                    self._wait(deadline, box, f"its dot-lock {box.shown}.lock is there")
        try:
            write_all(fd, _lock_text(os.getpid()), sync=False)
            os.close(fd)
            box.fd = self._open(box)
            try:
                while True:
                    try:
                        fcntl.lockf(box.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except OSError as e:
                        if e.errno not in (errno.EACCES, errno.EAGAIN):
                            raise
                        self._wait(deadline, box, "another program holds an fcntl lock on it")
                yield  # closing the file gives the fcntl lock back
            finally:
                os.close(box.fd)
                box.fd = -1
        finally:
            os.unlink(lock, dir_fd=box.dir_fd)

    def _wait(self, deadline: float, box: _Mbox, why: str) -> None:
        if time.monotonic() >= deadline:
            raise TargetError(
                f"{box.shown} is locked by another program ({why}) and stayed locked for "
                f"{self.lock_wait:g}s; nothing more was written. Run restore again when it is done "
                "(a dot-lock left by a crashed program can be removed by hand)"
            )
        time.sleep(_LOCK_POLL)

    def _append(self, box: _Mbox, data: bytes, journal: Journal) -> tuple[int, int]:
        """Append one entry after everything in the file; where it starts and where the file ends.

        Bytes after the journalled end are finished only when they are exactly the start of
        this entry (this tool's write, stopped halfway); anything else is another program's
        and stays, with the entry after it.  Nothing is ever cut.
        """
        size = os.fstat(box.fd).st_size
        if box.end is None:
            recorded = journal.ref(f"file:{box.rel}")
            if recorded is None:
                journal.mark(
                    f"file:{box.rel}", JournalState.END, str(size)
                )  # what was there before this tool wrote
            box.end = size if recorded is None else int(recorded)
        start = box.end
        blob = _separator(box.fd, start) + data
        done = 0
        if size != start:
            tail = size - start
            if 0 < tail <= len(blob) and _read_at(box.fd, tail, start) == blob[:tail]:
                done = tail  # this tool's own message, half-written when a run was stopped
            else:
                log.warning(
                    "%s: %s; kept, restored mail goes after it",
                    box.shown,
                    f"{tail} bytes after the mail this tool wrote came from another program"
                    if tail > 0
                    else "shorter than when this tool last wrote it",
                )
                start = size
                blob = _separator(box.fd, start) + data
        os.lseek(box.fd, start + done, os.SEEK_SET)
        write_all(box.fd, blob[done:])
        box.end = start + len(blob)
        return box.end - len(data), box.end

    @staticmethod
    def _entry(item: Outgoing) -> bytes:
        # the arrival as this machine's wall clock, as delivery agents write it and as mbox
        # readers (Dovecot, and mailrecover's own) read a From line without a zone
        when = item.date.astimezone().strftime("%a %b %d %H:%M:%S %Y")
        raw = item.raw.replace(b"\r\n", b"\n")
        return b"From mailrecover " + when.encode() + b"\n" + _status(item.flags) + mboxrd_quote(raw) + b"\n"


def _lock_text(pid: int) -> bytes:
    """A dot-lock's content: ``pid:host``, as Dovecot writes it, so a stale one can be told apart."""
    return f"{pid}:{socket.gethostname()}\n".encode()


def _remove_stale_lock(dir_fd: int, lock: str) -> bool:
    """Remove a dot-lock whose holder, by its own ``pid:host`` line, was a process on this machine
    that is gone (a killed restore, a crashed client); any other lock is left alone."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        text = os.read(fd, 256)
    finally:
        os.close(fd)
    pid, _, _host = text.partition(b":")
    if not pid.isdigit() or text != _lock_text(int(pid)):
        return False
    try:
        os.kill(int(pid), 0)
        return False  # its holder is alive
    except ProcessLookupError:
        pass
    except PermissionError:
        return False  # alive, under another user
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock, dir_fd=dir_fd)
    log.warning("removed a stale dot-lock %s left by process %s, which is gone", lock, int(pid))
    return True


def _read_at(fd: int, size: int, offset: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, size, offset)
        if not chunk:
            break
        chunks.append(chunk)
        size, offset = size - len(chunk), offset + len(chunk)
    return b"".join(chunks)


def _separator(fd: int, end: int) -> bytes:
    """What must go before a ``From `` line written at ``end``: a blank line after earlier mail."""
    if end == 0:
        return b""
    last = _read_at(fd, min(end, 2), end - min(end, 2))
    return b"" if last.endswith(b"\n\n") or last == b"\n" else b"\n" if last.endswith(b"\n") else b"\n\n"


class _Index:
    """The messages of one mbox file, by Message-ID and the SHA-256 of their body.

    A message counts as there when an entry carries its Message-ID and its body bytes: the
    header block is left out because mail programs that serve or read the file rewrite it
    (Status, X-UID, X-Keywords, Content-Length).  Each entry answers for one message.
    """

    def __init__(self) -> None:
        self._entries: dict[bytes, list[tuple[str, int]]] = {}  # Message-ID -> (body digest, offset)

    @classmethod
    def of_file(cls, root_fd: int, names: list[str]) -> _Index:
        index = cls()
        fd = open_below(root_fd, names)
        if fd < 0:
            return index  # not there yet (or a link: writing there stops with its own message)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return index
            for message_id, digest, offset in _scan(fd):
                index._entries.setdefault(message_id, []).append((digest, offset))
        finally:
            os.close(fd)
        return index

    def take(self, message_id: bytes, digests: set[str]) -> int | None:
        """The offset of an entry with this Message-ID and one of these body digests, used up;
        ``None`` if there is none left."""
        found = self._entries.get(message_id, [])
        for i, (digest, offset) in enumerate(found):
            if digest in digests:
                del found[i]
                return offset
        return None


_HEAD_LIMIT = 1 << 20  # a header block longer than this is not looked into further
_CHUNK = 1 << 20  # read at a time: memory stays one chunk or one message big, whatever the file
_SEPARATOR = re.compile(rb"^From ", re.M)
_HEAD_END = re.compile(rb"\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:(.*(?:\r?\n[ \t].*)*)", re.I | re.M)  # with its folded lines


def _scan(fd: int) -> Iterator[tuple[bytes, str, int]]:
    """``_entries`` of a whole file, read in chunks cut where a message begins."""
    buf, base = b"", 0
    while chunk := os.read(fd, _CHUNK):
        buf += chunk
        cut = _last_start(buf)
        if cut > 0:
            yield from ((mid, digest, base + at) for mid, digest, at in _entries(buf, cut))
            buf, base = buf[cut:], base + cut
    yield from ((mid, digest, base + at) for mid, digest, at in _entries(buf))


def _last_start(buf: bytes) -> int:
    """Where the last message that begins in ``buf`` (not at its very start) begins, or 0."""
    at = len(buf)
    while (at := buf.rfind(b"\nFrom ", 0, at)) > 0:
        if _starts_message(buf, at + 1):
            return at + 1
    return 0


def _starts_message(buf: bytes, at: int) -> bool:
    return at == 0 or buf[at - 2 : at] == b"\n\n" or buf[at - 3 : at] == b"\n\r\n"


def _entries(buf: bytes, end: int | None = None) -> Iterator[tuple[bytes, str, int]]:
    """(Message-ID, SHA-256 of the body without its trailing blank lines, offset) of each
    message in an mbox buffer: a ``From `` line at the start or after a blank line begins a
    message (mboxrd quotes every other).  Regular expressions and hashing over the buffer, not
    a Python loop per line: a rerun reads its folder files at the speed of the disk.  Only
    ``buf[:end]`` is looked at."""
    stop = len(buf) if end is None else end
    start = -1
    for m in _SEPARATOR.finditer(buf, 0, stop):
        at = m.start()
        if _starts_message(buf, at):
            if start >= 0:
                yield _identity(buf, start, at)
            start = at
    if start >= 0:
        yield _identity(buf, start, stop)


def _identity(buf: bytes, start: int, end: int) -> tuple[bytes, str, int]:
    head_end = _HEAD_END.search(buf, start, end)
    body = head_end.end() if head_end else end
    field = _MESSAGE_ID.search(buf, start, min(body, start + _HEAD_LIMIT))
    message_id = b" ".join(field[1].split()) if field else b""
    while end > body:  # the blank lines that separate messages, and any others at the end
        if buf[end - 1 : end] == b"\n" and (end - 1 == body or buf[end - 2 : end - 1] == b"\n"):
            end -= 1
        elif buf[end - 2 : end] == b"\r\n" and (end - 2 == body or buf[end - 3 : end - 2] == b"\n"):
            end -= 2
        else:
            break
    return message_id, hashlib.sha256(memoryview(buf)[body:end]).hexdigest(), start
