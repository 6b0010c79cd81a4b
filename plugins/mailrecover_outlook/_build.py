"""Rebuild an RFC 5322 message from an Outlook item's properties.

Outlook keeps no original MIME: a received message keeps its transport header block
(``PR_TRANSPORT_MESSAGE_HEADERS``), every message keeps its bodies and attachments as
properties.  The rebuilt message keeps the transport headers as they were (less the
``Content-*`` fields that described the old body), or writes From/To/Cc/Date/Subject/
Message-ID from the properties when there are none (sent items, drafts).
"""

from __future__ import annotations

import email.policy
import hashlib
import mimetypes
import re
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from mailrecover.pluginkit import header_end, header_fields

from . import _mapi as p
from ._mapi import MapiObject
from ._rtf import decompress, rtf_to_html, rtf_to_text

__all__ = ["build_message", "clean_subject"]

_POLICY = email.policy.SMTP
# Fields that described the body Outlook threw away; the rebuilt body brings its own.
_BODY_FIELDS = re.compile(
    rb"^(content-(type|transfer-encoding|disposition|id|description|md5)|mime-version)\s*:",
    re.IGNORECASE,
)
_MAX_DEPTH = 8  # embedded messages inside embedded messages: a loop guard


def clean_subject(subject: str | None) -> str:
    """A subject without the two-character prefix marker some stores put in front."""
    if subject and subject.startswith("\x01") and len(subject) >= 2:
        subject = subject[2:]
    return (subject or "").replace("\r", " ").replace("\n", " ")


def _kept_transport_headers(text: str) -> bytes:
    """The transport header block, CRLF-ended, without the fields that described the old body."""
    raw = text.encode("utf-8", "surrogateescape").replace(b"\r\n", b"\n").lstrip(b"\n")
    raw = raw[: header_end(raw)].rstrip(b"\n")
    out: list[bytes] = []
    dropping = False
    for line in raw.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping and out:
                out.append(line)
            continue
        if b":" not in line:
            dropping = True  # not a field: leave it out rather than end the header early
            continue
        dropping = bool(_BODY_FIELDS.match(line))
        if not dropping:
            out.append(line)
    return b"".join(line.rstrip(b"\r") + b"\r\n" for line in out)


def _address(name: str | None, smtp: str | None, email_addr: str | None, addrtype: str | None) -> str:
    """A header-ready mailbox; Exchange distinguished names are not addresses and are left out."""
    addr = smtp or (email_addr if (addrtype or "SMTP").upper() == "SMTP" else None)
    addr = (addr or "").strip().strip("'\"<>")
    name = (name or "").strip().strip("'\"")
    if name == addr:
        name = ""
    if addr and "@" in addr:
        try:
            return str(Address(display_name=name, addr_spec=addr))
        except (ValueError, IndexError):
            pass
    return name or addr  # no Internet address known: the name at least says who


def _sender(obj: MapiObject, representing: bool) -> str:
    if representing:
        props = (
            p.SENT_REPRESENTING_NAME,
            p.SENT_REPRESENTING_SMTP,
            p.SENT_REPRESENTING_EMAIL,
            p.SENT_REPRESENTING_ADDRTYPE,
        )
    else:
        props = (p.SENDER_NAME, p.SENDER_SMTP, p.SENDER_EMAIL, p.SENDER_ADDRTYPE)
    return _address(*(obj.text(prop) for prop in props))


def _property_headers(obj: MapiObject, present: set[str]) -> bytes:
    """From/Sender/To/Cc/Bcc/Date/Subject/Message-ID/In-Reply-To/References from properties,
    each one only when the transport headers did not already have it."""
    fields: list[bytes] = []

    def put(name: str, value: str | None) -> None:
        if value and name.lower() not in present:
            fields.append(_field(name, value))

    author = _sender(obj, representing=True)
    sender = _sender(obj, representing=False)
    put("From", author or sender)
    if author and sender and sender != author:
        put("Sender", sender)
    by_type: dict[int, list[str]] = {1: [], 2: [], 3: []}
    for recipient in obj.recipients():
        kind = recipient.integer(p.RECIPIENT_TYPE) or 1
        addr = _address(
            recipient.text(p.DISPLAY_NAME),
            recipient.text(p.SMTP_ADDRESS),
            recipient.text(p.EMAIL_ADDRESS),
            recipient.text(p.ADDRTYPE),
        )
        if addr:
            by_type.setdefault(kind & 0xF, []).append(addr)
    for kind, prop in ((1, p.DISPLAY_TO), (2, p.DISPLAY_CC)):  # names only, when that is all
        shown = obj.text(prop)
        if not by_type[kind] and shown:
            by_type[kind] = [s.strip() for s in shown.split(";") if s.strip()]
    for kind, name in ((1, "To"), (2, "Cc"), (3, "Bcc")):
        if by_type.get(kind):
            put(name, ", ".join(by_type[kind]))
    when = obj.time(p.CLIENT_SUBMIT_TIME) or obj.time(p.DELIVERY_TIME) or obj.time(p.CREATION_TIME)
    if when:
        put("Date", format_datetime(when))
    put("Subject", clean_subject(obj.text(p.SUBJECT)))
    for name, prop in (
        ("Message-ID", p.INTERNET_MESSAGE_ID),
        ("In-Reply-To", p.IN_REPLY_TO),
        ("References", p.REFERENCES),
    ):
        value = obj.text(prop)
        if value:
            put(name, " ".join(value.split()))
    return b"".join(fields)


