"""KMail's local folders: ``~/.local/share/local-mail`` as Akonadi's maildir resource keeps
it, with each message's flags from Akonadi's SQLite database where Akonadi uses one.

Facts from akonadi (``src/server/storage/akonadidb.xml``, ``dbconfig*.cpp``) and
kdepim-runtime (``resources/maildir``):

- The top folder is a container: each folder is a Maildir (``inbox/cur``…), and a folder's
  subfolders live in ``.<name>.directory/`` beside it.
- Akonadi's SQLite backend keeps ``akonadi.db`` (WAL mode) in ``<XDG data>/akonadi/``, the
  folder beside ``local-mail``; its MySQL and PostgreSQL backends keep a server's files in
  ``akonadi/db_data/`` instead, which this plugin does not read.
- ``PimItemTable.remoteId`` is the message's Maildir file name as the resource last wrote
  it (``:2,`` and flag letters included); ``collectionId`` names its folder in
  ``CollectionTable`` (``remoteId`` a folder's name, the top one's the Maildir path).
  ``PimItemFlagRelation (PimItem_id, Flag_id)`` joins ``FlagTable.name``: ``\\SEEN``,
  ``\\ANSWERED``, ``\\FLAGGED``, ``\\DELETED``, ``$REPLIED``, ``$FORWARDED``, ``$JUNK``, ``$TODO``…
- Akonadi is the record while its remote id is the file's name: the resource writes its flags
  into file names (``PRSTF``) after the fact, so that item's flags are the ones taken.  A file
  renamed since (another program changed its flags) is new to Akonadi's next sync, which takes
  the name's flags (``retrieveitemsjob.cpp``): so do we, keeping the item's other flags as
  keywords.
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
    list_names,
    local_dir,
    read_maildir,
    xdg_data,
)

__all__ = ["KMailPlugin", "akonadi_flags", "collection_path"]

#: Where KMail's local folders live below the home besides the XDG data folder's
#: ``local-mail`` (Akonadi's, KDE 4.4 on): KDE 4's own.
_ROOTS = (".local/share/local-mail", ".kde/share/apps/kmail/mail", ".kde4/share/apps/kmail/mail")
_DIRECTORY = re.compile(r"^\.(.+)\.directory$")
_UNIQUE = re.compile(r"[:!]2,")
#: KMail's standard folders (their remote ids) and the folders they are restored as.
_SPECIAL = {
    "inbox": "INBOX",
    "sent-mail": "Sent",
    "drafts": "Drafts",
    "outbox": "Outbox",
    "trash": "Trash",
    "templates": "Templates",
}
_FLAGS = {
    "\\seen": Flag.SEEN,
    "\\answered": Flag.ANSWERED,
    "$replied": Flag.ANSWERED,
    "\\flagged": Flag.FLAGGED,
    "\\deleted": Flag.DELETED,
    "\\draft": Flag.DRAFT,
    "$forwarded": Flag.FORWARDED,
}
_FALLBACK = "flags come from the Maildir file names"


def akonadi_flags(names: Iterable[str]) -> tuple[frozenset[Flag], tuple[str, ...]]:
    """Flags and the remaining keywords (``$TODO``, ``$JUNK``…) from Akonadi's flag names."""
    flags: set[Flag] = set()
    keywords: list[str] = []
    for name in names:
        flag = _FLAGS.get(name.lower())
        if flag is not None:
            flags.add(flag)
        elif name not in keywords:
            keywords.append(name)
    return frozenset(flags), tuple(sorted(keywords))


def collection_path(relative: str) -> tuple[str, ...]:
    """The folder names from ``local-mail`` down to a Maildir folder directory:
    ``.inbox.directory/Projects`` is ``("inbox", "Projects")``."""
    parts = [p for p in relative.split(os.sep) if p not in ("", ".")]
    return tuple(_DIRECTORY.sub(r"\1", p) for p in parts[:-1]) + tuple(parts[-1:])


def _our_folder(path: tuple[str, ...]) -> str:
    return "/".join([_SPECIAL.get(path[0], path[0]), *path[1:]]) if path else "INBOX"


def _unique(file_name: str) -> str:
    return _UNIQUE.split(file_name, 1)[0]


