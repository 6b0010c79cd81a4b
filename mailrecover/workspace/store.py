"""Every read and write of the workspace's tables, named as DESIGN.md names things.

The stages (gather, merge, the ownership check, restore, report, verify…) ask for copies,
messages, evidence, problems and journal entries here and never write SQL themselves: a
schema step (``migrations.py``) changes this module only.  Each function takes the
connection (or the ``Workspace`` when it also needs the blob store) and leaves the
transaction to its caller unless it says otherwise (``transaction``, ``joined_transaction``).

The statements are the ones tuned for a million copies (see ``benchmarks/README.md``):
bulk writes go through ``executemany``, long reads are streamed as cursors for the caller
to spill or group, and the report's places live in a temporary table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields as dataclass_fields
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..arrival import arrival
from ..delivery import Clue
from ..model import (
    Copy,
    Evidence,
    Flag,
    Item,
    ItemKind,
    JournalState,
    MessageStatus,
    Person,
    Phone,
    PostalAddress,
    Problem,
)
from ..rfc822 import decode_text
from . import now_text  # (the package's __init__ never imports this module)

if TYPE_CHECKING:
    from . import Workspace

__all__ = [
    "COPY_COLUMNS",
    "RECORDS_SQL",
    "Summary",
    "storable",
    "weakly_filed",
    "withdraw_copies",
    "EMPTY_SHARE",
    "save_shares",
    "shares",
    "share_digest",
    "share_keys",
    "copies_read_as",
    "restored_only_by",
    "flags_text",
    "flag_set",
    "clues_text",
    "clue_list",
    "evidence_text",
    "evidence_list",
    # transactions
    "begin",
    "commit",
    "rollback",
    "transaction",
    "joined_transaction",
    # gather: copies, evidence, problems, skipped files
    "copy_known",
    "location_has_copies",
    "save_copy",
    "save_evidence",
    "save_problem",
    "save_skipped",
    "save_item",
    "mark_unmerged",
    "mark_merged",
    "merge_states",
    # merge: copies of an account, messages of an account
    "has_copies",
    "has_messages",
    "clear_messages",
    "clear_conflicts",
    "copies_for_merge",
    "save_conflict",
    "save_message",
    "link_copies",
    "message_with_copy",
    "join_message",
    "copies_of_message",
    "copies_of_message_with_blobs",
    "update_message",
    # ownership check: verdicts and aliases
    "copies_to_judge",
    "save_delivered_to",
    "set_verdicts",
    "has_unchecked",
    "aliases",
    "save_aliases",
    "quarantined",
    "quarantined_messages",
    # restore and verify
    "journalled_plan",
    "planned_groups",
    "save_verification",
    "verifications",
    "integrity_check",
    "blob_count",
    "blobs_in_pack_order",
    "unnamed_blobs",
    "copies_of_blobs",
    "restored_targets",
    "restored_accounts",
    # sort by owner: the unassigned pile, copies brought from a sorted workspace
    "save_unassigned",
    "unassigned_copies",
    "count_unassigned",
    "remove_unassigned",
    "problems_with_places",
    "evidence_with_places",
    "add_found_row",
    "copies_with_places",
    "add_copy_row",
    "count_messages",
    # report
    "count_copies",
    "folder_counts",
    "count_problems",
    "conflicts",
    "date_source_counts",
    "restored_counts",
    "group_places",
    "place_totals",
    "places_only_here",
    "place_rows",
    "copy_places",
    "message_rows",
    "message_days",
    "problems",
    "count_skipped",
    "skipped_paths",
    # items kept beside the mail (export-items)
    "item_accounts",
    "item_counts",
    "items",
    "evidence_counts",
    "log_time_counts",
    # evidence: delivery records, list evidence, log times
    "delivery_records",
    "delivery_subjects",
    "named_in_logs",
    "message_ids",
    "logs_gathered",
    "all_evidence",
    "copies_with_list_evidence",
    "unconfirmed_time_groups",
    "time_group_sample",
    "message_date",
    "time_group_records",
    "retime_record",
]


# --- text as a column holds it -----------------------------------------------------------


def storable(text: str) -> str:
    """A path or position as UTF-8 text: names that are not UTF-8 on disk (an old zip from
    Japanese Windows) arrive with escaped bytes, shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def folder_text(folder: str) -> str:
    """A folder name read from undecodable bytes: decoded as CP932 or UTF-8 would have it."""
    try:
        folder.encode("utf-8")
        return folder
    except UnicodeEncodeError:
        pass
    try:
        return decode_text(folder.encode("utf-8", "surrogateescape"), None)
    except UnicodeEncodeError:
        return storable(folder)


def flags_text(flags: Iterable[Flag]) -> str:
    """Flags as a row keeps them; ``flag_set`` reads them back: outside the database, flags
    are a set of ``Flag`` from the plugin that read them to the target that writes them."""
    return ",".join(sorted(f.value for f in flags))


def flag_set(text: str) -> frozenset[Flag]:
    return frozenset(Flag(f) for f in text.split(",") if f)


def clues_text(clues: Iterable[Clue]) -> str:
    """A copy's stored clues: [field, address, internal] each (``clue_list`` reads them)."""
    rows = [[c.field, c.address, int(c.internal)] for c in clues]
    return json.dumps(rows, ensure_ascii=False) if rows else "[]"


def clue_list(text: str) -> list[Clue]:
    return [] if text == "[]" else [Clue(f, a, bool(i)) for f, a, i in json.loads(text)]


def evidence_text(found: Iterable[Evidence]) -> str:
    """A copy's stored list evidence: [kind, time, fields] each; its source and position
    are the copy's own (``evidence_list`` puts them back)."""
    rows = [[e.kind, e.time.isoformat() if e.time else None, dict(e.fields)] for e in found]
    return json.dumps(rows, ensure_ascii=False) if rows else "[]"


def evidence_list(text: str, source: str, position: str) -> list[Evidence]:
    return [
        Evidence(kind, source, position, datetime.fromisoformat(time) if time else None, fields)
        for kind, time, fields in json.loads(text)
    ]


def _json(value: tuple[str, ...], ensure_ascii: bool = True) -> str:
    return "[]" if not value else json.dumps(value, ensure_ascii=ensure_ascii)  # mostly empty


def _iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# --- transactions ------------------------------------------------------------------------


def begin(db: sqlite3.Connection) -> None:
    """Open a (deferred) transaction; ``Workspace.commit`` ends it durably."""
    db.execute("BEGIN")


def commit(db: sqlite3.Connection) -> None:
    db.execute("COMMIT")


