"""Evolution 3's local folders (``~/.local/share/evolution/mail/local``): a Maildir++ tree
read by the kit, with each message's state from Evolution's ``folders.db`` (SQLite).

Facts from evolution-data-server's Camel (``camel-message-info.h``, ``camel-store-db.c``,
``camel-db.c`` before 3.58, ``camel-maildir-store.c``, ``camel-maildir-summary.c``):

- ``folders`` has a row per folder (``folder_name`` is Camel's full name: ``Inbox`` for the
  tree's root, ``Work/Projects`` for ``.Work.Projects``, ``Inbox/Foo`` for ``..Foo``; ``.``
  and ``_`` inside a name are written ``_2E`` and ``_5F``).  Before 3.58 each folder's
  messages are a table named after the folder; since 3.58 ``folders.folder_id`` names a
  ``messages_<id>`` table.  Either way a row is keyed by ``uid`` (the file name up to its
  ``:`` or ``!`` flag separator) with a ``flags`` bitmask and ``labels`` (user flags,
  space-separated).
- flag bits: ANSWERED 1, DELETED 2, DRAFT 4, FLAGGED 8, SEEN 16, JUNK 1<<7, NOTJUNK 1<<9,
  FORWARDED 1<<10.  The file name's ``:2,DFRST`` letters mirror the first five; where the
  two disagree Evolution takes the letters (a file renamed by another program), so a name
  with an info part gives those five and the database the rest; a name without one (a copy
  that lost it, mail still in ``new/``) takes all of them from the database.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import replace

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    database_copy,
    existing_dirs,
    home,
    is_maildir,
    local_dir,
    maildir_flags,
    read_maildir,
    xdg_data,
)

__all__ = ["EvolutionPlugin", "evolution_flags", "folder_full_name"]

DATABASE = "folders.db"
#: Where Evolution 3 keeps "On This Computer", below the XDG data folder.
_LOCAL = "evolution/mail/local"

_BITS = ((1, Flag.ANSWERED), (2, Flag.DELETED), (4, Flag.DRAFT), (8, Flag.FLAGGED), (16, Flag.SEEN))
_FORWARDED = 1 << 10
_KEYWORD_BITS = ((1 << 7, "$Junk"), (1 << 9, "$NotJunk"))  # the IANA keywords for Camel's junk bits
#: The flags a Maildir name's DFRST letters carry (Camel writes no P).
_NAME_FLAGS = frozenset(flag for _, flag in _BITS)
_INFO = re.compile(r"[:!]2,")
_ESCAPE = re.compile(r"_([0-9A-Fa-f]{2})")
_SUBDIRS = ("cur", "new", "tmp")


def folder_full_name(dir_name: str) -> str:
    """Camel's full name of a Maildir++ folder directory (``.Work.Projects``), or ``Inbox``
    for the root (``.``)."""
    if dir_name in ("", "."):
        return "Inbox"
    name = "Inbox/" + dir_name[2:] if dir_name.startswith("..") else dir_name[1:]
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), name.replace(".", "/"))


def evolution_flags(bits: int, file_name: str) -> frozenset[Flag]:
    """A message's flags from its ``folders.db`` bits and its Maildir file name."""
    flags = {flag for bit, flag in _BITS if bits & bit}
    if bits & _FORWARDED:
        flags.add(Flag.FORWARDED)
    if _INFO.search(file_name):
        flags = (flags - _NAME_FLAGS) | (maildir_flags(file_name) & _NAME_FLAGS)
    return frozenset(flags)


def _keywords(bits: int, labels: object) -> tuple[str, ...]:
    found = [word for bit, word in _KEYWORD_BITS if bits & bit]
    if isinstance(labels, str):
        found += [label for label in labels.split(" ") if label and label not in found]
    return tuple(found)


def _our_folder(full_name: str) -> str:
    return "INBOX" + full_name[5:] if full_name == "Inbox" or full_name.startswith("Inbox/") else full_name


