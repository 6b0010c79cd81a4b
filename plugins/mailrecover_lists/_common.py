"""What every list-manager reader shares: reading lines untouched, naming the list, building evidence."""

from __future__ import annotations

import csv
import gzip
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parseaddr

from mailrecover.model import Evidence, Finding, ListFields, Problem, ProblemKind
from mailrecover.plugin import ReadContext
from mailrecover.pluginkit import (
    LimitExceeded,
    current_limits,
    decode_text,
    exceeded,
    normalize_address,
    open_readonly,
    read_head,
)

__all__ = [
    "MAX_WHOLE_FILE",
    "MOST_PROBLEMS_LISTED",
    "ListEvidence",
    "address_lines",
    "file_time",
    "guarded",
    "infer_years",
    "parse_entry",
    "peek",
    "read_lines",
    "read_small",
    "resolve_list",
]

#: Files read whole (pickles, JSON dumps, control files) are refused above this size.
MAX_WHOLE_FILE = 256 << 20

_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+$")


def read_lines(path: str, context: ReadContext) -> Iterator[tuple[int, str]]:
    """(line number, text) of a text file, ``.gz`` transparently, streamed and never written."""
    limits = current_limits()
    fd = open_readonly(path)
    with os.fdopen(fd, "rb") as f:
        stream = gzip.GzipFile(fileobj=f, mode="rb") if path.endswith(".gz") else f
        total = 0
        for n, line in enumerate(iter(lambda: stream.readline(limits.max_line_bytes + 1), b""), 1):
            total += len(line)
            if len(line) > limits.max_line_bytes:  # a bomb or garbage: stop here, keep what came before
                raise LimitExceeded(
                    exceeded(
                        "max_line_bytes", len(line), limits.max_line_bytes, f"reading stopped at line {n}"
                    )
                )
            if total > limits.max_decompressed_bytes:
                raise LimitExceeded(
                    exceeded(
                        "max_decompressed_bytes",
                        total,
                        limits.max_decompressed_bytes,
                        f"reading stopped at line {n}",
                    )
                )
            context.advance(len(line))
            yield n, decode_text(line.rstrip(b"\r\n"), None)


def read_small(path: str, context: ReadContext, limit: int = MAX_WHOLE_FILE) -> bytes:
    """A file that must be read whole; OSError when it is larger than ``limit``."""
    fd = open_readonly(path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise OSError(f"{size} bytes is more than the {limit} bytes read whole")
        data = f.read()
    context.advance(len(data))
    return data


def peek(path: str, size: int = 4096) -> bytes:
    """The first bytes of a file, for telling formats apart; empty when unreadable."""
    try:
        return read_head(path, size)
    except OSError:
        return b""


def file_time(path: str) -> datetime | None:
    """The file's modification time (aware, UTC): when a member file was last right."""
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError:
        return None


#: Problems listed one by one per file; past this, a file that is not what it seemed (or
#: garbage) gets one line counting the rest instead of one line for each of its lines.
MOST_PROBLEMS_LISTED = 100


def guarded(source: str, findings: Iterable[Finding]) -> Iterator[Finding]:
    """Pass findings on; a read error part-way becomes one problem line instead of an exception."""
    problems = 0
    try:
        for finding in findings:
            if isinstance(finding, Problem) and finding.kind is ProblemKind.DAMAGED:
                problems += 1
                if problems > MOST_PROBLEMS_LISTED:
                    continue
            yield finding
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, csv.Error) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        yield Problem(ProblemKind.UNREADABLE, source, "", f"cannot read: {reason}")
    except LimitExceeded as e:
        yield Problem(ProblemKind.LIMIT, source, "", e.reason)
    if problems > MOST_PROBLEMS_LISTED:
        yield Problem(
            ProblemKind.DAMAGED,
            source,
            "",
            f"{problems - MOST_PROBLEMS_LISTED} more damaged lines, not listed one by one",
        )


def parse_entry(text: str) -> tuple[str, str] | None:
    """(address as written, display name) from ``addr``, ``Name <addr>`` or ``addr (Name)``."""
    text = text.strip()
    if not text or "@" not in text:
        return None
    name, addr = parseaddr(text)
    addr = addr.strip()
    if not _ADDR_SPEC.match(addr):
        return None
    return addr, name.strip()


def resolve_list(
    context: ReadContext, *, short: str | None = None, found: str | None = None, single: bool = True
) -> str | None:
    """The list a finding belongs to: an address when one is known, else the short name.

    ``--list`` binds a single-list artifact whatever it calls itself; in a file that names
    several lists (a server-wide log) it binds only the lines whose short name is its own.
    """
    if context.list_address:
        bound = normalize_address(context.list_address)
        if single or short is None or short.casefold() == bound.partition("@")[0]:
            return bound
    if found and "@" in found:
        return normalize_address(found)
    return short.strip().lower() if short and short.strip() else None


class ListEvidence:
    """Builds evidence lines for one source file, with the fields of ``mailrecover.model.ListFields``."""

    def __init__(self, plugin: str, source: str) -> None:
        self.plugin = plugin
        self.source = source

    def __call__(
        self,
        kind: str,
        position: str | int,
        time: datetime | None,
        list_key: str | None,
        written: str = "",
        name: str = "",
        **fields: str | None,
    ) -> Evidence:
        values: dict[str, str] = {"list": list_key or "", "manager": self.plugin}
        if written:
            key = normalize_address(written)
            values["address"] = key
            if written.strip("<>") != key:
                values["as_written"] = written.strip("<>")
        if name:
            values["name"] = name
        values.update({k: v for k, v in fields.items() if v})
        return Evidence(
            kind=kind, source=self.source, position=str(position), time=time, fields=ListFields.check(values)
        )


def infer_years(stamps: list[tuple[int, int, int, int, int]], last_year: int) -> list[int]:
    """Years for yearless (month, day, h, m, s) stamps in file order, the last one in ``last_year``.

    Walking back from the end, a month that goes up means the year before.
    """
    years = [last_year] * len(stamps)
    year = last_year
    for i in range(len(stamps) - 1, 0, -1):
        years[i] = year
        if stamps[i - 1][:2] > stamps[i][:2]:
            year -= 1
    if stamps:
        years[0] = year
    return years


def address_lines(
    plugin: str, path: str, context: ReadContext, list_key: str | None, how: str, **fields: str
) -> Iterator[Finding]:
    """Members from a file of one ``addr`` or ``Name <addr>`` a line (``#`` comments)."""
    if list_key is None:
        yield Problem(ProblemKind.NEEDS_INPUT, path, "", "which list is this? give --list")
        return
    make = ListEvidence(plugin, path)
    when = file_time(path)
    for n, line in read_lines(path, context):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = parse_entry(line)
        if entry is None:
            yield Problem(ProblemKind.DAMAGED, path, str(n), "not an address")
            continue
        yield make("member", n, when, list_key, entry[0], entry[1], how=how, **fields)
