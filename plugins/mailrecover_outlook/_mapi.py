"""MAPI properties as Outlook stores them (.pst, .ost, .msg), and the state they carry.

Both stores hand out properties as (value type, raw bytes) by 16-bit property id; this
module decodes them the same way for both, so the two plugins agree on what a message is.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime

from mailrecover.model import Flag
from mailrecover.pluginkit import (
    ANSI_ENV,
    codec_for_codepage,
    default_ansi_codec,
    from_filetime,
    mime_charset,
)

__all__ = [
    "ANSI_ENV",
    "MapiObject",
    "codec_for_codepage",
    "default_ansi_codec",
    "flags_of",
    "from_filetime",
    "is_mail_class",
    "kind_of_class",
    "mime_charset",
    "name_map",
    "received_by",
]

# Property value types.
PT_SHORT, PT_LONG, PT_BOOLEAN, PT_LONGLONG = 0x0002, 0x0003, 0x000B, 0x0014
PT_STRING8, PT_UNICODE, PT_SYSTIME, PT_BINARY, PT_OBJECT = 0x001E, 0x001F, 0x0040, 0x0102, 0x000D
PT_MV_BINARY = 0x1102

# Property sets of named properties (MS-OXPROPS), as the name map stores them (little-endian).
PSETID_APPOINTMENT = uuid.UUID("00062002-0000-0000-c000-000000000046").bytes_le
PSETID_ADDRESS = uuid.UUID("00062004-0000-0000-c000-000000000046").bytes_le
PSETID_COMMON = uuid.UUID("00062008-0000-0000-c000-000000000046").bytes_le
PSETID_MEETING = uuid.UUID("6ed8da90-450b-101b-98da-00aa003f1305").bytes_le
_PS_MAPI = uuid.UUID("00020328-0000-0000-c000-000000000046").bytes_le
_PS_PUBLIC_STRINGS = uuid.UUID("00020329-0000-0000-c000-000000000046").bytes_le

# Property ids used here (MS-OXPROPS names in the comments).
MESSAGE_CLASS = 0x001A  # PidTagMessageClass
SUBJECT = 0x0037  # PidTagSubject
CLIENT_SUBMIT_TIME = 0x0039
SENT_REPRESENTING_NAME, SENT_REPRESENTING_ADDRTYPE, SENT_REPRESENTING_EMAIL = 0x0042, 0x0064, 0x0065
RECEIVED_BY_EMAIL, RECEIVED_BY_ADDRTYPE = 0x0076, 0x0075
TRANSPORT_HEADERS = 0x007D
SENDER_NAME, SENDER_ADDRTYPE, SENDER_EMAIL = 0x0C1A, 0x0C1E, 0x0C1F
RECIPIENT_TYPE = 0x0C15
DISPLAY_CC, DISPLAY_TO = 0x0E03, 0x0E04
DELIVERY_TIME = 0x0E06
MESSAGE_FLAGS = 0x0E07  # 1 read, 8 unsent
MESSAGE_SIZE = 0x0E08
BODY, RTF_COMPRESSED, HTML = 0x1000, 0x1009, 0x1013
INTERNET_MESSAGE_ID, REFERENCES, IN_REPLY_TO = 0x1035, 0x1039, 0x1042
ICON_INDEX = 0x1080
LAST_VERB_EXECUTED = 0x1081  # 102 reply, 103 reply all, 104 forward
FLAG_STATUS = 0x1090  # 2 flagged
DISPLAY_NAME, ADDRTYPE, EMAIL_ADDRESS = 0x3001, 0x3002, 0x3003
CREATION_TIME = 0x3007
ATTACH_DATA = 0x3701
ATTACH_FILENAME, ATTACH_METHOD, ATTACH_LONG_FILENAME = 0x3704, 0x3705, 0x3707
ATTACH_MIME_TAG, ATTACH_CONTENT_ID = 0x370E, 0x3712
SMTP_ADDRESS = 0x39FE
INTERNET_CPID, MESSAGE_LOCALE_ID, MESSAGE_CODEPAGE = 0x3FDE, 0x3FF1, 0x3FFD
SENDER_SMTP, SENT_REPRESENTING_SMTP, RECEIVED_BY_SMTP = 0x5D01, 0x5D02, 0x5D07

ATTACH_BY_VALUE, ATTACH_EMBEDDED_MSG, ATTACH_OLE = 1, 5, 6

_ANSI_CODEPAGES = {874, 932, 936, 949, 950, *range(1250, 1259)}
# Windows' ANSI code page by primary language of a locale id (LCID & 0x3FF).
_LOCALE_CODEPAGES = {
    0x11: 932,
    0x12: 949,
    0x04: 936,
    0x19: 1251,
    0x22: 1251,
    0x23: 1251,
    0x02: 1251,
    0x05: 1250,
    0x0E: 1250,
    0x15: 1250,
    0x1A: 1250,
    0x1B: 1250,
    0x24: 1250,
    0x08: 1253,
    0x1F: 1254,
    0x0D: 1255,
    0x01: 1256,
    0x25: 1257,
    0x26: 1257,
    0x27: 1257,
    0x2A: 1258,
    0x1E: 874,
    0x07: 1252,
    0x09: 1252,
    0x0A: 1252,
    0x0C: 1252,
    0x10: 1252,
    0x13: 1252,
    0x16: 1252,
    0x1D: 1252,
    0x06: 1252,
    0x14: 1252,
    0x0B: 1252,
}
_TRADITIONAL_CHINESE = {1028: 950, 3076: 950, 5124: 950}


class MapiObject:
    """One MAPI object (message, recipient, attachment) read through ``raw``.

    Subclasses give ``raw(prop_id) -> (value type, bytes) | None`` and, for messages,
    ``recipients()`` and ``attachments()``; for attachments ``embedded()``.
    """

    ansi = "cp932"  # codec for PT_STRING8 values when the object does not name its own
    # (property set, numeric name) -> this store's property id of a named property
    names: Mapping[tuple[bytes, int], int] = {}

    def raw(self, prop_id: int) -> tuple[int, bytes] | None:
        raise NotImplementedError

    def named(self, guid: bytes, lid: int) -> int:
        """The id a named property has in this store (0, which no property has, when unmapped)."""
        return self.names.get((guid, lid), 0)

    def binaries(self, prop_id: int) -> list[bytes]:
        """The values of a multi-valued binary property (a PST keeps them in one buffer:
        count, offsets, data)."""
        found = self.raw(prop_id)
        if not found or found[0] != PT_MV_BINARY or len(found[1]) < 4:
            return []
        data = found[1]
        count = struct.unpack_from("<I", data)[0]
        if count > (len(data) - 4) // 4:
            return []
        offsets = [*struct.unpack_from(f"<{count}I", data, 4), len(data)]
        return [data[a:b] for a, b in zip(offsets, offsets[1:]) if a <= b <= len(data)]

    def recipients(self) -> Iterator[MapiObject]:
        return iter(())

    def attachments(self) -> Iterator[MapiObject]:
        return iter(())

    def embedded(self) -> MapiObject | None:
        """The message an attachment of method 5 carries."""
        return None

    # Typed views ------------------------------------------------------------------
    def integer(self, prop_id: int) -> int | None:
        found = self.raw(prop_id)
        if not found:
            return None
        vtype, data = found
        if vtype == PT_SHORT and len(data) >= 2:
            return struct.unpack_from("<h", data)[0]
        if vtype == PT_LONG and len(data) >= 4:
            return struct.unpack_from("<i", data)[0]
        if vtype == PT_LONGLONG and len(data) >= 8:
            return struct.unpack_from("<q", data)[0]
        if vtype == PT_BOOLEAN and data:
            return 1 if any(data[:2]) else 0
        return None

    def text(self, prop_id: int) -> str | None:
        found = self.raw(prop_id)
        if not found:
            return None
        vtype, data = found
        if vtype == PT_UNICODE:
            if len(data) % 2:
                data = data[:-1]
            return data.decode("utf-16-le", "replace").rstrip("\x00")
        if vtype == PT_STRING8:
            return data.rstrip(b"\x00").decode(self.string8_codec(), "replace")
        if vtype == PT_BINARY:  # some writers store text properties as bytes
            return data.rstrip(b"\x00").decode(self.string8_codec(), "replace")
        return None

    def binary(self, prop_id: int) -> bytes | None:
        found = self.raw(prop_id)
        if not found:
            return None
        return found[1]

    def time(self, prop_id: int) -> datetime | None:
        found = self.raw(prop_id)
        if not found or found[0] != PT_SYSTIME or len(found[1]) < 8:
            return None
        return from_filetime(struct.unpack_from("<Q", found[1])[0])

    def string8_codec(self) -> str:
        cp = self._own_codepage()
        return codec_for_codepage(cp) or self.ansi

    def _own_codepage(self) -> int | None:
        """The ANSI code page of this object's 8-bit strings, when it says or implies one."""
        cp = self.integer(MESSAGE_CODEPAGE)
        if cp in _ANSI_CODEPAGES:
            return cp
        locale = self.integer(MESSAGE_LOCALE_ID)
        if locale:
            cp = _TRADITIONAL_CHINESE.get(locale) or _LOCALE_CODEPAGES.get(locale & 0x3FF)
            if cp:
                return cp
        cp = self.integer(INTERNET_CPID)
        return cp if cp in _ANSI_CODEPAGES else None

    def internet_codepage(self) -> int | None:
        return self.integer(INTERNET_CPID) or self.integer(MESSAGE_CODEPAGE)