def rollback(db: sqlite3.Connection) -> None:
    db.execute("ROLLBACK")


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``), rolled back by any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def joined_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """The caller's open transaction, or one of its own (deferred) when none is open."""
    own = not db.in_transaction
    if own:
        db.execute("BEGIN")
    try:
        yield
    except BaseException:
        if own:
            db.execute("ROLLBACK")
        raise
    if own:
        db.execute("COMMIT")


# --- gather: copies, evidence, problems, skipped files -------------------------------------


class Summary(Protocol):
    """What a copy's row keeps of its header summary (``fingerprint.Summary``, named here by its
    fields: the merge reads through this layer, so this layer does not import the merge)."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def from_addr(self) -> str: ...
    @property
    def date(self) -> str | None: ...
    @property
    def subject(self) -> str: ...
    @property
    def head_fp(self) -> str: ...
    @property
    def body_fp(self) -> str: ...
    @property
    def content_fp(self) -> str: ...
    @property
    def delivered_to(self) -> tuple[str, ...]: ...
    @property
    def received(self) -> int: ...
    @property
    def received_date(self) -> str | None: ...
    @property
    def clues(self) -> tuple[Clue, ...]: ...
    @property
    def list_evidence(self) -> tuple[Evidence, ...] | None: ...


def copy_known(db: sqlite3.Connection, account: str, source: str, position: str, blob: str) -> bool:
    """Whether this very copy was gathered before (then it need not be fingerprinted again);
    one gathered before arrival times were told apart is read again for its time."""
    row = db.execute(
        "SELECT 1 FROM copies WHERE account = ? AND source = ? AND position = ? AND blob = ? "
        "AND arrival_source != 'legacy'",
        (account, storable(source), storable(position), blob),
    ).fetchone()
    return row is not None


def location_has_copies(db: sqlite3.Connection, account: str, location_id: int) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM copies WHERE account = ? AND location_id = ? LIMIT 1", (account, location_id)
        ).fetchone()
        is not None
    )


def save_copy(
    ws: Workspace,
    loc: int,
    account: str,
    c: Copy,
    s: Summary,
    blob: str | None = None,
    gathered: str | None = None,
    filed_by: str = "",
) -> bool:
    """Store a copy (its bytes once, its row) found at location ``loc``, as gather does, with
    its summary ``s`` (``fingerprint.summarize``); ``blob`` is its digest when already computed, ``gathered`` the time its
    batch was read, ``filed_by`` how a ``--by-owner`` sort chose ``account``.  Whether it is new."""
    blob = ws.blobs.put(c.raw, blob)
    gathered = gathered or now_text()
    when, source = arrival(
        c.internal_date, c.file_time, _iso(s.received_date), _iso(s.date), datetime.fromisoformat(gathered)
    )
    arrived = when.astimezone(UTC).isoformat() if when else None
    where = (account, storable(c.source), storable(c.position), blob)
    cur = ws.db.execute(
        "INSERT OR IGNORE INTO copies (location_id, account, source, position, blob, size, folder, "
        "flags, internal_date, partial, reconstructed, account_hints, keywords, message_id, "
        "from_addr, date, subject, head_fp, body_fp, content_fp, delivered_to, received, gathered, "
        "arrival, arrival_source, wrapped, labels, clues, list_evidence, filed_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            loc,
            *where[:3],
            blob,
            len(c.raw),
            folder_text(c.folder),
            flags_text(c.flags),
            c.internal_date.isoformat() if c.internal_date else None,
            int(c.partial),
            int(c.reconstructed),
            _json(c.account_hints),
            _json(c.keywords, ensure_ascii=False),
            s.message_id,
            s.from_addr,
            s.date,
            s.subject,
            s.head_fp,
            s.body_fp,
            s.content_fp,
            _json(s.delivered_to),
            s.received,
            gathered,
            arrived,
            source.value,
            int(c.wrapped),
            _json(c.labels, ensure_ascii=False),
            clues_text(s.clues),
            None if s.list_evidence is None else evidence_text(s.list_evidence),
            filed_by,
        ),
    )
    if cur.rowcount > 0:
        return True
    redated = ws.db.execute(  # gathered before 006_arrival_times: only its time is new
        "UPDATE copies SET arrival = ?, arrival_source = ? WHERE account = ? AND source = ? "
        "AND position = ? AND blob = ? AND arrival_source = 'legacy'",
        (arrived, source.value, *where),
    )
    if redated.rowcount > 0:  # its message's date may change: merge the account again
        ws.db.execute("UPDATE accounts SET merged = NULL WHERE account = ?", (account,))
    return False


def save_evidence(db: sqlite3.Connection, loc: int, account: str, list_address: str, e: Evidence) -> None:
    """Store a finding that is not a copy (a delivery record, a list member…), once."""
    db.execute(
        "INSERT OR IGNORE INTO evidence (location_id, account, list, kind, source, position, time, "
        "fields, time_basis, time_group) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            loc,
            account,
            list_address,
            e.kind,
            storable(e.source),
            storable(e.position),
            e.time.isoformat() if e.time else None,
            json.dumps(dict(e.fields), ensure_ascii=False, sort_keys=True),
            e.time_basis,
            storable(e.time_group),
        ),
    )


def save_problem(db: sqlite3.Connection, loc: int | None, account: str, p: Problem) -> None:
    db.execute(
        "INSERT OR IGNORE INTO problems (location_id, account, kind, source, position, reason) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (loc, account, p.kind.value, p.source, p.position, p.reason),
    )


def save_skipped(db: sqlite3.Connection, path: str, account: str) -> None:
    """A file no plugin claimed."""
    db.execute("INSERT OR IGNORE INTO skipped (path, account) VALUES (?, ?)", (path, account))


_PROVENANCE = ("kind", "folder", "source", "position")
_NESTED = {"phones": Phone, "addresses": PostalAddress, "members": Person, "attendees": Person}
# Item fields kept as ISO 8601 text, by their declared types
_TIMES = tuple(f.name for f in dataclass_fields(Item) if f.type == "datetime | None")
_DATES = tuple(f.name for f in dataclass_fields(Item) if f.type == "date | None")


def _item_fields(item: Item) -> dict[str, Any]:
    """An item's fields as JSON values, empty ones left out (provenance has its columns)."""
    out: dict[str, Any] = {}
    for f in dataclass_fields(item):
        value = getattr(item, f.name)
        if f.name in _PROVENANCE or value in ("", (), None, False):
            continue
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, Person):
            value = {k: v for k, v in vars(value).items() if v}
        elif isinstance(value, tuple) and f.name in _NESTED:
            value = [{k: v for k, v in vars(v).items() if v} for v in value]
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _item_from(kind: str, folder: str, source: str, position: str, text: str) -> Item:
    values: dict[str, Any] = json.loads(text)
    for name, cls in _NESTED.items():
        if name in values:
            values[name] = tuple(cls(**v) for v in values[name])
    if "emails" in values:
        values["emails"] = tuple(values["emails"])
    if "organizer" in values:
        values["organizer"] = Person(**values["organizer"])
    for name in _TIMES:
        if name in values:
            values[name] = datetime.fromisoformat(values[name])
    for name in _DATES:
        if name in values:
            values[name] = date.fromisoformat(values[name])
    return Item(ItemKind(kind), folder, source, position, **values)