def _html_part(obj: MapiObject) -> MIMEPart | None:
    found = obj.raw(p.HTML)
    if not found or not found[1]:
        return None
    part = MIMEPart(policy=_POLICY)
    if found[0] == p.PT_UNICODE:
        part.set_content(obj.text(p.HTML) or "", subtype="html", charset="utf-8")
        return part
    data = found[1].rstrip(b"\x00")
    charset = p.mime_charset(obj.internet_codepage()) or _sniff_charset(data, obj.string8_codec())
    part.set_content(data, maintype="text", subtype="html", cte="base64")
    part.set_param("charset", charset)
    return part


_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _sniff_charset(html: bytes, ansi: str) -> str:
    """The charset of an HTML body whose item does not say: its own meta tag, UTF-8, or ANSI."""
    m = _META_CHARSET.search(html[:4096])
    if m:
        return m.group(1).decode("ascii")
    try:
        html.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "shift_jis" if ansi == "cp932" else ansi


def _text_part(text: str, subtype: str = "plain") -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    part.set_content(text, subtype=subtype, charset="utf-8")
    return part


def _rtf_part(rtf: bytes) -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    part.set_content(
        rtf, maintype="application", subtype="rtf", filename="rtf-body.rtf", disposition="attachment"
    )
    return part


class _Node:
    """One MIME entity as bytes (headers, blank line, body), or a multipart of nodes."""

    def __init__(self, data: bytes = b"", subtype: str = "", children: list[_Node] | None = None):
        self.data = data
        self.subtype = subtype
        self.children = children or []

    def render(self) -> bytes:
        if not self.subtype:
            return self.data
        rendered = [child.render() for child in self.children]
        # The same content always gets the same boundary, so a second read gives the same bytes.
        boundary = "=_mr_" + hashlib.sha1(b"".join(rendered)).hexdigest()[:24]
        out = [f'Content-Type: multipart/{self.subtype};\r\n boundary="{boundary}"\r\n\r\n'.encode()]
        for child in rendered:  # the CRLF before each delimiter belongs to the delimiter
            out.append(f"--{boundary}\r\n".encode() + child + b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out)


def _leaf(part: MIMEPart) -> _Node:
    return _Node(_crlf(part.as_bytes(policy=_POLICY)))


def _body_parts(obj: MapiObject) -> tuple[_Node | None, _Node | None]:
    """(the body, an RTF body part to attach when it carries something the body lacks)."""
    plain = obj.text(p.BODY)
    html = _html_part(obj)
    rtf_data = obj.binary(p.RTF_COMPRESSED)
    rtf = decompress(rtf_data) if rtf_data else None
    rtf_extra: _Node | None = None
    if html is None and rtf:
        wrapped = rtf_to_html(rtf)
        if wrapped is not None:
            html = _text_part(wrapped, "html")
        else:
            rtf_extra = _leaf(_rtf_part(rtf))  # a real RTF document: keep it as it is
            if not (plain and plain.strip()):
                plain = rtf_to_text(rtf)
    if plain is not None and not plain.strip() and html is not None:
        plain = None  # Outlook's placeholder for an HTML-only message
    text = _text_part(plain) if plain is not None else None
    if text is not None and html is not None:
        return _Node(subtype="alternative", children=[_leaf(text), _leaf(html)]), rtf_extra
    body = text or html
    return (_leaf(body) if body is not None else None), rtf_extra


def _filename(att: MapiObject) -> str | None:
    for prop in (p.ATTACH_LONG_FILENAME, p.ATTACH_FILENAME, p.DISPLAY_NAME):
        name = att.text(prop)
        if name and name.strip():
            return name.strip().replace("\x00", "")
    return None


