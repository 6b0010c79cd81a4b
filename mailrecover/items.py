"""export-items: an account's contacts as vCard 4.0 (RFC 6350), its calendar items as
iCalendar (RFC 5545), one file per source folder, as readpst's ``-t ca`` writes them.

Both formats share the content-line rules written here once: UTF-8, CRLF, lines folded
at 75 octets (never inside a character), text values escaped (``\\``, ``;``, ``,``,
newlines) and parameter values quoted with RFC 6868's caret escapes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .errors import OperationError
from .model import Item, ItemKind, Person, Problem, ProblemKind
from .private import write_new_files
from .targets import safe_parts
from .workspace import Workspace, store

__all__ = [
    "ExportResult",
    "content_line",
    "escape_text",
    "export_items",
    "file_stem",
    "icalendar",
    "item_accounts",
    "vcards",
]

_PRODID = "-//mailrecover//export-items//EN"
_LINE_OCTETS = 75
# A stable namespace for the UIDs made from a source's own ids (vCard 4.0 wants a URI).
_UID_NAMESPACE = uuid.UUID("5b8e4f5c-2f0e-4a55-9d0a-6d61696c7263")
_ROLES = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT", "resource": "NON-PARTICIPANT"}


@dataclass
class ExportResult:
    written: dict[str, int] = field(default_factory=dict)  # by kind: contact, group, event
    files: list[Path] = field(default_factory=list)
    left_out: list[Problem] = field(default_factory=list)


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11, RFC 6350 3.4): backslash, semicolon, comma and
    newlines escaped; other control characters left out (no line may hold them)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    return "".join(ch for ch in value if ch >= " " or ch == "\t")


def _param(value: str) -> str:
    """A parameter value, always quoted, with RFC 6868's ^-escapes for what a quote cannot hold."""
    value = value.replace("^", "^^").replace("\r\n", "\n").replace("\n", "^n").replace('"', "^'")
    return '"' + "".join(ch for ch in value if ch >= " " or ch == "\t") + '"'


def content_line(name: str, value: str, params: Sequence[tuple[str, str]] = ()) -> bytes:
    """One content line, UTF-8, folded so no line exceeds 75 octets before its CRLF."""
    head = name + "".join(f";{key}={val}" for key, val in params)
    data = f"{head}:{value}".encode()
    out: list[bytes] = []
    start, limit = 0, _LINE_OCTETS
    while len(data) - start > limit:
        cut = start + limit
        while cut > start and (data[cut] & 0xC0) == 0x80:  # never inside a UTF-8 character
            cut -= 1
        out.append(data[start:cut])
        start, limit = cut, _LINE_OCTETS - 1  # continuation lines begin with a space
    out.append(data[start:])
    return b"\r\n ".join(out) + b"\r\n"


def _structured(*parts: str) -> str:
    return ";".join(escape_text(p) for p in parts)


def _uid(item: Item) -> str:
    key = item.uid or f"{item.source}\n{item.position}\n{item.kind}\n{item.full_name or item.summary}"
    return f"urn:uuid:{uuid.uuid5(_UID_NAMESPACE, key)}"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _vcard(item: Item) -> bytes:
    lines = [content_line("BEGIN", "VCARD"), content_line("VERSION", "4.0")]
    add = lines.append
    if item.kind is ItemKind.GROUP:
        add(content_line("KIND", "group"))
    name = item.full_name or " ".join(
        p for p in (item.prefix, item.given_name, item.middle_name, item.family_name, item.suffix) if p
    )
    add(content_line("FN", escape_text(name or (item.emails[0] if item.emails else "(no name)"))))
    if item.kind is ItemKind.CONTACT:
        add(
            content_line(
                "N",
                _structured(item.family_name, item.given_name, item.middle_name, item.prefix, item.suffix),
            )
        )
    if item.nickname:
        add(content_line("NICKNAME", escape_text(item.nickname)))
    for index, email in enumerate(item.emails, 1):
        add(content_line("EMAIL", escape_text(email), [("PREF", str(index))] if len(item.emails) > 1 else []))
    for phone in item.phones:
        add(content_line("TEL", escape_text(phone.number), [("TYPE", phone.kind)] if phone.kind else []))
    for a in item.addresses:
        add(
            content_line(
                "ADR",
                _structured("", "", a.street, a.city, a.region, a.postcode, a.country),
                [("TYPE", a.kind)] if a.kind else [],
            )
        )
    if item.organization or item.department:
        add(content_line("ORG", _structured(item.organization, item.department)))
    if item.title:
        add(content_line("TITLE", escape_text(item.title)))
    if item.birthday:
        add(content_line("BDAY", f"{item.birthday:%Y%m%d}"))
    if item.web:  # a URI: Outlook keeps what was typed, often without a scheme
        web = "".join(item.web.split())
        add(content_line("URL", web if "://" in web or web.startswith("mailto:") else "http://" + web))
    for member in item.members:
        if member.email:
            add(content_line("MEMBER", "mailto:" + member.email))
    if item.body:
        add(content_line("NOTE", escape_text(item.body)))
    if item.modified:
        add(content_line("REV", _stamp(item.modified)))
    add(content_line("UID", _uid(item)))
    add(content_line("PRODID", _PRODID))
    add(content_line("END", "VCARD"))
    return b"".join(lines)