def save_item(
    db: sqlite3.Connection, loc: int, account: str, item: Item, gathered: str | None = None
) -> bool:
    """Store a contact, list or calendar item found at location ``loc``, once; whether it is new."""
    text = json.dumps(_item_fields(item), ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(f"{item.kind}\n{item.folder}\n{text}".encode()).hexdigest()
    cur = db.execute(
        "INSERT OR IGNORE INTO items (location_id, account, kind, folder, source, position, digest, "
        "fields, gathered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            loc,
            account,
            item.kind.value,
            folder_text(item.folder),
            storable(item.source),
            storable(item.position),
            digest,
            text,
            gathered or now_text(),
        ),
    )
    return cur.rowcount > 0


def items(db: sqlite3.Connection, account: str) -> Iterator[Item]:
    """The account's items by folder, kind and where they were found; one found in several
    places (the same contact in a .pst and saved as .msg) comes once, from its first place."""
    rows = db.execute(
        "SELECT kind, folder, source, position, fields FROM items WHERE id IN "
        "(SELECT min(id) FROM items WHERE account = ? GROUP BY digest) "
        "ORDER BY folder, kind, source, position, id",
        (account,),
    )
    for kind, folder, source, position, text in rows:
        yield _item_from(kind, folder, source, position, text)


def item_counts(db: sqlite3.Connection, account: str) -> dict[str, int]:
    """The account's distinct items by kind (``contact``, ``group``, ``event``)."""
    return dict(
        db.execute(
            "SELECT kind, count(DISTINCT digest) FROM items WHERE account = ? GROUP BY kind", (account,)
        ).fetchall()
    )


def item_accounts(db: sqlite3.Connection) -> list[str]:
    return [a for (a,) in db.execute("SELECT DISTINCT account FROM items ORDER BY account")]


def mark_unmerged(db: sqlite3.Connection, account: str) -> None:
    """The account's copies changed: merge and check it again before it is restored or reported."""
    db.execute(
        "INSERT INTO accounts (account, merged) VALUES (?, NULL) "
        "ON CONFLICT (account) DO UPDATE SET merged = NULL",
        (account,),
    )


def mark_merged(db: sqlite3.Connection, account: str) -> None:
    db.execute(
        "INSERT INTO accounts (account, merged) VALUES (?, datetime('now')) "
        "ON CONFLICT (account) DO UPDATE SET merged = excluded.merged",
        (account,),
    )


def merge_states(db: sqlite3.Connection) -> Iterator[tuple[str, str | None]]:
    """(account, when it was last merged, or None)."""
    yield from db.execute("SELECT account, merged FROM accounts")


# --- merge: copies of an account, messages of an account -----------------------------------

#: The columns the merge reads of a copy (``merge._row`` turns them into its record).
COPY_COLUMNS = (
    "id, message_id, head_fp, content_fp, folder, flags, partial, reconstructed, received, "
    "size, date, internal_date, arrival, arrival_source, wrapped"
)

#: The merge's selections of an account's copies: (condition, order).
_MERGE_SELECTIONS = {
    "message_id": ("message_id IS NOT NULL", "message_id"),
    "whole_without_message_id": ("message_id IS NULL AND NOT partial AND NOT reconstructed", "content_fp"),
    "damaged_without_message_id": ("message_id IS NULL AND (partial OR reconstructed)", "id"),
}


def has_copies(db: sqlite3.Connection, account: str) -> bool:
    return db.execute("SELECT 1 FROM copies WHERE account = ? LIMIT 1", (account,)).fetchone() is not None


def has_messages(db: sqlite3.Connection, account: str) -> bool:
    return db.execute("SELECT 1 FROM messages WHERE account = ? LIMIT 1", (account,)).fetchone() is not None


def clear_messages(db: sqlite3.Connection, account: str) -> None:
    """Undo an account's merge: its copies belong to no message, its messages are gone."""
    db.execute("UPDATE copies SET message = NULL WHERE account = ?", (account,))
    db.execute("DELETE FROM messages WHERE account = ?", (account,))


def clear_conflicts(db: sqlite3.Connection, account: str) -> None:
    db.execute("DELETE FROM conflicts WHERE account = ?", (account,))


def copies_for_merge(db: sqlite3.Connection, account: str, selection: str) -> sqlite3.Cursor:
    """The account's copies of one ``selection`` (see ``_MERGE_SELECTIONS``) as ``COPY_COLUMNS``
    rows, streamed in the selection's order (then by id)."""
    where, by = _MERGE_SELECTIONS[selection]
    return db.execute(
        f"SELECT {COPY_COLUMNS} FROM copies WHERE account = ? AND {where} ORDER BY {by}, id", (account,)
    )


def save_conflict(db: sqlite3.Connection, account: str, message_id: str | None, messages: int) -> None:
    """Different mails under one Message-ID: kept apart, and reported."""
    db.execute("INSERT OR REPLACE INTO conflicts VALUES (?, ?, ?)", (account, message_id, messages))


def save_message(
    db: sqlite3.Connection,
    account: str,
    key: str,
    canonical: int,
    folder: str,
    flags: str,
    date: str | None,
    date_source: str,
    message_id: str | None,
    copies: int,
) -> int:
    """Store a merged message, unchecked until the ownership check; its id."""
    cur = db.execute(
        "INSERT INTO messages (account, key, canonical, folder, flags, date, date_source, message_id, "
        "copies, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            account,
            key,
            canonical,
            folder,
            flags,
            date,
            date_source,
            message_id,
            copies,
            MessageStatus.UNCHECKED,
        ),  # until ownership.check_account
    )
    message = cur.lastrowid
    assert message is not None
    return message


def link_copies(db: sqlite3.Connection, links: list[tuple[int, int]]) -> None:
    """Each (message, copy): the copy belongs to the message."""
    db.executemany("UPDATE copies SET message = ? WHERE id = ?", links)


