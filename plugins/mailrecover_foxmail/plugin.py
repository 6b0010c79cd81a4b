"""The ``foxmail`` plugin: Foxmail 5/6 ``.box`` mailbox files.

A ``.box`` file is its messages one after another, each behind a separator line of seven
0x10 bytes, six 0x11 bytes, one status byte and a line feed; the message follows as it
arrived (Foxmail adds an ``X-Uidl`` field for POP mail).  Foxmail names the standard boxes
``in``, ``out``, ``sent`` and ``trash``; mail in ``trash.box`` was deleted by the user.
The ``.ind``/``.idx`` index beside a box is not read: its layout is undocumented and no
sample of it has been seen, so flags kept only there are not recovered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import existing_dirs, file_name_text, home, open_readonly, read_head, subdirs

__all__ = ["FoxmailPlugin", "SEPARATOR", "split_box"]

#: What starts every message in a ``.box`` file (then a status byte and a line feed).
SEPARATOR = b"\x10" * 7 + b"\x11" * 6
_SPECIAL = {"in": "INBOX", "out": "Outbox", "sent": "Sent", "trash": "Trash"}


def split_box(stream: BinaryIO, chunk: int = 1 << 18) -> Iterator[tuple[int, bytes]]:
    """(offset of its separator, message bytes) for each message of a ``.box`` stream, and
    first (-1, bytes) for anything before the first separator.  Read forward in chunks, not
    mapped: only the message at hand is held."""
    buf = bytearray()
    base = 0  # file offset of buf[0]
    at = -1  # where the message in buf starts (its separator), -1 before the first
    scan = 0
    eof = False
    while not eof or buf:
        data = stream.read(chunk) if not eof else b""
        eof = eof or not data
        buf.extend(data)
        while True:
            nxt = buf.find(SEPARATOR, scan)
            if nxt < 0 and not eof:
                scan = max(0, len(buf) - len(SEPARATOR) + 1)
                break
            end = len(buf) if nxt < 0 else nxt
            if at >= 0 or end > 0:
                yield (base if at >= 0 else -1), _message(bytes(buf[:end]), at >= 0)
            del buf[:end]
            base += end
            if nxt < 0:
                return
            at, scan = 0, len(SEPARATOR)


def _message(block: bytes, separated: bool) -> bytes:
    """A message without its separator line (separator, status byte, line end)."""
    if not separated:
        return block
    rest = block[len(SEPARATOR) + 1 :]
    return rest[2:] if rest.startswith(b"\r\n") else rest[1:] if rest.startswith(b"\n") else rest


def _folder(location: str, context: ReadContext) -> tuple[str, frozenset[Flag]]:
    stem = file_name_text(os.path.splitext(os.path.basename(location))[0])
    special = _SPECIAL.get(stem.lower())
    if special is not None:
        return special, frozenset({Flag.DELETED}) if special == "Trash" else frozenset()
    return (f"{context.folder}/{stem}" if context.folder else stem), frozenset()


class FoxmailPlugin:
    name = "foxmail"
    description = "Foxmail 5/6 mailbox files (.box), messages behind Foxmail's binary separators"

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isfile(location):
            return 0
        try:
            head = read_head(location, len(SEPARATOR))
        except OSError:
            return 0
        return 95 if head == SEPARATOR else 0  # no other store starts with these control bytes

    def discover(self) -> Iterable[Store]:
        # Foxmail keeps its mail beside the program (Program Files, or a folder on any drive
        # the user chose, often in the home), one folder per account under mail/ or MailBox/
        roots = [os.environ.get(v, "") for v in ("PROGRAMFILES", "PROGRAMFILES(X86)")]
        bases = [home(), *(Path(r) for r in roots if r)]
        found: list[Path] = []
        for base in bases:
            for program in ("Foxmail", "Foxmail 6", "Foxmail 6.5"):
                found += [base / program / sub for sub in ("mail", "MailBox")]
        for root in existing_dirs(found):
            for account in subdirs(root):
                for name in sorted(os.listdir(account)):
                    path = os.path.join(account, name)
                    if name.lower().endswith(".box") and self.detect(path) >= 50:
                        yield Store(
                            self.name,
                            path,
                            os.path.getsize(path),
                            (file_name_text(os.path.basename(account)),),
                        )

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            with os.fdopen(open_readonly(location), "rb") as stream:
                yield from self._read(location, stream, context)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")

    def _read(self, location: str, stream: BinaryIO, context: ReadContext) -> Iterator[Finding]:
        folder, flags = _folder(location, context)
        seen = False
        for offset, raw in split_box(stream):
            context.advance(len(raw))
            if offset < 0:
                yield Problem(
                    ProblemKind.DAMAGED,
                    location,
                    f"0-{len(raw)}",
                    f"the {len(raw)} bytes before the first message separator are not a message; left out",
                )
                continue
            seen = True
            if not raw.strip():
                yield Problem(
                    ProblemKind.DAMAGED, location, str(offset), "a message separator with no message after it"
                )
                continue
            yield Copy(raw=raw, folder=folder, source=location, position=str(offset), flags=flags)
        if not seen and os.fstat(stream.fileno()).st_size:
            yield Problem(ProblemKind.NOT_MAIL, location, "", "no Foxmail message separator in it")
