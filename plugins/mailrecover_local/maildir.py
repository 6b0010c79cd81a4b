"""Maildir and Maildir++ trees: ``cur/``, ``new/`` (and stranded ``tmp/``), flags from ``:2,``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timezone

from imapclient import imap_utf7

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.places import existing_dirs, home, subdirs
from mailrecover.plugin import ReadContext, Store
from mailrecover.readonly import list_names, read_message_file, sorted_names

from .sniff import looks_like_message

__all__ = ["MaildirPlugin", "maildir_flags", "name_stamp"]

_FLAG_LETTERS = {"S": Flag.SEEN, "R": Flag.ANSWERED, "F": Flag.FLAGGED, "D": Flag.DRAFT,
                 "T": Flag.DELETED, "P": Flag.FORWARDED}  # fmt: skip


def maildir_flags(name: str) -> frozenset[Flag]:
    """Flags from a Maildir file name's info part (``:2,FRS``; ``;`` or ``!`` on some systems)."""
    for sep in (":2,", ";2,", "!2,"):
        if sep in name:
            letters = name.rsplit(sep, 1)[1]
            return frozenset(_FLAG_LETTERS[c] for c in letters if c in _FLAG_LETTERS)
    return frozenset()


_STAMP = re.compile(r"(\d{9,10})(?:\.|_\d+\.)")


def name_stamp(name: str) -> datetime | None:
    """The delivery time a Maildir file name starts with (``1340013601.M1P1.host:2,S``).

    Delivery agents name files by it, and it survives copies that reset file times.  A name
    that does not start with a stamp, or whose number is no time (arrival.py judges that),
    gives None.
    """
    m = _STAMP.match(name)
    return datetime.fromtimestamp(int(m.group(1)), timezone.utc) if m else None


#: Where Unix clients keep Maildirs, below the home: delivery and mutt, Evolution 3, KMail
#: (Akonadi's local folders, and KDE 4's), and mutt's mail folders.
_CLIENT_ROOTS = (
    "Maildir", ".local/share/evolution/mail/local", ".local/share/local-mail",
    ".kde/share/apps/kmail/mail", ".kde4/share/apps/kmail/mail", "mail", "Mail", ".mail",
)  # fmt: skip


def _is_maildir(path: str) -> bool:
    """A folder with ``cur/``: copies and archives often drop the empty ``new/`` and ``tmp/``."""
    return os.path.isdir(os.path.join(path, "cur"))


def _decode_name(name: str) -> str:
    try:
        return imap_utf7.decode(name.encode("ascii"))
    except (UnicodeError, ValueError):
        return name


class MaildirPlugin:
    name = "maildir"
    description = "Maildir and Maildir++ folders (Dovecot, Courier, mutt, Evolution 3)"

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isdir(location):
            return 0
        return 90 if _is_maildir(location) else 0

    def discover(self) -> Iterable[Store]:
        for path in existing_dirs(home() / rel for rel in _CLIENT_ROOTS):
            if _is_maildir(str(path)):
                yield Store(self.name, str(path))
            elif path.name.lower() in ("mail", ".mail"):  # mutt's folder of Maildirs
                for sub in subdirs(path):
                    if _is_maildir(sub):
                        yield Store(self.name, sub)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            names = list_names(location)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot list: {e.strerror or e}")
            return
        plus = any(n.startswith(".") and n not in (".", "..") and _is_maildir(os.path.join(location, n))
                   for n in names)  # fmt: skip
        root_is_inbox = plus or os.path.basename(os.path.normpath(location)) == "Maildir"
        base = "INBOX" if root_is_inbox or context.folder == "INBOX" else context.folder
        yield from self._folder(location, base, context)
        for n in names:
            sub = os.path.join(location, n)
            if n in (".", "..", "cur", "new", "tmp") or os.path.islink(sub) or not os.path.isdir(sub):
                continue
            if n.startswith("."):
                parts = [_decode_name(p) for p in n[1:].split(".") if p]
                folder = "/".join(parts) if base == "INBOX" else "/".join([base, *parts])
            else:
                folder = f"{base}/{_decode_name(n)}"
            if n.startswith("."):
                if _is_maildir(sub):
                    yield from self._folder(sub, folder, context)
            else:  # a plain folder inside may hold message files of its own, as indexers' trees do
                yield from self.read(sub, replace(context, folder=folder))

    def _folder(self, path: str, folder: str, context: ReadContext) -> Iterator[Finding]:
        for sub in ("cur", "new", "tmp", ""):
            directory = os.path.join(path, sub) if sub else path
            try:
                names = sorted_names(directory)
            except FileNotFoundError:
                continue
            except OSError as e:
                yield Problem(ProblemKind.UNREADABLE, directory, "", f"cannot list: {e.strerror or e}")
                continue
            for name in names:
                file = os.path.join(directory, name)
                if name.startswith(".") or not os.path.isfile(file):
                    continue
                if not sub and not looks_like_message(file):
                    continue  # beside cur/ only message files (``01:2,S``) are mail, not uidlists and indexes
                try:
                    raw, mtime = read_message_file(file)
                except OSError as e:
                    yield Problem(ProblemKind.UNREADABLE, file, "", f"cannot read: {e.strerror or e}")
                    continue
                context.advance(len(raw))
                if not sub and raw.startswith(b"From "):
                    raw = raw[raw.find(b"\n") + 1 :]  # a loose message file's exporter From_ line
                if not raw.strip():
                    yield Problem(ProblemKind.DAMAGED, file, "", "empty message file")
                    continue
                yield Copy(
                    raw=raw, folder=folder, source=file, position="",
                    flags=maildir_flags(name), internal_date=name_stamp(name), file_time=mtime,
                    partial=(sub == "tmp"),  # a delivery that never finished
                )  # fmt: skip
