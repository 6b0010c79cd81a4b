"""Builders of Linux desktop clients' stores as the clients lay them out: Evolution 3's local
Maildir++ tree with its ``folders.db``, KMail's ``local-mail`` with Akonadi's database.

The SQLite schemas are the clients' own (Evolution: ``camel-db.c`` before 3.58 and
``camel-store-db.c`` since; Akonadi: ``akonadidb.xml``), written here from their column lists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "AKONADI_FLAGS",
    "EVOLUTION_BITS",
    "EvolutionMessage",
    "KMailMessage",
    "build_akonadi",
    "build_evolution",
    "build_kmail",
]

#: CamelMessageFlags (camel-message-info.h).
EVOLUTION_BITS = {
    "answered": 1,
    "deleted": 2,
    "draft": 4,
    "flagged": 8,
    "seen": 16,
    "junk": 1 << 7,
    "notjunk": 1 << 9,
    "forwarded": 1 << 10,
}

#: Akonadi::MessageFlags (akonadi-mime messageflags.cpp).
AKONADI_FLAGS = ("\\SEEN", "\\DELETED", "\\ANSWERED", "\\FLAGGED", "$REPLIED", "$FORWARDED", "$JUNK", "$TODO")


@dataclass(frozen=True)
class EvolutionMessage:
    folder_dir: str  # "." for the root (Inbox), ".Work.Projects" for a subfolder
    file_name: str  # as in cur/ (with its ":2," info) or new/
    raw: bytes
    bits: int | None  # the folders.db flags; None: no row for it
    labels: str = ""
    sub: str = "cur"


_OLD_FOLDERS = (
    "CREATE TABLE folders (folder_name TEXT PRIMARY KEY, version REAL, flags INTEGER, nextuid INTEGER, "
    "time NUMERIC, saved_count INTEGER, unread_count INTEGER, deleted_count INTEGER, junk_count INTEGER, "
    "visible_count INTEGER, jnd_count INTEGER, bdata TEXT)"
)
_OLD_MESSAGES = (
    "CREATE TABLE {table} (uid TEXT PRIMARY KEY, flags INTEGER, msg_type INTEGER, read INTEGER, "
    "deleted INTEGER, replied INTEGER, important INTEGER, junk INTEGER, attachment INTEGER, dirty INTEGER, "
    "size INTEGER, dsent NUMERIC, dreceived NUMERIC, subject TEXT, mail_from TEXT, mail_to TEXT, "
    "mail_cc TEXT, mlist TEXT, followup_flag TEXT, followup_completed_on TEXT, followup_due_by TEXT, "
    "part TEXT, labels TEXT, usertags TEXT, cinfo TEXT, bdata TEXT, userheaders TEXT, preview TEXT, "
    "created TEXT, modified TEXT)"
)
_NEW_FOLDERS = _OLD_FOLDERS.replace("version REAL", "version INTEGER").replace(
    "bdata TEXT)", "bdata TEXT, folder_id INTEGER)"
)
_NEW_MESSAGES = (
    "CREATE TABLE {table} (uid TEXT, flags INTEGER, msg_type INTEGER, dirty INTEGER, size INTEGER, "
    "dsent NUMERIC, dreceived NUMERIC, subject TEXT, mail_from TEXT, mail_to TEXT, mail_cc TEXT, "
    "mlist TEXT, part TEXT, labels TEXT, usertags TEXT, cinfo TEXT, bdata TEXT, userheaders TEXT, "
    "preview TEXT, PRIMARY KEY (uid))"
)


def _full_name(folder_dir: str) -> str:
    if folder_dir == ".":
        return "Inbox"
    name = "Inbox/" + folder_dir[2:] if folder_dir.startswith("..") else folder_dir[1:]
    return name.replace(".", "/").replace("_2E", ".").replace("_5F", "_")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_evolution(root: Path, messages: Iterable[EvolutionMessage], *, schema: str = "3.58") -> Path:
    """``root`` as Evolution leaves ``mail/local``: Maildir++ folders and ``folders.db`` in
    the ``schema`` of that version ("3.58": ``messages_<id>`` tables; "3.56": one table per
    folder named after it)."""
    messages = list(messages)
    folders: dict[str, str] = {}
    for m in messages:
        folder = root if m.folder_dir == "." else root / m.folder_dir
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / m.sub / m.file_name).write_bytes(m.raw)
        folders.setdefault(_full_name(m.folder_dir), "")
    db = sqlite3.connect(root / "folders.db")
    try:
        new = schema == "3.58"
        db.execute(_NEW_FOLDERS if new else _OLD_FOLDERS)
        if new:
            db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY, value TEXT)")
        for n, name in enumerate(sorted(folders), start=1):
            table = f"messages_{n}" if new else name
            folders[name] = table
            db.execute(
                "INSERT INTO folders (folder_name, version, flags, nextuid, time, saved_count"
                + (", folder_id" if new else "")
                + ") VALUES (?, 3, 0, 100, 0, 0"
                + (", ?" if new else "")
                + ")",
                (name, n) if new else (name,),
            )
            db.execute((_NEW_MESSAGES if new else _OLD_MESSAGES).format(table=_quoted(table)))
        for m in messages:
            if m.bits is None:
                continue
            uid = m.file_name.split(":", 1)[0]
            db.execute(
                f"INSERT INTO {_quoted(folders[_full_name(m.folder_dir)])} (uid, flags, labels, usertags) "
                "VALUES (?, ?, ?, ?)",
                (uid, m.bits, m.labels, "0"),
            )
        db.commit()
    finally:
        db.close()
    return root


@dataclass(frozen=True)
class KMailMessage:
    folder: tuple[str, ...]  # the collection path below local-mail: ("inbox",), ("inbox", "Projects")
    file_name: str
    raw: bytes
    flags: tuple[str, ...] | None  # Akonadi's flags; None: no item for it
    remote_id: str | None = None  # what Akonadi last knew the file as (default: file_name)
    sub: str = "cur"


def _kmail_dir(root: Path, folder: tuple[str, ...]) -> Path:
    """KMail's maildir layout: a folder's subfolders live in ``.<name>.directory/``."""
    path = root
    for i, name in enumerate(folder):
        path = path / name if i == 0 else path.parent / f".{path.name}.directory" / name
    return path


def build_kmail(root: Path, messages: Iterable[KMailMessage]) -> Path:
    """``local-mail`` as Akonadi's maildir resource writes it (the top folder a container)."""
    for m in messages:
        folder = _kmail_dir(root, m.folder)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / m.sub / m.file_name).write_bytes(m.raw)
    return root


