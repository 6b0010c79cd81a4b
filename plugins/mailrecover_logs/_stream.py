"""Log files as one stream of timestamped lines: gzip, rotation order and the missing year.

Classic syslog lines carry no year.  A file's first line gets the latest year that puts it
before the file's end (its rotation date, its modification time, or the start of the next
newer file of the same log), and the year goes up each time the month goes back.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from mailrecover.limits import LimitExceeded, exceeded
from mailrecover.limits import current as current_limits
from mailrecover.model import ProblemKind
from mailrecover.readonly import open_readonly

__all__ = [
    "LogFile",
    "LogLine",
    "Stream",
    "first_lines",
    "log_files",
    "parse_line",
    "rotation_base",
]

_MAX_LINE = 64 * 1024  # a longer "line" is binary garbage; its rest is skipped
_SNIFF_BYTES = 256 * 1024  # how far into a file detection looks: a big binary file costs little
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
)}  # fmt: skip
_MONTH_BYTES = {m.capitalize().encode() for m in _MONTHS}
_CLASSIC = re.compile(
    r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.\d+)? (.*)", re.S
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)? (.*)", re.S
)
_SYSLOG_REST = re.compile(r"(?:(\S+) )?([^\s\[:]+)(?:\[\d+\])?: (.*)", re.S)
_PID = re.compile(r"\[\d+\] ")
_ROTATED = re.compile(r"(.+?)(?:\.(\d{1,4})|-(\d{8}))?(?:\.gz)?$")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line that carried a timestamp.

    ``program`` is the syslog tag without its pid (``postfix/smtpd``), or ``None`` for a
    program's own log file (Exim's mainlog), where ``text`` follows the timestamp.
    ``time`` is aware: the log's own zone where it gave one, else this machine's.
    """

    source: str
    number: int
    time: datetime
    host: str | None
    program: str | None
    text: str


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _split_rest(rest: str) -> tuple[str | None, str | None, str]:
    """(host, program, text) from what follows a timestamp."""
    m = _SYSLOG_REST.match(rest)
    if m and "=" not in m[2] and "@" not in m[2] and not (m[1] or "").endswith(":"):
        return m[1], m[2], m[3]
    m = _PID.match(rest)
    return None, None, rest[m.end():] if m else rest


class _Years:
    """Gives classic syslog stamps a year: set by the first line, raised when months go back."""

    def __init__(self, reference: datetime) -> None:
        self.reference = reference
        self.year: int | None = None
        self.month = 0

    def stamp(self, month: int, day: int, hh: int, mm: int, ss: int) -> datetime | None:
        if self.year is None:
            ref = self.reference
            after = (month, day, hh, mm, ss) > (ref.month, ref.day, ref.hour, ref.minute, ref.second)
            self.year = ref.year - 1 if after else ref.year
        elif month < self.month:
            self.year += 1
        self.month = month
        try:
            return datetime(self.year, month, day, hh, mm, ss)
        except ValueError:  # Feb 29 in a year without it, or a damaged stamp
            return None


_local_zones: dict[tuple[int, int, int, int], tzinfo] = {}


def _local(when: datetime) -> datetime:
    """``when`` (naive, this machine's wall clock) made aware; zones looked up once an hour."""
    key = (when.year, when.month, when.day, when.hour)
    zone = _local_zones.get(key)
    if zone is None:
        if len(_local_zones) > 10_000:
            _local_zones.clear()
        zone = _local_zones[key] = when.astimezone().tzinfo  # type: ignore[assignment]
    return when.replace(tzinfo=zone)


def parse_line(raw: str, years: _Years | None) -> tuple[datetime, str | None, str | None, str] | None:
    """(time, host, program, text) of a log line, or None when it has no timestamp."""
    m = _CLASSIC.match(raw)
    if m:
        month = _MONTHS.get(m[1].lower())
        if month is None or years is None:
            return None
        when = years.stamp(month, int(m[2]), int(m[3]), int(m[4]), int(m[5]))
        if when is None:
            return None
        host, program, text = _split_rest(m[6])
        return _local(when), host, program, text
    m = _RFC3339.match(raw)
    if m:
        try:
            when = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
        except ValueError:
            return None
        zone = _zone(m[8])
        rest = m[9]
        if not m[8] and re.match(r"[+-]\d{4} ", rest):  # Exim's log_timezone: "+0900 "
            zone, rest = _zone(rest[:5]), rest[6:]
        when = when.replace(tzinfo=zone) if zone else _local(when)
        host, program, text = _split_rest(rest)
        return when, host, program, text
    return None


@dataclass
class LogFile:
    """One file of a log, with what is needed to put it in order and date its lines."""

    path: str
    reference: datetime  # naive local time no line of this file is later than
    first: datetime | None = None  # its first line's time, once known


def _raw_lines(path: str) -> Iterator[bytes]:
    """The file's lines, gunzipped if need be; gzip damage surfaces as ``EOFError``/``OSError``/``zlib.error``."""
    with io.FileIO(open_readonly(path), "rb", closefd=True) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        f: io.BufferedIOBase
        maximum = current_limits().max_decompressed_bytes if gzipped else None
        total = 0
        with (gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else io.BufferedReader(raw, 1 << 20)) as f:
            skipping = False
            while line := f.readline(_MAX_LINE):
                total += len(line)
                if maximum is not None and total > maximum:  # a gzip bomb costs time only this far
                    raise LimitExceeded(exceeded("max_decompressed_bytes", total, maximum, "the rest was not read"))
                if skipping:  # the rest of an overlong line
                    skipping = not line.endswith(b"\n")
                    continue
                if len(line) == _MAX_LINE and not line.endswith(b"\n"):
                    skipping = True
                    line = b"\x00"  # dropped whole, counted as a line without a timestamp
                yield line


