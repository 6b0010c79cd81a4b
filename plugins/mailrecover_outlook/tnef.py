"""Bare TNEF files: a ``winmail.dat`` (or ``.tnef``/``.dat``) saved out of a message.

Users who could not open an Outlook attachment saved the ``winmail.dat`` itself; the mail
it came in may be gone.  The file becomes the message it was part of (the fields the
stream names, the stream as its one part, marked reconstructed); the core then unpacks it
beside that copy, as it does for a TNEF part inside any gathered message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    TNEF_SIGNATURE,
    current_limits,
    documents,
    existing_dirs,
    file_head,
    file_name_text,
    home,
    open_source,
    wrap_tnef,
)

__all__ = ["TnefPlugin"]


class TnefPlugin:
    name = "tnef"
    description = "Outlook TNEF files saved on their own (winmail.dat, .tnef), unpacked into plain MIME"

    def detect(self, location: str) -> int:
        head = file_head(location, 4)
        return 90 if head == TNEF_SIGNATURE else 0  # the signature says it whatever the name

    def discover(self) -> Iterable[Store]:
        # saved where browsers and mail clients save attachments, on every system alike
        for root in existing_dirs([home() / "Downloads", home() / "Desktop", *documents()]):
            for path in sorted(root.iterdir()):
                if path.name.lower().startswith("winmail") and self.detect(str(path)) >= 50:
                    yield Store(self.name, str(path), path.stat().st_size)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        handle = open_source(location)
        if isinstance(handle, Problem):
            yield handle
            return
        limit = current_limits().max_message_bytes
        with handle:
            size = os.fstat(handle.fileno()).st_size  # read(limit) would reserve the whole limit
            if size > limit:
                yield Problem(
                    ProblemKind.LIMIT,
                    location,
                    "",
                    f"larger than the {limit:,}-byte message limit (MAILRECOVER_MAX_MESSAGE_BYTES); not read",
                )
                return
            data = handle.read(size + 1)
        context.advance(len(data))
        try:
            raw = wrap_tnef(data, file_name_text(os.path.basename(location)))
        except ValueError as e:
            yield Problem(ProblemKind.NOT_MAIL, location, "", f"not a TNEF file: {e}")
            return
        yield Copy(raw=raw, folder=context.folder, source=location, position="", reconstructed=True)
