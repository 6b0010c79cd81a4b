"""The workspace of one recovery job: a SQLite database and a content-addressed blob store.

Everything a stage finds is kept here so the next stage, or a rerun, can start from it.
The folder is 0700 and its files 0600 whatever the umask; the raw bytes of every copy are
kept once per content (``blobs/ab/cd/<sha256>``), written through ``blobs/tmp`` and renamed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import datetime, timezone
from pathlib import Path

from .errors import WorkspaceError
from .private import open_private, private_dir

__all__ = ["BlobStore", "Workspace", "default_workspace_path", "MIGRATIONS"]


def default_workspace_path() -> Path:
    env = os.environ.get("MAILRECOVER_WORKSPACE")
    if env:
        return Path(env)
    import platformdirs

    return platformdirs.user_data_path("mailrecover") / "default"


def _private_dir(path: Path) -> None:
    private_dir(path)
    os.chmod(path, 0o700)  # the workspace's own folders, even if someone widened them


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class BlobStore:
    """Exact raw bytes, addressed by their SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        _private_dir(root)
        _private_dir(root / "tmp")

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        private_dir(final.parent)
        tmp = self.root / "tmp" / f"{digest}.{os.getpid()}"
        fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, final)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(f"the workspace has lost the bytes of copy {digest[:12]}") from None


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
        """
    )


#: Numbered, named schema steps; each runs once, in order, and is recorded.
def _m002_delivery_lookup(db: sqlite3.Connection) -> None:
    """Delivery records by address, so a report on one account reads only its own."""
    for name in ("recipient", "orig_to", "sender"):
        db.execute(
            f"CREATE INDEX evidence_delivery_{name} ON evidence "
            f"(lower(json_extract(fields, '$.{name}'))) WHERE kind = 'delivery'"
        )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_core", _m001_core),
    ("002_delivery_lookup", _m002_delivery_lookup),
]


class _PluginState(MutableMapping[str, str]):
    """A plugin's per-location memory; written back when the read ends."""

    def __init__(self, data: dict[str, str]) -> None:
        self._data = data
        self.changed = False

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._data[key] = value
        self.changed = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.changed = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class _Journal:
    def __init__(self, db: sqlite3.Connection, target: str) -> None:
        self._db = db
        self._target = target

    def state(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT state FROM journal WHERE target = ? AND key = ?", (self._target, key)
        ).fetchone()
        return row[0] if row else None

    def mark(self, key: str, state: str, ref: str = "") -> None:
        self.mark_many([(key, state, ref)])

    def mark_many(self, entries: Iterable[tuple[str, str, str]]) -> None:
        now = now_text()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT INTO journal (target, key, state, ref, updated) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (target, key) DO UPDATE SET state = excluded.state, "
                "ref = excluded.ref, updated = excluded.updated",
                [(self._target, k, s, r, now) for k, s, r in entries],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def ref(self, key: str) -> str | None:
        row = self._db.execute(
            "SELECT ref FROM journal WHERE target = ? AND key = ?", (self._target, key)
        ).fetchone()
        return row[0] if row else None


class Workspace:
    """One recovery job's folder. Use as a context manager, or call ``close``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_workspace_path()
        try:
            _private_dir(self.path)
            dbfile = self.path / "workspace.db"
            if not dbfile.exists():
                os.close(open_private(dbfile, os.O_WRONLY))
            self.db = sqlite3.connect(dbfile, timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise WorkspaceError(f"cannot open workspace {self.path}: {e}") from e
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self.blobs = BlobStore(self.path / "blobs")

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT)")
        done = {r[0] for r in db.execute("SELECT name FROM migrations")}
        known = {name for name, _ in MIGRATIONS}
        if done - known:
            raise WorkspaceError(
                f"workspace {self.path} was made by a newer mailrecover "
                f"(it has {', '.join(sorted(done - known))})"
            )
        for name, step in MIGRATIONS:
            if name in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                step(db)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (name, now_text()))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --- locations and plugin state -------------------------------------------------

    def location(self, location: str, plugin: str, account: str = "", list_address: str = "") -> int:
        now = now_text()
        self.db.execute(
            "INSERT INTO locations (location, plugin, account, list, first_gathered, last_gathered) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (location, plugin, account, list) "
            "DO UPDATE SET last_gathered = excluded.last_gathered",
            (location, plugin, account, list_address, now, now),
        )
        row = self.db.execute(
            "SELECT id FROM locations WHERE location = ? AND plugin = ? AND account = ? AND list = ?",
            (location, plugin, account, list_address),
        ).fetchone()
        return int(row[0])

    def plugin_state(self, location_id: int) -> _PluginState:
        rows = self.db.execute(
            "SELECT key, value FROM plugin_state WHERE location_id = ?", (location_id,)
        )
        return _PluginState(dict(rows.fetchall()))

    def save_plugin_state(self, location_id: int, state: MutableMapping[str, str]) -> None:
        self.db.execute("DELETE FROM plugin_state WHERE location_id = ?", (location_id,))
        self.db.executemany(
            "INSERT INTO plugin_state VALUES (?, ?, ?)",
            [(location_id, k, v) for k, v in state.items()],
        )

    # --- journal --------------------------------------------------------------------

    def journal(self, target: str) -> _Journal:
        return _Journal(self.db, target)

    # --- small readers used by several stages ---------------------------------------

    def accounts(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT account FROM copies ORDER BY account")
        return [r[0] for r in rows]

    def raw(self, blob: str) -> bytes:
        return self.blobs.get(blob)
