"""Outlook's TNEF (``winmail.dat``, ``application/ms-tnef``) unpacked into plain MIME.

Exchange and Outlook wrap a message's attachments and its RTF/HTML body in one TNEF part
that only Outlook opens: restored as it is, the user sees a ``winmail.dat`` and nothing
else.  This lives in the core, not in a plugin, because such a part can be inside a copy
any plugin finds (an mbox, a Maildir, an IMAP folder): ``gather`` keeps the copy as found
and adds, beside it, the same message with each TNEF part replaced by what it carries.
The rebuild is deterministic (same bytes on every gather) so that gathering twice adds
nothing.  Reading TNEF itself is ``tnefparse``'s job.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
import mimetypes
import re
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from io import BytesIO
from typing import Any

from .rfc822 import decode_text, header_end, remove_fields

__all__ = ["TNEF_SIGNATURE", "damage", "holds_tnef", "is_tnef", "unpack", "wrap"]

#: The first four bytes of every TNEF stream (0x223E9F78, little-endian).
TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_HINT = re.compile(rb"ms-tnef|winmail\.dat", re.I)
_WORDS = (b"tnef", b"TNEF", b"Tnef", b"inmail.dat", b"INMAIL.DAT", b"inmail.DAT")
_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
_MIME_FIELDS = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}

# MAPI properties a bare stream names its message by (MS-OXPROPS).
_SUBJECT, _TOPIC, _MESSAGE_ID, _SUBMIT_TIME = 0x0037, 0x0070, 0x1035, 0x0039
_SENDER_NAME, _SENDER_ADDRESS, _SENDER_SMTP = 0x0C1A, 0x0C1F, 0x5D01
_ATT_SUBJECT, _ATT_DATE_SENT = 0x8004, 0x8005


def is_tnef(data: bytes) -> bool:
    return data[:4] == TNEF_SIGNATURE


def holds_tnef(raw: bytes) -> bool:
    """Whether a message may carry a TNEF part: a cheap look before any parsing (plain
    searches first: a case-blind pattern over every byte of every copy costs ten times more)."""
    if not _mentions_tnef(raw):
        return False
    if not any(word in raw for word in _WORDS):
        return False
    return _HINT.search(raw) is not None


_WINDOW = 1 << 20
_LOWER_WORDS = (b"tnef", b"inmail.dat")  # every one of ``_WORDS`` lower-cased: what is searched


def _mentions_tnef(raw: bytes) -> bool:
    """Whether a lower-cased ``raw`` holds one of ``_LOWER_WORDS``: two searches where
    ``_WORDS`` takes six, a window at a time so a giant message is not copied whole."""
    overlap = max(map(len, _LOWER_WORDS)) - 1
    for at in range(0, len(raw), _WINDOW):
        window = raw[at : at + _WINDOW + overlap].lower()
        if b"tnef" in window or b"inmail.dat" in window:
            return True
    return False


def damage(data: bytes) -> tuple[str, bool] | None:
    """What is wrong with a TNEF stream's framing, which tnefparse passes over in silence,
    and whether content was lost: an attribute cut off (the rest of the stream is lost),
    or stray bytes after the last one (nothing is)."""
    at = 6  # signature and key
    while at < len(data):
        if len(data) - at < 11:  # level, id, type, length, checksum
            return f"has {len(data) - at} stray bytes after its last attribute (at byte {at})", False
        size = int.from_bytes(data[at + 5 : at + 9], "little")
        if at + 11 + size > len(data):
            return (
                f"is cut off: the attribute at byte {at} needs {size:,} bytes, {len(data) - at - 11:,} remain",
                True,
            )
        at += 11 + size
    return None


def _parse(data: bytes) -> Any:
    """The stream read by tnefparse; ``ValueError`` with its reason when it cannot be."""
    from tnefparse import TNEF  # imported only when a message holds TNEF

    if not is_tnef(data):
        raise ValueError("no TNEF signature")
    data = _bounded(data)
    try:
        return TNEF(data, do_checksum=False)  # a bad checksum must not cost the attachments
    except Exception as e:  # tnefparse raises whatever its struct reads hit on damaged input
        raise ValueError(f"damaged TNEF stream ({type(e).__name__}: {e})") from e


# TNEF attribute ids whose data is a MAPI property list that starts with its count.
_MAPI_LISTS = {0x9003, 0x9005}  # attMAPIProps, attAttachment
_RECIPIENT_TABLE = 0x9004  # attRecipTable: rows of property lists; nothing here reads it


def _bounded(data: bytes) -> bytes:
    """The stream as tnefparse may be given it: tnefparse loops over a property list's
    count even past the list's end (a damaged count of 0xFF000000 spun for minutes, logging
    each missing property), so a count that cannot fit its attribute is damage, and the
    recipient table, whose every row has such a count and which nothing here uses, is left
    out.  Cut-off framing is ``damage``'s to report: what follows it is passed on as it is."""
    kept = [data[:6]]
    at = 6
    while at + 11 <= len(data):
        name = int.from_bytes(data[at + 1 : at + 3], "little")
        size = int.from_bytes(data[at + 5 : at + 9], "little")
        end = at + 11 + size
        if end > len(data):
            break
        if name in _MAPI_LISTS and size >= 4:
            count = int.from_bytes(data[at + 9 : at + 13], "little")
            if count > (size - 4) // 4:  # every property takes at least its type and id
                raise ValueError(
                    f"damaged TNEF stream (the attribute at byte {at} claims "
                    f"{count:,} properties in {size:,} bytes)"
                )
        if name != _RECIPIENT_TABLE:
            kept.append(data[at:end])
        at = end
    kept.append(data[at:])
    return b"".join(kept)


