"""One ``.emlx`` / ``.partial.emlx`` file: the message, its flags, and its parts put back.

An emlx file is a line holding the message's byte count, the message, then an XML
property list (``flags``, ``date-received``).  A ``.partial.emlx`` leaves the bodies of
some MIME parts empty, marked ``X-Apple-Content-Length``; Apple Mail keeps their decoded
content as ``Attachments/<id>/<part>/<file name>`` beside ``Messages/``, where ``<part>``
is the part's IMAP section number (``2.4``: the fourth part of the second part).
"""

from __future__ import annotations

import base64
import os
import plistlib
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from mailrecover.model import Flag
from mailrecover.pluginkit import header_end, header_fields, list_names, mapped, read_message_file

__all__ = ["Emlx", "Leaf", "leaves", "parse_emlx", "plist_flags", "restore_parts"]

_FLAG_BITS = (
    (0, Flag.SEEN),
    (1, Flag.DELETED),
    (2, Flag.ANSWERED),
    (4, Flag.FLAGGED),
    (6, Flag.DRAFT),
    (8, Flag.FORWARDED),
)
_PLIST_START = re.compile(rb"<\?xml[^>]*\?>\s*(?:<!DOCTYPE[^>]*>\s*)?<plist")
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))', re.I)
_APPLE_LENGTH = "x-apple-content-length"
_MAX_DEPTH = 40


@dataclass(frozen=True)
class Emlx:
    message: bytes
    flags: frozenset[Flag]
    received: datetime | None
    problems: tuple[str, ...]  # one line each; the message is still usable
    cut_off: bool  # fewer bytes than the length line says, and no plist after them


def plist_flags(value: int) -> frozenset[Flag]:
    return frozenset(flag for bit, flag in _FLAG_BITS if value >> bit & 1)


def parse_emlx(path: str) -> Emlx:
    """Read one emlx file (raises OSError or ValueError when it is not one)."""
    with mapped(path) as data:
        nl = data.find(b"\n", 0, 64)
        if nl < 0:
            raise ValueError("no byte-count line")
        count_text = bytes(data[:nl]).strip()
        if not count_text.isdigit():
            raise ValueError("first line is not a byte count")
        count = int(count_text)
        start = nl + 1
        problems: list[str] = []
        tail_at = start + count
        plist_at = tail_at if _PLIST_START.match(data, tail_at) else -1
        if plist_at < 0:  # the length line is wrong: trust the plist's own start
            found = [m.start() for m in _PLIST_START.finditer(data, start)]
            plist_at = found[-1] if found else -1
        end = plist_at if plist_at >= 0 else min(len(data), tail_at)
        message = bytes(data[start:end])
        plist = bytes(data[plist_at:]) if plist_at >= 0 else b""
        cut_off = plist_at < 0 and len(data) < tail_at
    flags: frozenset[Flag] = frozenset()
    received = None
    if plist:
        try:
            info = plistlib.loads(plist)
        except (plistlib.InvalidFileException, ValueError, Exception):  # expat raises its own
            info = None
            problems.append("property list unreadable: flags and date lost")
        if isinstance(info, dict):
            if isinstance(info.get("flags"), int):
                flags = plist_flags(info["flags"])
            when = info.get("date-received")
            if isinstance(when, (int, float)) and 0 < when < 1 << 40:
                received = datetime.fromtimestamp(when, UTC)
    elif not cut_off:
        problems.append("no property list after the message: flags and date lost")
    return Emlx(message, flags, received, tuple(problems), cut_off)


@dataclass(frozen=True)
class Leaf:
    """A MIME leaf part: its IMAP section number and where it lies in the message."""

    number: str
    start: int  # its header
    body: int  # its body
    end: int  # the end of its body (the line break before the next boundary)
    fields: list[tuple[str, bytes]]


def _boundary(fields: list[tuple[str, bytes]]) -> bytes | None:
    for name, value in fields:
        if name == "content-type" and value.lower().startswith(b"multipart/"):
            m = _BOUNDARY.search(value)
            if m:
                return m.group(1) or m.group(2)
    return None


def _line_break_before(raw: bytes, pos: int, floor: int) -> int:
    if pos > floor and raw[pos - 1 : pos] == b"\n":
        pos -= 1
        if pos > floor and raw[pos - 1 : pos] == b"\r":
            pos -= 1
    return pos


def leaves(raw: bytes, start: int = 0, end: int | None = None, number: str = "") -> Iterator[Leaf]:
    """The leaf parts of a message, in order, with their section numbers."""
    end = len(raw) if end is None else end
    body = start + header_end(raw[start:end])
    fields = header_fields(raw[start:body])
    boundary = _boundary(fields)
    if boundary is None or number.count(".") >= _MAX_DEPTH:  # hostile nesting ends here
        yield Leaf(number or "1", start, body, end, fields)
        return
    delimiter = re.compile(rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)", re.M)
    child_start: int | None = None
    index = 0
    for m in delimiter.finditer(raw, body, end):
        if m.start() != body and raw[m.start() - 1 : m.start()] != b"\n":
            continue
        if child_start is not None:
            index += 1
            child_end = _line_break_before(raw, m.start(), child_start)
            yield from leaves(raw, child_start, child_end, f"{number}.{index}" if number else str(index))
        if m.group(1):
            return
        child_start = m.end()
    if child_start is not None:  # no closing delimiter: the message was cut off
        index += 1
        yield from leaves(raw, child_start, end, f"{number}.{index}" if number else str(index))


def _encode(data: bytes, encoding: str, nl: bytes) -> bytes:
    if encoding == "base64":
        text = base64.b64encode(data)
        return nl.join(text[i : i + 76] for i in range(0, len(text), 76))
    if encoding == "quoted-printable":
        return quopri.encodestring(data)
    return data  # 7bit, 8bit, binary: stored as they travel


def _attachment_file(directory: str) -> str | None:
    try:
        names = sorted(n for n in list_names(directory) if not n.startswith("."))
    except OSError:
        return None
    files = [os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))]
    return files[0] if files else None


def restore_parts(raw: bytes, attachments: str) -> tuple[bytes, list[str]]:
    """``raw`` with every left-out part filled in from ``attachments`` (``Attachments/<id>``).

    Returns the message and the section numbers that could not be filled in; parts
    that are filled lose their ``X-Apple-Content-Length`` field, the others keep it.
    """
    nl = b"\r\n" if b"\r\n" in raw[: header_end(raw)] else b"\n"
    pieces: list[bytes] = []
    missing: list[str] = []
    pos = 0
    for leaf in leaves(raw):
        if not any(name == _APPLE_LENGTH for name, _ in leaf.fields) or raw[leaf.body : leaf.end].strip():
            continue
        file = _attachment_file(os.path.join(attachments, leaf.number))
        if file is None:
            missing.append(leaf.number)
            continue
        data, _mtime = read_message_file(file)
        encoding = next(
            (
                v.decode("ascii", "replace").strip().lower()
                for n, v in leaf.fields
                if n == "content-transfer-encoding"
            ),
            "7bit",
        )
        head = raw[leaf.start : leaf.body]
        kept = b"".join(
            line
            for line in head.splitlines(keepends=True)
            if not line.lower().startswith(b"x-apple-content-length:")
        )
        if not kept.endswith(nl + nl) and not kept.endswith(b"\n\n"):
            kept += nl  # the header had no closing blank line left
        pieces += [raw[pos : leaf.start], kept, _encode(data, encoding, nl)]
        pos = leaf.end
    pieces.append(raw[pos:])
    return b"".join(pieces), missing
