"""``maildir:PATH``: a Maildir++ tree that Dovecot can serve as it is.

INBOX is PATH itself, folder ``A/B`` is ``PATH/.A.B`` (names in modified UTF-7, as
Dovecot keeps them).  Each message is written to ``tmp/``, synced (a batch at a time), given
the message's date as file time and renamed into ``cur/`` under a name derived from its merge key, so a
rerun recognises what is already there even if the journal missed it, and finds what is no longer
there (or no longer the same bytes) even if the journal says it was written: that is written
again, a changed file replaced under its own name (which keeps flags a mail client gave it).  ``INBOX/X`` is
``PATH/.INBOX.X``, as Dovecot keeps a subfolder of INBOX, apart from a top-level ``X``.

Files already in the tree are only opened to be read, and only those named as this tool names its
own.  Every folder and file below the root is reached through folder descriptors without following
symbolic links.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import TargetError
from ..model import Flag, JournalState
from ..private import open_private_at, open_root, private_dir_at, write_all
from . import (
    READ_BELOW,
    Journal,
    Outgoing,
    Verification,
    fit,
    link_error,
    open_below,
    safe_parts,
    utf7,
    utf7_len,
)

__all__ = ["MaildirTarget"]

_BATCH = 256  # messages made durable together
_BATCH_BYTES = 32 << 20

_LETTERS = {
    Flag.DRAFT: "D",
    Flag.FLAGGED: "F",
    Flag.FORWARDED: "P",
    Flag.ANSWERED: "R",
    Flag.SEEN: "S",
    Flag.DELETED: "T",
}


@functools.cache
def _letters(flags: frozenset[Flag]) -> str:
    """A flag set as Maildir's info letters, in ASCII order (few sets: worked out once each)."""
    return "".join(sorted(_LETTERS[f] for f in flags if f in _LETTERS))


def _folder_name(folder: str) -> str:
    """``.A.B`` for folder ``A/B`` (``""`` for INBOX): one directory name of at most 255 bytes.

    A ``.`` inside a source's folder name would split it into two levels here, so it is
    cleaned away (and the name tagged, see ``safe_name``); a path too deep to fit one
    directory name is cut short and tagged with a hash of the whole folder path.
    """
    parts = safe_parts(folder, forbidden=".", measure=utf7_len)
    if parts == ["INBOX"]:
        return ""
    name = fit(".".join(parts), 254, "/".join(parts), utf7_len)  # the same tag for NFD and NFC spellings
    return "." + utf7(name)


@dataclass
class _Folder:
    """One folder of the tree, opened for a batch: its ``tmp/`` and ``cur/`` as descriptors."""

    below: str  # its path relative to the root, with a final '/' ('' for INBOX)
    shown: str
    tmp: int = -1
    cur: int = -1

    def close(self) -> None:
        for fd in (self.tmp, self.cur):
            if fd >= 0:
                os.close(fd)


