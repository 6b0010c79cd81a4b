"""Splitting mbox files of every common flavour, without writing, locking or loading them whole.

A ``From `` line is taken as a separator only where a separator can be: at the start of
the file, where the previous message's Content-Length ends, or after an empty line and
followed by a block of header fields that a message starts with.  Quoted ``>From ``
lines are unquoted one level (mboxrd); mboxo files differ only on ``>>From`` lines.
Part of the plugin kit (``mailrecover.pluginkit``): every plugin that reads mbox data uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone

from .arrival import wall_clock
from .model import Flag, Problem, ProblemKind
from .plugin import ReadContext
from .readonly import Behind, Buffer
from .rfc822 import header_end, header_fields

__all__ = [
    "BOM",
    "CLIENT_FIELDS",
    "client_flags",
    "from_line_date",
    "looks_like_headers",
    "mbox_entries",
    "mbox_start",
    "one_message_name",
    "read_mbox",
    "split_mbox",
]

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark some exporters put in front
_SEPARATOR = rb"From(?:[ \t][^\n]*)?\r?$"
_FIRST = re.compile(_SEPARATOR, re.M)
_STRICT_DATE = re.compile(rb"^From \S* *\w{3},? +\w{3} +\d{1,2} +\d{1,2}:\d{2}(?::\d{2})? +(?:\S+ +)?\d{4}")
_FIELD = re.compile(rb"^[!-9;-~]+[ \t]*:")
_KNOWN = (
    b"from",
    b"date",
    b"subject",
    b"message-id",
    b"received",
    b"return-path",
    b"to",
    b"mime-version",
    b"delivered-to",
    b"x-mozilla-status",
    b"sender",
    b"content-type",
    b"x-original-to",
    b"reply-to",
    b"cc",
    b"status",
)
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)
_CONTENT_LENGTH = re.compile(rb"content-length", re.I)

#: Header fields that carry one client's bookkeeping, not the message; turned into flags.
CLIENT_FIELDS = {
    "x-mozilla-status",
    "x-mozilla-status2",
    "x-mozilla-keys",
    "status",
    "x-status",
    "x-uid",
    "x-keywords",
    "x-evolution",
    "x-imap",
    "x-imapbase",
    "content-length",
}

#: Names of files that hold one message each (read by the eml plugin whatever their first

#: line): ``.eml``, and a Maildir file name with its info part (``05:2,S``) outside ``cur/``.
_ONE_MESSAGE_NAME = re.compile(r"(?:\.eml|[:;!]2,[A-Za-z]*)$", re.I)


def one_message_name(name: str) -> bool:
    """Whether a file's name says it holds one message (``.eml``, ``05:2,S``), not a folder."""
    return _ONE_MESSAGE_NAME.search(name) is not None


def looks_like_headers(data: Buffer, pos: int, min_fields: int = 1, min_known: int = 1) -> bool:
    """Whether the lines at ``pos`` are a header block naming ``min_known`` usual fields."""
    known: set[bytes] = set()
    count = 0
    end = min(len(data), pos + 8192)
    chunk = bytes(data[pos:end])
    lines = chunk.split(b"\n", 60)  # no more lines than are looked at
    if end < len(data):
        lines = lines[:-1]  # the last one may be cut
    for n, line in enumerate(lines[:60]):
        line = line.rstrip(b"\r")
        if not line:
            return len(known) >= min_known and count >= min_fields
        if line[:1] in (b" ", b"\t"):
            if n == 0:
                return False
            continue
        if not _FIELD.match(line):
            return False
        count += 1
        name = line.split(b":", 1)[0].strip().lower()
        if name in _KNOWN:
            known.add(name)
    return len(known) >= min_known and count >= min_fields


def _line_end(data: Buffer, pos: int) -> int:
    nl = data.find(b"\n", pos)
    return len(data) if nl < 0 else nl + 1


