"""MH folders (nmh, Claws Mail, Sylpheed): numbered files and ``.mh_sequences``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.readonly import list_names, read_head, read_message_file, sorted_names

__all__ = ["MHPlugin", "parse_sequences"]

_SEQUENCE_FLAGS = {"flagged": Flag.FLAGGED, "replied": Flag.ANSWERED, "answered": Flag.ANSWERED,
                   "forwarded": Flag.FORWARDED, "draft": Flag.DRAFT}  # fmt: skip


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


def _numbered(path: str) -> list[int]:
    try:
        return sorted(int(n) for n in list_names(path) if n.isdigit())
    except OSError:
        return []


class MHPlugin:
    name = "mh"
    description = "MH folders of numbered message files with .mh_sequences"

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isdir(location):
            return 0
        if os.path.isfile(os.path.join(location, ".mh_sequences")):
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
        path = os.path.expanduser("~/Mail")
        if os.path.isdir(path) and self.detect(os.path.join(path, "inbox")):
            yield Store(self.name, os.path.join(path, "inbox"))

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
            if number not in unseen:
                flags.add(Flag.SEEN)
            yield Copy(raw=raw, folder=context.folder, source=file, position="",
                       flags=frozenset(flags), file_time=mtime)  # fmt: skip
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
