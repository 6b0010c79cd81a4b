"""Outlook personal folders (.pst) and offline stores (.ost), ANSI and Unicode, through pypff.

Each mail item becomes a reconstructed copy (see ``_build``) in its folder: the store's
top folder is left out of the name and the usual folders get their usual roles, in
English and Japanese.  Whatever is in the deleted-items folder is marked deleted.
Contacts, distribution lists and appointments become ``Item`` records (``_items``), kept
for ``export-items``; other non-mail items (tasks, notes…) are counted and reported once
per file.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pypff

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import DELETED_ROLE, file_head, folder_role, open_source

from . import _mapi as p
from ._build import build_message
from ._items import item_kind, item_of
from ._pff import PffObject, store_names

__all__ = ["FolderPlace", "PstPlugin", "SpecialFolders", "walk_folders"]

_MAGIC = b"!BDN"
# What pypff raises on damage: IOError mostly, MemoryError when it cannot build an object.
_PFF_ERRORS = (OSError, ValueError, MemoryError, TypeError)

_TOP_NAMES = {
    "top of personal folders",
    "top of outlook data file",
    "top of information store",
    "outlook データ ファイルのトップ",
    "個人用フォルダーのトップ",
    "個人用フォルダのトップ",
}
# Message-store properties holding the entry ids of its special folders.
_SEARCH_ROOT, _IPM_SUBTREE, _WASTEBASKET, _SENT = 0x35E7, 0x35E0, 0x35E3, 0x35E4


def _nid(entry_id: bytes | None) -> int | None:
    """The node id at the end of a store entry id."""
    if not entry_id or len(entry_id) < 24:
        return None
    return struct.unpack_from("<I", entry_id, 20)[0]


def _safe_name(name: str | None) -> str:
    return (name or "(unnamed)").replace("/", "_").replace("\\", "_").strip() or "(unnamed)"


_PLURALS = {"journal entry": "journal entries"}


class _Summary:
    """What one file held besides mail, reported once."""

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()

    def line(self) -> str:
        words = []
        for kind, n in sorted(self.skipped.items()):
            plural = kind if n == 1 else _PLURALS.get(kind, kind + "s")
            words.append(f"{n} {plural}")
        return ", ".join(words) + " skipped (not mail)"


class PstPlugin:
    name = "outlook-pst"
    description = "Outlook .pst and .ost files (ANSI and Unicode), rebuilt as MIME"

    def detect(self, location: str) -> int:
        head = file_head(location, 4)
        if head is None:
            return 0
        if head == _MAGIC:
            return 95
        return 30 if location.lower().endswith((".pst", ".ost")) else 0

    def discover(self) -> Iterable[Store]:
        roots = []
        local = os.environ.get("LOCALAPPDATA")
        home = os.path.expanduser("~")
        if local:
            roots.append(os.path.join(local, "Microsoft", "Outlook"))
        roots.append(os.path.join(home, "Documents", "Outlook Files"))
        roots.append(os.path.join(home, "Documents", "Outlook ファイル"))
        for root in roots:
            try:
                names = sorted(os.listdir(root))
            except OSError:
                continue
            for name in names:
                path = os.path.join(root, name)
                if name.lower().endswith((".pst", ".ost")) and os.path.isfile(path):
                    yield Store(self.name, path, os.path.getsize(path))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        handle = open_source(location)
        if isinstance(handle, Problem):
            yield handle
            return
        with handle:
            pff = pypff.file()
            ansi = p.default_ansi_codec()
            try:
                pff.set_ascii_codepage(ansi)
            except _PFF_ERRORS:
                pff.set_ascii_codepage("cp932")
            try:
                pff.open_file_object(handle)
                root = pff.get_root_folder()
                if root is None:
                    raise ValueError("the store has no root folder")
            except _PFF_ERRORS as e:
                yield Problem(
                    ProblemKind.UNREADABLE,
                    location,
                    "",
                    f"not a readable Outlook data file: {_first_line(e)}",
                )
                return
            try:
                yield from _Reader(location, pff, root, ansi, context).run()
            finally:
                try:
                    pff.close()
                except OSError:
                    pass


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1].strip() if text else type(e).__name__


@dataclass(frozen=True)
class SpecialFolders:
    """Node ids the message store names: its mail tree, wastebasket, sent items, search root."""

    mail_tree: int | None = None
    wastebasket: int | None = None
    sent: int | None = None
    search: int | None = None


@dataclass(frozen=True)
class FolderPlace:
    folder: Any
    name: str  # the folder path mail in it is filed under
    deleted: bool  # in the wastebasket (or below it)
    mail_tree: bool  # inside the store's mail tree, not its bookkeeping


def _children(folder: Any, where: str, problems: list[tuple[str, str]]) -> list[Any]:
    try:
        return list(folder.sub_folders)
    except _PFF_ERRORS as e:
        problems.append((where, f"subfolders unreadable: {_first_line(e)}"))
        return []


def walk_folders(
    root: Any, special: SpecialFolders, problems: list[tuple[str, str]]
) -> Iterator[FolderPlace]:
    """Every folder under the store's root, parents first, with the name its mail is filed under.

    The mail tree's own top folder ("Top of Personal Folders", "Outlook データ ファイルの
    トップ") is no part of a name; its children get their roles (受信トレイ → INBOX).
    Search folders are left out: they hold no mail of their own.  Folders that cannot
    be listed are noted in ``problems`` as (where, reason).
    """
    stack: list[tuple[Any, list[str], bool, bool, int]] = []
    for child in _children(root, "/", problems):
        ident = _ident(child)
        if ident is not None and ident == special.search:
            continue
        name = _name(child, "/", problems)
        if (ident == special.mail_tree) if special.mail_tree else _is_top_name(name):
            stack.append((child, [], False, True, 0))
        elif _is_top_name(name) or (name or "").lower().startswith(("search root", "検索")):
            continue
        else:  # store bookkeeping outside the mail tree; any mail in it is still mail
            stack.append((child, [_safe_name(name)], False, False, 0))
    stack.reverse()
    seen: set[int] = set()
    while stack:
        folder, parts, deleted, mail_tree, depth = stack.pop()
        ident = _ident(folder)
        if ident is not None:
            if ident in seen:
                continue  # a folder listed twice (damage): read once
            seen.add(ident)
        yield FolderPlace(folder, "/".join(parts) or "INBOX", deleted, mail_tree)
        if depth > 64:
            continue
        children = []
        where = "/".join(parts) or "/"
        for child in _children(folder, where, problems):
            cid = _ident(child)
            raw_name = _name(child, where, problems)
            name = _safe_name(raw_name)
            child_deleted = deleted or (cid is not None and cid == special.wastebasket)
            if not parts and mail_tree:
                role = "Sent" if cid is not None and cid == special.sent else folder_role(raw_name or "")
                child_deleted = child_deleted or role == DELETED_ROLE
                name = role or name
            children.append((child, [*parts, name], child_deleted, mail_tree, depth + 1))
        stack.extend(reversed(children))


class _Reader:
    def __init__(self, location: str, pff: Any, root: Any, ansi: str, context: ReadContext):
        self.location = location
        self.pff = pff
        self.root = root
        self.ansi = ansi
        self.context = context
        self.summary = _Summary()
        self.size = os.path.getsize(location)
        self.advanced = 0
        self.damage: list[tuple[str, str]] = []  # (where, what): reported as one line at the end
        store: dict[int, tuple[int, bytes]] = {}
        try:
            store = PffObject(pff.get_message_store(), ansi).props
        except (*_PFF_ERRORS, AttributeError):
            pass
        self.names = store_names(pff)
        self.special = SpecialFolders(
            *(_nid(store.get(tag, (0, b""))[1]) for tag in (_IPM_SUBTREE, _WASTEBASKET, _SENT, _SEARCH_ROOT))
        )

    def run(self) -> Iterator[Finding]:
        for place in walk_folders(self.root, self.special, self.damage):
            yield from self._messages(place.folder, place.name, place.deleted, place.mail_tree)
        yield from self._orphans()
        if self.damage:
            where, what = self.damage[0]
            more = f" (and {len(self.damage) - 1} more damaged places)" if len(self.damage) > 1 else ""
            yield Problem(ProblemKind.DAMAGED, self.location, where, what + more)
        if self.summary.skipped:
            yield Problem(ProblemKind.SKIPPED, self.location, "", self.summary.line())
        self.context.advance(max(0, self.size - self.advanced))

    def _messages(self, folder: Any, path: str, deleted: bool, mail_tree: bool) -> Iterator[Finding]:
        try:
            count = folder.number_of_sub_messages
        except _PFF_ERRORS as e:
            self.damage.append((path, f"folder unreadable: {_first_line(e)}"))
            return
        for index in range(count):
            try:
                item = folder.get_sub_message(index)
            except _PFF_ERRORS as e:
                self.damage.append((f"{path}#{index}", f"item unreadable: {_first_line(e)}"))
                continue
            yield from self._item(item, path, deleted, mail_tree, f"{path}#{index}")

    def _item(self, item: Any, path: str, deleted: bool, mail_tree: bool, where: str) -> Iterator[Finding]:
        try:
            obj = PffObject(item, self.ansi, names=self.names)
            ident = _ident(item)
            position = str(ident) if ident is not None else where
            message_class = obj.message_class()
        except Exception as e:  # a damaged item costs that item, never the file
            self.damage.append((where, f"message unreadable: {_first_line(e)}"))
            return
        if not p.is_mail_class(message_class):
            if mail_tree:
                yield from self._kept(obj, message_class, path, position)
            return
        try:
            lost: list[str] = []
            raw = build_message(obj, lost=lost)
            flags = p.flags_of(obj)
        except Exception as e:  # a damaged item costs that item, never the file
            self.damage.append((where, f"message unreadable: {_first_line(e)}"))
            return
        if lost:
            self.damage.append((position, "kept without " + "; ".join(lost)))
        if deleted:
            flags.add(Flag.DELETED)
        size = obj.integer(p.MESSAGE_SIZE) or len(raw)
        step = max(0, min(size, self.size - self.advanced))
        self.advanced += step
        self.context.advance(step)
        when = obj.time(p.DELIVERY_TIME) or obj.time(p.CLIENT_SUBMIT_TIME)
        yield Copy(
            raw=raw,
            folder=path,
            source=self.location,
            position=position,
            flags=frozenset(flags),
            internal_date=when,
            reconstructed=True,
            account_hints=p.received_by(obj),
        )

    def _kept(self, obj: PffObject, message_class: str | None, path: str, position: str) -> Iterator[Finding]:
        """A contact, list or calendar item as the ``Item`` export-items writes; any other
        non-mail item (task, note…) counted in the file's skipped line."""
        kind = item_kind(message_class)
        if kind is None:
            self.summary.skipped[p.kind_of_class(message_class)] += 1
            return
        try:
            found = item_of(obj, kind, path, self.location, position)
        except Exception as e:  # a damaged item costs that item, never the file
            self.damage.append((position, f"{kind} unreadable: {_first_line(e)}"))
            return
        yield found

    def _orphans(self) -> Iterator[Finding]:
        """Items no folder lists any more (deleted, not yet overwritten): kept as deleted mail."""
        try:
            count = self.pff.number_of_orphan_items
        except (*_PFF_ERRORS, AttributeError):
            return
        for index in range(count or 0):
            try:
                item = self.pff.get_orphan_item(index)
            except _PFF_ERRORS:
                continue
            if isinstance(item, pypff.message):
                yield from self._item(item, "Orphaned Items", True, False, f"orphan#{index}")


def _ident(item: Any) -> int | None:
    try:
        return item.identifier
    except (*_PFF_ERRORS, AttributeError):
        return None


def _name(folder: Any, where: str, problems: list[tuple[str, str]]) -> str | None:
    try:
        return folder.name
    except _PFF_ERRORS as e:
        problems.append((where, f"folder name unreadable: {_first_line(e)}"))
        return None


def _is_top_name(name: str | None) -> bool:
    return " ".join((name or "").split()).casefold() in _TOP_NAMES