class _FolderStates:
    """Rows of ``folders.db``, looked up one message at a time: a folder of a million
    messages is never held in memory."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._tables = self._table_names()

    def _table_names(self) -> dict[str, str]:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(folders)")}
        names: dict[str, str] = {}
        if "folder_id" in columns:  # 3.58 and later
            for name, folder_id in self._db.execute("SELECT folder_name, folder_id FROM folders"):
                if isinstance(name, str) and f"messages_{folder_id}" in tables:
                    names[name] = f"messages_{folder_id}"
        else:
            for (name,) in self._db.execute("SELECT folder_name FROM folders"):
                if isinstance(name, str) and name in tables:
                    names[name] = name
        return names

    def table(self, full_name: str) -> str | None:
        found = self._tables.get(full_name)
        if found is None:  # Camel compares folder names without case
            found = next((t for n, t in self._tables.items() if n.casefold() == full_name.casefold()), None)
        return found

    def row(self, table: str, file_name: str) -> tuple[int, object] | None:
        quoted = '"' + table.replace('"', '""') + '"'
        for sep in (":", "!"):
            uid = file_name.split(sep, 1)[0]
            found = self._db.execute(f"SELECT flags, labels FROM {quoted} WHERE uid = ?", (uid,)).fetchone()
            if found is not None:
                bits = found[0] if isinstance(found[0], int) else 0
                return bits, found[1]
        return None


class EvolutionPlugin:
    name = "evolution"
    description = "Evolution 3 local mail: Maildir++ with each message's flags and labels from folders.db"

    def detect(self, location: str) -> int:
        if not local_dir(location) or not is_maildir(location):
            return 0
        return 95 if os.path.isfile(os.path.join(location, DATABASE)) else 0

    def discover(self) -> Iterable[Store]:
        for path in existing_dirs([xdg_data() / _LOCAL, home() / ".local" / "share" / _LOCAL]):
            if is_maildir(str(path)):
                yield Store(self.name, str(path))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        database = os.path.join(location, DATABASE)
        fallback = "flags come from the Maildir file names"
        with contextlib.ExitStack() as stack:
            states: _FolderStates | None = None
            try:
                states = _FolderStates(stack.enter_context(database_copy(database)))
            except FileNotFoundError:
                yield Problem(
                    ProblemKind.DAMAGED, database, "", f"Evolution's {DATABASE} is missing: {fallback}"
                )
            except OSError as e:
                yield Problem(
                    ProblemKind.UNREADABLE, database, "", f"cannot open: {e.strerror or e}: {fallback}"
                )
            except sqlite3.Error as e:
                yield Problem(
                    ProblemKind.DAMAGED, database, "", f"cannot read Evolution's database ({e}): {fallback}"
                )
            if states is not None:
                for name in (DATABASE, *(DATABASE + side for side in ("-wal", "-journal"))):
                    if os.path.isfile(os.path.join(location, name)):
                        context.leave(
                            os.path.join(location, name), "Evolution's folder index, read for the flags"
                        )
            yield from self._read(location, context, states, database)

    def _read(
        self, location: str, context: ReadContext, states: _FolderStates | None, database: str
    ) -> Iterator[Finding]:
        root = os.path.normpath(location)
        failed = False
        for finding in read_maildir(location, replace(context, folder="INBOX")):
            if not isinstance(finding, Copy):
                yield finding
                continue
            directory, file_name = os.path.split(finding.source)
            folder_dir, sub = os.path.split(directory)
            evolutions = folder_dir == root or (
                os.path.dirname(folder_dir) == root and os.path.basename(folder_dir).startswith(".")
            )
            if sub not in _SUBDIRS or not evolutions:
                yield finding  # a plain folder inside the tree: not one of Evolution's
                continue
            full_name = folder_full_name("." if folder_dir == root else os.path.basename(folder_dir))
            copy = replace(finding, folder=_our_folder(full_name))
            if states is not None and not failed:
                try:
                    table = states.table(full_name)
                    row = states.row(table, file_name) if table is not None else None
                except sqlite3.Error as e:
                    failed = True  # one line for the database, then the names speak
                    yield Problem(
                        ProblemKind.DAMAGED,
                        database,
                        "",
                        f"cannot read Evolution's database ({e}): flags come from the Maildir file names",
                    )
                    row = None
                if row is not None:
                    bits, labels = row
                    copy = replace(
                        copy, flags=evolution_flags(bits, file_name), keywords=_keywords(bits, labels)
                    )
            yield copy
