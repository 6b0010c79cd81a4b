"""``mbox:PATH``: one mboxrd file per folder, laid out as mail clients import them.

INBOX is ``PATH/INBOX``, folder ``A/B`` is ``PATH/A.sbd/B``.  Lines that start with
``From `` after any number of ``>`` get one more ``>``, so the quoting can be undone
exactly.  The journal remembers where each file's last whole message ends; a rerun
after a crash cuts off a half-written message before it appends again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from datetime import timezone
from pathlib import Path

from ..errors import TargetError
from ..model import Flag
from ..private import open_private, private_dir, write_all
from . import Journal, Outgoing, safe_parts

__all__ = ["MboxTarget", "mboxrd_quote"]

_FROM = re.compile(rb"^(>*From )", re.M)


def mboxrd_quote(raw: bytes) -> bytes:
    """The message with every ``>*From `` line quoted once more, ending in a newline."""
    body = _FROM.sub(rb">\1", raw)
    return body if body.endswith(b"\n") else body + b"\n"


def _status(flags: frozenset[Flag]) -> bytes:
    """Status/X-Status fields, the state mbox readers (mutt, Dovecot, Thunderbird) understand."""
    status = "RO" if Flag.SEEN in flags else "O"
    x = "".join(c for f, c in ((Flag.ANSWERED, "A"), (Flag.FLAGGED, "F"), (Flag.DELETED, "D"),
                               (Flag.DRAFT, "T")) if f in flags)  # fmt: skip
    out = f"Status: {status}\n"
    if x:
        out += f"X-Status: {x}\n"
    return out.encode("ascii")


class MboxTarget:
    def __init__(self, path: str) -> None:
        self.root = Path(path).expanduser().absolute()
        self.description = f"mbox:{self.root}"

    def _file(self, folder: str) -> Path:
        parts = safe_parts(folder, suffixes=(".sbd", ".msf"))  # a folder may not pose as a subfolder tree
        return self.root.joinpath(*(p + ".sbd" for p in parts[:-1]), parts[-1])

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        written = 0
        checked: set[Path] = set()
        for item in items:
            if journal.state(item.key) == "done":
                progress(1)
                continue
            file = self._file(item.folder)
            rel = str(file.relative_to(self.root))
            try:
                private_dir(file.parent)
                fd = open_private(file, os.O_RDWR)
                try:
                    size = os.fstat(fd).st_size
                    end_key = f"file:{rel}"
                    if file not in checked:
                        known = journal.ref(end_key)
                        if known is None:
                            journal.mark(end_key, "end", str(size))  # what was there before us
                        elif int(known) < size:
                            os.ftruncate(fd, int(known))  # our half-written message from a crash
                            size = int(known)
                        checked.add(file)
                    data = self._entry(item)
                    os.lseek(fd, size, os.SEEK_SET)
                    write_all(fd, data)
                finally:
                    os.close(fd)
            except OSError as e:
                raise TargetError(f"cannot write {file}: {e.strerror or e}") from e
            new_end = size + len(data)
            journal.mark_many([(item.key, "done", f"{rel}:{size}"), (end_key, "end", str(new_end))])
            written += 1
            progress(1)
        return written

    @staticmethod
    def _entry(item: Outgoing) -> bytes:
        when = item.date.astimezone(timezone.utc).strftime("%a %b %d %H:%M:%S %Y")
        raw = item.raw.replace(b"\r\n", b"\n")
        return b"From mailrecover " + when.encode() + b"\n" + _status(item.flags) + mboxrd_quote(raw) + b"\n"
