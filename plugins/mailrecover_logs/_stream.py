"""Log files as one stream of timestamped lines: compression, rotation order, year and zone.

Classic syslog lines carry no year and no zone.  They are read in the server's zone (given,
else this machine's), and each file of a rotation family gets the year of its first line
from the best evidence the files themselves hold: a dated rotation name (``-20120625``: no
line is later), then the chain of rotations (a file continues the one before it, never
going back in time nor skipping a year), then its modification time, but only when the
file's last line agrees with it (copies reset mtimes to "today"), and the current year
last.  Within a file the year goes up each time the month goes back.  Every line says how
its year and zone were found (``TimeBasis``), so that the dates of gathered messages the
lines name can correct the year afterwards (``mailrecover.logtimes``).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from mailrecover.model import ProblemKind
from mailrecover.pluginkit import LimitExceeded, current_limits, exceeded, open_readonly

__all__ = [
    "LINE",
    "LogFile",
    "LogLine",
    "TimeBasis",
    "Stream",
    "first_lines",
    "log_files",
    "parse_line",
    "rotation_base",
]

_MAX_LINE = 64 * 1024  # a longer "line" is binary garbage; its rest is skipped
_SNIFF_BYTES = 256 * 1024  # how far into a file detection looks: a big binary file costs little
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_MONTH_BYTES = {m.capitalize().encode() for m in _MONTHS}
_CLASSIC = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.\d+)? (.*)", re.S)
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)? (.*)", re.S)
_SYSLOG_REST = re.compile(r"(?:(\S+) )?([^\s\[:]+)(?:\[\d+\])?: (.*)", re.S)
_PID = re.compile(r"\[\d+\] ")
#: ``mail.log.2.gz``, ``maillog-20120625``, Exim's ``mainlog.20120625`` / ``mainlog-201206`` /
#: ``mainlog-0215``: the base name, then a rotation number or date, then a compression suffix.
_ROTATED = re.compile(r"(.+?)(?:[.-](\d{8}|\d{6})|-(\d{4})|[.-](\d{1,3}))?(?:\.(?:gz|bz2|xz))?$")
_MTIME_SLACK = timedelta(days=2)  # a file's last line and its mtime agree within this


@dataclass(frozen=True, slots=True)
class TimeBasis:
    """How a line's time was found.

    ``year``: ``line`` (the stamp has one), ``rotation-name``, ``chain``, ``mtime`` or
    ``current-year``; ``zone``: ``line`` (the stamp has one), ``given`` (the server's zone
    as the user named it) or ``local`` (assumed: this machine's).  Lines whose years came
    from one anchor share a ``group``, so a later correction moves them together.
    """

    year: str
    zone: str
    group: str = ""


LINE = TimeBasis("line", "line")  # an RFC 3339 stamp with its offset: nothing was assumed


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line that carried a timestamp.

    ``program`` is the syslog tag without its pid (``postfix/smtpd``), or ``None`` for a
    program's own log file (Exim's mainlog), where ``text`` follows the timestamp.
    ``time`` is aware: the log's own zone where it gave one, else the server's zone.
    """

    source: str
    number: int
    time: datetime
    host: str | None
    program: str | None
    text: str
    basis: TimeBasis = LINE


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _split_rest(rest: str) -> tuple[str | None, str | None, str]:
    """(host, program, text) from what follows a timestamp."""
    m = _SYSLOG_REST.match(rest)
    if m and "=" not in m[2] and "@" not in m[2] and not (m[1] or "").endswith(":"):
        return m[1], m[2], m[3]
    m = _PID.match(rest)
    return None, None, rest[m.end() :] if m else rest


_Stamp = tuple[int, int, int, int, int]  # month, day, hour, minute, second of a classic line


def _dated(year: int, stamp: _Stamp) -> datetime | None:
    try:
        return datetime(year, *stamp)
    except ValueError:  # Feb 29 in a year without it
        return None


def _year_until(stamp: _Stamp, limit: datetime) -> int:
    """The latest year that puts ``stamp`` at or before ``limit``."""
    return (
        limit.year
        if stamp <= (limit.month, limit.day, limit.hour, limit.minute, limit.second)
        else limit.year - 1
    )


def _year_from(stamp: _Stamp, start: datetime) -> int:
    """The earliest year that puts ``stamp`` at or after ``start``."""
    return (
        start.year
        if stamp >= (start.month, start.day, start.hour, start.minute, start.second)
        else start.year + 1
    )


class _Years:
    """Gives classic syslog stamps a year: the first line's (given, or the latest one before
    ``reference``), raised each time the month goes back."""

    def __init__(self, reference: datetime | None = None, year: int | None = None) -> None:
        self.reference = reference or datetime.now()
        self.year = year
        self.month = 0

    def stamp(self, month: int, day: int, hh: int, mm: int, ss: int) -> datetime | None:
        if self.year is None:
            self.year = _year_until((month, day, hh, mm, ss), self.reference)
        elif month < self.month:
            self.year += 1
        self.month = month
        return _dated(self.year, (month, day, hh, mm, ss))


_local_zones: dict[tuple[int, int, int, int], tzinfo] = {}


def _local(when: datetime, zone: tzinfo | None = None) -> datetime:
    """``when`` (naive wall clock of the server) made aware: in ``zone``, else this machine's
    (looked up once an hour)."""
    if zone is not None:
        return when.replace(tzinfo=zone)
    key = (when.year, when.month, when.day, when.hour)
    found = _local_zones.get(key)
    if found is None:
        if len(_local_zones) > 10_000:
            _local_zones.clear()
        found = _local_zones[key] = when.astimezone().tzinfo  # type: ignore[assignment]
    return when.replace(tzinfo=found)


def _wall_clock(when: datetime, zone: tzinfo | None) -> datetime:
    """An aware instant as the server's naive wall clock."""
    return (when.astimezone(zone) if zone is not None else when.astimezone()).replace(tzinfo=None)


#: (time, host, program, text, year from the line, zone from the line)
_Parsed = tuple[datetime, str | None, str | None, str, bool, bool]


def _classic_stamp(raw: str) -> tuple[_Stamp, str] | None:
    m = _CLASSIC.match(raw)
    if not m:
        return None
    month = _MONTHS.get(m[1].lower())
    if month is None:
        return None
    return (month, int(m[2]), int(m[3]), int(m[4]), int(m[5])), m[6]


def parse_line(raw: str, years: _Years | None, zone: tzinfo | None = None) -> _Parsed | None:
    """(time, host, program, text, own year, own zone) of a log line, or None when it has no
    timestamp.  Times without a zone are the server's: ``zone``, else this machine's."""
    classic = _classic_stamp(raw)
    if classic is not None:
        if years is None:
            return None
        when = years.stamp(*classic[0])
        if when is None:
            return None
        host, program, text = _split_rest(classic[1])
        return _local(when, zone), host, program, text, False, False
    if _CLASSIC.match(raw):
        return None
    m = _RFC3339.match(raw)
    if m:
        try:
            when = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
        except ValueError:
            return None
        own = _zone(m[8])
        rest = m[9]
        if not m[8] and re.match(r"[+-]\d{4} ", rest):  # Exim's log_timezone: "+0900 "
            own, rest = _zone(rest[:5]), rest[6:]
        when = when.replace(tzinfo=own) if own else _local(when, zone)
        host, program, text = _split_rest(rest)
        return when, host, program, text, True, own is not None
    return None


@dataclass
class LogFile:
    """One file of a log, with the year of its first classic line and how it was found."""

    path: str
    year: int | None = None  # of its first classic line; None: its lines carry their years
    basis: TimeBasis = LINE
    first: datetime | None = None  # its first line's time, once known (for the reading order)


def _opened(raw: io.FileIO) -> io.BufferedIOBase:
    """The file's bytes, decompressed if it is gzip, bzip2 or xz (rotations often are)."""
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic[:3] == b"BZh":
        return bz2.BZ2File(raw, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw, "rb")
    return io.BufferedReader(raw, 1 << 20)


def _raw_lines(path: str) -> Iterator[bytes]:
    """The file's lines, decompressed if need be; damage surfaces as ``EOFError``/``OSError``/
    ``zlib.error``/``lzma.LZMAError``."""
    with io.FileIO(open_readonly(path), "rb", closefd=True) as raw:
        f = _opened(raw)
        maximum = current_limits().max_decompressed_bytes if not isinstance(f, io.BufferedReader) else None
        total = 0
        with f:
            skipping = False
            while line := f.readline(_MAX_LINE):
                total += len(line)
                if maximum is not None and total > maximum:  # a bomb costs time only this far
                    raise LimitExceeded(
                        exceeded("max_decompressed_bytes", total, maximum, "the rest was not read")
                    )
                if skipping:  # the rest of an overlong line
                    skipping = not line.endswith(b"\n")
                    continue
                if len(line) == _MAX_LINE and not line.endswith(b"\n"):
                    skipping = True
                    line = b"\x00"  # dropped whole, counted as a line without a timestamp
                yield line


_READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, UnicodeError, LimitExceeded)