_AKONADI_TABLES = (
    "CREATE TABLE SchemaVersionTable (version INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE ResourceTable (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, isVirtual BOOL DEFAULT 0)",
    "CREATE TABLE CollectionTable (id INTEGER PRIMARY KEY AUTOINCREMENT, remoteId TEXT, remoteRevision TEXT, "
    "name TEXT NOT NULL, parentId INTEGER, resourceId INTEGER NOT NULL, enabled BOOL NOT NULL DEFAULT 1)",
    "CREATE TABLE MimeTypeTable (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE PimItemTable (id INTEGER PRIMARY KEY AUTOINCREMENT, rev INTEGER NOT NULL DEFAULT 0, "
    "remoteId TEXT, remoteRevision TEXT, gid TEXT, collectionId INTEGER, mimeTypeId INTEGER, "
    "datetime TIMESTAMP, atime TIMESTAMP, dirty BOOL, size INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE FlagTable (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)",
    "CREATE TABLE PimItemFlagRelation (PimItem_id INTEGER NOT NULL, Flag_id INTEGER NOT NULL, "
    "PRIMARY KEY (PimItem_id, Flag_id))",
)


def build_akonadi(
    data_home: Path,
    local_mail: Path,
    messages: Iterable[KMailMessage],
    *,
    resource: str = "akonadi_maildir_resource_0",
) -> sqlite3.Connection:
    """``<data_home>/akonadi/akonadi.db`` as Akonadi's SQLite backend keeps it, in WAL mode,
    its items' flags still in the ``-wal`` file: the connection is returned open (Akonadi
    running), and the caller closes it."""
    (data_home / "akonadi").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_home / "akonadi" / "akonadi.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    for statement in _AKONADI_TABLES:
        db.execute(statement)
    db.execute("INSERT INTO MimeTypeTable (name) VALUES ('message/rfc822')")
    resource_id = db.execute("INSERT INTO ResourceTable (name) VALUES (?)", (resource,)).lastrowid
    top = db.execute(
        "INSERT INTO CollectionTable (remoteId, name, parentId, resourceId) VALUES (?, 'Local Folders', NULL, ?)",
        (str(local_mail), resource_id),
    ).lastrowid
    collections: dict[tuple[str, ...], int] = {(): int(top or 0)}
    flag_ids: dict[str, int] = {}
    db.execute("BEGIN")
    for m in messages:
        for depth in range(1, len(m.folder) + 1):
            path = m.folder[:depth]
            if path not in collections:
                collections[path] = int(
                    db.execute(
                        "INSERT INTO CollectionTable (remoteId, name, parentId, resourceId) VALUES (?, ?, ?, ?)",
                        (path[-1], path[-1], collections[path[:-1]], resource_id),
                    ).lastrowid
                    or 0
                )
        if m.flags is None:
            continue
        item = db.execute(
            "INSERT INTO PimItemTable (remoteId, collectionId, mimeTypeId, size) VALUES (?, ?, 1, ?)",
            (m.remote_id or m.file_name, collections[m.folder], len(m.raw)),
        ).lastrowid
        for flag in m.flags:
            if flag not in flag_ids:
                flag_ids[flag] = int(
                    db.execute("INSERT INTO FlagTable (name) VALUES (?)", (flag,)).lastrowid or 0
                )
            db.execute(
                "INSERT INTO PimItemFlagRelation (PimItem_id, Flag_id) VALUES (?, ?)", (item, flag_ids[flag])
            )
    db.execute("COMMIT")
    return db