def name_map(guids: bytes, entries: bytes) -> dict[tuple[bytes, int], int]:
    """A store's named properties with numeric names, from its name-to-id map streams
    (MS-PST 2.4.7, the same in a .msg's ``__nameid_version1.0``): each 8-byte entry is the
    name, a GUID index (with bit 0 set for string names, left out here) and the index
    that, added to 0x8000, is the property id."""
    found: dict[tuple[bytes, int], int] = {}
    for offset in range(0, len(entries) - 7, 8):
        name, kind, index = struct.unpack_from("<IHH", entries, offset)
        if kind & 1:
            continue
        guid_index = kind >> 1
        if guid_index == 1:
            guid = _PS_MAPI
        elif guid_index == 2:
            guid = _PS_PUBLIC_STRINGS
        elif 16 * (guid_index - 3) + 16 <= len(guids) and guid_index >= 3:
            guid = guids[16 * (guid_index - 3) : 16 * (guid_index - 2)]
        else:
            continue
        found.setdefault((guid, name), 0x8000 + index)
    return found


def flags_of(obj: MapiObject) -> set[Flag]:
    """Read, flagged, answered, forwarded and draft state from a message's properties."""
    flags: set[Flag] = set()
    msg_flags = obj.integer(MESSAGE_FLAGS) or 0
    if msg_flags & 0x1:
        flags.add(Flag.SEEN)
    if msg_flags & 0x8:
        flags.add(Flag.DRAFT)
    if obj.integer(FLAG_STATUS) == 2:
        flags.add(Flag.FLAGGED)
    verb = obj.integer(LAST_VERB_EXECUTED)
    icon = obj.integer(ICON_INDEX)
    if verb in (102, 103) or icon == 261:
        flags.add(Flag.ANSWERED)
    if verb == 104 or icon == 262:
        flags.add(Flag.FORWARDED)
    return flags