def _header_end_in(data: Buffer, start: int, limit: int) -> int:
    """``header_end`` of ``data[start:limit]``, as an offset in ``data``, without copying it."""
    if data[start : start + 1] == b"\n":
        return start + 1
    if data[start : start + 2] == b"\r\n":
        return start + 2
    # the blank line of the file's own line ending first, then the other only up to it:
    # a CRLF file has no LF LF to find, and looking for one would read the whole limit
    crlf = data[start - 2 : start] == b"\r\n"
    first, other = (b"\n\r\n", b"\n\n") if crlf else (b"\n\n", b"\n\r\n")
    k = data.find(first, start, limit)
    bound = limit if k < 0 else k + len(first)
    j = data.find(other, start, bound)
    ends = [i + len(p) for i, p in ((k, first), (j, other)) if i >= 0]
    return min(ends) if ends else limit


def _content_length_end(data: Buffer, start: int) -> int | None:
    """Where Content-Length says this message (starting at ``start``) ends, if believable."""
    head_limit = min(len(data), start + 65536)
    body = _header_end_in(data, start, head_limit) - start
    if start + body >= head_limit and head_limit < len(data):
        return None
    head = bytes(data[start : start + body])
    if not _CONTENT_LENGTH.search(head):
        return None  # the common case: no such field, and no need to split the header
    for name, value in header_fields(head):
        if name == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
            end = start + body + length
            if end == len(data):
                return end
            for skip in (0, 1, 2):  # the blank line between messages
                if data[end + skip : end + skip + 5] == b"From " and end + skip <= len(data):
                    return end + skip
            return None
    return None


def _stops_short(message: bytes) -> bool:
    """Whether a file's last message shows it was cut: it ends inside its header, or in
    the middle of a line after body lines that were ended.  A body that never ends a line
    (a giant one-line export written without a final newline) or that ends on its final
    MIME boundary is whole: a missing last newline alone is no sign of a cut."""
    body = header_end(message)
    if body >= len(message):
        return True
    head = message[:body]
    if _CONTENT_LENGTH.search(head):
        length = next((v.strip() for n, v in header_fields(head) if n == "content-length"), b"")
        if length.isdigit() and int(length) > len(message) - body:
            return True  # shorter than its own Content-Length
    if message.endswith(b"\n"):
        return False
    last = message.rfind(b"\n", body) + 1  # where the unended last line starts
    if last == 0:
        return False  # the whole body is that one line
    tail = message[last:].rstrip()
    return not (tail.startswith(b"--") and tail.endswith(b"--") and len(tail) > 4 and tail[2:-2] in head)


def _candidates(data: Buffer, pos: int) -> Iterator[int]:
    """Where lines from ``pos`` on could be separators (``From`` and the rest of a From_ line)."""
    if pos == 0 and _FIRST.match(data, 0):
        yield 0
    at = data.find(b"\nFrom", max(pos - 1, 0))
    while at >= 0:
        if _FIRST.match(data, at + 1):
            yield at + 1
        at = data.find(b"\nFrom", at + 1)


def _before_blank_line(data: Buffer, start: int, end: int) -> int:
    """Where the message in ``data[start:end]`` ends: the blank line before the next
    separator is the mbox's, not the message's."""
    if end - start >= 4 and data[end - 4 : end] == b"\r\n\r\n":
        return end - 2
    if end - start >= 2 and data[end - 2 : end] == b"\n\n":
        return end - 1
    return end


def _starts_message(data: Buffer, at: int) -> bool:
    """Whether a message's ``From `` line is at ``at`` (the start of a line)."""
    if not _FIRST.match(data, at):
        return False
    return looks_like_headers(data, _line_end(data, at)) or bool(_STRICT_DATE.match(data, at))


