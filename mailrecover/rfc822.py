"""Small, forgiving helpers on raw message bytes: the header block, its fields, text decoding.

These never raise on damaged input: broken mail is what a recovery is made of.
"""

from __future__ import annotations

import codecs
import functools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

__all__ = [
    "Chunks",
    "addresses",
    "decode_header_value",
    "decode_text",
    "decode_text_pieces",
    "fold_for_compare",
    "folded_pieces",
    "folded_stream",
    "header_end",
    "header_fields",
    "normalize_address",
    "parse_date",
    "remove_fields",
]

_CP932_LABELS = {
    "shift_jis",
    "shift-jis",
    "sjis",
    "x-sjis",
    "s-jis",
    "ms_kanji",
    "ms-kanji",
    "windows-31j",
    "cp932",
    "csshiftjis",
    "x-ms-cp932",
    "shift_jisx0213",
}
_ISO2022JP_LABELS = {"iso-2022-jp", "iso2022-jp", "iso_2022_jp", "csiso2022jp", "jis"}


_BLANK_LINE = re.compile(rb"\n\r?\n")


def header_end(raw: bytes, limit: int | None = None) -> int:
    """Offset where the body starts (after the blank line), or len(raw) if there is none;
    with ``limit``, ``header_end(raw[:limit])`` without copying ``raw[:limit]``."""
    if raw.startswith(b"\n"):
        return 1
    if raw.startswith(b"\r\n"):
        return 2
    n = len(raw) if limit is None else min(len(raw), limit)
    # One scan that stops at the first blank line, CRLF or LF (looking for each kind apart
    # scanned a whole CRLF message, attachments and all, for an LF one it never holds).
    m = _BLANK_LINE.search(raw, 0, n)
    return n if m is None else m.end()


def header_fields(raw: bytes, end: int | None = None) -> list[tuple[str, bytes]]:
    """The header fields as (lower-case name, unfolded raw value) in order; a UTF-8 byte
    order mark before them (Windows tools save .eml files with one) is not part of the first.
    ``end``: where the header ends when the caller has found it (``header_end``)."""
    head = raw[: header_end(raw) if end is None else end]
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    fields: list[tuple[str, list[bytes]]] = []
    for line in head.splitlines():
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line.strip())  # joined once below: no quadratic copying
            continue
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not raw_name or b" " in raw_name.strip():
            continue  # not a field; a From_ line or garbage
        fields.append((raw_name.strip().decode("ascii", "replace").lower(), [raw_value.strip()]))
    return [(name, b" ".join(parts)) for name, parts in fields]


