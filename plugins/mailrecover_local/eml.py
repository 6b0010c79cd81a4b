"""Single messages, one per file: ``.eml`` files, and any file that is one RFC 5322 message
whatever its name (``1``, ``msg.txt``, Maildir-style ``01:2,`` lying outside ``cur/``).

A file without the ``.eml`` name is taken by its content: a header block of fields that mail
carries, then a blank line.  A ``From `` line in front (phone carriers' and web exports)
is the exporter's wrapping; when an ``.eml`` holds several such messages, each is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    SNIFF_BYTES,
    file_score,
    first_line,
    header_fields,
    local_file,
    maildir_flags,
    mbox_entries,
    read_message_file,
    sorted_names,
)

__all__ = ["EmlPlugin"]

_NAMED = 80  # an .eml file


class EmlPlugin:
    name = "eml"
    description = "single messages: .eml files and any file holding one RFC 5322 message"

    def detect(self, location: str) -> int:
        if not local_file(location):
            return 0
        return _NAMED if location.lower().endswith(".eml") else file_score(location)

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if os.path.isdir(location):  # --plugin eml DIR: every message file in it
            yield from self._read_folder(location, context.folder, context)
        else:
            yield from self._read_file(location, context.folder, context)

    def _read_folder(self, directory: str, folder: str, context: ReadContext) -> Iterator[Finding]:
        try:
            names = sorted_names(directory)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, directory, "", f"cannot list: {e.strerror or e}")
            return
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                if not os.path.islink(path):  # a linked folder is not walked, as in gather
                    yield from self._read_folder(path, f"{folder}/{name}" if folder else name, context)
            elif not os.path.isfile(path):
                continue  # a socket or a dangling link holds no mail
            elif self.detect(path):  # forced: a header block followed by From_ lines is one message too
                yield from self._read_file(path, folder, context)
            else:
                yield Problem(
                    ProblemKind.NOT_MAIL, path, "", "not a single message: no header block at its start"
                )

    def _read_file(self, location: str, folder: str, context: ReadContext) -> Iterator[Finding]:
        try:
            raw, _saved = read_message_file(location)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")
            return
        context.advance(len(raw))
        flags = maildir_flags(os.path.basename(location))  # ``01:2,S`` outside a Maildir's cur/
        if raw.startswith(b"From "):
            try:  # a second From_ line is looked for before any message is copied out
                entries = list(mbox_entries(location, raw)) if b"\nFrom " in raw else []
            except ValueError:
                entries = []
            if sum(not isinstance(e, Problem) for e in entries) > 1:  # several messages under one name
                for entry in entries:
                    if isinstance(entry, Problem):
                        yield entry
                        continue
                    offset, _sep, message, cut_off = entry
                    yield Copy(
                        raw=message,
                        folder=folder,
                        source=location,
                        position=str(offset),
                        flags=flags,
                        partial=cut_off,
                    )
                return
            raw = raw[raw.find(b"\n") + 1 :] if b"\n" in raw else b""  # the exporter's From_ line
        if not header_fields(raw):
            skip = first_line(raw[:SNIFF_BYTES])
            if skip and header_fields(raw[skip:]):
                raw = raw[skip:]  # an empty line in front of the header is no part of the message
            else:
                yield Problem(ProblemKind.NOT_MAIL, location, "", "no message header found")
                return
        # the file's time is when it was saved, not when the mail arrived: not used
        yield Copy(raw=raw, folder=folder, source=location, position="", flags=flags)