def mbox_start(data: Buffer) -> int:
    """Offset of the first message's ``From `` line: at the start (after a BOM) of a whole
    mbox, further on when junk precedes it (a stray line, noise, a partial header).

    Past the start a ``From`` line counts only with a believable header block after it
    (two fields, or one with a dated ``From `` line), so prose is not taken for mail.
    Raises ``ValueError`` when no message starts anywhere.
    """
    start = 3 if data[:3] == BOM else 0
    if _starts_message(data, start):
        return start
    behind = Behind(data)  # a large file without mail is scanned, not held
    for at in _candidates(data, start + 1):
        behind.reached(at)
        after = _line_end(data, at)
        if looks_like_headers(data, after, min_fields=2) or (
            _STRICT_DATE.match(data, at) and looks_like_headers(data, after)
        ):
            return at
    raise ValueError("no 'From ' line followed by a header anywhere")


def split_mbox(data: Buffer, start: int | None = None) -> Iterator[tuple[int, bytes, bytes, bool]]:
    """(offset, From_ line, message bytes, cut_off) for each message in an mbox buffer.

    Message bytes are unquoted and lose the blank line that separates messages.
    ``cut_off`` is true for a last message that shows it stops short (``_stops_short``),
    unless its Content-Length says it ends just there.
    ``start`` is where the first message begins (from ``mbox_start``, whose caller reports
    what lies before it); without it the buffer must start like an mbox, or ``ValueError``.
    """
    if start is None:
        start = 3 if data[:3] == BOM else 0
        if not _starts_message(data, start):
            raise ValueError("does not start with a 'From ' line followed by a header")
    behind = Behind(data)
    while start < len(data):
        behind.reached(start)
        body_start = _line_end(data, start)
        sep_line = bytes(data[start:body_start]).rstrip(b"\r\n")
        cl_end = _content_length_end(data, body_start)
        nxt = len(data)
        search_from = cl_end if cl_end is not None else body_start
        if cl_end is not None and cl_end < len(data):
            nxt = cl_end
        else:
            for p in _candidates(data, search_from):
                blank_before = data[p - 2 : p] == b"\n\n" or data[p - 3 : p] == b"\n\r\n"
                after = _line_end(data, p)
                if blank_before and looks_like_headers(data, after):
                    nxt = p
                    break
                if looks_like_headers(data, after, min_fields=3):
                    nxt = p
                    break
        end = _before_blank_line(data, body_start, nxt)
        chunk = bytes(data[body_start:end])  # the one copy of a message that may be giant
        behind.reached(end)  # its mapped pages are not read again: not resident beside the copy
        last = nxt >= len(data)
        # _stops_short says the same with or without the separating blank line
        cut_off = last and bool(chunk) and cl_end != len(data) and _stops_short(chunk)
        if b">From " in chunk:  # quick test first: most mail has no quoted line
            chunk = _QUOTED_FROM.sub(rb"\1", chunk)
        yield start, sep_line, chunk, cut_off
        start = nxt


_ENVELOPE_DATE = re.compile(
    rb"(?:[A-Z][a-z]{2},? +)?([A-Z][a-z]{2}) +(\d{1,2}) +(\d{1,2}):(\d{2})(?::(\d{2}))?"
    rb"(?: +([+-]\d{4}|[A-Z]{1,5}))? +(\d{4})(?: +([+-]\d{4}))?"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"), 1
    )
}
_UTC_NAMES = {b"UTC", b"GMT", b"UT", b"Z"}


def from_line_date(line: bytes) -> datetime | None:
    """When the store wrote the message, from its ``From `` line (``From sender Mon Jun 18
    19:00:00 2012``), in the zone the line names, else as the writer's wall clock."""
    m = _ENVELOPE_DATE.search(line, 5)
    if m is None or m.group(1) not in _MONTHS:
        return None
    month, day, hour, minute = _MONTHS[m.group(1)], int(m.group(2)), int(m.group(3)), int(m.group(4))
    zone = m.group(6) or m.group(8)
    try:
        when = datetime(int(m.group(7)), month, day, hour, minute, int(m.group(5) or 0))
    except ValueError:
        return None
    if zone and zone[:1] in b"+-":
        minutes = int(zone[1:3]) * 60 + int(zone[3:5])
        return when.replace(tzinfo=timezone(timedelta(minutes=minutes if zone[:1] == b"+" else -minutes)))
    return when.replace(tzinfo=UTC) if zone in _UTC_NAMES else wall_clock(when)


