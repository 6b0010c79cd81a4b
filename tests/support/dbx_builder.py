"""Write small Outlook Express .dbx files (message folders and Folders.dbx) for tests.

Only what a reader needs is written: the header with its signature and first tree, the
file info with the folder's own name, one tree node, indexed-info records and chains of
message blocks.  Offsets are real file offsets, as Outlook Express writes them.  A deleted
message is left as Outlook Express leaves one until the file is compacted: its blocks
marked free (capacity 4 less, length 16 more, a back pointer over its first 4 bytes of text)
and no record in the tree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["DbxMessage", "FolderEntry", "folders_dbx", "message_dbx"]

_HEADER = 0x24BC
_INFO_LENGTH = 0x618
_MAGIC = b"\xcf\xad\x12\xfe"
_MESSAGES = b"\xc5\xfd\x74\x6f"
_FOLDERS = b"\xc6\xfd\x74\x6f"


@dataclass
class DbxMessage:
    raw: bytes
    flags: int = 0x81  # body downloaded, read
    block: int = 0x200  # text bytes per block
    deleted: bool = False  # freed by the user, not yet compacted away


@dataclass
class FolderEntry:
    ident: int
    parent: int
    name: str
    file_name: str = ""
    special: int = 0


@dataclass
class _Writer:
    kind: bytes
    body: bytearray = field(default_factory=bytearray)

    def offset(self) -> int:
        return _HEADER + _INFO_LENGTH + len(self.body)

    def indexed_info(self, values: list[tuple[int, int | bytes]]) -> int:
        at = self.offset()
        index = bytearray()
        data = bytearray()
        for key, value in sorted(values):
            if isinstance(value, int):
                index += bytes([key | 0x80]) + value.to_bytes(3, "little")
            else:
                index += bytes([key]) + len(data).to_bytes(3, "little")
                data += value
        while (len(index) + len(data)) % 4:
            data += b"\x00"
        self.body += struct.pack("<IIHBB", at, len(index) + len(data), 0, len(values), 1)
        self.body += index + data
        return at

    def chain(self, text: bytes, block: int, deleted: bool = False) -> int:
        pieces = [text[i : i + block] for i in range(0, len(text), block)] or [b""]
        first = self.offset()
        for n, piece in enumerate(pieces):
            at = self.offset()
            nxt = at + 16 + block if n + 1 < len(pieces) else 0
            padded = piece + b"\x00" * (block - len(piece))
            if deleted:
                prev = at - 16 - block if n else 0
                self.body += struct.pack("<IIIII", at, block - 4, block + 16, nxt, prev)
                self.body += padded[4:]
            else:
                self.body += struct.pack("<IIII", at, block, len(piece), nxt) + padded
        return first

    def tree(self, values: list[int]) -> int:
        at = self.offset()
        self.body += struct.pack("<IIIIBBHI", at, 0, 0, 0, 0, len(values), 0, 0)
        for value in values:
            self.body += struct.pack("<III", value, 0, 0)
        return at

    def finish(self, root: int, count: int, own_name: str = "") -> bytes:
        header = bytearray(_HEADER)
        header[0:8] = _MAGIC + self.kind
        struct.pack_into("<I", header, 0x1C, _INFO_LENGTH)
        struct.pack_into("<I", header, 0x7C, self.offset())
        struct.pack_into("<I", header, 0xC4, count)
        struct.pack_into("<I", header, 0xE4, root)
        info = bytearray(_INFO_LENGTH)
        name = own_name.encode("cp932")[:0xFF]
        info[0x105 : 0x105 + len(name)] = name
        return bytes(header + info + self.body)


def message_dbx(messages: list[DbxMessage], own_name: str = "") -> bytes:
    """A message folder file holding ``messages`` in order."""
    w = _Writer(_MESSAGES)
    pointers = []
    for number, m in enumerate(messages, 1):
        start = w.chain(m.raw, m.block, m.deleted)
        if m.deleted:
            continue
        pointers.append(w.indexed_info([(0x00, number), (0x01, m.flags), (0x04, start)]))
    return w.finish(w.tree(pointers), len(pointers), own_name)


def folders_dbx(entries: list[FolderEntry]) -> bytes:
    """A Folders.dbx naming ``entries``."""
    w = _Writer(_FOLDERS)
    pointers = []
    for e in entries:
        values: list[tuple[int, int | bytes]] = [
            (0x00, e.ident),
            (0x01, e.parent & 0xFFFFFF),
            (0x02, e.name.encode("cp932") + b"\x00"),
        ]
        if e.file_name:
            values.append((0x03, e.file_name.encode("cp932") + b"\x00"))
        if e.special:
            values.append((0x09, e.special))
        pointers.append(w.indexed_info(values))
    return w.finish(w.tree(pointers), len(pointers))
