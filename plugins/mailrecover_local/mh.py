"""MH folders (nmh, Claws Mail, Sylpheed): numbered files, ``.mh_sequences``, and the
``.claws_mark`` / ``.sylpheed_mark`` files where Claws Mail and Sylpheed keep their flags."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import CLAIM, ReadContext, Store
from mailrecover.pluginkit import (
    existing_dirs,
    home,
    list_names,
    local_dir,
    read_head,
    read_message_file,
    sorted_names,
    subdirs,
)

__all__ = ["MHPlugin", "parse_marks", "parse_sequences"]

_MARK_FILES = (".claws_mark", ".sylpheed_mark")
#: Claws Mail / Sylpheed permanent flags (procmsg.h); NEW and UNREAD both mean not seen.
_MARK_UNSEEN = 0x1 | 0x2
_MARK_FLAGS = ((0x4, Flag.FLAGGED), (0x8, Flag.DELETED), (0x10, Flag.ANSWERED), (0x20, Flag.FORWARDED))

_SEQUENCE_FLAGS = {
    "flagged": Flag.FLAGGED,
    "replied": Flag.ANSWERED,
    "answered": Flag.ANSWERED,
    "forwarded": Flag.FORWARDED,
    "draft": Flag.DRAFT,
}


def parse_sequences(text: str) -> dict[str, set[int]]:
    """``name: 1-3 7`` lines of an ``.mh_sequences`` file; bad parts are left out."""
    seqs: dict[str, set[int]] = {}
    for line in text.splitlines():
        name, sep, spec = line.partition(":")
        if not sep:
            continue
        numbers: set[int] = set()
        for item in spec.split():
            lo, dash, hi = item.partition("-")
            try:
                numbers.update(range(int(lo), int(hi) + 1) if dash else (int(lo),))
            except ValueError:
                continue
        seqs[name.strip().lower()] = numbers
    return seqs


def parse_marks(data: bytes) -> dict[int, frozenset[Flag]]:
    """Flags by message number from a ``.claws_mark`` file: a u32 version, then (number,
    flags) u32 pairs in the writing machine's byte order (told by the small version)."""
    if len(data) < 4:
        return {}
    order: Literal["little", "big"] = "little" if int.from_bytes(data[:4], "little") < 0x10000 else "big"
    marks: dict[int, frozenset[Flag]] = {}
    for at in range(4, len(data) - 7, 8):
        number = int.from_bytes(data[at : at + 4], order)
        bits = int.from_bytes(data[at + 4 : at + 8], order)
        flags = {flag for bit, flag in _MARK_FLAGS if bits & bit}
        if not bits & _MARK_UNSEEN:
            flags.add(Flag.SEEN)
        marks[number] = frozenset(flags)
    return marks


def _listed_mailboxes() -> list[Path]:
    """The MH mailboxes named in Claws Mail's and Sylpheed's ``folderlist.xml``."""
    found: list[Path] = []
    for config in (".claws-mail", ".sylpheed-2.0", ".sylpheed"):
        listing = home() / config / "folderlist.xml"
        try:
            root = ElementTree.fromstring(read_head(str(listing), 1 << 22))
        except (OSError, ElementTree.ParseError):
            continue
        for folder in root.iter("folder"):
            path = folder.get("path")
            if folder.get("type") == "mh" and path:
                found.append(Path(path) if os.path.isabs(path) else home() / path)
    return found


def _numbered(path: str) -> list[int]:
    try:
        return sorted(int(n) for n in list_names(path) if n.isdigit())
    except OSError:
        return []


class MHPlugin:
    name = "mh"
    description = "MH folders of numbered message files with .mh_sequences"

    def detect(self, location: str) -> int:
        if not local_dir(location):
            return 0
        if any(os.path.isfile(os.path.join(location, n)) for n in (".mh_sequences", *_MARK_FILES)):
            return 85
        numbers = _numbered(location)
        if not numbers or os.path.isdir(os.path.join(location, "cur")):
            return 0
        try:  # a numbered mbox file (Thunderbird's Archives.sbd/2012) is not an MH message
            head = read_head(os.path.join(location, str(numbers[0])), 5)
        except OSError:
            return 0
        return 0 if head == b"From " else 60

    def discover(self) -> Iterable[Store]:
        # nmh's ~/Mail, and the mailboxes Claws Mail and Sylpheed list in folderlist.xml
        # (~/Mail by default): each folder in them holding MH messages
        roots = [home() / "Mail", *_listed_mailboxes()]
        for root in existing_dirs(roots):
            for sub in subdirs(root):
                if self.detect(sub) >= CLAIM:
                    yield Store(self.name, sub)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if not os.path.isdir(location):
            yield Problem(ProblemKind.NOT_MAIL, location, "", "not an MH folder: not a directory")
            return
        seqs: dict[str, set[int]] = {}
        seq_file = os.path.join(location, ".mh_sequences")
        if os.path.isfile(seq_file):
            try:
                seqs = parse_sequences(read_head(seq_file, 1 << 22).decode("utf-8", "replace"))
            except OSError as e:
                yield Problem(ProblemKind.DAMAGED, seq_file, "", f"flags lost: {e.strerror or e}")
        unseen = seqs.get("unseen", set())
        marks: dict[int, frozenset[Flag]] | None = None
        for name in _MARK_FILES:
            mark_file = os.path.join(location, name)
            if os.path.isfile(mark_file):
                try:
                    marks = parse_marks(read_head(mark_file, 1 << 26))
                except OSError as e:
                    yield Problem(ProblemKind.DAMAGED, mark_file, "", f"flags lost: {e.strerror or e}")
                break
        for number in _numbered(location):
            file = os.path.join(location, str(number))
            if not os.path.isfile(file):
                continue
            try:
                raw, mtime = read_message_file(file)
            except OSError as e:
                yield Problem(ProblemKind.UNREADABLE, file, "", f"cannot read: {e.strerror or e}")
                continue
            context.advance(len(raw))
            flags = {flag for name, flag in _SEQUENCE_FLAGS.items() if number in seqs.get(name, ())}
            if marks is not None:  # the client's own record; a number it has not marked is new
                flags |= marks.get(number, frozenset())
            elif number not in unseen:
                flags.add(Flag.SEEN)
            yield Copy(
                raw=raw,
                folder=context.folder,
                source=file,
                position="",
                flags=frozenset(flags),
                file_time=mtime,
            )
        try:
            names = sorted_names(location)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot list: {e.strerror or e}")
            return
        for name in names:
            sub = os.path.join(location, name)
            if not name.startswith(".") and not os.path.islink(sub) and os.path.isdir(sub):
                if self.detect(sub):
                    yield from self.read(sub, replace(context, folder=f"{context.folder}/{name}"))