def remove_fields(raw: bytes, names: set[str]) -> bytes:
    """``raw`` without the header fields named (lower-case), continuation lines included."""
    end = header_end(raw)
    out: list[bytes] = []
    dropping = dropped = False
    for line in raw[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and line.strip():
            if not dropping:
                out.append(line)
            continue
        name = line.partition(b":")[0].strip().lower()
        dropping = name.decode("ascii", "replace") in names
        dropped = dropped or dropping
        if not dropping:
            out.append(line)
    if not dropped:
        return raw  # no copy of a body that may be hundreds of MB
    return b"".join([*out, memoryview(raw)[end:]])  # one copy, not a slice and then a sum


_JIS_SWITCH = re.compile(rb"\x1b(\$B|\$@|\(B|\(J|\(I)")
_JIS_RUN = re.compile(rb"[\x21-\x7e]+")  # JIS pairs; other bytes (line breaks) stand between runs
_KANA = bytes(range(0x21)) + bytes(range(0xA1, 0xE0)) + bytes(range(0x60, 0x100))


def _sjis_lead(j1: int) -> int:
    s1 = ((j1 - 0x21) >> 1) + 0x81
    return s1 + 0x40 if s1 > 0x9F else s1


# JIS X 0208 row/cell bytes to Shift_JIS: the lead byte depends on the first byte alone,
# the trail byte on the second and on whether the first is odd.
_SJIS_LEAD = bytes(_sjis_lead(j) if 0x21 <= j <= 0x7E else j for j in range(256))
_SJIS_TRAIL_AFTER_ODD = bytes(min(0xFF, j + 0x1F + (j >= 0x60)) for j in range(256))
_SJIS_TRAIL_AFTER_EVEN = bytes(min(0xFF, j + 0x7E) for j in range(256))
_ODD = bytes(0xFF if j % 2 else 0 for j in range(256))


def _jis_run_as_sjis(m: re.Match[bytes]) -> bytes:
    """A run of JIS pairs as Shift_JIS, mapped a run at a time (a byte left over is kept)."""
    run = m.group()
    n = len(run) & ~1
    lead, trail = run[0:n:2], run[1:n:2]
    odd = int.from_bytes(lead.translate(_ODD))
    after_odd = int.from_bytes(trail.translate(_SJIS_TRAIL_AFTER_ODD))
    after_even = int.from_bytes(trail.translate(_SJIS_TRAIL_AFTER_EVEN))
    out = bytearray(n)
    out[0::2] = lead.translate(_SJIS_LEAD)
    out[1::2] = ((after_odd & odd) | (after_even & ~odd)).to_bytes(n // 2)
    return bytes(out) + run[n:]


def _iso2022jp_as_cp932(data: bytes) -> str:
    """Decode ISO-2022-JP written by Windows, whose JIS pairs may be CP932-only (①, ㈱).

    Each run between escape sequences is mapped as a whole: JIS pairs to Shift_JIS in
    kanji mode, half-width katakana moved up in kana mode, everything else kept.
    """
    return _jis_as_sjis(data, b"(B")[0].decode("cp932", "replace")


def _jis_run(run: bytes, mode: bytes) -> bytes:
    if mode in (b"$B", b"$@"):
        return _JIS_RUN.sub(_jis_run_as_sjis, run)
    if mode == b"(I":
        return run.translate(_KANA)
    return run


def _text_label(charset: str | None) -> str:
    label = (charset or "").strip().strip('"').lower()
    return "cp932" if label in _CP932_LABELS else label


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode text whatever its label says; never raises.

    Shift_JIS labels are read as CP932 and ISO-2022-JP through CP932 (Windows wrote
    both with its own extra characters).  An unknown or wrong label falls back to
    UTF-8, then CP932, then Latin-1.
    """
    label = _text_label(charset)
    if label in _ISO2022JP_LABELS or (not label and b"\x1b$" in data):
        try:
            return data.decode("iso2022_jp")
        except UnicodeDecodeError:
            return _iso2022jp_as_cp932(data)
    if label and label not in _GUESSED_LABELS and _charset(label):
        try:
            return data.decode(label)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    for guess in ("utf-8", "cp932"):
        try:
            return data.decode(guess)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


_GUESSED_LABELS = ("us-ascii", "ascii", "unknown-8bit", "x-unknown")  # labels that say nothing

#: Python's codecs that make text from bytes but are no character set a mail can carry: a label
#: naming one would rewrite the text (``\\u0041`` read as ``A``) instead of decoding it.
_NOT_CHARSETS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "charmap", "undefined", "mbcs", "oem"}
)


def _charset(label: str) -> codecs.CodecInfo | None:
    """The codec a charset label names, or None for an unknown label or a Python-only codec."""
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a label holding a NUL
        return None
    return info if info._is_text_encoding and info.name not in _NOT_CHARSETS else None


#: The bytes of one text, as a function giving them anew in pieces (each candidate reads them again).
Chunks = Callable[[], Iterable[bytes]]


def decode_text_pieces(chunks: Chunks, charset: str | None) -> Iterator[Iterator[str]]:
    """``decode_text`` a piece at a time, for a text too big to copy whole: its candidate
    decodings in ``decode_text``'s order.  A candidate raises ``UnicodeDecodeError`` partway
    where ``decode_text`` would have moved on; the caller then starts over with the next one.
    The joined pieces of the first that goes through are ``decode_text``'s text."""
    label = _text_label(charset)
    if label in _ISO2022JP_LABELS or (not label and _holds(chunks, b"\x1b$")):
        yield _incremental(chunks, "iso2022_jp")
        yield _jis_pieces_as_cp932(chunks)
        return
    if label and label not in _GUESSED_LABELS:
        yield _labelled(chunks, label)
    yield _incremental(chunks, "utf-8")
    yield _incremental(chunks, "cp932")
    yield _incremental(chunks, "latin-1")


def _holds(chunks: Chunks, needle: bytes) -> bool:
    """Whether the joined chunks hold ``needle`` (two bytes), also across a chunk's edge."""
    last = b""
    for chunk in chunks():
        if needle in last + chunk[:1] or needle in chunk:
            return True
        last = chunk[-1:]
    return False


def _incremental(chunks: Chunks, codec: str, errors: str = "strict") -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(codec)(errors)
    for chunk in chunks():
        text = decoder.decode(chunk)
        if text:
            yield text
    text = decoder.decode(b"", final=True)
    if text:
        yield text


def _piecewise(info: codecs.CodecInfo) -> bool:
    """Whether the codec's incremental decoder gives, piece by piece, what it decodes whole:
    the UTF family's buffered decoders, the CJK codecs' and the stateless single-byte maps."""
    decoder = info.incrementaldecoder
    if not isinstance(decoder, type):
        return False
    if issubclass(decoder, codecs.BufferedIncrementalDecoder):
        return info.name.startswith(("utf-8", "utf-16", "utf-32"))  # not idna (split at dots), nor utf-7
    if any(c.__name__ == "MultibyteIncrementalDecoder" for c in decoder.__mro__):
        return True  # the CJK codecs, which keep their state (an ISO-2022 escape) across pieces
    return info.name in ("latin-1", "iso8859-1") or hasattr(
        sys.modules.get(decoder.__module__), "decoding_table"
    )


def _labelled(chunks: Chunks, label: str) -> Iterator[str]:
    """The text as its label says, raising UnicodeDecodeError where decode_text would give up on
    the label (an unknown codec, a codec that does not make text, bytes it cannot decode)."""
    info = _charset(label)
    if info is None:
        raise UnicodeDecodeError(label, b"", 0, 0, "not a character set")
    if _piecewise(info):
        yield from _incremental(chunks, label)
        return
    try:  # a codec with no trusted piecewise decoder is decoded whole, as decode_text does
        text = b"".join(chunks()).decode(label)
    except (LookupError, ValueError) as e:
        raise UnicodeDecodeError(label, b"", 0, 0, str(e)) from None
    yield text


_JIS_SAFE_CUT = re.compile(rb"[^\x21-\x7e][\x21-\x7e]*\Z")  # before the last byte no JIS run holds


def _jis_pieces_as_cp932(chunks: Chunks) -> Iterator[str]:
    """``_iso2022jp_as_cp932`` a piece at a time: pieces cut before a byte outside every JIS
    run (an escape, a line end), so no run and no escape sequence is split."""
    decoder = codecs.getincrementaldecoder("cp932")("replace")
    mode, carry = b"(B", b""
    for chunk in chunks():
        data = carry + chunk
        cut = _JIS_SAFE_CUT.search(data, max(0, len(data) - 65536))
        if cut is None or cut.start() == 0:
            carry = data
            continue
        mapped, mode = _jis_as_sjis(data[: cut.start()], mode)
        carry = data[cut.start() :]
        text = decoder.decode(mapped)
        if text:
            yield text
    mapped, mode = _jis_as_sjis(carry, mode)
    text = decoder.decode(mapped, final=True)
    if text:
        yield text


def _jis_as_sjis(data: bytes, mode: bytes) -> tuple[bytes, bytes]:
    """ISO-2022-JP bytes mapped as ``_iso2022jp_as_cp932`` maps them, and the mode at their end."""
    out = []
    pos = 0
    for m in _JIS_SWITCH.finditer(data):
        out.append(_jis_run(data[pos : m.start()], mode))
        mode, pos = m.group(1), m.end()
    out.append(_jis_run(data[pos:], mode))
    return b"".join(out), mode


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"(\?=)\s+(=\?)")


def _decode_word(charset: bytes, encoding: bytes, text: bytes) -> bytes | str:
    import base64
    import binascii
    import quopri

    cs = charset.decode("ascii", "replace").split("*")[0]  # RFC 2231 language suffix
    try:
        if encoding in b"Bb":
            payload = base64.b64decode(text + b"=" * (-len(text) % 4))
        else:
            payload = quopri.decodestring(text.replace(b"_", b" "), header=True)
    except (binascii.Error, ValueError):
        return text
    return decode_text(payload, cs)


def decode_header_value(value: bytes) -> str:
    """An unfolded header value with RFC 2047 words and raw 8-bit text decoded."""
    if value.isascii() and b"=?" not in value and b"\x1b" not in value:
        return value.decode("ascii")  # most values: what the steps below give, without them
    value = _BETWEEN_WORDS.sub(rb"\1\2", value)  # whitespace between encoded words is dropped
    parts: list[str] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        if m.start() > pos:
            parts.append(decode_text(value[pos : m.start()], None))
        decoded = _decode_word(m.group(1), m.group(2), m.group(3))
        parts.append(decoded if isinstance(decoded, str) else decode_text(decoded, None))
        pos = m.end()
    if pos < len(value):
        parts.append(decode_text(value[pos:], None))
    return "".join(parts)


# The same JIS character decodes differently by codec; compare in one form.
_FOLD = str.maketrans(
    {
        "\u301c": "\uff5e",
        "\u2212": "\uff0d",
        "\u2016": "\u2225",
        "\u00a2": "\uffe0",
        "\u00a3": "\uffe1",
        "\u00ac": "\uffe2",
    }
)
_TO_FOLD = re.compile("[" + "".join(map(chr, _FOLD)) + "]")


def _normalized(text: str) -> str:
    if not text.isascii():  # ASCII is its own NFKC form, with nothing to fold
        if _TO_FOLD.search(text):  # a search is far quicker than a translate that finds nothing
            text = text.translate(_FOLD)
        text = unicodedata.normalize("NFKC", text)
    return text


def fold_for_compare(text: str) -> str:
    """Text in one form for comparison only: codec variants folded, NFKC, spaces collapsed."""
    if len(text) <= _COLLAPSE_PIECE:  # a subject, most bodies: no pieces to cut
        return " ".join(_normalized(text).split())
    return " ".join(folded_pieces(text))


_SPACE = re.compile(r"\s")  # the whitespace str.split() splits at (both are Py_UNICODE_ISSPACE)
_COLLAPSE_PIECE = 1 << 20


def folded_pieces(text: str) -> Iterator[str]:
    """``fold_for_compare(text)`` in non-empty pieces that a single space joins, for a
    caller that hashes a giant text body without holding its folded copy (and without the
    list of every word, some 50 bytes each, that ``text.split()`` builds: 15x the message)."""
    text = _normalized(text)
    start = 0
    while start < len(text):
        space = _SPACE.search(text, start + _COLLAPSE_PIECE) if start + _COLLAPSE_PIECE < len(text) else None
        end = space.end() if space else len(text)  # cut after a space: no word is split
        piece = " ".join(text[start:end].split())
        if piece:
            yield piece
        start = end


def folded_stream(segments: Iterable[str]) -> Iterator[str]:
    """``fold_for_compare("".join(segments))`` as strings to concatenate, for ``segments`` cut
    where NFKC cannot reach across (after a line end, or before a starter that composes with
    nothing before it, such as an ASCII character or a kanji).  A word may run across segments."""
    started = space = False  # a word given yet; whitespace seen since the last one
    for segment in segments:
        segment = _normalized(segment)
        words = segment.split()
        if not words:
            space = space or bool(segment)
            continue
        if started and (space or segment[0].isspace()):
            yield " "
        yield " ".join(words)
        started, space = True, segment[-1].isspace()


# RFC 5322 dot-atom: a quoted local part made only of these needs no quotes ("taro" is taro)
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


def normalize_address(addr: str) -> str:
    """An address key: lower-case local part and domain, domain as IDNA A-labels.

    ``"taro"@example.co.jp`` and ``taro@example.co.jp.`` (the DNS root's dot) are the same
    mailbox as ``taro@example.co.jp``; a quoted local part that needs its quotes keeps them.
    """
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr.lower()
    if len(local) > 2 and local[0] == local[-1] == '"' and _DOT_ATOM.fullmatch(local[1:-1]):
        local = local[1:-1]
    domain = domain.rstrip(".") or domain
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return f"{local.lower()}@{domain.lower()}"


def addresses(value: bytes) -> list[str]:
    """Normalised addresses in a raw header value (To, Delivered-To, …)."""
    return list(_addresses(value))


@functools.lru_cache(maxsize=4096)  # a mailbox's senders and recipients repeat
def _addresses(value: bytes) -> tuple[str, ...]:
    text = decode_header_value(value)
    return tuple(normalize_address(a) for _, a in getaddresses([text]) if "@" in a)


def parse_date(value: bytes | str | None) -> datetime | None:
    """An aware datetime from a Date header, or None; a date without zone is taken as UTC."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    try:
        dt = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt
