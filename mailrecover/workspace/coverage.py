"""The files one gather's plugins have accounted for, in a scratch database of its own.

It is not the workspace: nothing here outlives the gather.  It lives in the workspace
package because every SQL statement of mailrecover does (one layer to read when a query
must change).
"""

from __future__ import annotations

import os
import sqlite3

__all__ = ["Coverage"]


def _key(path: str) -> bytes:
    """A path as bytes, whatever surrogates it carries (escaped bytes of a non-UTF-8 name)."""
    return path.encode("utf-8", "surrogatepass")


class Coverage:
    """The files plugins have accounted for in one gather (named by a finding) and the
    files and folders they left out on purpose, with the reason.

    Kept in a private temporary SQLite database, not a set: a Maildir of a million files
    costs that database's pages, bounded by its cache, not a million strings in memory.
    Paths are stored as bytes (``_key``): a name that is not UTF-8 on disk stays itself.
    """

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # '' is a temporary on-disk database, gone on close
        self._db.execute("CREATE TABLE covered (path BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("CREATE TABLE left_out (path BLOB PRIMARY KEY, reason TEXT) WITHOUT ROWID")
        self._last = ""
        self._any_left = False  # most stores leave nothing out: no lookup per file then

    def leave(self, path: str, reason: str) -> None:
        """A plugin left this file or folder out on purpose: skipped with its reason, not walked."""
        key = _key(os.path.abspath(path))
        self._db.execute("INSERT OR REPLACE INTO left_out VALUES (?, ?)", (key, reason))
        self._any_left = True

    def left(self, path: str) -> str | None:
        if not self._any_left:
            return None
        row = self._db.execute("SELECT reason FROM left_out WHERE path = ?", (_key(path),)).fetchone()
        return None if row is None else str(row[0])

    def add(self, path: str) -> None:
        if path != self._last:  # an mbox names its file once per message
            self._db.execute("INSERT OR IGNORE INTO covered VALUES (?)", (_key(path),))
            self._last = path

    def __contains__(self, path: object) -> bool:
        return (
            isinstance(path, str)
            and self._db.execute("SELECT 1 FROM covered WHERE path = ?", (_key(path),)).fetchone() is not None
        )

    def under(self, directory: str) -> bool:
        """Whether a file below ``directory`` is covered ('0' is the byte after '/')."""
        low = _key(os.path.join(directory, ""))
        return (
            self._db.execute(
                "SELECT 1 FROM covered WHERE path > ? AND path < ? LIMIT 1", (low, low[:-1] + b"0")
            ).fetchone()
            is not None
        )

    def close(self) -> None:
        self._db.close()
