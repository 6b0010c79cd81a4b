"""Grouping of copies into messages, and the canonical copy.

Two copies are one message when their Message-ID agrees and their content fingerprint
(``fingerprint.summarize``, stored at gather time) agrees; without a Message-ID the content
alone decides.  A partial or reconstructed copy (cut short, or rebuilt by a client export)
cannot match byte for byte, so it joins the message whose Message-ID and header content
(sender, date, subject) it shares.
"""

from __future__ import annotations

import itertools
import operator
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .arrival import best_arrival
from .fingerprint import digest
from .model import Flag
from .workspace import store
from .workspace.store import flags_text  # the stored form of flags; named here as before

__all__ = ["copy_rank", "flags_text", "merge_account", "ranked_copies"]


def copy_rank(
    reconstructed: bool, partial: bool, received: int, size: int, copy_id: int, wrapped: bool = False
) -> tuple[int, ...]:
    """How good a canonical copy this is, higher is better: the original MIME over a
    client's reconstruction, and either over a copy whose content only Outlook can open
    (TNEF, which its unpacked rebuild beats), whole over cut off, with more transport
    headers (nearer the original delivery), larger, then gathered first.  The merge and
    the ownership check (which chooses among the account's own copies) both rank by this."""
    return (not (reconstructed or wrapped), not wrapped, not partial, min(received, 50), size, -copy_id)


@dataclass
class _Copy:
    id: int
    message_id: str | None
    head_fp: str
    content_fp: str
    folder: str
    flags: frozenset[Flag]
    partial: bool
    reconstructed: bool
    received: int
    size: int
    date: str | None
    internal_date: str | None
    arrival: str | None = None
    arrival_source: str | None = None
    wrapped: bool = False

    @property
    def lenient(self) -> bool:
        return self.partial or self.reconstructed

    def rank(self) -> tuple[int, ...]:
        return copy_rank(self.reconstructed, self.partial, self.received, self.size, self.id, self.wrapped)


def _row(r: Sequence[object]) -> _Copy:
    return _Copy(
        id=int(r[0]),  # type: ignore[call-overload]
        message_id=r[1],  # type: ignore[arg-type]
        head_fp=str(r[2]),
        content_fp=str(r[3]),
        folder=str(r[4]),
        flags=store.flag_set(str(r[5])),
        partial=bool(r[6]),
        reconstructed=bool(r[7]),
        received=int(r[8]),  # type: ignore[call-overload]
        size=int(r[9]),  # type: ignore[call-overload]
        date=r[10],  # type: ignore[arg-type]
        internal_date=r[11],  # type: ignore[arg-type]
        arrival=r[12],  # type: ignore[arg-type]
        arrival_source=r[13],  # type: ignore[arg-type]
        wrapped=bool(r[14]),
    )


def _cluster(copies: list[_Copy]) -> list[list[_Copy]]:
    """Split copies of one Message-ID (or of no Message-ID) into distinct messages."""
    clusters: dict[str, list[_Copy]] = {}
    for c in copies:
        if not c.lenient:
            clusters.setdefault(c.content_fp, []).append(c)
    groups = list(clusters.values())
    for c in copies:
        if not c.lenient:
            continue
        home = next((g for g in groups if any(o.head_fp == c.head_fp for o in g)), None)
        if home is None and c.message_id is not None and len(groups) == 1:
            home = groups[0]  # one mail under this Message-ID: a damaged copy of it
        if home is None:
            home = []
            groups.append(home)
        home.append(c)
    groups.sort(key=lambda g: min(c.id for c in g))
    return groups


def _folder(group: list[_Copy], best: _Copy) -> str:
    """Where the user last put it: a folder other than INBOX wins (the user filed it)."""
    live = [c for c in group if Flag.DELETED not in c.flags] or group
    if best in live and best.folder != "INBOX":
        return best.folder
    filed = sorted((c for c in live if c.folder != "INBOX"), key=lambda c: c.id)
    return filed[0].folder if filed else (best.folder if best in live else live[0].folder)


def _flags(group: list[_Copy]) -> frozenset[Flag]:
    merged = frozenset[Flag]().union(*(c.flags for c in group)) - {Flag.DELETED}
    return merged | {Flag.DELETED} if all(Flag.DELETED in c.flags for c in group) else merged


def _arrival(group: list[_Copy]) -> tuple[str | None, str]:
    """The message's date and its source: the best evidence among all its copies (arrival.py)."""
    return best_arrival((c.arrival, c.arrival_source) for c in group)


