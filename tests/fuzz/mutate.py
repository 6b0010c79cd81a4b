"""Ways real damage and hostile input change a file, as pure functions on bytes.

Each mutation returns the new bytes and the offset of the first byte it changed (``damage``):
everything a reader found wholly before that offset must still be found.
"""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

__all__ = ["MUTATIONS", "Mutated", "PAYLOADS", "deep_mime", "gzip_bomb", "regions"]


@dataclass(frozen=True)
class Mutated:
    data: bytes
    damage: int  # offset of the first changed byte
    what: str  # one line for the report


#: Separators between records in the formats mailrecover reads; dropped or repeated.
SEPARATORS = (
    b"\nFrom ",
    b"\r\nFrom ",
    b"\n\n",
    b"\r\n\r\n",
    b"\r\n.\r\n",
    b"\n--",
    b"\n.\n",
    b"\nMessage-ID:",
    b"\n<?xml",
    b"\nReceived:",
    b"\nContent-Type:",
    b"\x00\x00\x00\x00",
)


def deep_mime(depth: int) -> bytes:
    """A message part nested ``depth`` multiparts deep (no closing boundaries: a cut copy)."""
    out = [b'Content-Type: multipart/mixed; boundary="d0"\r\n\r\n']
    out += [
        b'--d%d\r\nContent-Type: multipart/mixed; boundary="d%d"\r\n\r\n' % (i, i + 1) for i in range(depth)
    ]
    out.append(b"--d%d\r\n\r\ninnermost\r\n" % depth)
    return b"".join(out)


@cache
def gzip_bomb(size: int = 64 << 20) -> bytes:
    """Small on disk, ``size`` bytes of one endless line when decompressed."""
    return gzip.compress(b"A" * size, compresslevel=9)


#: Inserted at an offset: huge header lines, NULs, bad charsets and encoded words, nesting.
PAYLOADS: dict[str, Callable[[], bytes]] = {
    "nul-run": lambda: b"\x00" * 4096,
    "huge-header-line": lambda: b"X-Huge: " + b"h" * (2 << 20) + b"\r\n",
    "many-continuations": lambda: b"X-Folded: x\r\n" + b" y\r\n" * 100_000,
    "deep-mime": lambda: deep_mime(5000),
    "bad-encoded-words": lambda: (
        b"Subject: =?x-unknown-42?B?////?= =?utf-8?Q?=FF=FE=?= =?iso-2022-jp?B?GyRCJCIkJA?=\r\n"
        b"From: =?utf-7?B?Kw-?= <a@\xff\xfe.example>\r\n"
        b'Content-Type: text/plain; charset="\xff\x00bogus"\r\n'
    ),
    "bad-charset-body": lambda: (
        b"Content-Type: text/plain; charset=utf-16\r\n\r\n\xd8\x00\xdc" + b"\x1b$B\xff" * 100
    ),
    "8bit-garbage": lambda: bytes(range(256)) * 16,
    "endless-line": lambda: b"Q" * (4 << 20),
    "from-line": lambda: b"\nFrom - Mon Jan  1 00:00:00 1965\r\n",
    "boundary-storm": lambda: b"\r\n--" * 20_000,
}


def _bitflip(data: bytes, pos: int, arg: int) -> Mutated:
    if not data:
        return Mutated(b"\x01", 0, "bit flip in an empty file")
    pos %= len(data)
    out = bytearray(data)
    out[pos] ^= 1 << (arg % 8)
    return Mutated(bytes(out), pos, f"bit {arg % 8} flipped at {pos}")


def _truncate(data: bytes, pos: int, arg: int) -> Mutated:
    pos = pos % (len(data) + 1)
    return Mutated(data[:pos], pos, f"cut at {pos} of {len(data)}")


def _insert(data: bytes, pos: int, arg: int) -> Mutated:
    pos = pos % (len(data) + 1)
    name = sorted(PAYLOADS)[arg % len(PAYLOADS)]
    return Mutated(data[:pos] + PAYLOADS[name]() + data[pos:], pos, f"{name} inserted at {pos}")


def _separator_positions(data: bytes, sep: bytes) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(sep), data)][:10_000]


def _drop_separator(data: bytes, pos: int, arg: int) -> Mutated:
    present = [s for s in SEPARATORS if s in data]
    if not present:
        return _truncate(data, pos, arg)
    sep = present[arg % len(present)]
    where = _separator_positions(data, sep)
    at = where[pos % len(where)]
    return Mutated(data[:at] + data[at + len(sep) :], at, f"separator {sep!r} dropped at {at}")