def message_with_copy(db: sqlite3.Connection, account: str, column: str, value: str) -> int | None:
    """The message of the account's first copy whose ``column`` (``head_fp`` or ``content_fp``) is ``value``."""
    assert column in ("head_fp", "content_fp")
    row = db.execute(
        f"SELECT m.id FROM copies c JOIN messages m ON m.id = c.message "
        f"WHERE c.account = ? AND c.{column} = ? ORDER BY c.id LIMIT 1",
        (account, value),
    ).fetchone()
    return None if row is None else int(row[0])


def join_message(db: sqlite3.Connection, message: int, copy_ids: Sequence[int]) -> None:
    """More copies of a stored message."""
    db.executemany("UPDATE copies SET message = ? WHERE id = ?", [(message, c) for c in copy_ids])
    db.execute("UPDATE messages SET copies = copies + ? WHERE id = ?", (len(copy_ids), message))


def copies_of_message(db: sqlite3.Connection, message: int) -> sqlite3.Cursor:
    """The message's copies as ``COPY_COLUMNS`` rows."""
    return db.execute(f"SELECT {COPY_COLUMNS} FROM copies WHERE message = ?", (message,))


def copies_of_message_with_blobs(db: sqlite3.Connection, message: int) -> list[Any]:
    """(blob, source, position, *COPY_COLUMNS) of each of the message's copies."""
    return db.execute(
        f"SELECT blob, source, position, {COPY_COLUMNS} FROM copies WHERE message = ?", (message,)
    ).fetchall()


def update_message(
    db: sqlite3.Connection,
    message: int,
    canonical: int,
    folder: str,
    flags: str,
    date: str | None,
    date_source: str,
) -> None:
    db.execute(
        "UPDATE messages SET canonical = ?, folder = ?, flags = ?, date = ?, date_source = ? WHERE id = ?",
        (canonical, folder, flags, date, date_source, message),
    )


# --- ownership check: verdicts and aliases --------------------------------------------------


def copies_to_judge(
    db: sqlite3.Connection, account: str, status: MessageStatus | None = None
) -> sqlite3.Cursor:
    """Each merged copy of the account (only of its messages of ``status`` if given) with what
    the check reads of it, message by message: (message, id, blob, delivered_to, account_hints,
    reconstructed, partial, received, size, canonical, source, position, from_addr, wrapped,
    clues)."""
    extra = "" if status is None else "AND m.status = ? "
    return db.execute(
        "SELECT c.message, c.id, c.blob, c.delivered_to, c.account_hints, c.reconstructed, c.partial, "
        "c.received, c.size, m.canonical, c.source, c.position, c.from_addr, c.wrapped, c.clues "
        "FROM copies c "
        f"JOIN messages m ON m.id = c.message WHERE c.account = ? {extra}ORDER BY c.message, c.id",
        (account,) if status is None else (account, status),
    )


def save_delivered_to(db: sqlite3.Connection, rows: Iterable[tuple[str, int]]) -> None:
    """(delivered_to JSON, copy id): addresses read again from a copy's header."""
    db.executemany("UPDATE copies SET delivered_to = ? WHERE id = ?", rows)


def set_verdicts(db: sqlite3.Connection, updates: Iterable[tuple[MessageStatus, str, int, int]]) -> None:
    """(status, reason, canonical, message): the check's verdict on each message."""
    db.executemany("UPDATE messages SET status = ?, reason = ?, canonical = ? WHERE id = ?", updates)


def has_unchecked(db: sqlite3.Connection, account: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM messages WHERE account = ? AND status = ? LIMIT 1",
            (account, MessageStatus.UNCHECKED),
        ).fetchone()
        is not None
    )


def aliases(db: sqlite3.Connection, account: str) -> tuple[str, ...]:
    rows = db.execute("SELECT alias FROM aliases WHERE account = ? ORDER BY alias", (account,))
    return tuple(r[0] for r in rows)


def save_aliases(db: sqlite3.Connection, account: str, new: Iterable[str]) -> None:
    """New aliases of the account; its verdicts are made again (set back to unchecked)."""
    db.executemany(
        "INSERT OR IGNORE INTO aliases (account, alias, added) VALUES (?, ?, datetime('now'))",
        [(account, a) for a in new],
    )
    db.execute(
        "UPDATE messages SET status = ? WHERE account = ? AND status != ?",
        (MessageStatus.UNCHECKED, account, MessageStatus.UNCHECKED),
    )