def _attachment_part(att: MapiObject, depth: int, lost: list[str]) -> _Node | None:
    method = att.integer(p.ATTACH_METHOD) or p.ATTACH_BY_VALUE
    if method == p.ATTACH_EMBEDDED_MSG:
        name = _filename(att)
        inner = att.embedded() if depth < _MAX_DEPTH else None
        if inner is None:
            lost.append(f"embedded message {name or '(unnamed)'!r}")
            return None
        head = "Content-Type: message/rfc822\r\n"
        if name:
            head += _field("Content-Description", name).decode("ascii")
        return _Node(head.encode() + b"\r\n" + build_message(inner, lost=lost, depth=depth + 1))
    data = att.binary(p.ATTACH_DATA)
    name = _filename(att)
    if data is None:
        if method == p.ATTACH_OLE:
            lost.append(f"embedded object {name or '(unnamed)'!r}")
        return None  # attached by reference: the file itself was never in the store
    mime = (att.text(p.ATTACH_MIME_TAG) or "").strip().lower()
    if "/" not in mime:
        mime = mimetypes.guess_type(name or "")[0] or "application/octet-stream"
    if mime.startswith(("multipart/", "message/")):
        if _is_mime_entity(data):
            return _Node(_crlf(data))  # a whole MIME entity (a signed message's body): as it is
        mime = "application/octet-stream"  # cannot be rebuilt as that type: keep the bytes
    maintype, _, subtype = mime.partition("/")
    cid = (att.text(p.ATTACH_CONTENT_ID) or "").strip().strip("<>")
    part = MIMEPart(policy=_POLICY)
    part.set_content(
        data,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        disposition="inline" if cid else "attachment",
        filename=name,
        cte="base64",
    )
    if cid:
        part["Content-ID"] = f"<{cid}>"
    return _leaf(part)


def _is_mime_entity(data: bytes) -> bool:
    return any(name == "content-type" for name, _ in header_fields(data[:8192]))


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _field(name: str, value: str) -> bytes:
    """One header field, folded and RFC 2047-encoded as needed, CRLF-ended."""
    head = EmailMessage(policy=_POLICY)
    try:
        head[name] = value
        data = head.as_bytes(policy=_POLICY)
        return data[: header_end(data)].rstrip(b"\r\n") + b"\r\n"
    except Exception:  # the header registry refuses some real-world values: encode them plainly
        encoded = Header(value.replace("\r", " ").replace("\n", " "), "utf-8", header_name=name).encode()
        return f"{name}: {encoded}".replace("\n", "\r\n").encode("ascii") + b"\r\n"


def _attachment_parts(obj: MapiObject, depth: int, lost: list[str]) -> list[_Node]:
    """Every attachment that can be read; each one that cannot is noted in ``lost``."""
    parts: list[_Node] = []
    found = obj.attachments()
    for number in range(1, 100_000):
        try:
            att = next(found)
        except StopIteration:
            break
        except Exception as e:  # the attachment table itself is damaged: the rest is lost
            lost.append(f"attachments from number {number} on unreadable ({type(e).__name__})")
            break
        try:
            part = _attachment_part(att, depth, lost)
        except Exception as e:  # one unreadable attachment does not cost the message
            lost.append(f"attachment {number} unreadable ({type(e).__name__}: {e})".splitlines()[0])
            continue
        if part is not None:
            parts.append(part)
    return parts


def build_message(obj: MapiObject, *, lost: list[str] | None = None, depth: int = 0) -> bytes:
    """The item as RFC 5322 bytes (CRLF line ends).

    What could not be read (an attachment, an embedded message) is left out and named
    in ``lost``, so the caller can report it; the message itself is kept.
    """
    lost = [] if lost is None else lost
    body, rtf_extra = _body_parts(obj)
    attachments = _attachment_parts(obj, depth, lost)
    if rtf_extra is not None:
        attachments.insert(0, rtf_extra)
    signed = (obj.text(p.MESSAGE_CLASS) or "").lower().startswith("ipm.note.smime.multipartsigned")
    if (
        signed
        and len(attachments) == 1
        and attachments[0].data.lower().startswith(b"content-type: multipart/signed")
    ):
        tree = attachments[0]  # Outlook keeps a signed message's MIME body whole: it is the body
    elif attachments:
        tree = _Node(subtype="mixed", children=([body] if body else []) + attachments)
    elif body is not None:
        tree = body
    else:
        tree = _leaf(_text_part(""))

    transport = obj.text(p.TRANSPORT_HEADERS)
    kept = _kept_transport_headers(transport) if transport and transport.strip() else b""
    present = {name for name, _ in header_fields(kept + b"\r\n")}
    own = _property_headers(obj, present)
    return kept + own + b"MIME-Version: 1.0\r\n" + tree.render()