def _text(value: Any, codepage: str | None = None) -> str:
    """A property as text: bytes in the stream's code page (or a guess), no NUL ends."""
    text = decode_text(value, codepage) if isinstance(value, bytes) else str(value)
    return text.rstrip("\x00")


def _attachment(name: str, data: bytes) -> MIMEBase:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    main, sub = kind.split("/", 1)
    part: MIMEBase
    if main == "text":
        part = MIMEApplication(data, "octet-stream")  # bytes as they were, whatever their charset
        part.replace_header("Content-Type", kind)
    else:
        part = MIMEApplication(data, sub)
        if main != "application":
            part.replace_header("Content-Type", kind)
    filename: str | tuple[str, str, str] = name if name.isascii() else ("utf-8", "", name)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _contents(tnef: Any) -> list[MIMEBase]:
    """The parts a TNEF stream carries: its body (HTML, text, else the RTF as a file),
    then every attachment under its long file name."""
    parts: list[MIMEBase] = []
    codepage = getattr(tnef, "codepage", None)
    html, text = _text(tnef.htmlbody or b"", codepage), _text(tnef.body or b"", codepage)
    if html.strip():
        parts.append(MIMEText(html, "html", "utf-8"))
    elif text.strip():
        parts.append(MIMEText(text, "plain", "utf-8"))
    elif tnef.rtfbody:
        parts.append(_attachment("body.rtf", bytes(tnef.rtfbody)))
    for n, att in enumerate(tnef.attachments, 1):
        try:
            name = _text(att.long_filename(), codepage).strip() or f"attachment-{n}"
        except Exception:  # a name property of the wrong type: the bytes still count
            name = f"attachment-{n}"
        parts.append(_attachment(name, bytes(att.data or b"")))
    return parts or [MIMEText("", "plain", "utf-8")]  # a receipt carries nothing: still a message


def _is_tnef_part(part: email.message.Message) -> bool:
    name = (part.get_filename() or "").strip().lower()
    return part.get_content_type() in _TNEF_TYPES or name == "winmail.dat"


def _flatten(message: email.message.Message, linesep: str) -> bytes:
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(message, linesep=linesep)
    return out.getvalue()


def _unpacked(data: Any, notes: list[tuple[str, bool]]) -> list[MIMEBase]:
    stream = data if isinstance(data, bytes) else b""
    parts = _contents(_parse(stream))
    note = damage(stream)
    if note:
        notes.append(note)
    return parts


def _replaced(container: email.message.Message, found: list[tuple[str, bool]]) -> int:
    """Each TNEF part of a multipart, at any depth, swapped for the parts it carries."""
    payload = container.get_payload()
    if not isinstance(payload, list):
        return 0
    count = 0
    new: list[email.message.Message] = []
    for part in payload:
        if not isinstance(part, email.message.Message):
            continue  # compat32 lists only parts here; a stray string is no part to keep
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            count += _replaced(part, found)
            new.append(part)
        elif _is_tnef_part(part):
            new.extend(_unpacked(part.get_payload(decode=True), found))
            count += 1
        else:
            new.append(part)
    container.set_payload(new)  # type: ignore[arg-type]  # compat32 takes a list of parts
    return count


def unpack(raw: bytes) -> tuple[bytes, list[tuple[str, bool]]] | None:
    """``raw`` with every TNEF part replaced by the body and attachments it carries, its
    own header fields kept as they were, and what was wrong with the streams (``damage``:
    a cut-off one gives what it holds up to the cut).  None when it holds no TNEF part;
    ``ValueError`` when one cannot be read at all."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    body_at = header_end(raw)
    linesep = "\r\n" if raw[:body_at].endswith(b"\r\n") else "\n"
    head = raw[:body_at].rstrip(b"\r\n") + linesep.encode()
    notes: list[tuple[str, bool]] = []
    if message.is_multipart():
        if not _replaced(message, notes):
            return None
        rebuilt = _flatten(message, linesep)
        return head + rebuilt[header_end(rebuilt) - len(linesep) :], notes
    if not _is_tnef_part(message):
        return None
    container = MIMEMultipart("mixed", boundary="=_tnef_" + hashlib.sha256(raw).hexdigest()[:32])
    for part in _unpacked(message.get_payload(decode=True), notes):
        container.attach(part)
    return remove_fields(head, _MIME_FIELDS) + _flatten(container, linesep), notes


def _props(tnef: Any) -> tuple[dict[int, Any], dict[int, Any]]:
    """MAPI properties and TNEF attributes by id, apart: their ids overlap (0x8004 is a
    named property among the first, the subject among the second)."""
    mapi: dict[int, Any] = {}
    attrs: dict[int, Any] = {}
    for found, props in ((mapi, tnef.mapiprops), (attrs, tnef.msgprops)):
        for prop in props:
            try:
                found.setdefault(prop.name, prop.data)  # decoded only now: a wrong length raises here
            except Exception:  # one damaged property costs that property, not the stream's fields
                continue
    return mapi, attrs


def _header_text(value: Any) -> str:
    """A property as one header line's text: no line breaks a header could be split at."""
    return " ".join(_text(value).replace("\x00", "").split())


def wrap(data: bytes, name: str) -> bytes:
    """A bare TNEF stream (a saved ``winmail.dat``) as the message it came in: the fields
    the stream itself names (Subject, From, Date, Message-ID), and the stream as its one
    ``application/ms-tnef`` part, byte for byte.  ``ValueError`` when it is not TNEF."""
    props, attrs = _props(_parse(data))
    fields: list[tuple[str, str]] = []
    subject = props.get(_SUBJECT) or attrs.get(_ATT_SUBJECT) or props.get(_TOPIC)
    if subject:
        fields.append(("Subject", _header_text(subject)))
    sender = props.get(_SENDER_SMTP) or props.get(_SENDER_ADDRESS)
    if sender and "@" in _text(sender):
        display = _header_text(props.get(_SENDER_NAME) or "")
        fields.append(
            ("From", f'"{display}" <{_header_text(sender)}>' if display else f"<{_header_text(sender)}>")
        )
    when = props.get(_SUBMIT_TIME) or attrs.get(_ATT_DATE_SENT)
    if isinstance(when, datetime):
        fields.append(("Date", format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))))
    message_id = props.get(_MESSAGE_ID)
    if message_id and "@" in _text(message_id):
        fields.append(("Message-ID", _header_text(message_id)))
    part = MIMEApplication(data, "ms-tnef")
    part.add_header(
        "Content-Disposition", "attachment", filename=name if name.isascii() else ("utf-8", "", name)
    )
    for key, value in fields:
        part[key] = value
    return _flatten(part, "\n")
