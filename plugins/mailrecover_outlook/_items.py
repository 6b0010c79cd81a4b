"""Outlook contacts, distribution lists and calendar items as ``Item`` records.

Both stores (.pst/.ost through pypff, .msg through extract-msg) hand the item over as a
``MapiObject``; this module reads the same properties from either (MS-OXOCNTC for
contacts and lists, MS-OXOCAL for appointments), so a contact reads the same whichever
file it was saved in.  Most of these fields are named properties, looked up through the
store's name map (``MapiObject.named``).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from mailrecover.model import Item, ItemKind, Person, Phone, PostalAddress

from . import _mapi as p
from ._build import clean_subject
from ._mapi import MapiObject

__all__ = ["item_kind", "item_of", "recurrence_rule"]

_CLASSES = (
    ("ipm.contact", ItemKind.CONTACT),
    ("ipm.distlist", ItemKind.GROUP),
    ("ipm.appointment", ItemKind.EVENT),
)

# Contacts (fixed ids, MS-OXOCNTC 2.2.1).
_GIVEN, _SURNAME, _MIDDLE, _PREFIX, _SUFFIX, _NICKNAME = 0x3A06, 0x3A11, 0x3A44, 0x3A45, 0x3A05, 0x3A4F
_COMPANY, _TITLE, _DEPARTMENT, _BIRTHDAY = 0x3A16, 0x3A17, 0x3A18, 0x3A42
_BUSINESS_HOME_PAGE, _PERSONAL_HOME_PAGE = 0x3A51, 0x3A50
_PHONES = (
    (0x3A1A, "voice"),  # primary
    (0x3A08, "work"),
    (0x3A1B, "work"),
    (0x3A09, "home"),
    (0x3A2F, "home"),
    (0x3A1C, "cell"),
    (0x3A1E, "car"),
    (0x3A24, "fax,work"),
    (0x3A25, "fax,home"),
    (0x3A23, "fax"),
    (0x3A21, "pager"),
    (0x3A2E, "assistant"),
    (0x3A1F, "voice"),  # other
)
_HOME_ADDRESS = (0x3A5D, 0x3A59, 0x3A5C, 0x3A5B, 0x3A5A)  # street, city, region, postcode, country
_OTHER_ADDRESS = (0x3A63, 0x3A5F, 0x3A62, 0x3A61, 0x3A60)
_MAILING_ADDRESS = (0x3A29, 0x3A27, 0x3A28, 0x3A2A, 0x3A26)  # the work address when unnamed
_WORK_ADDRESS = (0x8045, 0x8046, 0x8047, 0x8048, 0x8049)  # PSETID_Address named ids
# Email1..3: (address, address type, original display name) in PSETID_Address.
_EMAILS = ((0x8083, 0x8082, 0x8084), (0x8093, 0x8092, 0x8094), (0x80A3, 0x80A2, 0x80A4))
_FILE_UNDER, _BIRTHDAY_LOCAL = 0x8005, 0x80DE
_DIST_LIST_NAME, _DIST_LIST_ONE_OFF_MEMBERS = 0x8053, 0x8054

# Appointments (PSETID_Appointment, PSETID_Meeting named ids; fixed start/end as fallback).
_LOCATION, _START_WHOLE, _END_WHOLE, _SUB_TYPE = 0x8208, 0x820D, 0x820E, 0x8215
_RECUR, _TIMEZONE_STRUCT, _TIMEZONE_DESCRIPTION = 0x8216, 0x8233, 0x8234
_GLOBAL_OBJECT_ID = 0x0003
_START_DATE, _END_DATE = 0x0060, 0x0061
_SEARCH_KEY, _LAST_MODIFICATION_TIME = 0x300B, 0x3008
_RECIPIENT_FLAGS = 0x5FFD  # 0x2: the organizer's own row
_ROLES = {1: "required", 2: "optional", 3: "resource"}

_ONE_OFF_PROVIDER = bytes.fromhex("812b1fa4bea310199d6e00dd010f5402")
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def item_kind(message_class: str | None) -> ItemKind | None:
    """The kind of item ``export-items`` keeps for this message class (None: not one)."""
    cls = (message_class or "").strip().lower()
    for prefix, kind in _CLASSES:
        if cls == prefix or cls.startswith(prefix + "."):
            return kind
    return None


def item_of(obj: MapiObject, kind: ItemKind, folder: str, source: str, position: str) -> Item:
    """The item ``obj`` holds, in ``folder`` of ``source`` at ``position``."""
    common = Item(
        kind=kind,
        folder=folder,
        source=source,
        position=position,
        body=_text(obj, p.BODY).replace("\r\n", "\n").strip(),
        created=obj.time(p.CREATION_TIME),
        modified=obj.time(_LAST_MODIFICATION_TIME),
    )
    if kind is ItemKind.EVENT:
        return _event(obj, common)
    if kind is ItemKind.GROUP:
        name = _text(obj, p.DISPLAY_NAME) or _named_text(obj, p.PSETID_ADDRESS, _DIST_LIST_NAME)
        entries = obj.binaries(obj.named(p.PSETID_ADDRESS, _DIST_LIST_ONE_OFF_MEMBERS))
        members = tuple(m for m in map(_one_off, entries) if m)
        return replace(common, uid=_hex(obj.binary(_SEARCH_KEY)), full_name=name, members=members)
    return _contact(obj, common)


def _contact(obj: MapiObject, common: Item) -> Item:
    emails: list[str] = []
    for address, addrtype, original in _EMAILS:
        value = _named_text(obj, p.PSETID_ADDRESS, address)
        if _named_text(obj, p.PSETID_ADDRESS, addrtype).upper() not in ("", "SMTP"):
            value = _named_text(obj, p.PSETID_ADDRESS, original)  # an Exchange name: its shown address
        value = value.strip().strip("'\"<>")
        if "@" in value and value not in emails:
            emails.append(value)
    phones: list[Phone] = []
    for prop, word in _PHONES:
        number = _text(obj, prop).strip()
        if number and all(number != known.number for known in phones):
            phones.append(Phone(number, word))
    work = [obj.named(p.PSETID_ADDRESS, lid) for lid in _WORK_ADDRESS]
    addresses = [
        a
        for a in (
            _address(obj, "work", work) or _address(obj, "work", _MAILING_ADDRESS),
            _address(obj, "home", _HOME_ADDRESS),
            _address(obj, "", _OTHER_ADDRESS),
        )
        if a is not None
    ]
    local = obj.time(obj.named(p.PSETID_ADDRESS, _BIRTHDAY_LOCAL))
    stamp = obj.time(_BIRTHDAY)
    # BirthdayLocal is the day itself at midnight UTC; the other is local midnight as an
    # instant, so the nearest midnight UTC is its day for every zone within twelve hours.
    birthday = local.date() if local else (stamp + timedelta(hours=12)).date() if stamp else None
    return replace(
        common,
        uid=_hex(obj.binary(_SEARCH_KEY)),
        full_name=_text(obj, p.DISPLAY_NAME) or _named_text(obj, p.PSETID_ADDRESS, _FILE_UNDER),
        given_name=_text(obj, _GIVEN),
        family_name=_text(obj, _SURNAME),
        middle_name=_text(obj, _MIDDLE),
        prefix=_text(obj, _PREFIX),
        suffix=_text(obj, _SUFFIX),
        nickname=_text(obj, _NICKNAME),
        emails=tuple(emails),
        phones=tuple(phones),
        addresses=tuple(addresses),
        organization=_text(obj, _COMPANY),
        department=_text(obj, _DEPARTMENT),
        title=_text(obj, _TITLE),
        birthday=birthday,
        web=_text(obj, _BUSINESS_HOME_PAGE) or _text(obj, _PERSONAL_HOME_PAGE),
    )


def _event(obj: MapiObject, common: Item) -> Item:
    start = obj.time(obj.named(p.PSETID_APPOINTMENT, _START_WHOLE)) or obj.time(_START_DATE)
    end = obj.time(obj.named(p.PSETID_APPOINTMENT, _END_WHOLE)) or obj.time(_END_DATE)
    all_day = bool(obj.integer(obj.named(p.PSETID_APPOINTMENT, _SUB_TYPE)))
    offset = _utc_offset(obj.binary(obj.named(p.PSETID_APPOINTMENT, _TIMEZONE_STRUCT)))
    attendees: list[Person] = []
    for recipient in obj.recipients():
        if (recipient.integer(_RECIPIENT_FLAGS) or 0) & 0x2:
            continue  # the organizer, named below
        person = _person(recipient, _ROLES.get((recipient.integer(p.RECIPIENT_TYPE) or 1) & 0xF, "required"))
        if person is not None:
            attendees.append(person)
    organizer = _organizer(obj)
    uid = _hex(obj.binary(obj.named(p.PSETID_MEETING, _GLOBAL_OBJECT_ID))) or _hex(obj.binary(_SEARCH_KEY))
    return replace(
        common,
        uid=uid,
        summary=clean_subject(obj.text(p.SUBJECT)),
        start=start,
        end=end,
        all_day=all_day,
        timezone=_named_text(obj, p.PSETID_APPOINTMENT, _TIMEZONE_DESCRIPTION),
        utc_offset=offset,
        location=_named_text(obj, p.PSETID_APPOINTMENT, _LOCATION),
        organizer=organizer,
        attendees=tuple(attendees),
        recurrence=recurrence_rule(obj.binary(obj.named(p.PSETID_APPOINTMENT, _RECUR)), all_day),
    )


def _text(obj: MapiObject, prop: int) -> str:
    return (obj.text(prop) or "").strip() if prop else ""


def _named_text(obj: MapiObject, guid: bytes, lid: int) -> str:
    return _text(obj, obj.named(guid, lid))


def _hex(data: bytes | None) -> str:
    return data.hex().upper() if data else ""


def _address(obj: MapiObject, kind: str, props: tuple[int, ...] | list[int]) -> PostalAddress | None:
    street, city, region, postcode, country = (_text(obj, prop) for prop in props)
    if not any((street, city, region, postcode, country)):
        return None
    return PostalAddress(kind, street.replace("\r\n", "\n"), city, region, postcode, country)


def _smtp(obj: MapiObject, smtp: int, email: int, addrtype: int) -> str:
    addr = obj.text(smtp) or (obj.text(email) if (obj.text(addrtype) or "SMTP").upper() == "SMTP" else "")
    addr = (addr or "").strip().strip("'\"<>")
    return addr if "@" in addr else ""


def _person(obj: MapiObject, role: str) -> Person | None:
    email = _smtp(obj, p.SMTP_ADDRESS, p.EMAIL_ADDRESS, p.ADDRTYPE)
    name = _text(obj, p.DISPLAY_NAME)
    if not email and not name:
        return None
    return Person(name if name != email else "", email, role)


def _organizer(obj: MapiObject) -> Person | None:
    for name, smtp, email, addrtype in (
        (
            p.SENT_REPRESENTING_NAME,
            p.SENT_REPRESENTING_SMTP,
            p.SENT_REPRESENTING_EMAIL,
            p.SENT_REPRESENTING_ADDRTYPE,
        ),
        (p.SENDER_NAME, p.SENDER_SMTP, p.SENDER_EMAIL, p.SENDER_ADDRTYPE),
    ):
        address = _smtp(obj, smtp, email, addrtype)
        if address:  # an organizer without an address ("Unknown") says nothing iCalendar can hold
            shown = _text(obj, name)
            return Person(shown if shown != address else "", address)
    return None


def _one_off(entry: bytes) -> Person | None:
    """A distribution list member kept as a one-off entry id (MS-OXCDATA 2.2.5.1)."""
    if len(entry) < 24 or entry[4:20] != _ONE_OFF_PROVIDER:
        return None
    flags = struct.unpack_from("<H", entry, 22)[0]
    rest = entry[24:]
    if flags & 0x8000:  # Unicode strings
        texts = [part.decode("utf-16-le", "replace") for part in _utf16_parts(rest)]
    else:
        texts = [t.decode("cp1252", "replace") for t in rest.split(b"\x00")]
    name, addrtype, address = (texts + ["", "", ""])[:3]
    if addrtype.upper() != "SMTP" or "@" not in address:
        address = ""
    if not name and not address:
        return None
    return Person(name if name != address else "", address)


def _utf16_parts(data: bytes) -> list[bytes]:
    """The NUL-terminated UTF-16LE strings of ``data``."""
    parts: list[bytes] = []
    start = 0
    for i in range(0, len(data) - 1, 2):
        if data[i : i + 2] == b"\x00\x00":
            parts.append(data[start:i])
            start = i + 2
    return parts


def _utc_offset(tz: bytes | None) -> int | None:
    """The standard offset east of UTC, in minutes, of a TimeZoneStruct (MS-OXOCAL 2.2.1.39)."""
    if not tz or len(tz) < 8:
        return None
    bias, standard = struct.unpack_from("<ii", tz)
    offset = -(bias + standard)
    return offset if -16 * 60 <= offset <= 16 * 60 else None


_WEEKDAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # bit 0 is Sunday
_FREQUENCIES = {0x200A: "DAILY", 0x200B: "WEEKLY", 0x200C: "MONTHLY", 0x200D: "YEARLY"}


def recurrence_rule(blob: bytes | None, all_day: bool = False) -> str:
    """An RFC 5545 RRULE value from an AppointmentRecur RecurrencePattern (MS-OXOCAL
    2.2.1.44.1); empty when there is none or it is one this reader does not know (Hijri)."""
    if not blob or len(blob) < 22:
        return ""
    try:
        return _rule(blob, all_day)
    except struct.error:
        return ""


def _rule(blob: bytes, all_day: bool) -> str:
    frequency, pattern, _calendar, _first, period, _sliding = struct.unpack_from("<HHHIII", blob, 4)
    at = 22
    freq = _FREQUENCIES.get(frequency)
    if freq is None or pattern > 4:
        return ""
    parts: list[str] = []
    days: list[str] = []
    if pattern == 0:  # every N days (period in minutes)
        interval = max(1, period // 1440)
        freq = "DAILY"
    else:
        interval = max(1, period // 12 if freq == "YEARLY" else period)
    if pattern in (1, 3):
        (mask,) = struct.unpack_from("<I", blob, at)
        at += 4
        days = [day for bit, day in enumerate(_WEEKDAYS) if mask >> bit & 1]
    month_day = nth = 0
    if pattern in (2, 4):
        (month_day,) = struct.unpack_from("<I", blob, at)
        at += 4
    if pattern == 3:
        (nth,) = struct.unpack_from("<I", blob, at)
        at += 4
    end_type, count, _first_dow, deleted = struct.unpack_from("<IIII", blob, at)
    at += 16 + 4 * deleted
    (modified,) = struct.unpack_from("<I", blob, at)
    at += 4 + 4 * modified
    first_day, last_day = struct.unpack_from("<II", blob, at)
    parts.append(f"FREQ={freq}")
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    if freq == "YEARLY":
        parts.append(f"BYMONTH={_day(first_day).month}")
    if days:
        parts.append("BYDAY=" + ",".join(days))
    if pattern == 3:
        parts.append(f"BYSETPOS={-1 if nth == 5 else nth}")
    if pattern == 2:
        parts.append(f"BYMONTHDAY={month_day}")
    if pattern == 4:
        parts.append("BYMONTHDAY=-1")
    if end_type == 0x2021:
        until = _day(last_day)
        parts.append(f"UNTIL={until:%Y%m%d}" if all_day else f"UNTIL={until:%Y%m%d}T235959Z")
    elif end_type == 0x2022:
        parts.append(f"COUNT={count}")
    return ";".join(parts)


def _day(minutes: int) -> date:
    return (_EPOCH + timedelta(minutes=minutes)).date()
