"""Reading Maildir and Maildir++ trees: ``cur/``, ``new/`` (and stranded ``tmp/``), flags from ``:2,``.

Part of the plugin kit (``mailrecover.pluginkit``): the maildir plugin and clients that keep a
maildir store (Thunderbird) read through it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

from imapclient import imap_utf7

from .model import Copy, Finding, Flag, Problem, ProblemKind
from .plugin import ReadContext
from .readonly import list_names, read_message_file, sorted_names
from .sniff import looks_like_message

__all__ = ["is_maildir", "maildir_flags", "name_stamp", "read_maildir"]

_FLAG_LETTERS = {
    "S": Flag.SEEN,
    "R": Flag.ANSWERED,
    "F": Flag.FLAGGED,
    "D": Flag.DRAFT,
    "T": Flag.DELETED,
    "P": Flag.FORWARDED,
}


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
    return datetime.fromtimestamp(int(m.group(1)), UTC) if m else None


def is_maildir(path: str) -> bool:
    """A folder with ``cur/``: copies and archives often drop the empty ``new/`` and ``tmp/``."""
    return os.path.isdir(os.path.join(path, "cur"))


def _decode_name(name: str) -> str:
    try:
        return imap_utf7.decode(name.encode("ascii"))
    except (UnicodeError, ValueError):
        return name


def read_maildir(location: str, context: ReadContext) -> Iterator[Finding]:
    """Every message of a Maildir or Maildir++ tree (and of plain folders inside it) as a copy:
    ``cur/``, ``new/``, unfinished ``tmp/`` deliveries (partial), message files beside them."""
    try:
        names = list_names(location)
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot list: {e.strerror or e}")
        return
    plus = any(
        n.startswith(".") and n not in (".", "..") and is_maildir(os.path.join(location, n)) for n in names
    )
    root_is_inbox = plus or os.path.basename(os.path.normpath(location)) == "Maildir"
    base = "INBOX" if root_is_inbox or context.folder == "INBOX" else context.folder
    yield from _folder(location, base, context)
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
            if is_maildir(sub):
                yield from _folder(sub, folder, context)
        else:  # a plain folder inside may hold message files of its own, as indexers' trees do
            yield from read_maildir(sub, replace(context, folder=folder))


def _folder(path: str, folder: str, context: ReadContext) -> Iterator[Finding]:
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
                raw=raw,
                folder=folder,
                source=file,
                position="",
                flags=maildir_flags(name),
                internal_date=name_stamp(name),
                file_time=mtime,
                partial=(sub == "tmp"),  # a delivery that never finished
            )
