"""``maildir:PATH``: a Maildir++ tree that Dovecot can serve as it is.

INBOX is PATH itself, folder ``A/B`` is ``PATH/.A.B`` (names in modified UTF-7, as
Dovecot keeps them).  Each message is written to ``tmp/``, synced (a batch at a time), given
the message's date as file time and renamed into ``cur/`` under a name derived from its merge key, so a
rerun recognises what is already there even if the journal missed it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from imapclient import imap_utf7

from ..errors import TargetError
from ..model import Flag
from ..private import open_private, private_dir, write_all
from . import Journal, Outgoing, fit, safe_parts

__all__ = ["MaildirTarget"]

_BATCH = 256  # messages made durable together
_BATCH_BYTES = 32 << 20

_LETTERS = {Flag.DRAFT: "D", Flag.FLAGGED: "F", Flag.FORWARDED: "P", Flag.ANSWERED: "R",
            Flag.SEEN: "S", Flag.DELETED: "T"}  # fmt: skip


def _utf7_len(text: str) -> int:
    return len(imap_utf7.encode(text))


def _folder_dir(root: Path, folder: str) -> Path:
    """``PATH/.A.B`` for folder ``A/B``: one directory whose name is at most 255 bytes.

    A ``.`` inside a source's folder name would split it into two levels here, so it is
    cleaned away (and the name tagged, see ``safe_name``); a path too deep to fit one
    directory name is cut short and tagged with a hash of the whole folder path.
    """
    if folder == "INBOX":
        return root
    parts = safe_parts(folder, forbidden=".", measure=_utf7_len)
    if parts[0].upper() == "INBOX" and len(parts) > 1:
        parts = parts[1:]  # INBOX/X is X in Maildir++, as Dovecot lists it
    name = fit(".".join(parts), 254, folder, _utf7_len)
    return root / ("." + imap_utf7.encode(name).decode("ascii"))


class MaildirTarget:
    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().absolute()
        self.description = f"maildir:{self.root}"
        self._ready: dict[Path, bool] = {}  # prepared folder -> whether cur/ held mail then
        self._dirs: dict[str, tuple[Path, str]] = {}  # folder -> its directory, worked out once

    def _dir(self, folder: str) -> tuple[Path, str]:
        """The folder's directory, and its path relative to the root (with a final '/')."""
        found = self._dirs.get(folder)
        if found is None:
            path = _folder_dir(self.root, folder)
            found = self._dirs[folder] = (path, "" if path == self.root else f"{path.name}/")
        return found

    def _prepare(self, folder_dir: Path) -> bool:
        """Create the folder if needed; whether its ``cur/`` held anything when first seen.

        Only then can a message be there already (from a run whose journal was lost):
        in a folder this run found empty, nothing needs looking up per message.
        """
        found = self._ready.get(folder_dir)
        if found is not None:
            return found
        for sub in ("cur", "new", "tmp"):
            private_dir(folder_dir / sub)
        if folder_dir != self.root:
            marker = folder_dir / "maildirfolder"
            if not marker.exists():
                os.close(open_private(marker, os.O_WRONLY))
        with os.scandir(folder_dir / "cur") as entries:
            found = self._ready[folder_dir] = next(entries, None) is not None
        return found

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        written = 0
        try:
            private_dir(self.root)
        except OSError as e:
            raise TargetError(f"cannot create {self.root}: {e.strerror or e}") from e
        batch: list[tuple[Outgoing, tuple[Path, str], str]] = []
        size = 0
        for item in items:
            if journal.state(item.key) == "done":
                progress(1)
                continue
            folder_dir = self._dir(item.folder)
            stamp = int(item.date.timestamp())
            flags = "".join(sorted(_LETTERS[f] for f in item.flags if f in _LETTERS))
            batch.append((item, folder_dir, f"{stamp}.M{item.key}.mailrecover:2,{flags}"))
            size += len(item.raw)
            if len(batch) >= _BATCH or size >= _BATCH_BYTES:
                written += self._write_batch(batch, journal, progress)
                batch, size = [], 0
        return written + self._write_batch(batch, journal, progress)

    def _write_batch(
        self, batch: list[tuple[Outgoing, tuple[Path, str], str]], journal: Journal,
        progress: Callable[[int], None],
    ) -> int:
        """Write a batch to ``tmp/``, make it durable at once, then rename each into ``cur/``.

        One sync pass for the batch instead of one fsync per message before the next is
        written; a message is journalled only once its rename is durable too.
        """
        written = 0
        done: list[tuple[str, str, str]] = []
        staged: list[tuple[Outgoing, str, str, str]] = []  # item, tmp, final, final below the root
        touched: set[str] = set()
        root = str(self.root)
        try:
            fds: list[int] = []
            try:
                for item, (folder_dir, below), name in batch:
                    relative = f"{below}cur/{name}"
                    final = f"{root}/{relative}"
                    try:
                        if self._prepare(folder_dir) and os.path.exists(final):
                            done.append((item.key, "done", relative))  # written before, journal lost
                            continue
                        tmp = f"{root}/{below}tmp/{name}"
                        fds.append(self._write_file(tmp, item))
                    except OSError as e:
                        raise TargetError(f"cannot write into {folder_dir}: {e.strerror or e}") from e
                    staged.append((item, tmp, final, relative))
                _sync_files(fds)
            finally:
                for fd in fds:
                    os.close(fd)
            for item, tmp, final, relative in staged:
                os.rename(tmp, final)
                touched.add(os.path.dirname(final))
                done.append((item.key, "done", relative))
                written += 1
                progress(1)
        finally:
            for directory in touched:
                _sync_dir(directory)
            if done:
                journal.mark_many(done)
            for _item, tmp, _final, _relative in staged[written:]:  # what an interruption left unrenamed
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        return written

    @staticmethod
    def _write_file(tmp: str, item: Outgoing) -> int:
        """Write ``item`` to ``tmp`` with the message's date as file time; the open descriptor."""
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, item.raw, sync=False)  # the batch is synced at once
            stamp = item.date.timestamp()
            os.utime(fd, (stamp, stamp))
        except BaseException:
            os.close(fd)
            raise
        return fd


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


def _sync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