def mbox_entries(location: str, data: Buffer) -> Iterator[Problem | tuple[int, bytes, bytes, bool]]:
    """(offset, From_ line, message bytes, cut_off) of each message of an mbox file, with a
    problem for junk before the first message and for a cut-off last one (a message kept
    from before the first From_ line has an empty one).  Raises ``ValueError`` when the file
    holds no message at all."""
    start = mbox_start(data)
    first = 3 if data[:3] == BOM else 0
    if start > first and looks_like_headers(data, first, min_fields=2, min_known=2):
        yield Problem(
            ProblemKind.DAMAGED,
            location,
            f"0-{start}",
            f"the {start} bytes before the first 'From ' line are a message without one; kept",
        )
        yield first, b"", bytes(data[first : _before_blank_line(data, first, start)]), False
    elif start > first:
        yield Problem(
            ProblemKind.DAMAGED,
            location,
            f"0-{start}",
            f"{start} bytes before the first 'From ' line are not mail; left out",
        )
    for offset, sep, raw, cut_off in split_mbox(data, start):
        if cut_off:
            yield Problem(
                ProblemKind.TRUNCATED, location, str(offset), "last message is cut off; kept as found"
            )
        yield offset, sep, raw, cut_off


def client_flags(fields: Iterable[tuple[str, bytes]]) -> tuple[frozenset[Flag], bool, tuple[str, ...]]:
    """Flags, 'partial' and keywords from the state fields mail clients add to mbox files."""
    flags: set[Flag] = set()
    partial = False
    keywords: tuple[str, ...] = ()
    for name, value in fields:
        text = value.decode("ascii", "replace").strip()
        if name == "x-mozilla-status":
            try:
                bits = int(text, 16)
            except ValueError:
                continue
            for bit, flag in (
                (0x1, Flag.SEEN),
                (0x2, Flag.ANSWERED),
                (0x4, Flag.FLAGGED),
                (0x8, Flag.DELETED),
                (0x1000, Flag.FORWARDED),
            ):
                if bits & bit:
                    flags.add(flag)
            partial = partial or bool(bits & 0x400)
        elif name == "x-mozilla-keys":
            keywords = tuple(k for k in text.split() if k)
        elif name == "status":
            if "R" in text:
                flags.add(Flag.SEEN)
        elif name == "x-status":
            for ch, flag in (
                ("A", Flag.ANSWERED),
                ("F", Flag.FLAGGED),
                ("D", Flag.DELETED),
                ("T", Flag.DRAFT),
            ):
                if ch in text:
                    flags.add(flag)
        elif name == "x-evolution":
            try:
                bits = int(text.split("-")[-1], 16)
            except ValueError:
                continue
            for bit, flag in (
                (1, Flag.ANSWERED),
                (2, Flag.DELETED),
                (4, Flag.DRAFT),
                (8, Flag.FLAGGED),
                (16, Flag.SEEN),
            ):
                if bits & bit:
                    flags.add(flag)
    return frozenset(flags), partial, keywords


def read_mbox(
    location: str, data: Buffer, context: ReadContext
) -> Iterator[Problem | tuple[int, bytes, bytes, bool]]:
    """``mbox_entries``, with the read's progress advanced by each message's bytes as it goes
    (the read loop every mbox-reading plugin shares).  Raises ``ValueError`` as it does."""
    done = 0
    for entry in mbox_entries(location, data):
        if not isinstance(entry, Problem):
            context.advance(entry[0] - done)
            done = entry[0]
        yield entry
    context.advance(len(data) - done)