def _store(
    db: sqlite3.Connection, account: str, groups: Iterable[tuple[str, list[_Copy]]], batch: int = 1000
) -> int:
    """Keep each group as a message; ``batch`` links of copies to messages are written at once
    (1 where the groups are still being looked up in the table while they are stored)."""
    n = 0
    links: list[tuple[int, int]] = []  # (message, copy)
    for key, group in groups:
        best = max(group, key=_Copy.rank)
        message = store.save_message(
            db,
            account,
            key,
            best.id,
            _folder(group, best),
            flags_text(_flags(group)),
            *_arrival(group),
            best.message_id or next((c.message_id for c in group if c.message_id), None),
            len(group),
        )
        links.extend((message, c.id) for c in group)
        if len(links) >= batch:
            _link(db, links)
        n += 1
    _link(db, links)
    return n


def _link(db: sqlite3.Connection, links: list[tuple[int, int]]) -> None:
    store.link_copies(db, links)
    links.clear()


def _groups(db: sqlite3.Connection, account: str, selection: str, by: str) -> Iterator[list[_Copy]]:
    """Copies of ``account`` of one ``selection`` (``store.copies_for_merge``), streamed in runs of equal ``by``."""
    rows = store.copies_for_merge(db, account, selection)
    for _, run in itertools.groupby(map(_row, rows), key=operator.attrgetter(by)):
        yield list(run)


def _with_message_id(db: sqlite3.Connection, account: str) -> Iterator[tuple[str, list[_Copy]]]:
    for copies in _groups(db, account, "message_id", "message_id"):
        yield from _keyed(db, account, copies)


def _keyed(db: sqlite3.Connection, account: str, copies: list[_Copy]) -> Iterator[tuple[str, list[_Copy]]]:
    groups = _cluster(copies)
    mid = copies[0].message_id
    if len(groups) > 1:
        store.save_conflict(db, account, mid, len(groups))
    for i, g in enumerate(groups):
        # the group holding the first-gathered copy keeps the plain key, so a later
        # gather that brings a second mail under the same Message-ID renames nothing
        fp = "" if i == 0 else min(g, key=lambda c: c.id).content_fp
        yield digest("message", account, mid or "", fp)[:32], g


def _without_message_id(db: sqlite3.Connection, account: str) -> Iterator[tuple[str, list[_Copy]]]:
    for copies in _groups(db, account, "whole_without_message_id", "content_fp"):
        yield from _join_or_new(db, account, copies)
    for copies in _groups(db, account, "damaged_without_message_id", "id"):
        yield from _join_or_new(db, account, copies)


def _join_or_new(
    db: sqlite3.Connection, account: str, copies: list[_Copy]
) -> Iterator[tuple[str, list[_Copy]]]:
    """Copies without Message-ID join a message of the same content, or make their own."""
    c = copies[0]
    column = "head_fp" if c.lenient and c.date else "content_fp"
    value = c.head_fp if column == "head_fp" else c.content_fp
    message = store.message_with_copy(db, account, column, value)
    if message is not None:
        store.join_message(db, message, [x.id for x in copies])
        _refresh(db, message)
        return
    yield digest("message", account, "", min(copies, key=lambda x: x.id).content_fp)[:32], copies


def _refresh(db: sqlite3.Connection, message: int) -> None:
    group = [_row(r) for r in store.copies_of_message(db, message)]
    best = max(group, key=_Copy.rank)
    store.update_message(
        db, message, best.id, _folder(group, best), flags_text(_flags(group)), *_arrival(group)
    )


def merge_account(db: sqlite3.Connection, account: str) -> int:
    """Rebuild the messages of one account from its copies; returns how many there are."""
    with store.transaction(db):
        if store.has_messages(db, account):
            # a first merge has nothing to undo: rewriting every copy took 14 s at 1M
            store.clear_messages(db, account)
        store.clear_conflicts(db, account)
        n = _store(db, account, _with_message_id(db, account))
        n += _store(db, account, _without_message_id(db, account), batch=1)
        store.mark_merged(db, account)
    return n


def ranked_copies(db: sqlite3.Connection, message: int) -> list[tuple[int, str, str, str]]:
    """A merged message's whole copies (not cut short), best first by the rank that chose its
    canonical copy: (copy id, blob, source, position).  What a restore falls back on when the
    canonical copy's bytes are damaged in the workspace."""
    rows = store.copies_of_message_with_blobs(db, message)
    ranked = sorted(((_row(r[3:]), r) for r in rows), key=lambda pair: pair[0].rank(), reverse=True)
    return [(c.id, str(r[0]), str(r[1]), str(r[2])) for c, r in ranked if not c.partial]
