"""Outlook Express 5/6 folder files (.dbx): every message, its read state, its folder's name.

A message .dbx holds a tree of message-info records; each names the first block of
its message text, a chain of blocks with 16-byte headers.  Every object starts with
its own file offset, which is checked before it is trusted; every pointer is checked
against the file size and every walk against loops.  A damaged chain costs that
message alone; all the damage in one file is reported in one line.

The tree is written after many of the messages, so a cut or damaged file often keeps
whole messages the tree no longer reaches.  When the tree is damaged or gives fewer
messages than the header counts, the file is scanned for message blocks (a header whose
first field is its own offset, a length within its capacity, the text inside the file);
each chain is read from its head (a block no other block points to) and kept when it
starts with mail headers.  Those copies carry no flags (the record that held them is not
known) and the file's problem line says how many were found this way.  Blocks of deleted
messages are not taken: Outlook Express marks them by a length larger than the capacity
(0x210 in 0x1fc), which no live block has.

Folder names come from ``Folders.dbx`` beside the file when it is there, else from the
name the file records for itself, else from the file name.
"""

from __future__ import annotations

import array
import mmap
import os
import re
import struct
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    DELETED_ROLE,
    counted,
    default_ansi_codec,
    file_head,
    folder_role,
    from_filetime,
    header_fields,
    list_names,
    mapped,
)

__all__ = ["DbxDamage", "DbxFile", "DbxPlugin", "read_folder_names"]

_MAGIC = b"\xcf\xad\x12\xfe"
_MESSAGES = b"\xc5\xfd\x74\x6f"
_FOLDERS = b"\xc6\xfd\x74\x6f"
_HEADER_SIZE = 0x24BC
_TREE_ROOTS, _TREE_COUNTS = 0xE4, 0xC4  # up to three trees; message files use the first
_USED_SPACE = 0x7C  # header and objects: a shorter file was cut off
_FILE_INFO_NAME = 0x105  # folder name inside the message file's own info block
_NODE_HEADER, _NODE_ENTRY = 0x18, 12
_BLOCK_HEADER = 16
_MAX_MESSAGE = 256 << 20  # a chain longer than this is a loop nobody caught
_SCAN_WINDOW = 1 << 20  # bytes compared at once when looking for self-marked words
_FIELD_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_MAIL_FIELDS = {
    "from",
    "to",
    "date",
    "subject",
    "message-id",
    "received",
    "return-path",
    "mime-version",
    "sender",
    "newsgroups",
    "content-type",
}

# Message-info indexes and flags (as the format's documentation names them).
_MI_FLAGS, _MI_MESSAGE, _MI_SAVED, _MI_RECEIVED = 0x01, 0x04, 0x06, 0x12
_FLAG_BITS = (
    (0x80, Flag.SEEN),
    (0x20, Flag.FLAGGED),
    (0x80000, Flag.ANSWERED),
    (0x100000, Flag.FORWARDED),
    (0x08, Flag.DRAFT),
)
# Folder-info indexes in Folders.dbx.
_FI_ID, _FI_PARENT, _FI_NAME, _FI_FILE, _FI_SPECIAL = 0x00, 0x01, 0x02, 0x03, 0x09
_SPECIAL_ROLES = {1: "INBOX", 2: "Outbox", 3: "Sent", 4: DELETED_ROLE, 5: "Drafts"}


class DbxDamage(ValueError):
    """A structure in the file is not what its pointer promised."""


