"""mbox files of every common flavour, read without writing, locking or loading them whole.

How a file is split into messages is the kit's (``mailrecover.pluginkit.split_mbox``): other
plugins read mbox folders too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import CLAIM, ReadContext, Store
from mailrecover.pluginkit import (
    BOM,
    CLIENT_FIELDS,
    Buffer,
    client_flags,
    existing_dirs,
    from_line_date,
    header_fields,
    home,
    local_file,
    mapped,
    mbox_start,
    one_message_name,
    read_head,
    read_mbox,
    remove_fields,
)

__all__ = ["MboxPlugin"]

_SNIFF_BYTES = 64 << 10  # how far detect looks for a first message behind junk

_NOT_MBOX_SUFFIXES = {
    ".msf",
    ".dat",
    ".html",
    ".htm",
    ".js",
    ".json",
    ".ini",
    ".txt",
    ".sqlite",
    ".db",
    ".xml",
    ".eml",
    ".emlx",
    ".pst",
    ".ost",
    ".msg",
    ".dbx",
    ".idx",
    ".lst",
    ".plist",
    ".log",
    ".gz",
    ".lock",
    ".bak",
    ".py",
    ".toc",
    ".summary",
    ".ibex",
    ".cmeta",
    ".mozlz4",
    ".sqlite-wal",
}


def _is_folder_data(fields: list[tuple[str, bytes]]) -> bool:
    """Dovecot/UW-IMAP's first pseudo-message that holds folder state, not mail."""
    return any(name == "x-imap" for name, _ in fields)


class MboxPlugin:
    name = "mbox"
    description = "mbox files (mboxo, mboxrd, mboxcl), LF or CRLF, as written by most clients"

    def detect(self, location: str) -> int:
        if not local_file(location):
            return 0
        base = os.path.basename(location)
        suffix = os.path.splitext(base)[1].lower()
        if one_message_name(base):
            return 0  # one message, even when an export put a From_ line in front of it
        try:
            head = read_head(location, 64)
        except OSError:
            return 0
        if head.startswith(BOM):
            head = head[3:]
        if head.startswith(b"From "):
            return 90
        if suffix in (".mbox", ".mbx", ".mbs"):
            return 60
        if base.startswith(".") or suffix in _NOT_MBOX_SUFFIXES:
            return 0
        if suffix and base not in ("mbox", "Inbox", "INBOX"):
            return 0
        try:  # junk in front of the first From_ line: still an mbox
            mbox_start(read_head(location, _SNIFF_BYTES))
            return 40
        except (OSError, ValueError):
            return 10  # an extensionless file among folders: an mbox folder if anything

    def discover(self) -> Iterable[Store]:
        spool = os.path.join("/var/mail", os.environ.get("USER", ""))
        if os.environ.get("USER") and os.path.isfile(spool):
            yield Store(self.name, spool, os.path.getsize(spool))
        mbox = home() / "mbox"  # mutt's and pine's read mail
        if mbox.is_file() and self.detect(str(mbox)) >= CLAIM:
            yield Store(self.name, str(mbox), mbox.stat().st_size)
        # mutt's folders (~/Mail, ~/mail, ~/.mail) and Evolution 2's local folders
        for root in existing_dirs(home() / rel for rel in ("Mail", "mail", ".mail", ".evolution/mail/local")):
            for path in sorted(root.iterdir()):
                if path.is_file() and not path.is_symlink() and self.detect(str(path)) >= CLAIM:
                    yield Store(self.name, str(path), path.stat().st_size)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        name = os.path.basename(location)
        stem, suffix = os.path.splitext(name)
        folder = stem if suffix.lower() in (".mbox", ".mbx", ".mbs") else name
        folder = f"{context.folder}/{folder}" if context.folder else folder
        try:
            with mapped(location) as data:
                if len(data) < 4096 and not bytes(data).strip():
                    return  # an empty folder
                yield from self._read(location, data, folder, context)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")

    def _read(self, location: str, data: Buffer, folder: str, context: ReadContext) -> Iterator[Finding]:
        try:
            for entry in read_mbox(location, data, context):
                if isinstance(entry, Problem):
                    yield entry
                    continue
                offset, sep, raw, cut_off = entry
                fields = header_fields(raw)
                if _is_folder_data(fields):
                    continue  # server bookkeeping, not mail; nothing is lost
                flags, partial, keywords = client_flags(fields)
                raw = remove_fields(raw, CLIENT_FIELDS)
                yield Copy(
                    raw=raw,
                    folder=folder,
                    source=location,
                    position=str(offset),
                    flags=flags,
                    partial=partial or cut_off,
                    keywords=keywords,
                    internal_date=from_line_date(sep),
                )
        except ValueError as e:
            yield Problem(ProblemKind.NOT_MAIL, location, "", f"not an mbox file: {e}")