def first_lines(path: str, count: int, reference: datetime | None = None) -> tuple[list[LogLine], bool]:
    """Up to ``count`` timestamped lines from the start of ``path`` (errors and the byte budget
    give fewer), and whether the file starts with one: among its first three lines (blank
    and ``#`` lines aside, a damaged one or two tolerated)."""
    years = _Years(reference or _mtime(path))
    found: list[LogLine] = []
    budget = _SNIFF_BYTES
    starts_as_log = False
    content = 0
    try:
        for n, raw in enumerate(_raw_lines(path), 1):
            parsed = parse_line(raw.decode("utf-8", "replace").rstrip("\r\n"), years)
            if content < 3 and raw.strip(b" \t\r\n\x00") and not raw.startswith(b"#"):
                content += 1
                starts_as_log = starts_as_log or parsed is not None
            if parsed:
                found.append(LogLine(path, n, *parsed))
                if len(found) >= count:
                    break
            budget -= len(raw)
            if n >= count * 20 or budget < 0:
                break
    except (OSError, EOFError, zlib.error, UnicodeError, LimitExceeded):
        pass
    return found, starts_as_log


def _mtime(path: str) -> datetime:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime)
    except OSError:
        return datetime.now()


def rotation_base(name: str) -> str:
    """The log a rotated file belongs to: ``mail.log`` for ``mail.log.2.gz``."""
    return _rotation(name)[0]


def _rotation(name: str) -> tuple[str, int, date | None]:
    """(base name, age rank, rotation date) from ``mail.log.2.gz`` or ``maillog-20260115``."""
    m = _ROTATED.match(name)
    assert m is not None
    base, number, stamp = m[1], m[2], m[3]
    when = None
    if stamp:
        try:
            when = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
        except ValueError:
            return name, 0, None
    return base, int(number) if number else 0, when


def log_files(paths: list[str]) -> list[LogFile]:
    """The files of one log in reading order, oldest first, each with its year reference.

    Files are chained newest to oldest: each one ends before the next newer one starts, so
    copies whose modification times were lost still get their years right.
    """
    ranked = []
    for path in paths:
        _base, number, stamp = _rotation(os.path.basename(path))
        reference = _mtime(path)
        if stamp is not None:
            reference = min(reference, datetime.combine(stamp, time(23, 59, 59)))
        # newest first: the live file, then .1, .2 …; dated files by date, newest first
        ranked.append((stamp is None and number == 0, stamp or date.min, -number, reference, path))
    ranked.sort(reverse=True)
    files: list[LogFile] = []
    newer_start: datetime | None = None
    for *_key, reference, path in ranked:
        if newer_start is not None:
            reference = min(reference, newer_start)
        lines, _seen = first_lines(path, 1, reference)
        entry = LogFile(path, reference, lines[0].time if lines else None)
        if lines:
            newer_start = lines[0].time.astimezone().replace(tzinfo=None)
        files.append(entry)
    far = datetime.max.replace(tzinfo=timezone.utc)
    files.sort(key=lambda f: f.first or far)
    return files


@dataclass
class Stream:
    """Lines of several files in order, with what went wrong on the way.

    ``problems`` collects (source, position, reason, truncated) for the caller to report.
    """

    files: list[LogFile]
    advance: Callable[[int], None] = lambda nbytes: None
    markers: tuple[bytes, ...] = ()  # when given, only lines holding one of these are parsed

    def __post_init__(self) -> None:
        self.problems: list[tuple[str, str, str, ProblemKind]] = []
        self._wanted = re.compile(b"|".join(re.escape(m) for m in self.markers)) if self.markers else None

    def __iter__(self) -> Iterator[LogLine]:
        for log in self.files:
            yield from self._lines(log)

    def _lines(self, log: LogFile) -> Iterator[LogLine]:
        years = _Years(log.reference)
        garbage = 0
        n = 0
        done = 0
        try:
            for n, raw in enumerate(_raw_lines(log.path), 1):
                done += len(raw)
                if done >= 1 << 20:
                    self.advance(done)
                    done = 0
                if self._wanted is not None and not self._wanted.search(raw):
                    if raw[:3] not in _MONTH_BYTES and not raw[:4].isdigit() and raw.strip():
                        garbage += 1
                    continue
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if not text.strip():
                    continue
                parsed = parse_line(text, years)
                if parsed is None:
                    garbage += 1
                    continue
                yield LogLine(log.path, n, *parsed)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            self.problems.append((log.path, str(n + 1), f"compressed data cut off or damaged after line {n}: {e}",
                                  ProblemKind.TRUNCATED))  # fmt: skip
        except LimitExceeded as e:
            self.problems.append((log.path, str(n + 1), str(e), ProblemKind.LIMIT))
        except OSError as e:
            self.problems.append((log.path, str(n + 1), f"cannot read after line {n}: {e.strerror or e}",
                                  ProblemKind.DAMAGED))  # fmt: skip
        self.advance(done)
        if garbage:
            self.problems.append((log.path, "", f"{garbage} line(s) without a timestamp skipped", ProblemKind.DAMAGED))