def first_lines(path: str, count: int, reference: datetime | None = None) -> tuple[list[LogLine], bool]:
    """Up to ``count`` timestamped lines from the start of ``path`` (errors and the byte budget
    give fewer), and whether the file starts with one: among its first three lines (blank
    and ``#`` lines aside, a damaged one or two tolerated).  No lines when it does not."""
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
                if content == 3 and not starts_as_log:
                    return [], False  # no log: every mail file met in a walk stops here
            if parsed:
                found.append(LogLine(path, n, *parsed[:4]))
                if len(found) >= count:
                    break
            budget -= len(raw)
            if n >= count * 20 or budget < 0:
                break
    except _READ_ERRORS:
        pass
    return found, starts_as_log


def _first_stamp(path: str) -> tuple[_Stamp | None, datetime | None]:
    """The first timestamped line's classic stamp, or its full time when it carries a year."""
    budget = _SNIFF_BYTES
    try:
        for raw in _raw_lines(path):
            text = raw.decode("utf-8", "replace")
            classic = _classic_stamp(text)
            if classic is not None:
                return classic[0], None
            parsed = parse_line(text.rstrip("\r\n"), None)
            if parsed is not None:
                return None, parsed[0]
            budget -= len(raw)
            if budget < 0:
                break
    except _READ_ERRORS:
        pass
    return None, None


