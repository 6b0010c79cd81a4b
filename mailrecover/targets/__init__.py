"""Where restored mail goes: ``maildir:PATH``, ``mbox:PATH``, ``imap://…``/``imaps://…``.

The restore stage hands a target the merged messages of one account as ``Outgoing``
values, together with a ``Journal`` kept in the workspace.  A target writes each message
once: whatever it has journalled as done it skips, so a rerun after a crash finishes the
job without duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..errors import UsageError
from ..model import Flag

__all__ = ["Journal", "Outgoing", "Target", "open_target", "safe_parts"]


@dataclass(frozen=True)
class Outgoing:
    """One merged message as a target should store it."""

    key: str  # stable identity of the merged message; the journal's key
    folder: str  # '/'-separated; 'INBOX' is the inbox
    flags: frozenset[Flag]
    date: datetime  # aware; the arrival time (file time, INTERNALDATE)
    raw: bytes
    message_id: str | None = None


class Journal(Protocol):
    """Per target, what has been written; kept in the workspace."""

    def state(self, key: str) -> str | None:
        """``None`` (never tried), ``"pending"`` (tried, outcome unknown) or ``"done"``."""
        ...

    def mark(self, key: str, state: str, ref: str = "") -> None:
        """Record a state durably before returning."""
        ...

    def ref(self, key: str) -> str | None:
        """What the target recorded with the state (a file name, a UID), if anything."""
        ...

    def mark_many(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Record several (key, state, ref) at once: all or none."""
        ...


class Target(Protocol):
    description: str

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        """Write every item not yet done; returns how many were written now."""
        ...


_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_parts(folder: str) -> list[str]:
    """A folder path as names that are safe as file names: no way out of the target.

    Names come from sources (PST folders, IMAP servers) and may be hostile: control
    characters and NUL are dropped, ``.``/``..`` and leading dots go, each part is at
    most 200 bytes, and names Windows reserves get a leading ``_``.
    """
    parts = []
    for part in folder.replace("\\", "/").split("/"):
        part = "".join(ch for ch in part if ch >= " " and ch != "\x7f").strip().lstrip(".")
        while len(part.encode("utf-8")) > 200:
            part = part[:-1]
        if not part:
            continue
        if part.split(".")[0].lower() in _RESERVED:
            part = "_" + part
        parts.append(part)
    return parts or ["INBOX"]


def open_target(spec: str) -> Target:
    """The target named by ``spec`` (``maildir:PATH``, ``mbox:PATH``, ``imap[s]://…``)."""
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise UsageError(f"target {spec!r}: expected maildir:PATH, mbox:PATH or imap[s]://…")
    scheme = scheme.lower()
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
        return open_imap_target(spec)
    raise UsageError(f"target {spec!r}: unknown kind {scheme!r}; use maildir:, mbox: or imap[s]://")
