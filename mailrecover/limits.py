"""Resource limits for reading damaged or hostile input, in one place.

Recovered files are damaged by definition, and now and then built to hurt: a header of a
million continuation lines, MIME nested ten thousand deep, a gzip bomb, an IMAP server
announcing a literal of a terabyte.  Each reader keeps within these limits; when one is hit
it reports a ``Problem`` of kind ``LIMIT`` and goes on with the next thing.  A copy that
crosses a limit is never cut short: its exact bytes are kept, only the part of the work the
limit guards (parsing its MIME tree, reading more of a stream) is left undone.

Each limit, its environment variable, its default, and what happens when it is hit:

- ``max_message_bytes`` (``MAILRECOVER_MAX_MESSAGE_BYTES``, 256 MiB): the copy is kept whole
  and compared by its exact bytes instead of being parsed; a reader that would have to hold
  more than this in memory at once (an IMAP literal) reports it and skips it.
- ``max_header_bytes`` (``MAILRECOVER_MAX_HEADER_BYTES``, 1 MiB): the summary is taken from
  the first this-many bytes of the header block; the copy is kept whole.
- ``max_mime_depth`` (``MAILRECOVER_MAX_MIME_DEPTH``, 50) and ``max_mime_parts``
  (``MAILRECOVER_MAX_MIME_PARTS``, 2000 parts, attachments included): the copy is kept whole
  and compared by its exact bytes; its MIME tree is not walked.
- ``max_decompressed_bytes`` (``MAILRECOVER_MAX_DECOMPRESSED_BYTES``, 4 GiB): decompressing a
  ``.gz`` file stops there (a gzip bomb); what came before is kept.
- ``max_line_bytes`` (``MAILRECOVER_MAX_LINE_BYTES``, 1 MiB): a longer line in a
  line-oriented file or a server response ends (or skips) the read there, and says so.
- ``max_response_bytes`` (``MAILRECOVER_MAX_RESPONSE_BYTES``, 4 MiB): what an IMAP server may
  send in answer to one command, beyond the mail that command asked for (a response line
  counts at least 64 bytes); an answer that goes on longer (untagged responses without end)
  is cut there, the connection reopened, and the rest of that folder left for a rerun.
- ``max_fetch_failures`` (``MAILRECOVER_MAX_FETCH_FAILURES``, 5): IMAP messages of one folder
  that may fail to come (each one problem, each a reconnection) before the rest of that
  folder is left for a rerun.

The core applies the message, header and MIME limits to every copy in ``fingerprint.summarize``
(``gather`` reports each hit); readers of streams apply the others.  Values are byte
counts or plain numbers; ``K``, ``M`` and ``G`` suffixes (powers of 1024) are accepted.
Plugins call ``current()`` once per read and take ``LIMIT`` problems' reasons from
``exceeded``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import BinaryIO

from .errors import ConfigError, OperationError

__all__ = [
    "LimitExceeded",
    "Limits",
    "bounded_chunks",
    "current",
    "env_name",
    "exceeded",
    "mime_shape",
    "parse_size",
]

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

_ENV_PREFIX = "MAILRECOVER_"
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:I?B)?\s*$", re.I)


@dataclass(frozen=True)
class Limits:
    """How far a reader goes with one input before it stops and says so."""

    max_message_bytes: int = 256 * MiB
    max_header_bytes: int = 1 * MiB
    max_mime_depth: int = 50
    max_mime_parts: int = 2000
    max_decompressed_bytes: int = 4 * GiB
    max_line_bytes: int = 1 * MiB
    max_response_bytes: int = 4 * MiB
    max_fetch_failures: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """The defaults, overridden by ``MAILRECOVER_MAX_…`` variables; a bad value is a usage error."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for f in fields(cls):
            name = env_name(f.name)
            text = env.get(name)
            if text is None or not text.strip():
                continue
            value = parse_size(text)
            if value is None:
                raise ConfigError(f"{name}={text!r} is not a positive number (suffixes K, M, G allowed)")
            values[f.name] = value
        return cls(**values)


