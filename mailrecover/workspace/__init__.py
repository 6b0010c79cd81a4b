"""The workspace of one recovery job: a SQLite database and a content-addressed blob store.

Everything a stage finds is kept here so the next stage, or a rerun, can start from it.
The folder is 0700 and its files 0600 whatever the umask; the raw bytes of every copy are
kept once per content, appended to pack files under ``blobs/packs`` (see ``BlobStore``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BlobError, WorkspaceError, WorkspaceInUse
from ..model import JournalState
from ..private import open_private, private_dir
from .migrations import MIGRATIONS

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
    return datetime.now(UTC).isoformat(timespec="seconds")


class BlobStore:
    """Exact raw bytes, addressed by their SHA-256, appended to pack files.

    A pack (``blobs/packs/<n>.pack``) is only ever appended to, by one writer; the table
    ``blobs`` says where each digest's bytes are.  Bytes are made durable (one fdatasync)
    before the transaction that names them commits: ``Workspace.commit`` does both, so a
    batch costs one sync, not one per message.  Bytes of an interrupted batch are
    unnamed garbage at the end of a pack, never a name without bytes.  Workspaces made
    before packs keep their loose files (``ab/cd/<digest>``), listed in the table too.
    """

    PACK_LIMIT = 1 << 30

    def __init__(self, root: Path, db: sqlite3.Connection, read_only: bool = False) -> None:
        self.root = root
        self.db = db
        if not read_only:
            _private_dir(root)
            _private_dir(root / "packs")
        self._pack: tuple[int, int] | None = None  # (pack number, fd) being appended to
        self._size = 0
        self._unsynced = False
        self._readers: dict[int, int] = {}

    def loose_path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def pack_path(self, pack: int) -> Path:
        return self.root / "packs" / f"{pack}.pack"

    def path(self, digest: str) -> Path:
        """The file holding ``digest``'s bytes: its pack, or its own file in old workspaces."""
        row = self._where(digest)
        return self.loose_path(digest) if row is None or row[0] is None else self.pack_path(row[0])

    def _where(self, digest: str) -> tuple[int | None, int, int] | None:
        row = self.db.execute("SELECT pack, offset, length FROM blobs WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _writer(self) -> int:
        if self._pack is not None and self._size < self.PACK_LIMIT:
            return self._pack[1]
        self.close_writer()
        while True:
            pack = time.time_ns()
            try:
                fd = os.open(self.pack_path(pack), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
                os.fchmod(fd, 0o600)  # whatever the umask
                break
            except FileExistsError:
                continue
        self._pack, self._size = (pack, fd), 0
        return fd

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Keep ``data`` (once); ``digest`` may be passed when already computed.

        The name is inserted first and the bytes appended only if it was new: one look-up
        in ``blobs`` per copy, not two (at 1M copies each one is a miss in a B-tree of
        random keys).  Until the transaction commits, the bytes are synced first.
        """
        digest = digest or hashlib.sha256(data).hexdigest()
        own = not self.db.in_transaction  # no batch to wait for: this name commits at once
        if own:
            self.db.execute("BEGIN IMMEDIATE")
        try:
            fd = self._writer()
            assert self._pack is not None
            new = (
                self.db.execute(
                    "INSERT OR IGNORE INTO blobs (digest, pack, offset, length) VALUES (?, ?, ?, ?)",
                    (digest, self._pack[0], self._size, len(data)),
                ).rowcount
                > 0
            )
            if new:
                self._append(fd, data, digest)
            if own:
                self.sync()
                self.db.execute("COMMIT")
        except BaseException:
            if own:
                self.db.execute("ROLLBACK")
            raise
        return digest

    def _append(self, fd: int, data: bytes, digest: str) -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            self.db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))  # never a name without bytes
            self._size = self.PACK_LIMIT  # what was half written ends this pack: the next bytes start another
            raise
        self._size += len(data)
        self._unsynced = True

    def sync(self) -> None:
        """Make every byte written so far durable."""
        if self._unsynced and self._pack is not None:
            os.fdatasync(self._pack[1])
        self._unsynced = False

    def close_writer(self) -> None:
        if self._pack is not None:
            self.sync()
            os.close(self._pack[1])
            self._pack = None

    def close(self) -> None:
        self.close_writer()
        for fd in self._readers.values():
            os.close(fd)
        self._readers.clear()

    def get(self, digest: str) -> bytes:
        return self.read(digest, self._where(digest))

    def read(self, digest: str, where: tuple[int | None, int, int] | None) -> bytes:
        """``digest``'s bytes from where ``blobs`` says they are (pack, offset, length), for a
        caller that read that row in its own query: a long restore joins it in its plan.

        The bytes are checked against their SHA-256 first (a flipped bit on disk must never
        reach a target): ``BlobError`` when they are gone or differ.
        """
        try:
            if where is None or where[0] is None:
                data = self.loose_path(digest).read_bytes()
            else:
                pack, offset, length = where[0], where[1], where[2]
                fd = self._readers.get(pack)
                if fd is None:
                    fd = self._readers[pack] = os.open(self.pack_path(pack), os.O_RDONLY)
                data = os.pread(fd, length, offset)
                if len(data) != length:
                    raise BlobError(digest, f"is cut short ({len(data)} of {length} bytes left in its pack)")
        except FileNotFoundError:
            raise BlobError(digest, "is lost (its file is gone)") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobError(digest, "is damaged (its bytes no longer match their SHA-256)")
        return data


#: Indexes that only readers use, left out while their table is written in bulk and built
#: once at the end (see ``Workspace.loading_copies``, ``rewriting_messages`` and ``restoring``).
#: Defined as their migrations made them.  Gather finds copies through the unique constraint
#: and ``copies_by_location``; the merge and check find messages by id; a restore finds its
#: journal entries by target and key.
_COPY_LOOKUPS = {
    "copies_by_message_id": "copies (account, message_id)",
    "copies_by_content": "copies (account, content_fp)",
    "copies_by_message": "copies (message)",
    "copies_by_head": "copies (account, head_fp)",
}
_MESSAGE_LOOKUPS = {
    "messages_by_status": "messages (account, status)",
    "messages_by_folder": "messages (account, folder, status, flags)",
    "messages_by_date_source": "messages (account, date_source)",  # the report's count by source
}
_JOURNAL_LOOKUPS = {"journal_by_key": "journal (key, state, target)"}
_LOOKUP_INDEXES = _COPY_LOOKUPS | _MESSAGE_LOOKUPS | _JOURNAL_LOOKUPS


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

    def state(self, key: str) -> JournalState | None:
        row = self._db.execute(
            "SELECT state FROM journal WHERE target = ? AND key = ?", (self._target, key)
        ).fetchone()
        return JournalState(row[0]) if row else None

    def mark(self, key: str, state: JournalState, ref: str = "") -> None:
        self.mark_many([(key, state, ref)])

    def mark_many(self, entries: Iterable[tuple[str, JournalState, str]]) -> None:
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


#: Seconds a connection waits for another process's write lock before giving up.
_WAIT_FOR_LOCK = 60

#: The writers' lock: held (``flock``) by the one process that may write, holding its PID.
LOCK_FILE = "workspace.lock"


def _hold_lock(folder: Path) -> int:
    """Take the workspace's writer lock at once and return its descriptor (kept open while
    writing), or raise ``WorkspaceInUse`` naming the process that holds it.

    Without it two gathers on a new workspace raced each other's migrations and SQLite
    locks; waiting is left to the user, who knows how long the other job runs.
    """
    fd = open_private(folder / LOCK_FILE, os.O_RDWR)
    try:
        holder = None
        for _ in range(100):  # a holder writes its PID right after it locks: give it that moment
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                holder = None
                break
            except BlockingIOError:
                holder = os.pread(fd, 20, 0).decode("ascii", "replace").strip()
                if holder.isdigit():
                    break
                time.sleep(0.01)
        if holder is not None:
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise WorkspaceInUse(
                f"workspace {folder} is in use by {who}; run this again when it has finished"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_read_only(dbfile: Path) -> sqlite3.Connection:
    """The database opened for reading only: in place while a writer may be at work (``mode=ro``
    reads its committed rows through the WAL), else as an immutable file (SQLite cannot make the
    WAL's shared-memory file in a folder it may not write)."""
    uri = dbfile.absolute().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=_WAIT_FOR_LOCK, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        wal = dbfile.with_name(dbfile.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise WorkspaceError(
                f"workspace {dbfile.parent} is read-only and holds writes not yet folded into the "
                f"database ({wal.name}); open it once where it can be written"
            ) from None
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


class Workspace:
    """One recovery job's folder. Use as a context manager, or call ``close``.

    A writer holds the workspace alone (``_hold_lock``).  A ``reader`` (report, members) also
    opens a workspace it may not write, or one another process is writing, read-only:
    ``read_only`` then says so and ``held_by`` names the writer.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, reader: bool = False, read_only: bool = False
    ) -> None:
        """``read_only``: read it only, even where it could be written, without the writer's lock
        (what many processes read at once: ``batch``'s sorted workspace, one opening per account)."""
        self.path = Path(path) if path is not None else default_workspace_path()
        self.read_only, self.held_by = False, ""
        self._lock: int | None = None
        dbfile = self.path / "workspace.db"
        try:
            if read_only or (
                reader
                and dbfile.exists()
                and not (os.access(self.path, os.W_OK) and os.access(dbfile, os.W_OK))
            ):
                self.read_only = True
            else:
                _private_dir(self.path)
                try:
                    self._lock = _hold_lock(self.path)
                except WorkspaceInUse as e:
                    if not reader:
                        raise
                    self.read_only, self.held_by = True, str(e)
            if self.read_only:
                self.db = _open_read_only(dbfile)
            else:
                if not dbfile.exists():
                    os.close(open_private(dbfile, os.O_WRONLY))
                self.db = sqlite3.connect(dbfile, timeout=_WAIT_FOR_LOCK, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            self._unlock()
            why = (
                "it is read-only" if isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES) else e
            )
            raise WorkspaceError(f"cannot open workspace {self.path}: {why}") from e
        except BaseException:
            self._unlock()
            raise
        try:
            if not self.read_only:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            if not self.read_only:
                self._build_lookup_indexes(wait=False)  # if a block that left them out was killed
            self.blobs = BlobStore(self.path / "blobs", self.db, read_only=self.read_only)
        except BaseException:
            self.db.close()
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock, 0)  # no PID left behind to be named wrongly
            os.close(self._lock)  # the lock goes with the last descriptor of it
            self._lock = None

    def cannot_write(self, what: str) -> WorkspaceError:
        """The error for a reader that would have to write ``what`` into a read-only workspace."""
        if self.held_by:
            return WorkspaceInUse(f"{self.held_by} ({what})")
        return WorkspaceError(
            f"workspace {self.path} is read-only and {what}; open it once where it can be written"
        )

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.blobs.close()
        self.db.close()
        self._unlock()

    def commit(self) -> None:
        """End the open transaction durably: the bytes it names first, then the rows."""
        self.blobs.sync()
        self.db.execute("COMMIT")

    @contextlib.contextmanager
    def loading_copies(self) -> Iterator[None]:
        """A block that adds copies; into an empty workspace it adds them without the look-up
        indexes, which are built once at its end.

        Sorting the rows once is far cheaper than inserting each into four B-trees of
        random keys (measured on the 10k benchmark corpus: 0.3-0.7 s of a 3-4 s gather, the
        build 0.05 s).  Nothing can want them meanwhile: the workspace was empty.
        """
        empty = self.db.execute("SELECT 1 FROM copies LIMIT 1").fetchone() is None
        with self._without(_COPY_LOOKUPS if empty else {}):
            yield

    @contextlib.contextmanager
    def rewriting_messages(self) -> Iterator[None]:
        """A block that rebuilds messages and their verdicts (merge, then ownership check),
        without the indexes that only readers use, built once at its end.

        The merge inserts every message and the check rewrites each one's status: at 1M
        copies each of those writes landed in ``messages_by_folder`` at a random place, far
        outside SQLite's page cache.
        """
        with self._without(_MESSAGE_LOOKUPS):
            yield

    @contextlib.contextmanager
    def restoring(self) -> Iterator[None]:
        """A block that writes restore journal entries, without ``journal_by_key`` (which only
        the report reads), built once at its end: each entry has a random key, and at 1M
        messages the index took a third of the journal's writes."""
        with self._without(_JOURNAL_LOOKUPS):
            yield

    @contextlib.contextmanager
    def _without(self, indexes: dict[str, str]) -> Iterator[None]:
        """Drop ``indexes`` for the block; a process killed inside it leaves them to the next
        open to build."""
        if indexes:
            self.db.execute("BEGIN IMMEDIATE")
            for name in indexes:
                self.db.execute(f"DROP INDEX IF EXISTS {name}")
            self.db.execute("COMMIT")
        try:
            yield
        finally:
            if indexes:
                self._build_lookup_indexes()

    def _build_lookup_indexes(self, wait: bool = True) -> None:
        """Build the look-up indexes that are missing; without ``wait``, only if no other
        process is writing (a gather or merge running now will build them at its end)."""
        have = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        if have.issuperset(_LOOKUP_INDEXES):
            return
        if wait:
            self.db.execute("BEGIN IMMEDIATE")
        else:
            self.db.execute("PRAGMA busy_timeout = 0")
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return  # queries meanwhile read the tables without them, as slower scans
            finally:
                self.db.execute(f"PRAGMA busy_timeout = {int(_WAIT_FOR_LOCK * 1000)}")
        try:
            for name, columns in _LOOKUP_INDEXES.items():
                self.db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        db = self.db
        if not self.read_only:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied TEXT)")
        has_table = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'migrations'").fetchone()
        done = {r[0] for r in db.execute("SELECT name FROM migrations")} if has_table else set()
        known = {name for name, _ in MIGRATIONS}
        if done - known:
            raise WorkspaceError(
                f"workspace {self.path} was made by a newer mailrecover "
                f"(it has {', '.join(sorted(done - known))})"
            )
        if self.read_only and known - done:
            raise self.cannot_write(
                "is still being made"
                if not done
                else "was made by an older mailrecover: its tables need updating"
            )
        for name, step in MIGRATIONS:
            if name in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                    db.execute("ROLLBACK")  # another opener ran it meanwhile (one without the lock)
                    continue
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
        rows = self.db.execute("SELECT key, value FROM plugin_state WHERE location_id = ?", (location_id,))
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
        """Accounts that have copies, in order: one index seek per account, not a scan of copies."""
        rows = self.db.execute(
            "WITH RECURSIVE a(name) AS (SELECT min(account) FROM copies UNION ALL "
            "SELECT (SELECT min(account) FROM copies WHERE account > a.name) FROM a "
            "WHERE a.name IS NOT NULL) SELECT name FROM a WHERE name IS NOT NULL"
        )
        return [r[0] for r in rows]

    def raw(self, blob: str) -> bytes:
        return self.blobs.get(blob)