def _repeat_separator(data: bytes, pos: int, arg: int) -> Mutated:
    present = [s for s in SEPARATORS if s in data] or [b"\n"]
    sep = present[arg % len(present)]
    where = _separator_positions(data, sep) or [0]
    at = where[pos % len(where)]
    times = 1 + arg % 200
    return Mutated(data[:at] + sep * times + data[at:], at, f"separator {sep!r} repeated {times}x at {at}")


_INTS = (0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _wrong_length(data: bytes, pos: int, arg: int) -> Mutated:
    """A 32- or 64-bit little-endian field overwritten: the length and offset fields of
    .dbx and .pst, ids, counts.  Aligned, as such fields are."""
    if len(data) < 8:
        return _bitflip(data, pos, arg)
    width = 8 if arg & 1 else 4
    pos = (pos % (len(data) - width + 1)) & ~3
    choices = (*_INTS, len(data), len(data) + 1, len(data) - 1, pos)
    value = choices[(arg >> 1) % len(choices)]
    field = struct.pack("<Q" if width == 8 else "<I", value & ((1 << (8 * width)) - 1))
    return Mutated(
        data[:pos] + field + data[pos + width :], pos, f"{width * 8}-bit field at {pos} set to {value:#x}"
    )


_EMLX_COUNTS = (b"0", b"1", b"-5", b"99999999999", b"4294967296", b"abc", b"", b" 12 ")


def _wrong_emlx_count(data: bytes, pos: int, arg: int) -> Mutated:
    """The byte count on an .emlx file's first line replaced (too small, too large, not a number)."""
    nl = data.find(b"\n")
    if nl < 0 or not data[:nl].strip().isdigit():
        return _wrong_length(data, pos, arg)
    true = int(data[:nl].strip())
    counts = (*_EMLX_COUNTS, str(true + 1).encode(), str(max(true - 1, 0)).encode(), str(true * 2).encode())
    count = counts[arg % len(counts)]
    return Mutated(count + data[nl:], 0, f"emlx byte count {count!r} instead of {true}")


def _gzip_garbage(data: bytes, pos: int, arg: int) -> Mutated:
    """For ``.gz`` files: cut, corrupted, trailing garbage, or a decompression bomb."""
    kind = arg % 4
    if kind == 0:
        body = gzip.compress(data)
        cut = pos % (len(body) + 1)
        return Mutated(body[:cut], 0, f"gzip stream cut at {cut} of {len(body)}")
    if kind == 1:
        body = bytearray(gzip.compress(data))
        at = 10 + pos % max(1, len(body) - 18)
        body[at % len(body)] ^= 0x55
        return Mutated(bytes(body), 0, f"gzip stream corrupted at {at}")
    if kind == 2:
        return Mutated(
            gzip.compress(data) + b"\x1f\x8b\x08garbage" + bytes(64), 0, "garbage after the gzip stream"
        )
    return Mutated(gzip_bomb(), 0, "gzip bomb (64 MiB of one line)")


#: name -> mutation(data, pos, arg); ``pos`` and ``arg`` are any non-negative integers.
MUTATIONS: dict[str, Callable[[bytes, int, int], Mutated]] = {
    "bitflip": _bitflip,
    "truncate": _truncate,
    "insert": _insert,
    "drop-separator": _drop_separator,
    "repeat-separator": _repeat_separator,
    "wrong-length": _wrong_length,
    "wrong-emlx-count": _wrong_emlx_count,
}

GZIP_MUTATION = _gzip_garbage


def regions(data: bytes, most: int) -> list[int]:
    """Offsets where a cut hurts most (start, separators and the bytes around them, the
    header/body break, binary block edges, the end), at most ``most`` of them, spread out."""
    points = {0, 1, len(data) - 1, len(data) // 2, len(data)}
    for sep in SEPARATORS:
        for at in _separator_positions(data, sep)[:200]:
            points.update((at, at + 1, at + len(sep)))
    points.update(range(0, min(len(data), 1 << 16), 512))  # block edges of binary stores
    found = sorted(p for p in points if 0 <= p <= len(data))
    if len(found) <= most:
        return found
    step = len(found) / most
    return sorted({found[int(i * step)] for i in range(most)} | {0, len(data)})
