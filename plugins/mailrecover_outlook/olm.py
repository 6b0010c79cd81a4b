"""Outlook for Mac archives (``.olm``): a zip of one XML file per item, attachments beside.

Mail items are ``…/com.microsoft.__Messages/<folder path>/message_NNNNN.xml`` holding
``<emails><email>`` with ``OPFMessageCopy…`` elements (subject, addresses, sent and received
times, Message-ID, text and HTML bodies, an attachment list naming files in the zip) and
state (``OPFMessageGetIsRead``, ``OPFMessageCopyGetFlagStatus``).  No original MIME is kept,
so each message is rebuilt and marked reconstructed, as PST items are.  Under
``Accounts/<address>/`` the account's address is a hint of whose mail it is.  Contacts,
calendar items, tasks and notes are counted in one line per file.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from io import BytesIO
from xml.etree import ElementTree

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import DELETED_ROLE, existing_dirs, folder_role, home

__all__ = ["OlmPlugin"]

_MESSAGES = "com.microsoft.__Messages/"
_ITEM = re.compile(r"(?:^|/)com\.microsoft\.__(\w+)/.*\.xml$")
_KINDS = {"Contacts": "contacts", "Calendar": "calendar items", "Tasks": "tasks", "Notes": "notes"}
_MAX_ITEM = 64 << 20  # one item's XML or attachment: more is not an item but damage
#: What reading a damaged archive member raises (a bad header, a broken deflate stream, an
#: unknown compression or an encrypted member), besides a missing name.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


def _time(text: str | None) -> datetime | None:
    """An OLM time (``2019-08-19T10:22:45``, UTC, with or without ``Z``)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().removesuffix("Z"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _true(text: str | None) -> bool:
    """OLM writes its booleans as ``1``, ``true`` or ``1E0``."""
    value = (text or "").strip().lower()
    if value == "true":
        return True
    try:
        return float(value) != 0
    except ValueError:
        return False


def _addresses(email: ElementTree.Element, tag: str) -> str:
    found = []
    for node in email.findall(f"{tag}/emailAddress"):
        address = node.get("OPFContactEmailAddressAddress", "").strip()
        if address:
            found.append(formataddr((node.get("OPFContactEmailAddressName", "").strip(), address)))
    return ", ".join(found)


def _text(email: ElementTree.Element, tag: str) -> str:
    return (email.findtext(tag) or "").strip()


def _attachments(email: ElementTree.Element, archive: zipfile.ZipFile, lost: list[str]) -> list[MIMEBase]:
    parts: list[MIMEBase] = []
    for node in email.findall("OPFMessageCopyAttachmentList/messageAttachment"):
        name = node.get("OPFAttachmentName") or "attachment"
        url = node.get("OPFAttachmentURL") or ""
        try:
            info = archive.getinfo(url)
            if info.file_size > _MAX_ITEM:
                raise ValueError(f"{info.file_size:,} bytes")
            data = archive.read(info)
        except (KeyError, *_ZIP_ERRORS) as e:
            lost.append(f"{name} ({url or 'no file named'}: {e})")
            continue
        kind = (node.get("OPFAttachmentContentType") or "application/octet-stream").lower()
        main, _, sub = kind.partition("/")
        part = MIMEApplication(data, sub or "octet-stream")
        if main != "application":
            part.replace_header("Content-Type", kind)
        part.add_header(
            "Content-Disposition", "attachment", filename=name if name.isascii() else ("utf-8", "", name)
        )
        cid = (node.get("OPFAttachmentContentID") or "").strip().strip("<>")
        if cid:
            part["Content-ID"] = f"<{cid}>"
        parts.append(part)
    return parts


def _message(
    xml: bytes, archive: zipfile.ZipFile, lost: list[str]
) -> tuple[bytes, frozenset[Flag], datetime | None]:
    """The message an item's XML describes, its flags and its received time."""
    root = ElementTree.fromstring(xml)
    email = root.find("email") if root.tag == "emails" else root
    if email is None or email.tag != "email":
        raise ValueError(f"no <email> element (root <{root.tag}>)")
    text, html = _text(email, "OPFMessageCopyBody"), email.findtext("OPFMessageCopyHTMLBody") or ""
    body: MIMEBase
    if html.strip() and text:
        body = MIMEMultipart("alternative", boundary="=_olm_alt_" + hashlib.sha256(xml).hexdigest()[:24])
        body.attach(MIMEText(text, "plain", "utf-8"))
        body.attach(MIMEText(html, "html", "utf-8"))
    elif html.strip():
        body = MIMEText(html, "html", "utf-8")
    else:
        body = MIMEText(text, "plain", "utf-8")
    files = _attachments(email, archive, lost)
    message: MIMEBase = body
    if files:
        message = MIMEMultipart("mixed", boundary="=_olm_" + hashlib.sha256(xml).hexdigest()[:32])
        for part in [body, *files]:
            message.attach(part)
    sent = _time(email.findtext("OPFMessageCopySentTime"))
    fields = [
        ("Date", format_datetime(sent) if sent else ""),
        (
            "From",
            _addresses(email, "OPFMessageCopyFromAddresses")
            or _addresses(email, "OPFMessageCopySenderAddress"),
        ),
        ("To", _addresses(email, "OPFMessageCopyToAddresses")),
        ("Cc", _addresses(email, "OPFMessageCopyCCAddresses")),
        ("Subject", _text(email, "OPFMessageCopySubject")),
        (
            "Message-ID",
            f"<{_text(email, 'OPFMessageCopyMessageID').strip('<>')}>"
            if _text(email, "OPFMessageCopyMessageID")
            else "",
        ),
        ("In-Reply-To", _text(email, "OPFMessageCopyInReplyTo")),
        ("References", _text(email, "OPFMessageCopyReferences")),
    ]
    for name, value in fields:
        if value:
            message[name] = " ".join(value.split())
    flags = set()
    if _true(email.findtext("OPFMessageGetIsRead")):
        flags.add(Flag.SEEN)
    if (email.findtext("OPFMessageCopyGetFlagStatus") or "").strip() == "1":
        flags.add(Flag.FLAGGED)
    out = BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(message, linesep="\r\n")
    return out.getvalue(), frozenset(flags), _time(email.findtext("OPFMessageCopyReceivedTime")) or sent


def _place(name: str) -> tuple[str, tuple[str, ...]]:
    """The folder a message item is in and the account address the path names."""
    parts = name.split("/")
    hints = (parts[1],) if len(parts) > 2 and parts[0] == "Accounts" and "@" in parts[1] else ()
    folders = [p for p in name.split(_MESSAGES, 1)[1].split("/")[:-1] if p]
    if folders:
        role = folder_role(folders[0])
        if role is not None:
            folders[0] = role
    return "/".join(folders) or "INBOX", hints


class OlmPlugin:
    name = "outlook-mac"
    description = (
        "Outlook for Mac archives (.olm): mail with folders, flags and dates, rebuilt from its XML items"
    )

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isfile(location) or not location.lower().endswith(".olm"):
            return 0
        try:
            with zipfile.ZipFile(location) as archive:
                names = archive.namelist()
        except _ZIP_ERRORS:
            return 0
        return 90 if any(_MESSAGES in n or _ITEM.search(n) for n in names) else 0

    def discover(self) -> Iterable[Store]:
        # Outlook for Mac exports archives where the user says; Documents and Downloads by habit
        for root in existing_dirs([home() / "Documents", home() / "Downloads", home() / "Desktop"]):
            for path in sorted(root.glob("*.olm")):
                if self.detect(str(path)) >= 50:
                    yield Store(self.name, str(path), path.stat().st_size)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            archive = zipfile.ZipFile(location)
        except _ZIP_ERRORS as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot open as an .olm (zip) archive: {e}")
            return
        with archive:
            yield from self._read(location, archive, context)

    def _read(self, location: str, archive: zipfile.ZipFile, context: ReadContext) -> Iterator[Finding]:
        skipped: Counter[str] = Counter()
        for info in archive.infolist():
            context.advance(info.compress_size)
            name = info.filename
            match = _ITEM.search(name)
            if match is None or info.is_dir():
                continue
            kind = match.group(1)
            if kind != "Messages":
                skipped[_KINDS.get(kind, f"{kind.lower()} items")] += 1
                continue
            if not os.path.basename(name).startswith("message_"):
                continue
            lost: list[str] = []
            try:
                if info.file_size > _MAX_ITEM:
                    raise ValueError(f"an item of {info.file_size:,} bytes")
                raw, flags, received = _message(archive.read(info), archive, lost)
            except (ElementTree.ParseError, *_ZIP_ERRORS) as e:
                yield Problem(ProblemKind.DAMAGED, location, name, f"mail item cannot be read: {e}")
                continue
            folder, hints = _place(name)
            if folder.split("/")[0] == DELETED_ROLE:
                flags |= {Flag.DELETED}
            for what in lost:
                yield Problem(
                    ProblemKind.DAMAGED, location, name, f"attachment missing from the archive: {what}"
                )
            yield Copy(
                raw=raw,
                folder=folder,
                source=location,
                position=name,
                flags=flags,
                internal_date=received,
                reconstructed=True,
                account_hints=hints,
            )
        if skipped:
            counts = ", ".join(f"{n} {what}" for what, n in sorted(skipped.items()))
            yield Problem(ProblemKind.SKIPPED, location, "", f"{counts} not read: mail only")