class MaildirTarget:
    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().absolute()
        self.description = f"maildir:{self.root}"
        self.problems: list[str] = []
        self._had_mail: dict[str, bool] = {}  # prepared folder -> whether cur/ held mail then
        self._names: dict[str, str] = {}  # folder -> its directory name, worked out once
        self._root_fd = -1
        self._found: dict[str, dict[str, list[str]]] = {}  # folder -> this tool's files in it, by key
        self.verification = Verification()

    def _name(self, folder: str) -> str:
        found = self._names.get(folder)
        if found is None:
            found = self._names[folder] = _folder_name(folder)
        return found

    def _open(self, name: str) -> tuple[_Folder, bool]:
        """The folder, created if needed, and whether its ``cur/`` held anything when first seen.

        Only then can a message be there already (from a run whose journal was lost):
        in a folder this run found empty, nothing needs looking up per message.
        """
        folder = _Folder(f"{name}/" if name else "", str(self.root / name) if name else str(self.root))
        folder_fd = os.dup(self._root_fd) if not name else self._subdir(self._root_fd, name, folder.shown)
        try:
            fds = {
                sub: self._subdir(folder_fd, sub, f"{folder.shown}/{sub}") for sub in ("cur", "new", "tmp")
            }
            os.close(fds.pop("new"))
            folder.tmp, folder.cur = fds["tmp"], fds["cur"]
            if name:
                self._mark_folder(folder_fd, folder.shown)
        except BaseException:
            folder.close()
            raise
        finally:
            os.close(folder_fd)
        had_mail = self._had_mail.get(name)
        if had_mail is None:
            with os.scandir(folder.cur) as entries:
                had_mail = self._had_mail[name] = next(entries, None) is not None
        return folder, had_mail

    @staticmethod
    def _subdir(dir_fd: int, name: str, shown: str) -> int:
        try:
            return private_dir_at(dir_fd, name)
        except OSError as e:
            raise link_error(dir_fd, name, shown, e) from e

    @staticmethod
    def _mark_folder(folder_fd: int, shown: str) -> None:
        """The ``maildirfolder`` file Maildir++ puts in every subfolder; an existing one is left as it is."""
        try:
            if os.stat("maildirfolder", dir_fd=folder_fd, follow_symlinks=False):
                return
        except FileNotFoundError:
            pass
        try:
            os.close(open_private_at(folder_fd, "maildirfolder", os.O_WRONLY))
        except OSError as e:
            raise link_error(folder_fd, "maildirfolder", f"{shown}/maildirfolder", e) from e

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        written = 0
        try:
            self._root_fd = open_root(self.root)
        except OSError as e:
            raise TargetError(f"cannot create {self.root}: {e.strerror or e}") from e
        self._found.clear()  # looked at afresh each run, whatever the journal says
        check = self.verification = Verification()
        try:
            batch: list[tuple[Outgoing, str, str]] = []
            size = 0
            for item in items:
                check.planned += 1
                name = self._name(item.folder)
                done = journal.state(item.key) == JournalState.DONE
                found = self._look(item, name, _written_digest(journal.ref(item.key)) if done else None)
                if found is not None:
                    check.present += 1
                    if not done:  # written before, journal lost
                        journal.mark(item.key, JournalState.DONE, f"{name}/{found}" if name else found)
                    progress(1)
                    continue
                check.repaired += done
                batch.append((item, name, self._fresh_name(item, name)))
                size += len(item.raw)
                if len(batch) >= _BATCH or size >= _BATCH_BYTES:
                    written += self._write_batch(batch, journal, progress)
                    batch, size = [], 0
            written += self._write_batch(batch, journal, progress)
        finally:
            os.close(self._root_fd)
            self._root_fd = -1
        check.present += written
        check.missing = check.planned - check.present
        return written

    def verify(self, items: Iterable[Outgoing], journal: Journal) -> Verification:
        """Look for each item on the target without writing (see ``_look``)."""
        self._found.clear()
        check = Verification()
        try:
            self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            self._root_fd = -1  # gone: every message is missing
        try:
            for item in items:
                check.planned += 1
                recorded = (
                    _written_digest(journal.ref(item.key))
                    if journal.state(item.key) == JournalState.DONE
                    else None
                )
                check.present += self._look(item, self._name(item.folder), recorded) is not None
        finally:
            if self._root_fd >= 0:
                os.close(self._root_fd)
            self._root_fd = -1
        check.missing = check.planned - check.present
        return check

    def _look(self, item: Outgoing, name: str, written: str | None) -> str | None:
        """The file (``cur/NAME``, ``new/NAME``, with its digest) that holds ``item`` in its folder,
        or ``None``.  A file named as this tool named it holds it when its bytes are the message's,
        or those this tool wrote for it (``written``: a later gather may have brought a better
        copy since; writing that too would make two) or its intact canonical copy (``also``)."""
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = _our_files(self._root_fd, name)
        files = found.get(item.key)
        if not files:
            return None  # the usual case: nothing of this key there, nothing to compare
        accepted = item.also | ({written} if written else set())
        for file in files:
            digest = _holding(self._root_fd, name, file, item.raw, accepted)
            if digest is not None:
                return f"{file} sha256={digest}"
        return None

    def _fresh_name(self, item: Outgoing, name: str) -> str:
        """The name the message's file gets in ``cur/``: one whose unique part no file has, since a
        changed file of this key (someone else's bytes now) is left where it is."""
        stamp = int(item.date.timestamp())
        base, n = f"{stamp}.M{item.key}.mailrecover", 2
        files = self._found.get(name, {}).get(item.key)
        if files:
            taken = {_unique_part(f) for f in files}
            while base in taken:
                base, n = f"{stamp}_{n}.M{item.key}.mailrecover", n + 1
        return f"{base}:2,{_letters(item.flags)}"

    def _write_batch(
        self, batch: list[tuple[Outgoing, str, str]], journal: Journal, progress: Callable[[int], None]
    ) -> int:
        """Write a batch to ``tmp/``, make it durable at once, then rename each into ``cur/``.

        One sync pass for the batch instead of one fsync per message before the next is
        written; a message is journalled only once its rename is durable too.
        """
        written = 0
        done: list[tuple[str, JournalState, str]] = []
        staged: list[tuple[Outgoing, _Folder, str]] = []  # item, its folder, its file name
        folders: dict[str, _Folder] = {}
        touched: set[int] = set()
        try:
            fds: list[int] = []
            try:
                for item, name, file_name in batch:
                    folder = folders.get(name)
                    if folder is None:
                        folder, _ = self._open(name)
                        folders[name] = folder
                    try:
                        fds.append(self._write_file(folder.tmp, file_name, item))
                    except OSError as e:
                        raise link_error(folder.tmp, file_name, f"{folder.shown}/tmp/{file_name}", e) from e
                    staged.append((item, folder, file_name))
                _sync_files(fds)
            finally:
                for fd in fds:
                    os.close(fd)
            for item, folder, file_name in staged:
                os.rename(file_name, file_name, src_dir_fd=folder.tmp, dst_dir_fd=folder.cur)
                touched.add(folder.cur)
                digest = item.digest or hashlib.sha256(item.raw).hexdigest()  # what a later look accepts
                done.append((item.key, JournalState.DONE, f"{folder.below}cur/{file_name} sha256={digest}"))
                written += 1
                progress(1)
        finally:
            try:
                for fd in touched:
                    os.fsync(fd)
                if done:
                    journal.mark_many(done)
                for _item, folder, file_name in staged[written:]:  # what an interruption left unrenamed
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(file_name, dir_fd=folder.tmp)
            finally:
                for folder in folders.values():
                    folder.close()
        return written

    @staticmethod
    def _write_file(tmp_fd: int, name: str, item: Outgoing) -> int:
        """Write ``item`` as ``tmp/name`` with the message's date as file time; the open descriptor."""
        try:
            fd = open_private_at(tmp_fd, name, os.O_WRONLY | os.O_EXCL)
        except FileExistsError:  # a killed run's leftover: replaced, never written through (a link)
            os.unlink(name, dir_fd=tmp_fd)
            fd = open_private_at(tmp_fd, name, os.O_WRONLY | os.O_EXCL)
        try:
            write_all(fd, item.raw, sync=False)  # the batch is synced at once
            stamp = item.date.timestamp()
            os.utime(fd, (stamp, stamp))
        except BaseException:
            os.close(fd)
            raise
        return fd