_MAIL_PREFIXES = (
    "ipm.note",
    "ipm.post",
    "ipm.schedule.meeting",
    "report.ipm",
    "ipm.outlook.recall",
)
_KINDS = (
    ("ipm.contact", "contact"),
    ("ipm.distlist", "distribution list"),
    ("ipm.appointment", "appointment"),
    ("ipm.task", "task"),
    ("ipm.stickynote", "note"),
    ("ipm.activity", "journal entry"),
)


def is_mail_class(message_class: str | None) -> bool:
    """Whether an item of this message class is mail (a note, post, meeting mail or report)."""
    cls = (message_class or "IPM.Note").strip().lower()
    return cls == "ipm" or cls.startswith(_MAIL_PREFIXES)


def kind_of_class(message_class: str | None) -> str:
    """A reader's word for a non-mail item class, for the skipped-items summary."""
    cls = (message_class or "").strip().lower()
    for prefix, word in _KINDS:
        if cls.startswith(prefix):
            return word
    return "other item"


def received_by(obj: MapiObject) -> tuple[str, ...]:
    """The mailbox a received message was delivered to, when the item names one."""
    addr = obj.text(RECEIVED_BY_SMTP)
    if not addr and (obj.text(RECEIVED_BY_ADDRTYPE) or "").upper() == "SMTP":
        addr = obj.text(RECEIVED_BY_EMAIL)
    addr = (addr or "").strip()
    return (addr.lower(),) if "@" in addr else ()