def quarantined(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(id, key, message_id, subject, from, date, date_source, folder, reason) of each
    quarantined message, by date."""
    return db.execute(
        "SELECT m.id, m.key, m.message_id, c.subject, c.from_addr, m.date, m.date_source, m.folder, "
        "m.reason "
        "FROM messages m JOIN copies c ON c.id = m.canonical "
        "WHERE m.account = ? AND m.status = ? ORDER BY m.date, m.id",
        (account, MessageStatus.QUARANTINED),
    )


def quarantined_messages(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(message_id, subject, reason, folder, flags, arrival date) of each quarantined message, by
    date (what a restore holds back, if its selection takes it)."""
    return db.execute(
        "SELECT m.message_id, c.subject, m.reason, m.folder, m.flags, m.date FROM messages m "
        "JOIN copies c ON c.id = m.canonical WHERE m.account = ? AND m.status = ? ORDER BY m.date",
        (account, MessageStatus.QUARANTINED),
    )


# --- restore and verify ----------------------------------------------------------------------


def journalled_plan(
    db: sqlite3.Connection, account: str, statuses: Sequence[MessageStatus], target: str
) -> sqlite3.Cursor:
    """(key, folder, flags, date, message_id, blob, pack, offset, length, message id, arrival date
    or None, places, journal state on ``target`` or None, its ref or None) of each message of
    ``statuses``, folder by folder, oldest first: where its bytes are and what the journal says
    come with it.  ``places``: JSON ``[[folder, flags, labels], …]`` of its copies found elsewhere
    than its folder or with labels (``[]`` for most)."""
    return db.execute(  # where each one's bytes are is looked up here, not once per message
        # a message without any usable date takes the time it was gathered: the same on every
        # run, so a rerun names its Maildir file as the first run did
        "SELECT m.key, m.folder, m.flags, coalesce(m.date, c.gathered), m.message_id, c.blob, b.pack, "
        "b.offset, b.length, m.id, m.date, "
        "(SELECT json_group_array(json_array(o.folder, o.flags, json(o.labels))) FROM copies o "
        "WHERE o.message = m.id AND (o.folder != m.folder OR o.labels != '[]')), j.state, j.ref "
        "FROM messages m JOIN copies c ON c.id = m.canonical LEFT JOIN blobs b ON b.digest = c.blob "
        "LEFT JOIN journal j ON j.target = ? AND j.key = m.key "
        f"WHERE m.account = ? AND m.status IN ({','.join('?' * len(statuses))}) "
        "ORDER BY m.folder, m.date, m.key",
        (target, account, *statuses),
    )


def planned_groups(
    db: sqlite3.Connection, account: str, target: str, include_quarantined: bool, dated: bool
) -> sqlite3.Cursor:
    """(folder, flags, whether the journal says it is on ``target`` already, arrival date or None,
    how many messages, their bytes) of what a restore plans, grouped: per message only when
    ``dated`` (a restore by date tells each one's arrival apart), else per folder and flags."""
    return db.execute(
        "SELECT m.folder, m.flags, j.key IS NOT NULL AS there, "
        "CASE WHEN ? THEN m.date END AS arrived, count(*), coalesce(sum(c.size), 0) "
        "FROM messages m JOIN copies c ON c.id = m.canonical "
        "LEFT JOIN journal j ON j.target = ? AND j.key = m.key AND j.state = ? "
        "WHERE m.account = ? AND m.status IN (?, ?) "
        "GROUP BY m.folder, m.flags, there, arrived",
        (
            dated,
            target,
            JournalState.DONE,
            account,
            MessageStatus.OK,
            MessageStatus.QUARANTINED if include_quarantined else MessageStatus.OK,
        ),
    )


def save_verification(
    db: sqlite3.Connection,
    target: str,
    account: str,
    checked: str,
    by: str,
    planned: int,
    present: int,
    missing: int,
    repaired: int,
    note: str = "",
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO verifications (target, account, checked, by, planned, present, missing, "
        "repaired, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (target, account, checked, by, planned, present, missing, repaired, note),
    )


def verifications(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(target, checked, by, planned, present, missing, repaired, note) per target."""
    return db.execute(
        "SELECT target, checked, by, planned, present, missing, repaired, note FROM verifications "
        "WHERE account = ? ORDER BY target",
        (account,),
    )


def integrity_check(db: sqlite3.Connection) -> list[str]:
    return [str(r[0]) for r in db.execute("PRAGMA integrity_check")]


def blob_count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])


def blobs_in_pack_order(db: sqlite3.Connection) -> sqlite3.Cursor:
    """(digest, pack, offset, length) of every blob, as the packs hold them."""
    return db.execute("SELECT digest, pack, offset, length FROM blobs ORDER BY pack, offset")


def unnamed_blobs(db: sqlite3.Connection) -> sqlite3.Cursor:
    """Digests copies name that no blob row answers for."""
    return db.execute(
        "SELECT DISTINCT blob FROM copies WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE digest = copies.blob)"
    )


def copies_of_blobs(db: sqlite3.Connection, digests: Iterable[str]) -> list[Any]:
    """(blob, copy id, account, source, position, message, message_id, is canonical) of every
    copy holding one of ``digests``, through a temporary table."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS bad_blobs (digest TEXT PRIMARY KEY)")
    db.execute("DELETE FROM temp.bad_blobs")
    db.executemany("INSERT OR IGNORE INTO temp.bad_blobs VALUES (?)", [(d,) for d in digests])
    rows = db.execute(
        "SELECT c.blob, c.id, c.account, c.source, c.position, m.id, m.message_id, m.canonical = c.id "
        "FROM copies c JOIN temp.bad_blobs b ON b.digest = c.blob LEFT JOIN messages m ON m.id = c.message "
        "ORDER BY c.id"
    ).fetchall()
    db.execute("DROP TABLE temp.bad_blobs")
    return rows


def restored_targets(db: sqlite3.Connection) -> list[str]:
    """Targets the journal says hold restored messages."""
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT target FROM journal WHERE state = ? ORDER BY target", (JournalState.DONE,)
        )
    ]


def restored_accounts(db: sqlite3.Connection, target: str) -> list[str]:
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT m.account FROM journal j JOIN messages m ON m.key = j.key "
            "WHERE j.target = ? AND j.state = ? ORDER BY m.account",
            (target, JournalState.DONE),
        )
    ]


# --- report ----------------------------------------------------------------------------------


def save_unassigned(
    ws: Workspace,
    loc: int,
    c: Copy,
    s: Summary,
    blob: str,
    evidence: list[dict[str, str]],
    reason: str,
    gathered: str,
) -> bool:
    """Keep a copy ``gather --by-owner`` could give to no account of the job, with the
    evidence it weighed and why; whether it is new."""
    blob = ws.blobs.put(c.raw, blob)
    return (
        ws.db.execute(
            "INSERT OR IGNORE INTO unassigned (location_id, source, position, blob, size, message_id, "
            "from_addr, subject, evidence, reason, gathered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                loc,
                storable(c.source),
                storable(c.position),
                blob,
                len(c.raw),
                s.message_id,
                s.from_addr,
                s.subject or "",
                json.dumps(evidence, ensure_ascii=False),
                reason,
                gathered,
            ),
        ).rowcount
        > 0
    )