#: The names this tool gives its files (``<time>.M<key>.mailrecover:2,<flags>``); a server
#: that serves the tree renames them when their flags change, or moves them between cur/ and new/.
_OURS = re.compile(r"\d+(?:_\d+)?\.M(?P<key>[^.:,/]+)\.mailrecover(?=[,:]|$)")


def _our_files(root_fd: int, name: str) -> dict[str, list[str]]:
    """The regular files named as this tool names its own in a folder (``cur/NAME``,
    ``new/NAME``), by merge key; nothing when the folder or the root cannot be read."""
    found: dict[str, list[str]] = {}
    for sub in ("cur", "new"):
        fd = open_below(root_fd, [name, sub] if name else [sub], READ_BELOW | os.O_DIRECTORY)
        if fd < 0:
            continue  # missing, or a link: writing there stops with its own message
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    if (m := _OURS.match(entry.name)) and entry.is_file(follow_symlinks=False):
                        found.setdefault(m["key"], []).append(f"{sub}/{entry.name}")
        finally:
            os.close(fd)
    return found


def _holding(
    root_fd: int, name: str, file: str, raw: bytes, accepted: set[str] | frozenset[str]
) -> str | None:
    """The SHA-256 of the folder's ``file`` when it holds exactly ``raw`` or bytes with a digest
    in ``accepted``; else ``None``."""
    fd = open_below(root_fd, [*([name] if name else []), *file.split("/")])
    if fd < 0:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size != len(raw) and not accepted):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
    finally:
        os.close(fd)
    digest = hashlib.sha256(data).hexdigest()
    return digest if data == raw or digest in accepted else None


def _unique_part(file: str) -> str:
    """A Maildir file name's unique part: what comes before its ``:2,flags`` (and ``,S=size``)."""
    return re.split(r"[:,]", file.rpartition("/")[2], maxsplit=1)[0]


def _written_digest(ref: str | None) -> str | None:
    """The digest of the bytes a journal entry says were written (``cur/NAME sha256=…``)."""
    return ref.rpartition(" sha256=")[2] if ref and " sha256=" in ref else None


def _sync_files(fds: list[int]) -> None:
    """Make the written files durable: one syncfs for the batch where Linux offers it."""
    if fds and _syncfs is not None and _syncfs(fds[0]) == 0:
        return
    for fd in fds:
        os.fdatasync(fd)


def _find_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
        return function
    except (OSError, AttributeError):
        return None


_syncfs = _find_syncfs()