def _last_stamp(path: str) -> _Stamp | None:
    """The last classic stamp of an uncompressed file, from its tail (cheap at any size)."""
    try:
        with io.FileIO(open_readonly(path), "rb", closefd=True) as raw:
            if raw.read(2) in (b"\x1f\x8b", b"BZ", b"\xfd7"):
                return None  # would mean reading it all: its mtime is not worth that
            size = raw.seek(0, io.SEEK_END)
            raw.seek(max(0, size - _SNIFF_BYTES))
            tail = raw.read(_SNIFF_BYTES)
    except OSError:
        return None
    for line in reversed(tail.split(b"\n")):
        classic = _classic_stamp(line.decode("utf-8", "replace"))
        if classic is not None:
            return classic[0]
    return None


def _mtime(path: str) -> datetime:
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime)
    except OSError:
        return datetime.now()


def rotation_base(name: str) -> str:
    """The log a rotated file belongs to: ``mail.log`` for ``mail.log.2.gz``."""
    return _rotation(name)[0]


def _rotation(name: str) -> tuple[str, tuple[int, int], date | None]:
    """(base name, age order (smaller is older), last possible day) of ``mail.log.2.gz``,
    ``maillog-20260115``, ``mainlog-201206`` or ``mainlog-0215``."""
    m = _ROTATED.match(name)
    assert m is not None
    base, stamp, short, number = m[1], m[2], m[3], m[4]
    if stamp:
        try:
            if len(stamp) == 8:
                day = date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
            else:  # a month's log: its last day
                first = date(int(stamp[:4]), int(stamp[4:6]), 1)
                day = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        except ValueError:
            return base, (1, int(stamp)), None
        return base, (1, day.toordinal()), day
    if short:
        return base, (2, int(short)), None  # month and day without a year: order only
    if number:
        return base, (0, -int(number)), None  # mail.log.3 is older than mail.log.1
    return base, (3, 0), None  # the live file


@dataclass
class _Member:
    path: str
    order: tuple[int, int]
    last_day: date | None
    stamp: _Stamp | None  # its first classic stamp
    full: datetime | None = None  # or its first line's wall clock, when that line has its year
    year: int | None = None
    basis: TimeBasis | None = None

    def start(self) -> datetime | None:
        if self.full is not None:
            return self.full
        return _dated(self.year, self.stamp) if self.year is not None and self.stamp else None


def _mtime_agrees(member: _Member, zone: tzinfo | None) -> int | None:
    """The first line's year by the file's mtime, when its last line agrees with the mtime."""
    last = _last_stamp(member.path) if member.stamp else None
    if last is None or member.stamp is None:
        return None
    mtime = _wall_clock(datetime.fromtimestamp(os.stat(member.path).st_mtime, UTC), zone)
    ended = _dated(_year_until(last, mtime), last)
    if ended is None or mtime - ended > _MTIME_SLACK:
        return None  # copied, touched or restored: the mtime says nothing of the lines
    return _year_until(member.stamp, ended)


