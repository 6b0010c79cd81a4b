"""Where restored mail goes: ``maildir:PATH``, ``mbox:PATH``, ``imap://…``/``imaps://…``.

The restore stage hands a target the merged messages of one account as ``Outgoing``
values, together with a ``Journal`` kept in the workspace.  A target writes each message
once: a rerun after a crash finishes the job without duplicates.  It does not take the
journal's word for what is there: each run looks at the target and writes again what is
missing (see ``Verification``).

A target writes what it is handed and never reads the workspace itself: the restore
stage runs the ownership check right before it and hands over only messages that passed
(``restore.outgoing``), so no target, IMAP included, can pick up quarantined mail.  Names
from sources become file or folder names only through ``safe_name``/``safe_parts``.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import TargetError, UsageError
from ..model import Flag, JournalState
from ..passwords import without_password

if TYPE_CHECKING:
    from ..imapconn import ConnectionSettings

__all__ = [
    "Journal",
    "Outgoing",
    "Target",
    "Verification",
    "fit",
    "link_error",
    "open_below",
    "open_target",
    "safe_name",
    "safe_parts",
    "utf7",
    "utf7_len",
]


@dataclass(frozen=True)
class Outgoing:
    """One merged message as a target should store it."""

    key: str  # stable identity of the merged message; the journal's key
    folder: str  # '/'-separated; 'INBOX' is the inbox
    flags: frozenset[Flag]
    date: datetime  # aware; the arrival time (file time, INTERNALDATE)
    raw: bytes
    message_id: str | None = None
    # SHA-256 of other bytes that are this message on a target: its canonical copy, when that
    # was damaged in the workspace after it was restored (``raw`` is then another copy)
    also: frozenset[str] = frozenset()
    # Other folders the message is in too (its copies' folders, Gmail labels): a target that
    # keeps one message in several folders (Gmail) files it there as well; others ignore them.
    labels: tuple[str, ...] = ()
    # SHA-256 of ``raw`` when the workspace checked it on reading (its blob's name): a target
    # that records what it wrote need not hash the bytes again; empty when not known
    digest: str = ""


@dataclass
class Verification:
    """What a target was found to hold of its plan, the last time it was looked at.

    Every restore looks, whatever the journal says (a file deleted since, a message a user
    expunged): what is missing is written again and counted as ``repaired``.
    """

    planned: int = 0  # messages the plan puts on the target
    present: int = 0  # found there (after a restore: including what it wrote)
    missing: int = 0  # not there, and not put back
    repaired: int = 0  # journalled as written, found missing or different, written again


class Journal(Protocol):
    """Per target, what has been written; kept in the workspace."""

    def state(self, key: str) -> JournalState | None:
        """``None`` (never tried), ``PENDING`` (tried, outcome unknown) or ``DONE``."""
        ...

    def mark(self, key: str, state: JournalState, ref: str = "") -> None:
        """Record a state durably before returning."""
        ...

    def ref(self, key: str) -> str | None:
        """What the target recorded with the state (a file name, a UID), if anything."""
        ...

    def mark_many(self, entries: Iterable[tuple[str, JournalState, str]]) -> None:
        """Record several (key, state, ref) at once: all or none."""
        ...


class Target(Protocol):
    description: str
    problems: list[str]  # one line per thing not restored (a folder the server refused); the run goes on
    # ``verification``: the targets here also say what their last ``write`` found
    # (``Verification``), and check without writing through ``verify(items, journal)``.

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        """Write every item not yet done; returns how many were written now."""
        ...


_RESERVED = {
    "con",
    "prn",
    "aux",
    "nul",
    "conin$",
    "conout$",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}
_ESCAPED = re.compile(r"~[0-9a-f]{8}$")


_SHIFTED = re.compile(r"[^\x20-\x7e]+")  # what modified UTF-7 writes in base64: all but printable ASCII


def _shifted(run: re.Match[str]) -> str:
    return (
        "&" + base64.b64encode(run[0].encode("utf-16be")).decode("ascii").rstrip("=").replace("/", ",") + "-"
    )


def utf7(text: str) -> str:
    """A name in IMAP's modified UTF-7 (RFC 3501 5.1.3), as IMAP servers and Dovecot's Maildir++
    name folders: the same as imapclient's ``imap_utf7.encode``, without importing imapclient
    (its ssl and imaplib cost every restore 0.05 CPU s of start-up)."""
    return _SHIFTED.sub(_shifted, text.replace("&", "&-"))


def utf7_len(text: str) -> int:
    """A name's length as IMAP servers and Dovecot's Maildir++ store it (modified UTF-7)."""
    return len(utf7(text))


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _tag(original: str) -> str:
    return "~" + hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _tagged(name: str, limit: int, tag: str, measure: Callable[[str], int]) -> str:
    while name and measure(name + tag) > limit:
        name = name[:-1]
    return name + tag


def fit(name: str, limit: int, original: str, measure: Callable[[str], int] = _utf8_len) -> str:
    """``name`` if it measures at most ``limit``, else cut short and tagged with a hash of ``original``."""
    return name if measure(name) <= limit else _tagged(name, limit, _tag(original), measure)


def safe_name(
    name: str,
    *,
    forbidden: str = "",
    suffixes: tuple[str, ...] = (),
    limit: int = 200,
    measure: Callable[[str], int] = _utf8_len,
) -> str:
    """One name from a source (folder, attachment) as a file name that stays where it is put.

    Control characters and NUL go; ``/``, ``\\``, lone surrogates and the target's own
    ``forbidden`` separators (Maildir++'s ``.``) become ``_``; leading dots (``..``,
    hidden files), a leading ``~`` (a home folder to Dovecot and shells) and names Windows
    reserves (``CON``, ``nul.txt``) are defused; names
    ending in one of ``suffixes`` (mbox's ``.sbd`` folders) are set apart.  A name that had
    to change gets ``~`` and a hash of the original, so two names never become one after
    cleaning; a clean name that happens to end like such a tag is tagged as well.  The
    result measures at most ``limit`` (UTF-8 bytes unless ``measure`` says otherwise).
    """
    cleaned = []
    for ch in name:
        if ch < " " or "\x7f" <= ch < "\xa0":
            continue
        if ch in "/\\" or ch in forbidden or "\ud800" <= ch <= "\udfff":
            ch = "_"
        cleaned.append(ch)
    text = "".join(cleaned).strip().rstrip(". ")
    if text.startswith((".", "~")):
        text = "_" + text[1:]
    if not text:
        text = "_"
    if text.split(".")[0].strip().lower() in _RESERVED:
        text = "_" + text
    if any(text.lower().endswith(s) for s in suffixes):
        text = text + "_"
    if text != name or _ESCAPED.search(text):
        return _tagged(text, limit, _tag(name), measure)
    return fit(text, limit, name, measure)


def safe_parts(folder: str, **rules: Any) -> list[str]:
    """A '/'-separated folder path as safe names (see ``safe_name``); ``["INBOX"]`` if empty.

    The one place where folder paths meet a target: NFC composition (a Mac's decomposed
    ``café`` is the same folder) and ``Inbox``/``inbox`` as ``INBOX`` are the only merges;
    every other change to a name is tagged by ``safe_name``, so it stays apart.
    """
    parts = [p for p in unicodedata.normalize("NFC", folder).split("/") if p]
    if parts and parts[0].casefold() == "inbox":
        parts[0] = "INBOX"
    return [safe_name(p, **rules) for p in parts] or ["INBOX"]


def link_error(dir_fd: int, name: str, shown: str, e: OSError) -> TargetError:
    """The error for ``name`` in ``dir_fd`` that could not be made or opened, shown as ``shown``.

    A symbolic link is named with where it points: restore never writes through one.
    """
    try:
        points = os.readlink(name, dir_fd=dir_fd)
    except OSError:
        points = None
    if points is not None:
        return TargetError(
            f"{shown} is a symbolic link (to {points}); restore never writes through links in a "
            "target: remove the link or choose another target"
        )
    if e.errno == errno.ENOTDIR:
        return TargetError(f"{shown} is in the way: it is a file where the target needs a folder")
    return TargetError(f"cannot write {shown}: {e.strerror or e}")


#: Opening below a target's root for reading: a symbolic link is never followed.
READ_BELOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_below(root_fd: int, parts: list[str], flags: int = READ_BELOW) -> int:
    """``root/parts…`` opened for a look, without following a link anywhere below the root and
    without creating anything; -1 when it is not there (or not reachable that way)."""
    if root_fd < 0:
        return -1
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            following = os.open(part, flags if last else READ_BELOW | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = following
    except OSError:
        os.close(fd)
        return -1
    return fd


def open_target(
    spec: str,
    *,
    password: Callable[[str], str] | None = None,
    connection: ConnectionSettings | None = None,
    connections: int | None = None,
    max_rate: int | None = None,
) -> Target:
    """The target named by ``spec`` (``maildir:PATH``, ``mbox:PATH``, ``imap[s]://…``).

    ``password`` is asked only by targets that log in, and only when they first connect;
    ``connection`` says how careful that connection is (None: from the environment);
    ``connections`` caps an IMAP target's upload connections (None: its default), ``max_rate``
    its bytes per second over all of them.
    """
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise UsageError(
            f"target {without_password(spec)!r}: expected maildir:PATH, mbox:PATH or imap[s]://…"
        )
    scheme = scheme.lower()
    if max_rate and scheme not in ("imap", "imaps"):
        raise UsageError("--max-rate: only an IMAP target uploads; a local target is written at disk speed")
    if scheme == "maildir":
        from .maildir import MaildirTarget

        return MaildirTarget(rest)
    if scheme == "mbox":
        from .mbox import MboxTarget

        return MboxTarget(rest)
    if scheme in ("imap", "imaps"):
        try:
            from .imap import open_imap_target
        except ImportError:
            raise UsageError("IMAP targets are not available in this build") from None
        return open_imap_target(
            spec, password=password, settings=connection, connections=connections, max_rate=max_rate
        )
    raise UsageError(
        f"target {without_password(spec)!r}: unknown kind {scheme!r}; use maildir:, mbox: or imap[s]://"
    )
