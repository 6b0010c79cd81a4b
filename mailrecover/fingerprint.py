"""What a copy's bytes say, computed once at gather time: its fingerprints and header facts.

Two copies are one message when their Message-ID agrees and their content agrees:
the sender's address, the Date as an instant, the decoded Subject, the body text after
transfer and charset decoding with line endings and ``>From`` quoting evened out, and the
attachment bytes.  ``summarize`` takes a copy's bytes once and gives all of that, with the
delivery evidence (Delivered-To and kin, for the ownership check) and the arrival-time
evidence (the last hop's Received date); ``merge`` groups copies by what it stored.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.message
import email.policy
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .delivery import Clue, clues_from_fields
from .limits import Limits, current, exceeded, mime_shape
from .listpost import ListPost, header_clues, list_post
from .lists import message_evidence
from .model import Evidence
from .rfc822 import (
    Chunks,
    addresses,
    decode_header_value,
    decode_text,
    decode_text_pieces,
    fold_for_compare,
    folded_pieces,
    folded_stream,
    header_end,
    header_fields,
    parse_date,
)

__all__ = ["Summary", "digest", "summarize"]

_QUOTED_FROM = re.compile(r"(?m)^>+(From )")


@dataclass(frozen=True)
class Summary:
    """What the merge and the reports need of one copy, computed once at gather time."""

    message_id: str | None
    from_addr: str
    date: str | None  # ISO 8601 in UTC
    subject: str  # decoded, for people
    head_fp: str
    body_fp: str
    content_fp: str
    delivered_to: tuple[str, ...]  # delivery evidence: whose mailbox the server put it in
    received: int  # how many Received fields: more means nearer the original delivery
    limits: tuple[str, ...] = ()  # reasons, when a resource limit cut the reading short
    received_date: str | None = None  # the last hop's Received date, ISO 8601 in UTC
    #: Delivery clues of the whole header less the list's own addresses (``listpost.header_clues``):
    #: what the ownership check weighs, so it never reads the copy again.
    clues: tuple[Clue, ...] = ()
    #: What the copy says about list membership (``lists.message_evidence``), for ``members``;
    #: None when it could not be read at gather time.
    list_evidence: tuple[Evidence, ...] | None = ()


_DIGEST_PIECE = 1 << 20


def _utf8(text: str) -> Iterator[bytes]:
    """The bytes a digest takes of ``text``, a piece at a time: a giant body text is not
    encoded whole at once (UTF-8 with surrogatepass is per code point: the same bytes)."""
    for at in range(0, len(text), _DIGEST_PIECE):
        yield text[at : at + _DIGEST_PIECE].encode("utf-8", "surrogatepass")


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        for piece in _utf8(p):
            h.update(piece)
        h.update(b"\x00")
    return h.hexdigest()


def _message_id(value: bytes) -> str | None:
    text = value.decode("ascii", "replace").strip()
    m = re.search(r"<([^<>]+)>", text)
    found = (m.group(1) if m else text).strip()
    return found or None


#: A payload at least this big is decoded and hashed a piece at a time (the same fingerprint)
#: instead of being copied whole: body cut out, transfer-decoded, decoded to text.
_STREAM_MIN = 1 << 20
_PIECE = 1 << 16  # bytes of a payload, or characters of its text, taken at a time


class _Unstreamable(Exception):
    """A payload the piecewise path cannot follow exactly: the whole path decides."""


@dataclass(frozen=True)
class _Encoded:
    """A big base64 or quoted-printable payload, still encoded, read a piece at a time."""

    msg: email.message.Message
    encoded: memoryview
    cte: str

    def chunks(self) -> Iterator[bytes]:
        """What ``get_payload(decode=True)`` gives, a piece at a time; raises _Unstreamable
        (perhaps after some pieces) where the pieces could differ from it."""
        return _b64_pieces(self.encoded) if self.cte == "base64" else _qp_pieces(self.encoded)

    def whole(self) -> bytes | None:
        self.msg.set_payload(
            bytes(self.encoded).decode("ascii", "surrogateescape")
        )  # as the parser stores it
        return _parsed_leaf(self.msg)[1]


_B64_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_END = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _b64_pieces(encoded: memoryview) -> Iterator[bytes]:
    """``decode_b`` of the payload's joined lines when it takes its first way (only base64
    letters, the padding at the end): 4-letter groups decode on their own."""
    carry = b""
    for at in range(0, len(encoded), _PIECE):
        data = carry + bytes(encoded[at : at + _PIECE]).translate(None, b"\r\n")  # what splitlines() joins
        if at + _PIECE >= len(encoded):
            carry = data
            break
        cut = len(data) - len(data.lstrip(_B64_LETTERS)) & ~3  # groups of letters only; '=' waits for the end
        carry = data[cut:]
        if len(carry) > _PIECE + 4:
            raise _Unstreamable  # something other than padding: decode_b's other ways
        yield binascii.a2b_base64(data[:cut])
    pad_err = len(carry) % 4  # the joined lines' own: the groups before are whole
    carry += b"==="[: 4 - pad_err] if pad_err else b""  # decode_b's padding
    if not _B64_END.fullmatch(carry):
        raise _Unstreamable
    try:
        yield base64.b64decode(carry, validate=True)
    except binascii.Error:
        raise _Unstreamable from None


def _qp_pieces(encoded: memoryview) -> Iterator[bytes]:
    """``quopri.decodestring`` of the payload a run of whole lines at a time."""
    carry = b""
    for at in range(0, len(encoded), _PIECE):
        data = carry + bytes(encoded[at : at + _PIECE])
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > 8 * _PIECE:
            raise _Unstreamable  # no line end: a giant line is left to the whole path
        carry = data[cut:]
        if cut:
            yield binascii.a2b_qp(data[:cut])
    yield binascii.a2b_qp(carry)


#: A leaf part and its payload as ``get_payload(decode=True)`` gives it (None when it gives
#: none): bytes, a view of the message's bytes, or a big payload still transfer-encoded.
_Payload = bytes | memoryview | _Encoded | None
_Leaf = tuple[email.message.Message, _Payload]


def _parsed_leaf(part: email.message.Message) -> tuple[email.message.Message, bytes | None]:
    payload = part.get_payload(decode=True)
    return part, payload if isinstance(payload, bytes) else None


def _raw_fingerprint(raw: bytes) -> str:
    return digest("raw", hashlib.sha256(raw).hexdigest())


def _body_fingerprint(raw: bytes, start: int = 0) -> str:
    """The body fingerprint of ``raw[start:]`` (past a byte order mark: no copy to cut it)."""
    try:
        fast = _fast_fingerprint(raw, start)
        return fast if fast is not None else _mime_fingerprint(raw[start:])
    except Exception:  # mail the parser cannot walk is compared by its body bytes
        body = raw[start:][header_end(raw[start:]) :].replace(b"\r\n", b"\n")
        return digest("raw", hashlib.sha256(body).hexdigest())


def _mime_fingerprint(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return _parts_fingerprint(_parsed_leaf(part) for part in msg.walk() if not part.is_multipart())


def _parts_fingerprint(parts: Iterable[_Leaf]) -> str:
    """``digest("\\x01".join(folded texts that are not empty), *sorted(attachment hashes))``,
    with the texts hashed as they are folded, a piece at a time: a giant body's folded copy
    is never held whole, nor (past ``_STREAM_MIN``) its decoded text or payload."""
    h = hashlib.sha256()
    texts = 0  # texts hashed so far
    attachments: list[str] = []
    for part, payload in parts:
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        is_text = part.get_content_maintype() == "text" and not part.get_filename()
        chunks = _chunks(payload)
        if is_text and disposition != "attachment":
            separator = b"\x01" if texts else b""
            if chunks is not None:
                try:
                    h, hashed = _hash_text(h, chunks, part.get_content_charset(), separator)
                    texts += hashed
                    continue
                except _Unstreamable:
                    pass
            text = _QUOTED_FROM.sub(r"\1", decode_text(_whole(payload) or b"", part.get_content_charset()))
            for n, piece in enumerate(folded_pieces(text)):
                h.update(b" " if n else separator)
                texts += not n
                for data in _utf8(piece):
                    h.update(data)
        else:
            attachments.append(_attachment_hash(part, payload, chunks))
    h.update(b"\x00")
    for a in sorted(attachments):
        h.update(a.encode("ascii") + b"\x00")  # hex digests
    return h.hexdigest()


def _chunks(payload: _Payload) -> Chunks | None:
    """The payload a piece at a time when it is big enough to be read so, else None."""
    if isinstance(payload, _Encoded):
        return payload.chunks
    if payload is None or len(payload) < _STREAM_MIN:
        return None
    view = memoryview(payload)
    return lambda: (bytes(view[at : at + _PIECE]) for at in range(0, len(view), _PIECE))


def _whole(payload: _Payload) -> bytes | None:
    if isinstance(payload, _Encoded):
        return payload.whole()
    return bytes(payload) if isinstance(payload, memoryview) else payload


def _attachment_hash(part: email.message.Message, payload: _Payload, chunks: Chunks | None) -> str:
    if isinstance(payload, _Encoded) and chunks is not None:
        h = hashlib.sha256()
        try:
            for piece in chunks():
                h.update(piece)
            return h.hexdigest()
        except _Unstreamable:
            pass
    data = payload.whole() if isinstance(payload, _Encoded) else payload
    if data is None:
        return hashlib.sha256(str(part.get_payload()).encode()).hexdigest()
    return hashlib.sha256(data).hexdigest()  # a view is hashed in place


def _hash_text(
    h: hashlib._Hash, chunks: Chunks, charset: str | None, separator: bytes
) -> tuple[hashlib._Hash, bool]:
    """``h`` fed as ``_parts_fingerprint`` feeds it one text, a piece at a time, and whether
    the text folded to anything.  A decoding that ``decode_text`` would have given up
    partway is thrown away with what it fed, and the next is tried from the start."""
    for decoding in decode_text_pieces(chunks, charset):
        trial, hashed = h.copy(), False
        try:
            for piece in folded_stream(_unquoted(decoding)):
                if piece and not hashed:
                    trial.update(separator)
                    hashed = True
                for data in _utf8(piece):
                    trial.update(data)
        except UnicodeDecodeError:
            continue
        return trial, hashed
    raise AssertionError("the last decoding (Latin-1, CP932 with replacement) never fails")


# Characters NFKC never joins to what precedes them (starters that are no second half of any
# composition): ASCII, and the kana, ideographs and Hangul syllables of a line with no ASCII.
_STARTERS = "\x00-\x7f\u3041-\u3096\u30a1-\u30fa\u4e00-\u9fff\uac00-\ud7a3"
_LAST_STARTER = re.compile(f"[{_STARTERS}](?=[^{_STARTERS}]*\\Z)")


def _unquoted(pieces: Iterable[str]) -> Iterator[str]:
    """The text of ``pieces`` with ``>From`` unquoted, in segments cut after a line end or,
    in a giant line, before one of ``_STARTERS``: neither the unquoting (a line's start)
    nor ``folded_stream``'s NFKC reaches across such a cut."""
    carry, line_start = "", True
    for piece in pieces:
        text = carry + piece
        if len(text) < _PIECE:
            carry = text
            continue
        cut = text.rfind("\n") + 1
        if not cut:
            found = _LAST_STARTER.search(text, max(0, len(text) - 65536))
            quoted = len(text) - len(text.lstrip(">")) if line_start else 0
            cut = found.start() if found and found.start() > (quoted + 5 if quoted else 0) else 0
        if not cut:
            carry = text  # no safe cut yet (a line of '>', of combining marks...): read on
            continue
        yield _unquote(text[:cut], line_start)
        carry, line_start = text[cut:], text[cut - 1] == "\n"
    if carry:
        yield _unquote(carry, line_start)


def _unquote(segment: str, line_start: bool) -> str:
    if ">From " not in segment:
        return segment
    if line_start:
        return _QUOTED_FROM.sub(r"\1", segment)
    return _QUOTED_FROM.sub(r"\1", "-" + segment)[1:]  # its first line began in the segment before


# How the stdlib parser (compat32, from bytes) tells header lines from the body, and the
# characters other than CRLF/LF at which it would also break a line.
_PARSER_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
_PARSER_ODD_BREAKS = re.compile(rb"[\r\x0b\x0c\x1c\x1d\x1e]")


#: Header lines as the parser reads them, each ended by LF or CRLF and free of other breaks:
#: skipped in one compiled scan; the line loop goes on from the first line that is not one.
_PARSER_CLEAN_LINES = re.compile(
    rb"(?:(?:From |[\041-\071\073-\176]*+:|[\t ])[^\r\n\x0b\x0c\x1c\x1d\x1e]*+\r?\n)*+"
)


def _parser_header(raw: bytes, lo: int, n: int) -> tuple[int, int] | None:
    """Where the stdlib parser would end the header and start the body of ``raw[lo:n]``.

    None where its line breaking or its treatment of the header could differ from this
    scan (odd line breaks, a 'From ' line that ends the header).
    """
    m = _PARSER_CLEAN_LINES.match(raw, lo, n)
    assert m is not None  # it matches the empty string
    pos = m.end()
    last = max(lo, raw.rfind(b"\n", lo, pos - 1) + 1) if pos > lo else -1
    return _parser_header_from(raw, lo, n, pos, last)


def _parser_header_from(raw: bytes, lo: int, n: int, pos: int, last: int) -> tuple[int, int] | None:
    """``_parser_header`` read a line at a time from ``pos``, ``last`` the start of the last
    header line before it (-1: none)."""
    while pos < n:
        nl = raw.find(b"\n", pos, n)
        end = n if nl < 0 else nl + 1
        stop = (
            end - 2 if end - 2 >= pos and raw.startswith(b"\r\n", end - 2, n) else end - 1 if nl >= 0 else end
        )
        if _PARSER_ODD_BREAKS.search(raw, pos, stop):
            return None
        if stop == pos or not _PARSER_HEADER_LINE.match(raw, pos, n):
            break  # an empty line ends the header; any other line starts the body
        last, pos = pos, end
    if last > lo and raw.startswith(b"From ", last, n):
        return None  # the parser pushes a 'From ' line that ends the header back into the body
    if pos < n and raw.startswith((b"\n", b"\r\n"), pos, n):
        return pos, pos + (1 if raw[pos] == 0x0A else 2)
    return pos, pos


#: The only header fields the body fingerprint reads (Content-Type, -Transfer-Encoding, -Disposition).
_CONTENT_FIELDS = (b"content-type", b"content-transfer-encoding", b"content-disposition")


_CONTENT_FIELD_LINES = re.compile(
    rb"^(?:content-type|content-transfer-encoding|content-disposition):[^\n]*+(?:\n[ \t][^\n]*+)*+\n?",
    re.I | re.M,
)


class _ContentFields(email.message.Message):
    """A part's content fields, each field's parameters split once: the fingerprint asks for
    the type, charset, file name and boundary, and the stdlib splits the field again for
    each (a third of the fast path's parsing).  Its fields are only set while it is built."""

    def __init__(self) -> None:
        super().__init__(policy=email.policy.compat32)
        self._params: dict[str, list[tuple[str, str]]] = {}
        self._type: str | None = None

    def set_raw(self, name: str, value: str) -> None:
        self._params.clear()  # a field added after a look would make the splits out of date
        self._type = None
        super().set_raw(name, value)

    def set_default_type(self, ctype: str) -> None:
        self._type = None
        super().set_default_type(ctype)

    def _get_params_preserve(self, failobj: object, header: str) -> object:
        key = header.lower()
        if key not in self._params:
            found = super()._get_params_preserve(None, header)  # type: ignore[misc]
            if found is None:
                return failobj
            self._params[key] = found
        return list(self._params[key])  # a caller that changes its list changes no other's

    def get_content_type(self) -> str:
        if self._type is None:
            self._type = super().get_content_type()
        return self._type


def _content_fields(head: bytes) -> email.message.Message:
    """A message holding the content fields of ``head`` exactly as the parser would store them.

    The parser's own steps on header lines, kept to the fields the fingerprint reads:
    continuation lines join the field before them, a first 'From ' line is the envelope,
    a field is named by what precedes its first colon.
    """
    policy = email.policy.compat32
    msg = _ContentFields()
    # The header holds no break but LF and CRLF (``_parser_header`` saw to it), so a compiled
    # scan finds each content field with its continuation lines as the line loop would.
    for m in _CONTENT_FIELD_LINES.finditer(head):
        lines = m.group().splitlines(keepends=True)
        msg.set_raw(*policy.header_source_parse([x.decode("ascii", "surrogateescape") for x in lines]))
    return msg


def _content_fields_by_line(head: bytes) -> email.message.Message:
    """``_content_fields`` a line at a time (any line breaks)."""
    policy = email.policy.compat32
    msg = email.message.Message(policy=policy)
    field: list[bytes] | None = None  # lines of the field being read, if it is kept

    def keep(lines: list[bytes] | None) -> None:
        if lines is not None:
            msg.set_raw(*policy.header_source_parse([x.decode("ascii", "surrogateescape") for x in lines]))

    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if field is not None:
                field.append(line)
            continue
        keep(field)
        field = None
        if line.startswith(b"From "):
            continue  # the envelope line, or a misplaced one the parser drops
        colon = line.find(b":")
        if colon <= 0:
            continue
        field = [line] if line[:colon].lower() in _CONTENT_FIELDS else None
    keep(field)
    return msg


def _fast_fingerprint(raw: bytes, start: int = 0) -> str | None:
    """The body fingerprint without running the parser over the body.

    The parts are cut out where the parser would cut them and their content fields read
    as it reads them, so the result is the full path's.  None where the parser's way
    with a damaged or unusual structure would take more than this scan follows.
    """
    leaves = _fast_leaves(raw, start, len(raw), ())
    return None if leaves is None else _parts_fingerprint(leaves)


def _boundary_line(line: bytes, separator: bytes) -> str | None:
    """'end' for a close boundary line, 'part' for a boundary between parts, else None.

    What the parser accepts: the separator, ``--`` to close, blanks, the line ending.
    """
    if not line.startswith(separator):
        return None
    rest = line[len(separator) :].rstrip(b"\r\n")
    if rest.startswith(b"--") and not rest[2:].strip(b" \t"):
        return "end"
    return None if rest.strip(b" \t") else "part"


def _without_last_line_end(raw: bytes, lo: int, hi: int) -> int:
    """Where the parser ends a part's body ``raw[lo:hi]``: the line ending before a boundary is the boundary's."""
    return hi - 2 if raw.endswith(b"\r\n", lo, hi) else hi - 1 if raw.endswith((b"\n", b"\r"), lo, hi) else hi


def _line_starts(body: bytes, prefix: bytes, pos: int, end: int) -> Iterator[int]:
    """Where lines that begin with ``prefix`` start in ``body[:end]``, from ``pos`` (a line
    start) on; lines break at CRLF, CR and LF, as in the parser's buffer."""
    if body.startswith(prefix, pos, end):
        yield pos
    after_lf, after_cr = body.find(b"\n" + prefix, pos, end), body.find(b"\r" + prefix, pos, end)
    while after_lf >= 0 or after_cr >= 0:
        if after_cr < 0 or 0 <= after_lf < after_cr:
            yield after_lf + 1
            after_lf = body.find(b"\n" + prefix, after_lf + 1, end)
        else:
            yield after_cr + 1
            after_cr = body.find(b"\r" + prefix, after_cr + 1, end)


#: Transfer encodings ``get_payload(decode=True)`` decodes; any other gives the body bytes back.
_DECODED_CTES = ("quoted-printable", "base64", "x-uuencode", "uuencode", "uue", "x-uue")


def _fast_leaves(raw: bytes, lo: int, hi: int, outer: tuple[bytes, ...]) -> list[_Leaf] | None:
    """The leaf parts of ``raw[lo:hi]`` as the parser would store them, in its order, each
    payload a view of ``raw`` where the parser's is these very bytes (nothing cut out).

    ``outer`` holds the separators of the multiparts ``raw[lo:hi]`` is a part of.  None for
    message/* and multipart/digest content, a multipart without a boundary, a start or
    close boundary, an empty part (two boundary lines in a row), or an outer boundary
    line met inside a part.
    """
    bounds = _parser_header(raw, lo, hi)
    if bounds is None:
        return None
    msg = _content_fields(raw[lo : bounds[0]])
    maintype = msg.get_content_maintype()
    body = bounds[1]  # where the body starts; it ends at hi
    if maintype == "message" or msg.get_content_type() == "multipart/digest":
        return None
    if maintype != "multipart":
        data = memoryview(raw)[body : _without_last_line_end(raw, body, hi) if outer else hi]
        cte = str(msg.get("content-transfer-encoding", "")).lower()
        if cte in ("base64", "quoted-printable") and len(data) >= _STREAM_MIN:
            return [(msg, _Encoded(msg, data, cte))]
        if cte in _DECODED_CTES:
            msg.set_payload(bytes(data).decode("ascii", "surrogateescape"))  # as the parser stores it
            return [_parsed_leaf(msg)]
        return [(msg, data)]  # the parser's decoded payload is these very bytes: no round trip
    boundary = msg.get_boundary()
    if boundary is None:
        return None
    try:
        separator = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None  # a boundary no line of the message can hold (decoded from RFC 2231)

    def next_boundary(pos: int) -> tuple[int, int, str | None]:
        """The next boundary line from ``pos``: its start, its end, and what it is for
        this multipart (None at an outer one, or at the end of the body)."""
        for start in _line_starts(raw, b"--", pos, hi):
            brk = raw.find(b"\n", start, hi)
            end = hi if brk < 0 else brk + 1
            cr = raw.find(b"\r", start, end)
            if 0 <= cr < end - 2 or (cr == end - 2 and raw[cr + 1] != 0x0A):
                end = cr + 1  # a bare CR ends the line
            line = raw[start:end]
            kind = _boundary_line(line, separator)
            if kind is not None:
                return start, end, kind
            if any(_boundary_line(line, o) for o in outer):
                return start, end, None
        return hi, hi, None

    leaves: list[_Leaf] = []
    _, end, kind = next_boundary(body)
    while kind == "part":
        part_start = end
        start, end, kind = next_boundary(part_start)
        if kind is None or start == part_start:
            return None  # cut short, an outer boundary inside, or an empty part
        part = _fast_leaves(raw, part_start, start, (*outer, separator))
        if part is None:
            return None
        leaves += part
    return leaves or None


_CONTAINERS = (b"multipart/", b"message/rfc822")
_WINDOW = 1 << 20


def _count_containers(raw: bytes) -> int:
    """Case-blind count of the container names, lower-casing a window at a time: a copy of
    a giant message just to count words in it doubled its memory."""
    overlap = max(map(len, _CONTAINERS)) - 1
    count = 0
    for at in range(0, len(raw), _WINDOW):
        window = raw[at : at + _WINDOW + overlap].lower()
        count += sum(window.count(name, 0, _WINDOW + len(name) - 1) for name in _CONTAINERS)  # begun here
    return count


def _limit_reasons(raw: bytes, head_size: int, limits: Limits) -> list[str]:
    """Why this copy must not be parsed in full (empty when it may)."""
    if len(raw) > limits.max_message_bytes:
        return [
            exceeded(
                "max_message_bytes",
                len(raw),
                limits.max_message_bytes,
                "kept whole, compared by its exact bytes",
            )
        ]
    reasons = []
    if head_size > limits.max_header_bytes:
        reasons.append(
            exceeded(
                "max_header_bytes",
                head_size,
                limits.max_header_bytes,
                "kept whole, summarised from the first part of its header",
            )
        )
    containers = _count_containers(raw)  # each names one of these: their count bounds the depth
    if containers <= limits.max_mime_depth and raw.count(b"\n--") <= limits.max_mime_parts:
        return reasons  # too few containers and boundary lines to cross either limit
    depth, parts = mime_shape(raw, stop_depth=limits.max_mime_depth)
    if depth > limits.max_mime_depth:
        reasons.append(
            exceeded(
                "max_mime_depth", depth, limits.max_mime_depth, "kept whole, compared by its exact bytes"
            )
        )
    elif parts > limits.max_mime_parts:
        reasons.append(
            exceeded(
                "max_mime_parts", parts, limits.max_mime_parts, "kept whole, compared by its exact bytes"
            )
        )
    return reasons


def summarize(raw: bytes, limits: Limits | None = None) -> Summary:
    """Fingerprints and header facts of one message's raw bytes; never raises.

    A copy past one of the ``limits`` is summarised from what the limits allow and
    compared by its exact bytes; ``Summary.limits`` says why.
    """
    limits = limits or current()
    head_size = header_end(raw, limits.max_header_bytes + 4)
    reasons = _limit_reasons(raw, head_size, limits)
    whole_head = head_size <= limits.max_header_bytes  # else the fields of its first part only
    fields = header_fields(raw, head_size if whole_head else header_end(raw, limits.max_header_bytes))
    first: dict[str, bytes] = {}
    received = 0
    last_hop = None
    for name, value in fields:
        first.setdefault(name, value)
        if name == "received":
            received += 1
            if last_hop is None:  # the topmost one the date of which can be read: the last hop
                last_hop = _received_date(value)
    found = clues_from_fields(fields)
    every = fields if whole_head else header_fields(raw)  # later stages read the whole header
    post = list_post(every)
    message_id = _message_id(first["message-id"]) if "message-id" in first else None
    senders = addresses(first.get("from", b""))
    from_addr = senders[0] if senders else ""
    when = parse_date(first.get("date"))
    date = when.astimezone(UTC).isoformat() if when else None
    subject = decode_header_value(first.get("subject", b"")).strip()
    head_fp = digest(from_addr, date or "", fold_for_compare(subject))
    # a UTF-8 byte order mark before the header (saved by Windows tools) is no part of the mail
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    body_fp = _raw_fingerprint(raw) if reasons else _body_fingerprint(raw, start)
    return Summary(
        message_id=message_id,
        from_addr=from_addr,
        date=date,
        subject=subject[:300],
        head_fp=head_fp,
        body_fp=body_fp,
        content_fp=digest(head_fp, body_fp),
        delivered_to=tuple(dict.fromkeys(c.address for c in found)),
        received=received,
        limits=tuple(reasons),
        received_date=last_hop.astimezone(UTC).isoformat() if last_hop else None,
        clues=tuple(header_clues(found if whole_head else clues_from_fields(every), post)),
        list_evidence=_list_evidence(raw, every, post, subject if whole_head else None),
    )


def _list_evidence(
    raw: bytes, fields: list[tuple[str, bytes]], post: ListPost | None, subject: str | None
) -> tuple[Evidence, ...] | None:
    """The copy's list evidence (``lists.message_evidence``); None when reading it failed,
    left to ``members``, which reads the copy again and says why."""
    try:
        return tuple(message_evidence(raw, fields, post=post, subject=subject))
    except Exception:
        return None


def _received_date(value: bytes) -> datetime | None:
    """The date a ``Received:`` field was stamped with: what follows its last ``;``."""
    _, sep, stamp = value.rpartition(b";")
    return parse_date(stamp) if sep else None
