"""``maildir:PATH``: a Maildir++ tree that Dovecot can serve as it is.

INBOX is PATH itself, folder ``A/B`` is ``PATH/.A.B`` (names in modified UTF-7, as
Dovecot keeps them).  Each message is written to ``tmp/``, synced, given the message's
date as file time and renamed into ``cur/`` under a name derived from its merge key, so a
rerun recognises what is already there even if the journal missed it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from imapclient import imap_utf7

from ..errors import TargetError
from ..model import Flag
from ..private import open_private, private_dir, write_all
from . import Journal, Outgoing, fit, safe_parts

__all__ = ["MaildirTarget"]

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
        self._ready: set[Path] = set()

    def _prepare(self, folder_dir: Path) -> None:
        if folder_dir in self._ready:
            return
        for sub in ("cur", "new", "tmp"):
            private_dir(folder_dir / sub)
        if folder_dir != self.root:
            marker = folder_dir / "maildirfolder"
            if not marker.exists():
                os.close(open_private(marker, os.O_WRONLY))
        self._ready.add(folder_dir)

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
        for item in items:
            if journal.state(item.key) == "done":
                progress(1)
                continue
            folder_dir = _folder_dir(self.root, item.folder)
            stamp = int(item.date.timestamp())
            flags = "".join(sorted(_LETTERS[f] for f in item.flags if f in _LETTERS))
            name = f"{stamp}.M{item.key}.mailrecover:2,{flags}"
            final = folder_dir / "cur" / name
            try:
                self._prepare(folder_dir)
                if not final.exists():
                    self._write_file(folder_dir / "tmp" / name, final, item)
                    written += 1
            except OSError as e:
                raise TargetError(f"cannot write into {folder_dir}: {e.strerror or e}") from e
            journal.mark(item.key, "done", str(final.relative_to(self.root)))
            progress(1)
        return written

    @staticmethod
    def _write_file(tmp: Path, final: Path, item: Outgoing) -> None:
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, item.raw)
        finally:
            os.close(fd)
        stamp = item.date.timestamp()
        os.utime(tmp, (stamp, stamp))
        os.rename(tmp, final)