class DbxFile:
    """Bounds-checked access to the objects of one .dbx file held in ``data``."""

    def __init__(self, data: bytes | mmap.mmap):
        self.data = data
        self.size = len(data)
        if data[:4] != _MAGIC:
            raise DbxDamage("not an Outlook Express .dbx file (no signature)")
        if self.size < _HEADER_SIZE:
            raise DbxDamage(f"cut off inside its header ({self.size} bytes)")
        self.kind = bytes(data[4:8])
        self.expected_size = struct.unpack_from("<I", data, _USED_SPACE)[0]
        self.truncated = self.size < self.expected_size

    def u32(self, offset: int) -> int:
        if offset < 0 or offset + 4 > self.size:
            raise DbxDamage(f"pointer 0x{offset:x} outside the file")
        return struct.unpack_from("<I", self.data, offset)[0]

    def _object(self, offset: int, length: int) -> None:
        if offset < _HEADER_SIZE or offset + length > self.size:
            raise DbxDamage(f"object at 0x{offset:x} outside the file")
        if self.u32(offset) != offset:
            raise DbxDamage(f"no object at 0x{offset:x} (marker does not match)")

    def tree(self, root: int, problems: list[str]) -> list[int]:
        """The values stored in the tree at ``root``, in order; damage is noted in ``problems``."""
        values: list[int] = []
        seen: set[int] = set()
        limit = self.size // _NODE_ENTRY + 1

        def walk(node: int, depth: int) -> None:
            if not node:
                return
            if node in seen or depth > 64 or len(seen) > limit:
                problems.append(f"index tree loops at 0x{node:x}")
                return
            seen.add(node)
            try:
                self._object(node, _NODE_HEADER)
                child = self.u32(node + 8)
                entries = self.data[node + 0x11]
                self._object(node, _NODE_HEADER + entries * _NODE_ENTRY)
            except DbxDamage as e:
                problems.append(f"index node damaged: {e}")
                return
            walk(child, depth + 1)
            for i in range(entries):
                base = node + _NODE_HEADER + i * _NODE_ENTRY
                value, child = self.u32(base), self.u32(base + 4)
                if value:
                    values.append(value)
                walk(child, depth + 1)

        walk(root, 0)
        return values

    def indexed_info(self, offset: int) -> dict[int, int | bytes]:
        """An indexed-info record: index → int (stored directly) or the bytes of its data."""
        self._object(offset, 12)
        body_length = self.u32(offset + 4)
        count = self.data[offset + 10]
        if body_length < count * 4 or offset + 12 + body_length > self.size:
            raise DbxDamage(f"record at 0x{offset:x} runs past the file")
        data_start = offset + 12 + count * 4
        data_end = offset + 12 + body_length
        entries: list[tuple[int, bool, int]] = []
        for i in range(count):
            b = self.data[offset + 12 + i * 4]
            value = int.from_bytes(self.data[offset + 13 + i * 4 : offset + 16 + i * 4], "little")
            entries.append((b & 0x7F, bool(b & 0x80), value))
        starts = sorted(data_start + v for _, direct, v in entries if not direct)
        info: dict[int, int | bytes] = {}
        for index, direct, value in entries:
            if direct:
                info[index] = value
                continue
            start = data_start + value
            if start >= data_end:
                continue
            end = next((s for s in starts if s > start), data_end)
            info[index] = bytes(self.data[start:end])
        return info

    def message(self, offset: int) -> bytes:
        """The text of the message whose first block is at ``offset``."""
        chunks: list[bytes] = []
        seen: set[int] = set()
        total = 0
        while offset:
            if offset in seen:
                raise DbxDamage(f"message chain loops at 0x{offset:x}")
            seen.add(offset)
            self._object(offset, _BLOCK_HEADER)
            capacity = self.u32(offset + 4)
            length = self.u32(offset + 8) & 0xFFFF  # the high half is unused
            nxt = self.u32(offset + 12)
            if length > capacity or offset + _BLOCK_HEADER + length > self.size:
                raise DbxDamage(f"message block at 0x{offset:x} claims more than it holds")
            chunks.append(bytes(self.data[offset + _BLOCK_HEADER : offset + _BLOCK_HEADER + length]))
            total += length
            if total > _MAX_MESSAGE:
                raise DbxDamage("message chain too long")
            offset = nxt
        return b"".join(chunks)

    def self_marked(self) -> Iterator[int]:
        """Every 4-aligned offset past the header whose 32-bit word is that offset.

        Compared a window at a time as big integers (the window XOR the offsets it should
        hold): a matching word becomes four zero bytes, which ``find`` locates in C.
        """
        offsets, ones = _window_constants()
        for start in range(_HEADER_SIZE, self.size - self.size % 4, _SCAN_WINDOW):
            window = bytes(self.data[start : min(start + _SCAN_WINDOW, self.size - self.size % 4)])
            expected = (offsets + start * ones) & ((1 << (8 * len(window))) - 1)
            diff = (int.from_bytes(window, "little") ^ expected).to_bytes(len(window), "little")
            at = diff.find(b"\x00\x00\x00\x00")
            while at >= 0:
                if at % 4 == 0:
                    yield start + at
                    at = diff.find(b"\x00\x00\x00\x00", at + 4)
                else:
                    at = diff.find(b"\x00\x00\x00\x00", at + 1)

    def chain_heads(self) -> Iterator[int]:
        """First blocks of the chains in the file: blocks holding text that no block points to.

        A block passes when its length fits its capacity and the file, and its next pointer
        is aligned and not itself.  What is pointed to is kept as one bit per word, so a
        file of millions of blocks costs a few bytes for each.
        """
        with_text = array.array("Q")
        pointed = bytearray(self.size // 32 + 1)
        for offset in self.self_marked():
            if offset + _BLOCK_HEADER > self.size:
                break
            capacity, length, nxt = struct.unpack_from("<III", self.data, offset + 4)
            length &= 0xFFFF
            if length > capacity or offset + _BLOCK_HEADER + length > self.size:
                continue  # a deleted message's block (0x210 in 0x1fc), a record, or text
            if nxt % 4 or nxt == offset:
                continue
            if nxt < self.size:
                pointed[nxt >> 5] |= 1 << (nxt >> 2 & 7)
            if length:
                with_text.append(offset)
        for offset in with_text:
            if not pointed[offset >> 5] & 1 << (offset >> 2 & 7):
                yield offset

    def own_folder_name(self, codec: str) -> str | None:
        """The name the file was created with (kept by Outlook Express in its file info)."""
        start = _HEADER_SIZE + _FILE_INFO_NAME
        if self.kind != _MESSAGES or start >= self.size:
            return None
        raw = bytes(self.data[start : start + 0x100]).split(b"\x00", 1)[0]
        return raw.decode(codec, "replace").strip() or None


@cache
def _window_constants() -> tuple[int, int]:
    """The offsets 0, 4, 8 … of one scan window as one integer, and 1 in every word."""
    table = array.array("I", range(0, _SCAN_WINDOW, 4))  # built in C, no list of ints
    if table.itemsize != 4 or sys.byteorder != "little":
        table = array.array("B", b"".join(struct.pack("<I", n) for n in table))
    ones = b"\x01\x00\x00\x00" * (_SCAN_WINDOW // 4)
    return int.from_bytes(table.tobytes(), "little"), int.from_bytes(ones, "little")


def _looks_like_mail(raw: bytes) -> bool:
    """Whether ``raw`` starts with a header block naming a field every mail has one of."""
    head = raw[:65536]
    if not _FIELD_LINE.match(head):
        return False
    return any(name in _MAIL_FIELDS for name, _ in header_fields(head))


def _int(value: int | bytes | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, bytes) and len(value) >= 4:
        return struct.unpack_from("<I", value)[0]
    return None


def _string(value: int | bytes | None, codec: str) -> str | None:
    if not isinstance(value, bytes):
        return None
    return value.split(b"\x00", 1)[0].decode(codec, "replace").strip() or None


def _filetime(value: int | bytes | None) -> datetime | None:
    if not isinstance(value, bytes) or len(value) < 8:
        return None
    return from_filetime(struct.unpack_from("<Q", value)[0])


def read_folder_names(path: str, codec: str) -> dict[str, tuple[str, bool]]:
    """From a Folders.dbx: lower-case .dbx file name → (folder path, holds deleted mail)."""
    with mapped(path) as data:
        dbx = DbxFile(data)
        if dbx.kind != _FOLDERS:
            raise DbxDamage("not a Folders.dbx file")
        folders: dict[int, dict[int, int | bytes]] = {}
        ignored: list[str] = []
        for i in range(3):
            root = dbx.u32(_TREE_ROOTS + 4 * i)
            for pointer in dbx.tree(root, ignored) if root else ():
                try:
                    info = dbx.indexed_info(pointer)
                except DbxDamage:
                    continue
                ident = _int(info.get(_FI_ID))
                if ident is not None:
                    folders.setdefault(ident, info)
    names: dict[str, tuple[str, bool]] = {}
    for info in folders.values():
        file_name = _string(info.get(_FI_FILE), codec)
        if not file_name:
            continue
        chain: list[dict[int, int | bytes]] = []
        current: dict[int, int | bytes] | None = info
        while current is not None and len(chain) < 64:
            ident = _int(current.get(_FI_ID))
            if not ident or any(_int(c.get(_FI_ID)) == ident for c in chain):
                break  # 0 is the "Outlook Express" root itself; a repeat is a loop
            chain.append(current)
            current = folders.get(_int(current.get(_FI_PARENT)) or 0)
        if len(chain) > 1 and not _int(chain[-1].get(_FI_PARENT)):
            chain.pop()  # "Local Folders" or an account: a container, not part of the name
        parts: list[str] = []
        deleted = False
        for depth, folder in enumerate(reversed(chain)):
            name = (_string(folder.get(_FI_NAME), codec) or "(unnamed)").replace("/", "_")
            role = _SPECIAL_ROLES.get(_int(folder.get(_FI_SPECIAL)) or 0) or folder_role(name)
            if depth == 0 and role:
                name = role
            deleted = deleted or role == DELETED_ROLE
            parts.append(name)
        names[file_name.lower()] = ("/".join(parts), deleted)
    return names


def _find_folders_dbx(directory: str) -> str | None:
    try:
        for name in list_names(directory):
            if name.lower() == "folders.dbx":
                return os.path.join(directory, name)
    except OSError:
        return None
    return None


class DbxPlugin:
    name = "outlook-express"
    description = "Outlook Express 5/6 folder files (.dbx)"

    def detect(self, location: str) -> int:
        head = file_head(location, 8)
        if head is None:
            return 0
        if head[:4] == _MAGIC:
            return 95
        return 20 if location.lower().endswith(".dbx") else 0

    def discover(self) -> Iterable[Store]:
        appdata = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA")
        if not appdata:
            return
        identities = os.path.join(appdata, "Identities")
        try:
            ids = list_names(identities)
        except OSError:
            return
        for ident in ids:
            store = os.path.join(identities, ident, "Microsoft", "Outlook Express")
            try:
                names = list_names(store)
            except OSError:
                continue
            for name in names:
                if name.lower().endswith(".dbx") and name.lower() != "folders.dbx":
                    path = os.path.join(store, name)
                    yield Store(self.name, path, os.path.getsize(path))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        codec = default_ansi_codec()
        try:
            with mapped(location) as data:
                try:
                    dbx = DbxFile(data)
                except DbxDamage as e:
                    kind = ProblemKind.TRUNCATED if bytes(data[:4]) == _MAGIC else ProblemKind.NOT_MAIL
                    yield Problem(kind, location, "", str(e))
                    return
                if dbx.kind != _MESSAGES:
                    context.advance(dbx.size)
                    return  # the folder list, POP3 ids, offline actions: no mail in them
                folder, deleted, note = self._folder(location, dbx, codec)
                if note:
                    yield note
                yield from self._messages(location, dbx, folder, deleted, codec, context)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")

    def _folder(self, location: str, dbx: DbxFile, codec: str) -> tuple[str, bool, Problem | None]:
        """(folder path, holds deleted mail, a problem with Folders.dbx if any)."""
        note = None
        folders_dbx = _find_folders_dbx(os.path.dirname(os.path.abspath(location)))
        if folders_dbx:
            try:
                names = read_folder_names(folders_dbx, codec)
                found = names.get(os.path.basename(location).lower())
                if found and found[0]:
                    return found[0], found[1], None
            except (DbxDamage, OSError) as e:
                note = Problem(ProblemKind.DAMAGED, folders_dbx, "", f"folder names unreadable: {e}")
        # The store keeps all folder files side by side: the file, not its directory, names it.
        name = dbx.own_folder_name(codec) or os.path.splitext(os.path.basename(location))[0]
        role = folder_role(name)
        return role or name.replace("/", "_"), role == DELETED_ROLE, note

    def _messages(
        self, location: str, dbx: DbxFile, folder: str, deleted: bool, codec: str, context: ReadContext
    ) -> Iterator[Finding]:
        damage: list[tuple[str, str]] = []  # (where, what): reported as one line at the end
        listed = dbx.u32(_TREE_COUNTS)
        root = dbx.u32(_TREE_ROOTS)
        tree_problems: list[str] = []
        pointers = dbx.tree(root, tree_problems) if root else []
        damage += [(f"0x{root:x}", reason) for reason in tree_problems]
        step = dbx.size // max(1, len(pointers))
        starts: set[int] = set()  # first blocks the records name, read or not
        read = lost = 0
        for pointer in pointers:
            context.advance(step)
            start: int | None = 0
            try:
                info = dbx.indexed_info(pointer)
                start = _int(info.get(_MI_MESSAGE))
                if not start:
                    raise DbxDamage("message record names no message text")
                starts.add(start)
                raw = dbx.message(start)
                if not raw.strip():
                    raise DbxDamage("message text is empty")
            except DbxDamage as e:
                damage.append((f"0x{pointer:x}", str(e)))
                lost += bool(start)  # known text, unreadable; a lost record counts below
                continue
            read += 1
            bits = _int(info.get(_MI_FLAGS)) or 0
            flags = {flag for bit, flag in _FLAG_BITS if bits & bit}
            if deleted:
                flags.add(Flag.DELETED)
            yield Copy(
                raw=raw,
                folder=folder,
                source=location,
                position=f"0x{pointer:x}",
                flags=frozenset(flags),
                internal_date=_filetime(info.get(_MI_RECEIVED)) or _filetime(info.get(_MI_SAVED)),
                partial=not bits & 0x1,  # "body downloaded" unset: headers only (IMAP, news)
            )
        scan = _Scan()
        trouble = bool(damage) or read < listed
        if trouble:
            for head, raw in scan.run(dbx, starts):
                # no record: flags unknown, so none are claimed; the folder's own still holds
                yield Copy(
                    raw=raw,
                    folder=folder,
                    source=location,
                    position=f"0x{head:x} (found by scanning)",
                    flags=frozenset({Flag.DELETED} if deleted else ()),
                )
        context.advance(dbx.size - step * len(pointers))
        if trouble:
            yield _summary(location, dbx, damage, listed, read, lost, scan)


class _Scan:
    """Message chains found by scanning the file, and what the scan could not use."""

    def __init__(self) -> None:
        self.found = self.broken = self.not_mail = 0

    def run(self, dbx: DbxFile, known: set[int]) -> Iterator[tuple[int, bytes]]:
        """(first block, text) of every chain that is mail and that ``known`` does not name."""
        for head in dbx.chain_heads():
            if head in known:
                continue
            try:
                raw = dbx.message(head)
            except DbxDamage:
                self.broken += 1  # runs into damage or past the end: not whole, so not kept
                continue
            if not _looks_like_mail(raw):
                self.not_mail += 1
                continue
            self.found += 1
            yield head, raw


def _summary(
    location: str, dbx: DbxFile, damage: list[tuple[str, str]], listed: int, read: int, lost: int, scan: _Scan
) -> Problem:
    """One line for everything that could not be read, or was read only by scanning, in one file."""
    where, first = (
        damage[0] if damage else ("", f"{counted(listed, 'message')} listed, {read:,} found in the index")
    )
    count = max(lost, listed - read - scan.found)
    reason = f"{count:,} of {counted(listed, 'message')} lost" if count else "index damaged"
    reason += f" (at {where}: {first})" if where else f" ({first})"
    if scan.found:
        reason += f"; {counted(scan.found, 'message')} recovered by scanning the file (flags unknown)"
    if scan.broken:
        reason += f"; {scan.broken} chain(s) found by scanning break off, not kept"
    if scan.not_mail:
        reason += f"; {scan.not_mail} chain(s) of blocks without mail headers left out"
    if dbx.truncated:
        reason = f"file ends at {dbx.size} of {dbx.expected_size} bytes: {reason}"
        return Problem(ProblemKind.TRUNCATED, location, where, reason)
    return Problem(ProblemKind.DAMAGED, location, where, reason)