class _Akonadi:
    """Items of Akonadi's maildir resources, looked up one file at a time (by the index on
    ``remoteId``): a folder of a million messages is never held in memory."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._paths: dict[int, tuple[str, ...]] = {}
        parents: dict[int, tuple[int | None, str]] = {}
        query = (
            "SELECT c.id, c.parentId, c.remoteId FROM CollectionTable c JOIN ResourceTable r ON r.id = c.resourceId "
            "WHERE r.name LIKE 'akonadi_maildir_resource%' OR r.name LIKE 'akonadi_mixedmaildir_resource%'"
        )
        for cid, parent, remote in db.execute(query):
            parents[int(cid)] = (int(parent) if parent else None, remote if isinstance(remote, str) else "")
        for cid in parents:
            names: list[str] = []
            at: int | None = cid
            seen: set[int] = set()
            while at is not None and at in parents and at not in seen:
                seen.add(at)
                parent, remote = parents[at]
                if parent is None or parent not in parents:
                    break  # the top collection, whose remote id is the Maildir's path
                names.append(remote)
                at = parent
            self._paths[cid] = tuple(reversed(names))

    def flags(self, folder: tuple[str, ...], file_name: str) -> tuple[list[str], bool] | None:
        """Akonadi's flag names for the file, and whether its item names the file as it is
        (not as it was before a rename); None when no item is the file."""
        unique = _unique(file_name)
        rows = self._db.execute(
            "SELECT id, collectionId, remoteId FROM PimItemTable WHERE remoteId >= ? AND remoteId < ?",
            (unique, unique + "\U0010ffff"),
        ).fetchall()
        items = [
            (i, c, r == file_name)
            for i, c, r in rows
            if isinstance(r, str) and _unique(r) == unique and c in self._paths
        ]
        # the item in the file's own folder; else the one item of that name (a folder renamed since)
        chosen = [(i, exact) for i, c, exact in items if self._paths[c] == folder]
        if not chosen and len(items) == 1:
            chosen = [(items[0][0], items[0][2])]
        if not chosen:
            return None
        item, exact = chosen[0]
        names = [
            name
            for (name,) in self._db.execute(
                "SELECT f.name FROM PimItemFlagRelation r JOIN FlagTable f ON f.id = r.Flag_id WHERE r.PimItem_id = ?",
                (item,),
            )
            if isinstance(name, str)
        ]
        return names, exact


def _folders(root: str, directory: str) -> Iterator[str]:
    """Every Maildir folder below ``directory``, subfolders in ``.<name>.directory``."""
    try:
        names = list_names(directory)
    except OSError:
        return  # the core's walk names what could not be listed
    for name in names:
        path = os.path.join(directory, name)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        if is_maildir(path):
            yield path
        elif _DIRECTORY.match(name):
            yield from _folders(root, path)


def _looks_like_kmail(path: str) -> bool:
    try:
        names = set(list_names(path))
    except OSError:
        return False
    children = {n for n in names if not n.startswith(".") and is_maildir(os.path.join(path, n))}
    nested = any((m := _DIRECTORY.match(n)) and m.group(1) in children for n in names)
    return nested or (bool(children) and os.path.basename(os.path.normpath(path)) == "local-mail")


class KMailPlugin:
    name = "kmail"
    description = "KMail local folders (Akonadi's maildir: local-mail), flags from Akonadi's SQLite database"

    def detect(self, location: str) -> int:
        if not local_dir(location) or is_maildir(location):
            return 0
        return 92 if _looks_like_kmail(location) else 0

    def discover(self) -> Iterable[Store]:
        for path in existing_dirs([xdg_data() / "local-mail", *(home() / rel for rel in _ROOTS)]):
            if _looks_like_kmail(str(path)):
                yield Store(self.name, str(path))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        root = os.path.abspath(location)
        if not os.path.isdir(root):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such folder")
            return
        akonadi = os.path.join(os.path.dirname(root), "akonadi")
        database = os.path.join(akonadi, "akonadi.db")
        with contextlib.ExitStack() as stack:
            items: _Akonadi | None = None
            if os.path.isfile(database) or os.path.islink(database):
                try:
                    items = _Akonadi(stack.enter_context(database_copy(database, companion=True)))
                except OSError as e:
                    yield Problem(
                        ProblemKind.UNREADABLE, database, "", f"cannot open: {e.strerror or e}: {_FALLBACK}"
                    )
                except sqlite3.Error as e:
                    yield Problem(
                        ProblemKind.DAMAGED,
                        database,
                        "",
                        f"cannot read Akonadi's database ({e}): {_FALLBACK}",
                    )
            else:
                yield _no_database(akonadi)
            failed = False
            for folder_dir in _folders(root, root):
                path = collection_path(os.path.relpath(folder_dir, root))
                for finding in read_maildir(folder_dir, replace(context, folder=_our_folder(path))):
                    if not isinstance(finding, Copy) or items is None or failed:
                        yield finding
                        continue
                    try:
                        found = items.flags(path, os.path.basename(finding.source))
                    except sqlite3.Error as e:
                        failed = True  # one line for the database, then the names speak
                        yield Problem(
                            ProblemKind.DAMAGED,
                            database,
                            "",
                            f"cannot read Akonadi's database ({e}): {_FALLBACK}",
                        )
                        found = None
                    if found is None:
                        yield finding
                        continue
                    flags, keywords = akonadi_flags(found[0])
                    yield replace(finding, flags=flags if found[1] else finding.flags, keywords=keywords)


def _no_database(akonadi: str) -> Problem:
    """The one line saying why the flags come from the file names alone."""
    server = os.path.join(akonadi, "db_data")
    if os.path.isdir(server):
        kind = "PostgreSQL" if os.path.isfile(os.path.join(server, "PG_VERSION")) else "MySQL"
        return Problem(
            ProblemKind.SKIPPED,
            server,
            "",
            f"Akonadi keeps KMail's flags in its {kind} database here, which is not read: {_FALLBACK}",
        )
    return Problem(
        ProblemKind.SKIPPED,
        os.path.join(akonadi, "akonadi.db"),
        "",
        f"no Akonadi database beside the folders (KMail keeps its flags there): {_FALLBACK}",
    )