def parse_size(text: str) -> int | None:
    """``500``, ``64K``, ``2M``, ``1GiB`` as a positive number (suffixes are powers of 1024);
    ``None`` for anything else."""
    m = _SIZE.match(text)
    if not m or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def env_name(limit: str) -> str:
    """The environment variable that sets one limit (``max_mime_depth`` → ``MAILRECOVER_MAX_MIME_DEPTH``)."""
    return _ENV_PREFIX + limit.upper()


def current() -> Limits:
    """The limits in force now (read from the environment on each call: it is cheap)."""
    return Limits.from_env()


def exceeded(limit: str, value: int, maximum: int, consequence: str) -> str:
    """A LIMIT problem's one-line reason, naming the variable that raises the limit."""
    what = limit.removeprefix("max_").replace("_", " ")
    return f"{what} {value:,} is over the limit of {maximum:,} ({env_name(limit)}); {consequence}"


class LimitExceeded(OperationError):
    """A reader hit a limit; ``reason`` is the one line for the problem report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bounded_chunks(
    stream: BinaryIO, maximum: int, limit: str = "max_decompressed_bytes", chunk: int = 1 << 20
) -> Iterator[bytes]:
    """Read ``stream`` in chunks; raise ``LimitExceeded`` once more than ``maximum`` bytes came.

    For decompressing streams (``gzip.open``): a bomb stops at the limit, the chunks before
    it have been handed on already.
    """
    total = 0
    while True:
        data = stream.read(min(chunk, maximum - total + 1))
        if not data:
            return
        total += len(data)
        if total > maximum:
            raise LimitExceeded(exceeded(limit, total, maximum, "the rest was not read"))
        yield data


_CONTENT_TYPE = re.compile(rb"^content-type[ \t]*:(.*)$", re.I | re.S)
_BOUNDARY = re.compile(rb"""boundary[ \t]*=[ \t]*(?:"([^"\r\n]*)"|([^;\s"]+))""", re.I)


def _unfolded_fields(lines: Iterable[bytes]) -> Iterator[bytes]:
    field: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and field:
            field.append(line.strip())
            continue
        if field:
            yield b" ".join(field)
        field = [line.rstrip()]
    if field:
        yield b" ".join(field)


def mime_shape(raw: bytes, stop_depth: int | None = None) -> tuple[int, int]:
    """(nesting depth, number of parts) of a message's MIME tree, from its raw bytes alone.

    A linear scan that trusts only what the bytes say (declared boundaries, header blocks
    of parts and of attached ``message/rfc822``), so it cannot be made to recurse or to
    go quadratic.  Stops early once ``stop_depth`` is passed.
    """
    active: dict[bytes, int] = {}  # boundary -> depth of the multipart it closes
    depth = max_depth = parts = 0
    in_header = True
    header: list[bytes] = []
    for line in raw.split(b"\n"):
        if in_header:
            if line.strip():
                header.append(line)
                continue
            in_header = False
            kind, boundary = b"", None
            for f in _unfolded_fields(header):
                m = _CONTENT_TYPE.match(f)
                if m:
                    kind = m.group(1).strip().split(b";")[0].strip().lower()
                    b = _BOUNDARY.search(m.group(1))
                    boundary = (b.group(1) if b.group(1) is not None else b.group(2)) if b else None
            header = []
            if kind.startswith(b"multipart/") and boundary:
                depth += 1
                active.setdefault(boundary.rstrip(), depth)
            elif kind == b"message/rfc822":
                depth += 1
                in_header = True
            max_depth = max(max_depth, depth)
            if stop_depth is not None and max_depth > stop_depth:
                break
            continue
        if not line.startswith(b"--"):
            continue
        mark = line[2:].rstrip()
        closing = mark.endswith(b"--") and mark[:-2] in active
        key = mark[:-2] if closing else mark
        level = active.get(key)
        if level is None:
            continue
        for other in [k for k, v in active.items() if v > level]:
            del active[other]  # inner parts that never closed end here
        depth = level
        if closing:
            del active[key]
            depth = level - 1
        else:
            parts += 1
            in_header = True
    return max_depth, parts
