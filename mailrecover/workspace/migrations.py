"""The workspace's schema, one named step a function, in the order they run.

Each step runs once, inside the transaction that records its name in ``migrations``
(``Workspace._migrate``).  Never edit a step that has shipped: workspaces made with it exist.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

__all__ = ["MIGRATIONS"]


def _script(db: sqlite3.Connection, sql: str) -> None:
    """Run several statements inside the caller's transaction (executescript would commit)."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_core(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE locations (
            id INTEGER PRIMARY KEY,
            location TEXT NOT NULL,
            plugin TEXT NOT NULL,
            account TEXT NOT NULL DEFAULT '',
            list TEXT NOT NULL DEFAULT '',
            first_gathered TEXT NOT NULL,
            last_gathered TEXT NOT NULL,
            UNIQUE (location, plugin, account, list)
        );
        CREATE TABLE plugin_state (
            location_id INTEGER NOT NULL REFERENCES locations(id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (location_id, key)
        );
        CREATE TABLE copies (
            id INTEGER PRIMARY KEY,
            location_id INTEGER NOT NULL REFERENCES locations(id),
            account TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            blob TEXT NOT NULL,
            size INTEGER NOT NULL,
            folder TEXT NOT NULL,
            flags TEXT NOT NULL,
            internal_date TEXT,
            partial INTEGER NOT NULL,
            reconstructed INTEGER NOT NULL,
            account_hints TEXT NOT NULL,
            keywords TEXT NOT NULL,
            message_id TEXT,
            from_addr TEXT,
            date TEXT,
            subject TEXT,
            head_fp TEXT NOT NULL,
            body_fp TEXT NOT NULL,
            content_fp TEXT NOT NULL,
            delivered_to TEXT NOT NULL,
            received INTEGER NOT NULL,
            gathered TEXT NOT NULL,
            message INTEGER,
            UNIQUE (account, source, position, blob)
        );
        CREATE INDEX copies_by_message_id ON copies (account, message_id);
        CREATE INDEX copies_by_content ON copies (account, content_fp);
        CREATE INDEX copies_by_message ON copies (message);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            account TEXT NOT NULL,
            key TEXT NOT NULL,
            canonical INTEGER NOT NULL REFERENCES copies(id),
            folder TEXT NOT NULL,
            flags TEXT NOT NULL,
            date TEXT,
            message_id TEXT,
            copies INTEGER NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            UNIQUE (account, key)
        );
        CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            merged TEXT
        );
        CREATE TABLE evidence (
            id INTEGER PRIMARY KEY,
            location_id INTEGER NOT NULL REFERENCES locations(id),
            account TEXT NOT NULL DEFAULT '',
            list TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            time TEXT,
            fields TEXT NOT NULL,
            UNIQUE (kind, source, position, fields)
        );
        CREATE INDEX evidence_by_kind ON evidence (kind);
        CREATE TABLE problems (
            id INTEGER PRIMARY KEY,
            location_id INTEGER REFERENCES locations(id),
            account TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            reason TEXT NOT NULL,
            UNIQUE (account, kind, source, position, reason)
        );
        CREATE TABLE skipped (
            path TEXT PRIMARY KEY,
            account TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE journal (
            target TEXT NOT NULL,
            key TEXT NOT NULL,
            state TEXT NOT NULL,
            ref TEXT NOT NULL DEFAULT '',
            updated TEXT NOT NULL,
            PRIMARY KEY (target, key)
        );
        CREATE TABLE conflicts (
            account TEXT NOT NULL,
            message_id TEXT NOT NULL,
            messages INTEGER NOT NULL,
            PRIMARY KEY (account, message_id)
        );
        """,
    )


def _m002_delivery_lookup(db: sqlite3.Connection) -> None:
    """Delivery records by address, so a report on one account reads only its own."""
    for name in ("recipient", "orig_to", "sender"):
        db.execute(
            f"CREATE INDEX evidence_delivery_{name} ON evidence "
            f"(lower(json_extract(fields, '$.{name}'))) WHERE kind = 'delivery'"
        )


def _m003_speed(db: sqlite3.Connection) -> None:
    """Packed blobs; indexes for the merge's lookups of damaged copies by their header, for
    finding messages by state, and for a report that reads indexes, not every row."""
    _script(
        db,
        """
        CREATE TABLE blobs (
            digest TEXT PRIMARY KEY,
            pack INTEGER,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX copies_by_head ON copies (account, head_fp);
        CREATE INDEX copies_by_location ON copies (account, location_id);
        CREATE INDEX messages_by_status ON messages (account, status);
        CREATE INDEX messages_by_folder ON messages (account, folder, status, flags)
        """,
    )
    # bytes kept one file each before packs: list them so nothing is looked for twice
    main_db = next(r[2] for r in db.execute("PRAGMA database_list") if r[1] == "main")
    if not main_db:
        return
    loose = Path(main_db).parent / "blobs"
    for dirpath, _dirs, files in os.walk(loose):
        for name in files:
            path = Path(dirpath, name)
            if len(name) == 64 and path.parent.parent.parent == loose:
                db.execute(
                    "INSERT OR IGNORE INTO blobs (digest, pack, offset, length) VALUES (?, NULL, 0, ?)",
                    (name, path.stat().st_size),
                )


def _m004_recheck_ownership(db: sqlite3.Connection) -> None:
    """Verdicts made by an older ownership check are redone before the next report or restore.

    A stored verdict holds until the account's copies change (gather clears ``merged``) or
    the check's rules change; each change of the rules appends a step like this one.
    """
    db.execute("UPDATE messages SET status = 'unchecked' WHERE status != 'unchecked'")


def _m005_journal_by_key(db: sqlite3.Connection) -> None:
    """Restores of one account found from its messages, not by reading every journal entry."""
    db.execute("CREATE INDEX journal_by_key ON journal (key, state, target)")


def _m007_aliases(db: sqlite3.Connection) -> None:
    """Addresses the administrator says are also an account's (``--alias``), and the
    ownership check made again under its rules of 007 (ownership judged per copy; ORCPT,
    internal names and several ``Received … for`` recipients read): copies summarised
    before (``delivered_to`` empty) have their header read again by the next check."""
    _script(
        db,
        """
        CREATE TABLE aliases (
            account TEXT NOT NULL,
            alias TEXT NOT NULL,
            added TEXT NOT NULL,
            PRIMARY KEY (account, alias)
        );
        UPDATE copies SET delivered_to = '["?"]' WHERE delivered_to = '[]';
        UPDATE messages SET status = 'unchecked' WHERE status != 'unchecked'
        """,
    )


def _m006_arrival_times(db: sqlite3.Connection) -> None:
    """Each copy's arrival time and the evidence it came from (``arrival.py``), and the one
    each message is restored and reported with.  Copies gathered before could not tell a
    store's record from a file time, and some stores' records were not read at all (mbox
    ``From `` lines): they keep their old time, marked ``legacy``, until their location is
    gathered again; their messages are merged again to carry a source."""
    _script(
        db,
        """
        ALTER TABLE copies ADD COLUMN arrival TEXT;
        ALTER TABLE copies ADD COLUMN arrival_source TEXT NOT NULL DEFAULT 'none';
        ALTER TABLE messages ADD COLUMN date_source TEXT NOT NULL DEFAULT 'none';
        UPDATE copies SET arrival = coalesce(internal_date, date), arrival_source = 'legacy';
        UPDATE accounts SET merged = NULL;
        CREATE INDEX messages_by_date_source ON messages (account, date_source)
        """,
    )


def _m009_log_times(db: sqlite3.Connection) -> None:
    """How each record's time was found (``YEAR/ZONE``, e.g. ``chain/local`` for a syslog line)
    and which records share the anchor of their year, so a report can correct them together
    from the dates of the messages they name."""
    db.execute("ALTER TABLE evidence ADD COLUMN time_basis TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE evidence ADD COLUMN time_group TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE INDEX evidence_by_time_group ON evidence (time_group) WHERE time_group != ''")


def _m008_verifications(db: sqlite3.Connection) -> None:
    """What each target held of an account's plan when last looked at (by a restore or ``verify``)."""
    db.execute(
        "CREATE TABLE verifications (target TEXT NOT NULL, account TEXT NOT NULL, checked TEXT NOT NULL, "
        "by TEXT NOT NULL, planned INTEGER NOT NULL, present INTEGER NOT NULL, missing INTEGER NOT NULL, "
        "repaired INTEGER NOT NULL, note TEXT NOT NULL DEFAULT '', PRIMARY KEY (target, account))"
    )


def _m010_tnef_wrapped(db: sqlite3.Connection) -> None:
    """Which copies hold their content in TNEF (winmail.dat): they rank below the rebuild
    gathered beside them, which is what a restore should carry."""
    db.execute("ALTER TABLE copies ADD COLUMN wrapped INTEGER NOT NULL DEFAULT 0")


def _m011_unassigned(db: sqlite3.Connection) -> None:
    """The pile of copies ``gather --by-owner`` could give to no account of the job, each
    with the evidence it weighed (kept, never dropped; ``report`` lists them)."""
    _script(
        db,
        """
        CREATE TABLE unassigned (
            id INTEGER PRIMARY KEY,
            location_id INTEGER NOT NULL REFERENCES locations(id),
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            blob TEXT NOT NULL,
            size INTEGER NOT NULL,
            message_id TEXT,
            from_addr TEXT NOT NULL,
            subject TEXT NOT NULL,
            evidence TEXT NOT NULL,
            reason TEXT NOT NULL,
            gathered TEXT NOT NULL,
            UNIQUE (source, position, blob)
        )
        """,
    )


def _m012_items(db: sqlite3.Connection) -> None:
    """Contacts, distribution lists and calendar items found beside the mail (``model.Item``),
    per account with where they were found; ``fields`` holds the record as JSON and
    ``digest`` its hash, so reading the same item again adds nothing."""
    _script(
        db,
        """
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            location_id INTEGER NOT NULL REFERENCES locations(id),
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            folder TEXT NOT NULL,
            source TEXT NOT NULL,
            position TEXT NOT NULL,
            digest TEXT NOT NULL,
            fields TEXT NOT NULL,
            gathered TEXT NOT NULL,
            UNIQUE (account, source, position, digest)
        );
        CREATE INDEX items_by_account ON items (account, kind, folder)
        """,
    )


def _m013_copy_labels(db: sqlite3.Connection) -> None:
    """The other folders a copy is in where its store has labels (Gmail): a restore to a
    server with labels gives the one message each of them."""
    db.execute("ALTER TABLE copies ADD COLUMN labels TEXT NOT NULL DEFAULT '[]'")


def _m015_header_facts(db: sqlite3.Connection) -> None:
    """What later stages read of a copy's header, stored by gather, which parses it once:
    its delivery clues less its list's own addresses (the ownership check) and its list
    evidence (``members``), as JSON.  NULL: gathered before, read again from the copy."""
    db.execute("ALTER TABLE copies ADD COLUMN clues TEXT")
    db.execute("ALTER TABLE copies ADD COLUMN list_evidence TEXT")


def _m016_filed_by(db: sqlite3.Connection) -> None:
    """How a ``--by-owner`` sort filed a copy ('' : gathered into its account, not sorted): a
    later sort takes back only what a weak hint (its area, its writer) put in an account."""
    db.execute("ALTER TABLE copies ADD COLUMN filed_by TEXT NOT NULL DEFAULT ''")
    db.execute(
        "CREATE INDEX copies_filed_weakly ON copies (source, position, blob) WHERE filed_by IN ('area', 'writer')"
    )


def _m017_sorted_share(db: sqlite3.Connection) -> None:
    """``shares``: a digest of what a sorted workspace files under each account, so ``batch``
    runs again exactly the accounts whose share changed.  A copy a sort stored before
    ``016_filed_by`` (its location read by owner: ``byowner.BY_OWNER`` as it was then) is marked
    ``unknown``: a later sort takes it back like one a weak hint filed, never what a normal
    gather stored."""
    db.execute("CREATE TABLE shares (account TEXT PRIMARY KEY, digest TEXT NOT NULL)")
    db.execute(
        "UPDATE copies SET filed_by = 'unknown' WHERE filed_by = '' "
        "AND location_id IN (SELECT id FROM locations WHERE account = '(by owner)')"
    )
    db.execute("DROP INDEX IF EXISTS copies_filed_weakly")
    db.execute(
        "CREATE INDEX copies_filed_weakly ON copies (source, position, blob) "
        "WHERE filed_by IN ('area', 'writer', 'unknown')"
    )


#: Numbered, named schema steps; each runs once, in order, and is recorded.
#: Never edit a step that has shipped: workspaces made with it exist.  Append a new one.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_core", _m001_core),
    ("002_delivery_lookup", _m002_delivery_lookup),
    ("003_speed", _m003_speed),
    ("004_recheck_ownership", _m004_recheck_ownership),
    ("005_journal_by_key", _m005_journal_by_key),
    ("007_aliases", _m007_aliases),
    ("006_arrival_times", _m006_arrival_times),
    ("009_log_times", _m009_log_times),
    ("008_verifications", _m008_verifications),
    ("010_tnef_wrapped", _m010_tnef_wrapped),
    ("011_unassigned", _m011_unassigned),
    ("012_items", _m012_items),
    ("013_copy_labels", _m013_copy_labels),
    ("015_header_facts", _m015_header_facts),
    ("016_filed_by", _m016_filed_by),
    ("017_sorted_share", _m017_sorted_share),
]
