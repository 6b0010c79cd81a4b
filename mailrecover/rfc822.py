"""Small, forgiving helpers on raw message bytes: the header block, its fields, text decoding.

These never raise on damaged input: broken mail is what a recovery is made of.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from datetime import datetime, timezone
from email.utils import getaddresses, parsedate_to_datetime

__all__ = [
    "addresses",
    "decode_header_value",
    "decode_text",
    "fold_for_compare",
    "header_end",
    "header_fields",
    "normalize_address",
    "parse_date",
    "remove_fields",
]

_CP932_LABELS = {
    "shift_jis", "shift-jis", "sjis", "x-sjis", "s-jis", "ms_kanji", "ms-kanji",
    "windows-31j", "cp932", "csshiftjis", "x-ms-cp932", "shift_jisx0213",
}  # fmt: skip
_ISO2022JP_LABELS = {"iso-2022-jp", "iso2022-jp", "iso_2022_jp", "csiso2022jp", "jis"}


def header_end(raw: bytes) -> int:
    """Offset where the body starts (after the blank line), or len(raw) if there is none."""
    if raw.startswith(b"\n"):
        return 1
    if raw.startswith(b"\r\n"):
        return 2
    i = raw.find(b"\n\n")
    j = raw.find(b"\n\r\n")
    ends = [k for k in ((i + 2) if i >= 0 else -1, (j + 3) if j >= 0 else -1) if k >= 0]
    return min(ends) if ends else len(raw)


def header_fields(raw: bytes) -> list[tuple[str, bytes]]:
    """The header fields as (lower-case name, unfolded raw value) in order."""
    head = raw[: header_end(raw)]
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
    dropping = False
    for line in raw[:end].splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and line.strip():
            if not dropping:
                out.append(line)
            continue
        name = line.partition(b":")[0].strip().lower()
        dropping = name.decode("ascii", "replace") in names
        if not dropping:
            out.append(line)
    return b"".join(out) + raw[end:]


def _iso2022jp_as_cp932(data: bytes) -> str:
    """Decode ISO-2022-JP written by Windows, whose JIS pairs may be CP932-only (①, ㈱)."""
    out = bytearray()
    mode = "ascii"
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b == 0x1B and i + 2 < n:
            seq = data[i + 1 : i + 3]
            if seq in (b"$B", b"$@"):
                mode, i = "jis", i + 3
                continue
            if seq in (b"(B", b"(J"):
                mode, i = "ascii", i + 3
                continue
            if seq == b"(I":
                mode, i = "kana", i + 3
                continue
        if mode == "jis" and 0x21 <= b <= 0x7E and i + 1 < n and 0x21 <= data[i + 1] <= 0x7E:
            j1, j2 = b, data[i + 1]
            s1 = ((j1 - 0x21) >> 1) + 0x81
            if s1 > 0x9F:
                s1 += 0x40
            if j1 % 2:
                s2 = j2 + 0x1F + (1 if j2 >= 0x60 else 0)
            else:
                s2 = j2 + 0x7E
            out += bytes((s1, s2))
            i += 2
            continue
        if mode == "kana" and 0x21 <= b <= 0x5F:
            out.append(b + 0x80)
        else:
            out.append(b)
        i += 1
    return out.decode("cp932", "replace")


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode text whatever its label says; never raises.

    Shift_JIS labels are read as CP932 and ISO-2022-JP through CP932 (Windows wrote
    both with its own extra characters).  An unknown or wrong label falls back to
    UTF-8, then CP932, then Latin-1.
    """
    label = (charset or "").strip().strip('"').lower()
    if label in _CP932_LABELS:
        label = "cp932"
    if label in _ISO2022JP_LABELS or (not label and b"\x1b$" in data):
        try:
            return data.decode("iso2022_jp")
        except UnicodeDecodeError:
            return _iso2022jp_as_cp932(data)
    if label and label not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            codecs.lookup(label)
            return data.decode(label)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    for guess in ("utf-8", "cp932"):
        try:
            return data.decode(guess)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


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
_FOLD = str.maketrans({
    "\u301c": "\uff5e", "\u2212": "\uff0d", "\u2016": "\u2225",
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",
})  # fmt: skip


def fold_for_compare(text: str) -> str:
    """Text in one form for comparison only: codec variants folded, NFKC, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text.translate(_FOLD))
    return " ".join(text.split())


def normalize_address(addr: str) -> str:
    """An address key: lower-case local part and domain, domain as IDNA A-labels."""
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    if not at:
        return addr.lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return f"{local.lower()}@{domain.lower()}"


def addresses(value: bytes) -> list[str]:
    """Normalised addresses in a raw header value (To, Delivered-To, …)."""
    text = decode_header_value(value)
    return [normalize_address(a) for _, a in getaddresses([text]) if "@" in a]


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
        dt = dt.replace(tzinfo=timezone.utc)
    return dt
