"""Becky! ``.bmf`` folder files and the INI files beside them.

A ``.bmf`` file holds messages one after another, each ended by a line holding only
``.``; lines that start with a dot got one more in front (dot-stuffing), as in SMTP.
``X-Becky-Status: <hex>[,…]`` carries the client's state (bit 0 read, 1 forwarded,
2 replied) and is removed from the message.  A body line ``X-Becky-Include: <path>``
stands for the bytes of a file under the folder's ``#Attach`` directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mailrecover.model import Flag
from mailrecover.pluginkit import (
    Behind,
    Buffer,
    header_end,
    header_fields,
    read_head,
    read_message_file,
    remove_fields,
)

__all__ = ["Message", "becky_flags", "read_ini", "split_bmf"]

_END = re.compile(rb"^\.\r?(?:\n|\Z)", re.M)
_STUFFED = re.compile(rb"^\.\.", re.M)
_INCLUDE = re.compile(rb"^X-Becky-Include:[ \t]*([^\r\n]*)\r?\n?", re.M | re.I)
_FLAG_BITS = ((0, Flag.SEEN), (1, Flag.FORWARDED), (2, Flag.ANSWERED))
_MAX_INI = 1 << 20


@dataclass(frozen=True)
class Message:
    offset: int
    raw: bytes  # stuffing undone, Becky's own field removed, attachments not yet put in
    flags: frozenset[Flag]
    cut_off: bool  # the file ended before the message's closing '.'


def becky_flags(value: bytes) -> frozenset[Flag]:
    text = value.split(b",", 1)[0].strip()
    try:
        bits = int(text, 16)
    except ValueError:
        return frozenset()
    return frozenset(flag for bit, flag in _FLAG_BITS if bits >> bit & 1)


def _message(offset: int, chunk: bytes, cut_off: bool) -> Message:
    chunk = _STUFFED.sub(b".", chunk)
    if chunk.startswith(b"From ") and b":" not in chunk.split(b"\n", 1)[0]:
        chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""  # an mbox-style separator
    fields = header_fields(chunk)
    flags: frozenset[Flag] = frozenset()
    for name, value in fields:
        if name == "x-becky-status":
            flags = becky_flags(value)
    if any(name == "x-becky-status" for name, _ in fields):
        chunk = remove_fields(chunk, {"x-becky-status"})
    return Message(offset, chunk, flags, cut_off)


def split_bmf(data: Buffer) -> Iterator[Message]:
    """The messages of a ``.bmf`` buffer, in file order."""
    start = 0
    behind = Behind(data)
    for m in _END.finditer(data):
        behind.reached(start)
        chunk = bytes(data[start : m.start()])
        if chunk.strip():
            yield _message(start, chunk, False)
        start = m.end()
    if start < len(data):
        chunk = bytes(data[start:])
        if chunk.strip():
            yield _message(start, chunk, True)


def includes(raw: bytes) -> list[tuple[int, int, str]]:
    """Where the body names attachment files: (start, end, relative path) of each line."""
    body = header_end(raw)
    out = []
    for m in _INCLUDE.finditer(raw, body):
        out.append((m.start(), m.end(), m.group(1).strip().decode("cp932", "replace")))
    return out


def put_attachments(raw: bytes, attach_dir: str) -> tuple[bytes, list[str]]:
    """``raw`` with each ``X-Becky-Include`` line replaced by its file; and the paths missing."""
    pieces: list[bytes] = []
    missing: list[str] = []
    pos = 0
    for start, end, rel in includes(raw):
        path = os.path.join(attach_dir, *[p for p in re.split(r"[\\/]+", rel) if p not in ("", ".", "..")])
        try:
            data, _mtime = read_message_file(path)
        except OSError:
            missing.append(rel)
            continue
        nl = b"\r\n" if raw[end - 2 : end] == b"\r\n" else b"\n"
        if data and not data.endswith(b"\n"):
            data += nl
        pieces += [raw[pos:start], data]
        pos = end
    pieces.append(raw[pos:])
    return b"".join(pieces), missing


def read_ini(path: str) -> dict[str, dict[str, str]]:
    """An INI file in the Windows code page of Japanese Windows (CP932), forgivingly.

    Section and key names are compared in lower case; values keep their case.
    """
    data = read_head(path, _MAX_INI)
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", "replace")
    else:
        text = data.decode("cp932", "replace")
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip().lower(), {})
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key.strip().lower()] = value.strip()
    return sections
