"""Single messages saved as ``.eml`` files (CRLF or LF), one message each."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.readonly import read_message_file
from mailrecover.rfc822 import header_fields

__all__ = ["EmlPlugin"]

_FROM_LINE = re.compile(rb"^From [^\n]*\n")


class EmlPlugin:
    name = "eml"
    description = "single messages saved as .eml files"

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isfile(location):
            return 0
        return 80 if location.lower().endswith(".eml") else 0

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            raw, _saved = read_message_file(location)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")
            return
        context.advance(len(raw))
        raw = _FROM_LINE.sub(b"", raw, count=1)  # some exporters keep the mbox From_ line
        if not header_fields(raw):
            yield Problem(ProblemKind.NOT_MAIL, location, "", "no message header found")
            return
        # the file's time is when it was saved, not when the mail arrived: not used
        yield Copy(raw=raw, folder=context.folder, source=location, position="")