def _date_family(members: list[_Member], zone: tzinfo | None, zone_from: str) -> None:
    """Years of the members' first lines (oldest member first), from the best evidence."""
    chain = [m for m in members if m.stamp is not None or m.full is not None]
    classic = [m for m in chain if m.full is None]
    for m in chain:
        if m.full is not None:  # stamps with their year (rsyslog before a format change) anchor the rest
            m.basis = TimeBasis("line", zone_from, m.path)
        elif m.last_day is not None:
            m.year = _year_until(m.stamp, datetime.combine(m.last_day, time(23, 59, 59)))  # type: ignore[arg-type]
            m.basis = TimeBasis("rotation-name", zone_from, m.path)
    if classic and not any(m.basis for m in chain):
        for m in reversed(classic):  # the newest file first: the live one is the likeliest untouched
            year = _mtime_agrees(m, zone)
            if year is not None:
                m.year, m.basis = year, TimeBasis("mtime", zone_from, m.path)
                break
    if classic and not any(m.basis for m in chain):
        newest = classic[-1]
        assert newest.stamp is not None
        newest.year = _year_until(newest.stamp, _wall_clock(datetime.now(UTC), zone))
        newest.basis = TimeBasis("current-year", zone_from, newest.path)
    # the chain: a file continues the one before it and ends before the next one starts
    for before, after in zip(chain, chain[1:]):
        start = before.start()
        if after.basis is None and start is not None and before.basis is not None:
            after.year = _year_from(after.stamp, start)  # type: ignore[arg-type]
            after.basis = TimeBasis("chain", zone_from, before.basis.group)
    for after, before in zip(reversed(chain), list(reversed(chain))[1:]):
        start = after.start()
        if before.basis is None and start is not None and after.basis is not None:
            before.year = _year_until(before.stamp, start)  # type: ignore[arg-type]
            before.basis = TimeBasis("chain", zone_from, after.basis.group)


def log_files(paths: list[str], zone: tzinfo | None = None) -> list[LogFile]:
    """The files of one rotation family in reading order, oldest first, each with the year
    of its first line (see the module's docstring) in the server's ``zone`` (None: this
    machine's)."""
    zone_from = "given" if zone is not None else "local"
    members = []
    fulls: dict[str, datetime | None] = {}
    for path in paths:
        _base, order, last_day = _rotation(os.path.basename(path))
        stamp, full = _first_stamp(path)
        fulls[path] = full
        members.append(_Member(path, order, last_day, stamp, _wall_clock(full, zone) if full else None))
    members.sort(key=lambda m: (m.order, m.path))
    _date_family(members, zone, zone_from)
    files = []
    for m in members:
        first = m.start()
        basis = m.basis if m.basis is not None and m.full is None else TimeBasis("line", zone_from)
        files.append(
            LogFile(
                m.path,
                m.year,
                basis,
                fulls[m.path] if m.full is not None else _local(first, zone) if first else None,
            )
        )
    far = datetime.max.replace(tzinfo=UTC)
    files.sort(key=lambda f: f.first or far)  # stable: files of equal start keep the chain order
    return files


@dataclass
class Stream:
    """Lines of several files in order, with what went wrong on the way.

    ``problems`` collects (source, position, reason, kind) for the caller to report.
    ``zone`` is the server's zone for stamps without one (None: this machine's).
    """

    files: list[LogFile]
    advance: Callable[[int], None] = lambda nbytes: None
    markers: tuple[bytes, ...] = ()  # when given, only lines holding one of these are parsed
    zone: tzinfo | None = None

    def __post_init__(self) -> None:
        self.problems: list[tuple[str, str, str, ProblemKind]] = []
        self._wanted = re.compile(b"|".join(re.escape(m) for m in self.markers)) if self.markers else None
        zone_from = "given" if self.zone is not None else "local"
        self._year_in_line = TimeBasis("line", zone_from)

    def __iter__(self) -> Iterator[LogLine]:
        for log in self.files:
            yield from self._lines(log)

    def _basis(self, log: LogFile, own_year: bool, own_zone: bool) -> TimeBasis:
        if own_zone:
            return LINE
        return self._year_in_line if own_year else log.basis

    def _lines(self, log: LogFile) -> Iterator[LogLine]:
        years = _Years(year=log.year) if log.year is not None else _Years()
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
                parsed = parse_line(text, years, self.zone)
                if parsed is None:
                    garbage += 1
                    continue
                when, host, program, rest, own_year, own_zone = parsed
                yield LogLine(log.path, n, when, host, program, rest, self._basis(log, own_year, own_zone))
        except (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError) as e:
            self.problems.append(
                (
                    log.path,
                    str(n + 1),
                    f"compressed data cut off or damaged after line {n}: {e}",
                    ProblemKind.TRUNCATED,
                )
            )
        except LimitExceeded as e:
            self.problems.append((log.path, str(n + 1), str(e), ProblemKind.LIMIT))
        except OSError as e:
            self.problems.append(
                (log.path, str(n + 1), f"cannot read after line {n}: {e.strerror or e}", ProblemKind.DAMAGED)
            )
        self.advance(done)
        if garbage:
            self.problems.append(
                (log.path, "", f"{garbage} line(s) without a timestamp skipped", ProblemKind.DAMAGED)
            )