def vcards(items: Iterable[Item]) -> bytes:
    """The contacts and groups as one vCard 4.0 file."""
    return b"".join(_vcard(item) for item in items)


def _local_day(when: datetime, offset: int | None) -> date:
    """The day an all-day event's stored midnight is in its own zone: the nearest midnight
    after the zone's standard offset, so a summer hour either way lands on the right day."""
    return (when.astimezone(UTC) + timedelta(minutes=offset or 0, hours=12)).date()


def _person(name: str, person: Person, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    params = [("CN", _param(person.name))] if person.name else []
    return content_line(name, "mailto:" + person.email, [*params, *extra])


def _vevent(item: Item, now: datetime) -> bytes:
    assert item.start is not None
    lines = [content_line("BEGIN", "VEVENT"), content_line("UID", escape_text(item.uid or _uid(item)))]
    add = lines.append
    add(content_line("DTSTAMP", _stamp(item.modified or item.created or now)))
    if item.created:
        add(content_line("CREATED", _stamp(item.created)))
    if item.modified:
        add(content_line("LAST-MODIFIED", _stamp(item.modified)))
    if item.summary:
        add(content_line("SUMMARY", escape_text(item.summary)))
    if item.all_day:
        first = _local_day(item.start, item.utc_offset)
        add(content_line("DTSTART", f"{first:%Y%m%d}", [("VALUE", "DATE")]))
        if item.end:
            last = max(_local_day(item.end, item.utc_offset), first + timedelta(days=1))
            add(content_line("DTEND", f"{last:%Y%m%d}", [("VALUE", "DATE")]))
    else:
        add(content_line("DTSTART", _stamp(item.start)))
        if item.end and item.end >= item.start:
            add(content_line("DTEND", _stamp(item.end)))
    if item.timezone:  # the instants are exact; the zone the organizer saw them in, as named
        add(content_line("X-MAILRECOVER-TIMEZONE", escape_text(item.timezone)))
    if item.recurrence:
        add(content_line("RRULE", item.recurrence))
    if item.location:
        add(content_line("LOCATION", escape_text(item.location)))
    if item.body:
        add(content_line("DESCRIPTION", escape_text(item.body)))
    if item.organizer and item.organizer.email:
        add(_person("ORGANIZER", item.organizer))
    for attendee in item.attendees:
        if attendee.email:
            extra = [("ROLE", _ROLES.get(attendee.role, "REQ-PARTICIPANT"))]
            if attendee.role == "resource":
                extra.append(("CUTYPE", "RESOURCE"))
            add(_person("ATTENDEE", attendee, extra))
    add(content_line("END", "VEVENT"))
    return b"".join(lines)


def icalendar(items: Iterable[Item], now: datetime | None = None) -> bytes:
    """The calendar items (each with a start) as one iCalendar object."""
    now = now or datetime.now(UTC)
    events = b"".join(_vevent(item, now) for item in items)
    head = (
        content_line("BEGIN", "VCALENDAR") + content_line("VERSION", "2.0") + content_line("PRODID", _PRODID)
    )
    return head + events + content_line("END", "VCALENDAR")


def file_stem(folder: str) -> str:
    """A folder path as one file name: its parts cleaned as targets clean folder names,
    joined with ``.`` (which a part may then not hold), as Maildir++ does."""
    return ".".join(safe_parts(folder, forbidden="."))


def item_accounts(ws: Workspace) -> list[str]:
    """Accounts that have contacts or calendar items in the workspace."""
    return store.item_accounts(ws.db)


def export_items(ws: Workspace, account: str, directory: str | Path) -> ExportResult:
    """Write the account's items into ``directory``: ``<folder>.vcf`` and ``<folder>.ics``.

    Nothing is written over an existing file (``OperationError`` before anything is written).
    A calendar item without a start (iCalendar requires one) and group members without an
    address are left out, each with a problem line.
    """
    result = ExportResult()
    cards: dict[str, list[Item]] = {}
    events: dict[str, list[Item]] = {}
    for item in store.items(ws.db, account):
        where = f"{item.folder}: {item.full_name or item.summary or '(untitled)'}"
        if item.kind is ItemKind.EVENT:
            if item.start is None:
                result.left_out.append(
                    Problem(
                        ProblemKind.SKIPPED,
                        item.source,
                        item.position,
                        f"{where}: calendar item without a start",
                    )
                )
                continue
            events.setdefault(item.folder, []).append(item)
        else:
            cards.setdefault(item.folder, []).append(item)
            nameless = [m for m in item.members if not m.email]
            if nameless:
                result.left_out.append(
                    Problem(
                        ProblemKind.SKIPPED,
                        item.source,
                        item.position,
                        f"{where}: {len(nameless)} members without an Internet address left out of the group",
                    )
                )
        result.written[item.kind] = result.written.get(item.kind, 0) + 1
    files: dict[str, bytes] = {}
    for folder, found in cards.items():
        files[file_stem(folder) + ".vcf"] = vcards(found)
    for folder, found in events.items():
        files[file_stem(folder) + ".ics"] = icalendar(found)
    if not files:
        return result
    try:
        result.files = write_new_files(directory, dict(sorted(files.items())))
    except OSError as e:
        raise OperationError(f"cannot write to {directory}: {e.strerror or e}; nothing written") from e
    return result