def unassigned_copies(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """The unassigned pile, as ``report`` lists it."""
    return [
        {
            "source": source,
            "position": position,
            "message_id": message_id or "",
            "from": sender,
            "subject": subject,
            "reason": reason,
            "evidence": json.loads(evidence),
        }
        for source, position, message_id, sender, subject, reason, evidence in db.execute(
            "SELECT source, position, message_id, from_addr, subject, reason, evidence FROM unassigned "
            "ORDER BY source, position"
        )
    ]


def count_unassigned(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM unassigned").fetchone()[0])


def weakly_filed(
    db: sqlite3.Connection, loc: int, source: str, position: str, blob: str
) -> list[tuple[int, str]]:
    """(copy id, account) of one copy of location ``loc`` wherever a sort filed it by a weak
    hint (``016_filed_by``), or before that was recorded (``017_sorted_share``): what a later
    sort that files it elsewhere takes back."""
    return db.execute(
        "SELECT id, account FROM copies WHERE source = ? AND position = ? AND blob = ? "
        "AND filed_by IN ('area', 'writer', 'unknown') AND location_id = ?",
        (storable(source), storable(position), blob, loc),
    ).fetchall()


def withdraw_copies(db: sqlite3.Connection, account: str, copy_ids: Iterable[int]) -> None:
    """Take copies out of ``account``: its merge is undone (a message may rest on one of them)
    and done again before anything reads it."""
    clear_messages(db, account)
    db.executemany("DELETE FROM copies WHERE id = ?", [(i,) for i in copy_ids])
    mark_unmerged(db, account)


#: The digest of an account a sorted workspace files nothing under (``shares``).
EMPTY_SHARE = hashlib.sha256(b"").hexdigest()


def save_shares(db: sqlite3.Connection) -> int:
    """Digest what a sorted workspace files under each account (its copies, its problems),
    replacing the digests of the last sort: one pass in index order.  How many accounts have one."""
    digests: dict[str, Any] = {}
    for account, *key in db.execute(
        "SELECT account, source, position, blob FROM copies ORDER BY account, source, position, blob"
    ):
        digests.setdefault(account, hashlib.sha256()).update(json.dumps(["copy", *key]).encode())
    for account, *key in db.execute(
        "SELECT account, kind, source, position, reason FROM problems WHERE account != '' "
        "ORDER BY account, kind, source, position, reason"
    ):
        digests.setdefault(account, hashlib.sha256()).update(json.dumps(["problem", *key]).encode())
    db.execute("DELETE FROM shares")
    db.executemany("INSERT INTO shares VALUES (?, ?)", [(a, h.hexdigest()) for a, h in digests.items()])
    return len(digests)


def shares(db: sqlite3.Connection) -> dict[str, str]:
    """Each account's digest from the last ``save_shares`` (``EMPTY_SHARE`` for one not listed)."""
    return dict(db.execute("SELECT account, digest FROM shares").fetchall())


def share_digest(db: sqlite3.Connection, account: str) -> str:
    """One account's digest from the last ``save_shares``."""
    row = db.execute("SELECT digest FROM shares WHERE account = ?", (account,)).fetchone()
    return str(row[0]) if row else EMPTY_SHARE


def share_keys(db: sqlite3.Connection, account: str) -> set[tuple[str, str, str]]:
    """(source, position, blob) of every copy filed under ``account`` (from its unique index)."""
    return {
        (source, position, blob)
        for source, position, blob in db.execute(
            "SELECT source, position, blob FROM copies WHERE account = ?", (account,)
        )
    }


def copies_read_as(
    db: sqlite3.Connection, account: str, location_account: str
) -> dict[tuple[str, str, str], int]:
    """The account's copies found at locations read as ``location_account`` (``byowner.BY_OWNER``:
    brought from a sorted workspace): (source, position, blob) -> copy id."""
    return {
        (source, position, blob): copy_id
        for copy_id, source, position, blob in db.execute(
            "SELECT c.id, c.source, c.position, c.blob FROM copies c JOIN locations l ON l.id = c.location_id "
            "WHERE c.account = ? AND l.account = ?",
            (account, location_account),
        )
    }


def restored_only_by(
    db: sqlite3.Connection, copy_ids: Sequence[int]
) -> list[tuple[int, str, str, str, list[str]]]:
    """Of copies about to leave their account, each whose message rests on them alone and that
    the journal says is in a target (or may be: ``pending``): (location id, source, position,
    Message-ID, targets).  A message another copy keeps in the account stays rightly restored."""
    leaving = set(copy_ids)
    found = []
    for copy_id in copy_ids:
        row = db.execute(
            "SELECT location_id, source, position, message_id, message FROM copies WHERE id = ?", (copy_id,)
        ).fetchone()
        if row is None or row[4] is None:  # never merged since it came: never restored either
            continue
        if any(
            other not in leaving
            for (other,) in db.execute("SELECT id FROM copies WHERE message = ?", (row[4],))
        ):
            continue
        targets = [
            target
            for (target,) in db.execute(
                "SELECT DISTINCT j.target FROM messages m JOIN journal j ON j.key = m.key AND j.state IN (?, ?) "
                "WHERE m.id = ? ORDER BY j.target",
                (JournalState.DONE, JournalState.PENDING, row[4]),
            )
        ]
        if targets:
            found.append((row[0], row[1], row[2], row[3] or "", targets))
    return found


def remove_unassigned(db: sqlite3.Connection, source: str, position: str, blob: str) -> None:
    """A copy of the pile that an account now claims leaves the pile."""
    db.execute(
        "DELETE FROM unassigned WHERE source = ? AND position = ? AND blob = ?",
        (storable(source), storable(position), blob),
    )


def _row_columns(db: sqlite3.Connection, table: str) -> list[str]:
    """A row's columns that travel with it to another workspace (not its ids nor its account there)."""
    return [
        r[1]
        for r in db.execute(f"PRAGMA table_info({table})")
        if r[1] not in ("id", "location_id", "message", "account")
    ]


def _found_rows(
    db: sqlite3.Connection, table: str, where: str, args: tuple[Any, ...]
) -> Iterator[tuple[int | None, str, str, str, dict[str, Any]]]:
    columns = _row_columns(db, table)
    for there, location, plugin, *values in db.execute(
        f"SELECT t.location_id, l.location, l.plugin, {', '.join('t.' + c for c in columns)} "
        f"FROM {table} t LEFT JOIN locations l ON l.id = t.location_id WHERE {where} ORDER BY t.id",
        args,
    ):
        yield there, location or "", plugin or "", table, dict(zip(columns, values, strict=True))


def problems_with_places(
    db: sqlite3.Connection, account: str
) -> Iterator[tuple[int | None, str, str, str, dict[str, Any]]]:
    """The account's problems as rows to bring elsewhere: (location id, location, plugin, table, values)."""
    return _found_rows(db, "problems", "t.account = ?", (account,))


def evidence_with_places(
    db: sqlite3.Connection, addresses: tuple[str, ...]
) -> Iterator[tuple[int | None, str, str, str, dict[str, Any]]]:
    """The delivery records naming one of ``addresses`` as recipient, original recipient or
    sender (through their indexes, as ``inventory`` looks them up), as rows to bring elsewhere."""
    ids = sorted(
        {
            r[0]
            for field in ("recipient", "orig_to", "sender")
            for address in addresses
            for r in delivery_records(db, field, address.strip().lower())
        }
    )
    for start in range(0, len(ids), 500):
        some = ids[start : start + 500]
        yield from _found_rows(db, "evidence", f"t.id IN ({', '.join('?' * len(some))})", tuple(some))


def add_found_row(
    db: sqlite3.Connection, table: str, loc: int | None, account: str, row: dict[str, Any]
) -> None:
    """Add a problem or evidence row as another workspace holds it (``problems_with_places``)."""
    assert table in ("problems", "evidence")
    db.execute(
        f"INSERT OR IGNORE INTO {table} (location_id, account, {', '.join(row)}) VALUES (?, ?{', ?' * len(row)})",
        (loc, account, *row.values()),
    )


def _copy_row_columns(db: sqlite3.Connection) -> list[str]:
    """A copy row's columns that travel with it to another workspace (not its ids there)."""
    return [
        r[1] for r in db.execute("PRAGMA table_info(copies)") if r[1] not in ("id", "location_id", "message")
    ]


def copies_with_places(
    db: sqlite3.Connection, account: str
) -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    """The account's copies as rows to bring elsewhere: (location id, location, plugin, values)."""
    columns = _copy_row_columns(db)
    for there, location, plugin, *values in db.execute(
        f"SELECT c.location_id, l.location, l.plugin, {', '.join('c.' + c for c in columns)} "
        "FROM copies c JOIN locations l ON l.id = c.location_id WHERE c.account = ? ORDER BY c.id",
        (account,),
    ):
        yield there, location, plugin, dict(zip(columns, values, strict=True))


def add_copy_row(db: sqlite3.Connection, loc: int, row: dict[str, Any]) -> bool:
    """Add a copy's row as another workspace holds it (``copies_with_places``); whether it is new."""
    columns = list(row)
    return (
        db.execute(
            f"INSERT OR IGNORE INTO copies (location_id, {', '.join(columns)}) VALUES (?{', ?' * len(columns)})",
            (loc, *row.values()),
        ).rowcount
        > 0
    )


def count_messages(db: sqlite3.Connection, account: str) -> int:
    return int(db.execute("SELECT count(*) FROM messages WHERE account = ?", (account,)).fetchone()[0])


def count_copies(db: sqlite3.Connection, account: str) -> int:
    return int(db.execute("SELECT count(*) FROM copies WHERE account = ?", (account,)).fetchone()[0])


def folder_counts(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(folder, status, flags, messages): one pass over the account's folder index."""
    return db.execute(
        "SELECT folder, status, flags, count(*) FROM messages WHERE account = ? "
        "GROUP BY folder, status, flags ORDER BY folder",
        (account,),
    )


def count_problems(db: sqlite3.Connection, account: str) -> int:
    return int(db.execute("SELECT count(*) FROM problems WHERE account = ?", (account,)).fetchone()[0])


def conflicts(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(message_id, messages) of each Message-ID that names different mails."""
    return db.execute(
        "SELECT message_id, messages FROM conflicts WHERE account = ? ORDER BY message_id",
        (account,),
    )


def date_source_counts(db: sqlite3.Connection, account: str) -> dict[str, int]:
    """Which evidence each message's date came from (arrival.py), counted."""
    return dict(
        db.execute(
            "SELECT date_source, count(*) FROM messages WHERE account = ? GROUP BY date_source ORDER BY 1",
            (account,),
        ).fetchall()
    )


def restored_counts(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(target, messages restored there): the account's messages, each looked up in the journal's key index."""
    return db.execute(
        "SELECT j.target, count(*) FROM messages m JOIN journal j ON j.key = m.key AND j.state = ? "
        "WHERE m.account = ? GROUP BY j.target ORDER BY j.target",
        (JournalState.DONE, account),
    )


def group_places(db: sqlite3.Connection, account: str) -> None:
    """Fill the connection's temporary table ``places`` (location_id, place, copies): where the
    account's copies were found, as a person reads it.  A store is its own place; places
    that gave one copy each (a folder of 50,000 saved ``.eml`` files) share one, ``FOLDER/*``,
    once a folder has several: what the report lists grows with the folders, not the files.
    The workspace itself is not written."""
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS places "
        "(location_id INTEGER PRIMARY KEY, place TEXT NOT NULL, copies INTEGER NOT NULL)"
    )
    db.execute("SAVEPOINT places")  # one transaction for the rows, inside a caller's if there is one
    try:
        db.execute("DELETE FROM temp.places")
        found = db.execute(  # read as the rows go in: memory does not grow with the files
            "SELECT l.id, l.location, n FROM (SELECT location_id, count(*) AS n FROM copies "
            "WHERE account = ? GROUP BY location_id) JOIN locations l ON l.id = location_id",
            (account,),
        )
        db.executemany(
            "INSERT INTO temp.places VALUES (?, ?, ?)",
            (
                (i, os.path.join(os.path.dirname(loc), "*") if n == 1 and "://" not in loc else loc, n)
                for i, loc, n in found
            ),
        )
        db.execute(
            "UPDATE temp.places SET place = (SELECT location FROM locations WHERE id = location_id) "
            "WHERE place IN (SELECT place FROM temp.places GROUP BY place HAVING count(*) = 1)"
        )
    except BaseException:
        db.execute("ROLLBACK TO places")
        raise
    finally:
        db.execute("RELEASE places")


def place_totals(db: sqlite3.Connection) -> dict[str, int]:
    """Copies by place, from ``group_places``' table."""
    rows = db.execute("SELECT place, sum(copies) FROM temp.places GROUP BY place ORDER BY place")
    return dict(rows.fetchall())


def places_only_here(db: sqlite3.Connection, account: str) -> dict[str, int]:
    """Per place (``group_places``), how many messages were found there and nowhere else."""
    return dict(
        db.execute(
            "SELECT place, count(*) FROM (SELECT min(p.place) AS place, count(DISTINCT p.place) AS n "
            "FROM copies c JOIN temp.places p ON p.location_id = c.location_id "
            "WHERE c.account = ? AND c.message IS NOT NULL GROUP BY c.message) WHERE n = 1 GROUP BY place",
            (account,),
        ).fetchall()
    )


def place_rows(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(place, plugins, copies, messages, last gathered) per place (``group_places``)."""
    return db.execute(
        "SELECT p.place, group_concat(DISTINCT l.plugin), count(c.id), count(DISTINCT c.message), "
        "max(l.last_gathered) FROM copies c JOIN temp.places p ON p.location_id = c.location_id "
        "JOIN locations l ON l.id = c.location_id WHERE c.account = ? GROUP BY p.place ORDER BY p.place",
        (account,),
    )


def copy_places(db: sqlite3.Connection, message: int) -> sqlite3.Cursor:
    """(source, position) of each copy of the message, in the order gathered."""
    return db.execute("SELECT source, position FROM copies WHERE message = ? ORDER BY id", (message,))


def message_rows(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(id, date, date_source, folder, from, subject, copies, status) of each message, by date."""
    return db.execute(
        "SELECT m.id, m.date, m.date_source, m.folder, c.from_addr, c.subject, m.copies, m.status "
        "FROM messages m "
        "JOIN copies c ON c.id = m.canonical WHERE m.account = ? ORDER BY m.date, m.id",
        (account,),
    )


def message_days(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """(date, status) of each message."""
    return db.execute("SELECT date, status FROM messages WHERE account = ?", (account,))


def problems(db: sqlite3.Connection, account: str | None = None) -> sqlite3.Cursor:
    """(kind, source, position, reason, account) of every problem (or the account's), by source."""
    return db.execute(
        "SELECT kind, source, position, reason, account FROM problems "
        + ("WHERE account = ? " if account is not None else "")
        + "ORDER BY source, position",
        (account,) if account is not None else (),
    )


def count_skipped(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT count(*) FROM skipped").fetchone()[0])


def skipped_paths(db: sqlite3.Connection) -> list[str]:
    """Every file a gather passed over as no mail store, by path."""
    return [path for (path,) in db.execute("SELECT path FROM skipped ORDER BY path")]


def evidence_counts(db: sqlite3.Connection) -> dict[str, int]:
    return dict(db.execute("SELECT kind, count(*) FROM evidence GROUP BY kind").fetchall())


def log_time_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Log records by how their time was found (``time_basis``)."""
    return dict(
        db.execute(
            "SELECT time_basis, count(*) FROM evidence WHERE time_basis != '' GROUP BY time_basis ORDER BY time_basis"
        ).fetchall()
    )


# --- evidence: delivery records, list evidence, log times ------------------------------------

#: One account's delivery records by one address field, through the workspace's index on it.
RECORDS_SQL = (
    "SELECT id, time, json_extract(fields, '$.message_id'), json_extract(fields, '$.sender'), "
    "json_extract(fields, '$.recipient'), json_extract(fields, '$.status'), "
    "json_extract(fields, '$.size'), json_extract(fields, '$.relay') "
    "FROM evidence INDEXED BY evidence_delivery_{field} "
    "WHERE kind = 'delivery' AND lower(json_extract(fields, '$.{field}')) = ?"
)


def delivery_records(db: sqlite3.Connection, field: str, address: str) -> sqlite3.Cursor:
    """(id, time, message_id, sender, recipient, status, size, relay) of each delivery record
    whose ``field`` (recipient, orig_to or sender) is ``address`` (lower case)."""
    assert field in ("recipient", "orig_to", "sender")
    return db.execute(RECORDS_SQL.format(field=field), (address,))


def delivery_subjects(db: sqlite3.Connection, field: str, address: str) -> sqlite3.Cursor:
    """(message_id, subject) of each delivery record whose ``field`` (recipient or orig_to) is
    ``address`` (lower case) and whose log kept the subject."""
    assert field in ("recipient", "orig_to", "sender")
    return db.execute(
        "SELECT json_extract(fields, '$.message_id'), json_extract(fields, '$.subject') "
        f"FROM evidence INDEXED BY evidence_delivery_{field} WHERE kind = 'delivery' "
        f"AND lower(json_extract(fields, '$.{field}')) = ? AND json_extract(fields, '$.subject') IS NOT NULL",
        (address,),
    )


def named_in_logs(db: sqlite3.Connection, address: str) -> bool:
    """Whether a delivery record names ``address`` (lower case) as recipient, original
    recipient or sender."""
    return any(
        db.execute(RECORDS_SQL.format(field=field) + " LIMIT 1", (address,)).fetchone()
        for field in ("recipient", "orig_to", "sender")
    )


def message_ids(db: sqlite3.Connection, account: str) -> sqlite3.Cursor:
    """Each Message-ID among the account's copies, once."""
    return db.execute(
        "SELECT DISTINCT message_id FROM copies WHERE account = ? AND message_id IS NOT NULL",
        (account,),
    )


def logs_gathered(db: sqlite3.Connection) -> bool:
    """Whether any delivery record is in the workspace (else nothing can be called missing)."""
    return db.execute("SELECT 1 FROM evidence WHERE kind = 'delivery' LIMIT 1").fetchone() is not None


def all_evidence(db: sqlite3.Connection) -> Iterator[Evidence]:
    """Every stored evidence record, in the order gathered (the rows read first, each made a
    record as it is asked for)."""
    rows = db.execute("SELECT kind, source, position, time, fields FROM evidence ORDER BY id")
    for kind, source, position, time, fields in rows.fetchall():
        yield Evidence(
            kind, source, position, datetime.fromisoformat(time) if time else None, json.loads(fields)
        )


def copies_with_list_evidence(db: sqlite3.Connection) -> sqlite3.Cursor:
    """(account, source, position, blob, list_evidence) of the first copy of each bytes per
    account that holds list evidence or was gathered before it was stored (NULL), in the
    order gathered: streamed, the copies that hold none never leave SQLite."""
    return db.execute(
        "SELECT account, source, position, blob, list_evidence FROM copies WHERE id IN "
        "(SELECT min(id) FROM copies WHERE list_evidence IS NULL OR list_evidence != '[]' "
        "GROUP BY account, blob) ORDER BY id"
    )


def unconfirmed_time_groups(db: sqlite3.Connection, confirmed: str) -> list[str]:
    """Groups of log records whose year was inferred and not yet confirmed (basis ``confirmed/…``)."""
    return [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT time_group FROM evidence WHERE time_group != '' AND time_basis NOT LIKE ?",
            (confirmed + "/%",),
        )
    ]


def time_group_sample(db: sqlite3.Connection, group: str, limit: int) -> list[tuple[str, Any]]:
    """(time, message_id) of up to ``limit`` records of the group that name a message."""
    return db.execute(
        "SELECT time, json_extract(fields, '$.message_id') FROM evidence WHERE time_group = ? "
        "AND time_group != '' AND time IS NOT NULL AND json_extract(fields, '$.message_id') != '' LIMIT ?",
        (group, limit),
    ).fetchall()


def message_date(db: sqlite3.Connection, accounts: Sequence[str], message_id: str) -> str | None:
    """The Date of a copy of ``message_id`` in one of ``accounts``, if any has one."""
    marks = ",".join("?" * len(accounts))
    found = db.execute(  # through the (account, message_id) index, one probe per account
        f"SELECT date FROM copies WHERE account IN ({marks}) AND message_id = ? AND date IS NOT NULL LIMIT 1",
        (*accounts, message_id),
    ).fetchone()
    return None if found is None else str(found[0])


def time_group_records(db: sqlite3.Connection, group: str) -> list[tuple[int, str | None, str]]:
    """(id, time, time_basis) of each record of the group."""
    return db.execute(
        "SELECT id, time, time_basis FROM evidence WHERE time_group = ? AND time_group != ''", (group,)
    ).fetchall()


def retime_record(db: sqlite3.Connection, record: int, time: str | None, basis: str) -> None:
    db.execute("UPDATE evidence SET time = ?, time_basis = ? WHERE id = ?", (time, basis, record))
