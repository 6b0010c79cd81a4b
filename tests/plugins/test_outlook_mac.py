"""Outlook for Mac ``.olm`` archives, built here from the documented layout."""

from __future__ import annotations

import email
import email.policy
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from mailrecover_outlook.olm import OlmPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from .client_stores import OWNER, restored_maildir
from .contract import Sample, SourcePluginContract

ACCOUNT = f"Accounts/{OWNER}/com.microsoft.__Messages"


def item(n: int, *, read: bool = True, flagged: bool = False, attachment: str = "", body: str = "") -> str:
    """One mail item's XML as Outlook for Mac exports it."""
    files = (
        (
            f"<OPFMessageCopyAttachmentList><messageAttachment OPFAttachmentName={quoteattr('見積書.pdf')} "
            f'OPFAttachmentContentType="application/pdf" OPFAttachmentURL={quoteattr(attachment)}/>'
            "</OPFMessageCopyAttachmentList>"
        )
        if attachment
        else ""
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><emails><email>'
        f"<OPFMessageCopySubject>{escape(f'olm message {n} & more')}</OPFMessageCopySubject>"
        '<OPFMessageCopyFromAddresses><emailAddress OPFContactEmailAddressAddress="jiro@example.org" '
        'OPFContactEmailAddressName="Jiro"/></OPFMessageCopyFromAddresses>'
        f'<OPFMessageCopyToAddresses><emailAddress OPFContactEmailAddressAddress="{OWNER}"/></OPFMessageCopyToAddresses>'
        f"<OPFMessageCopySentTime>2012-06-11T00:{n % 60:02d}:00</OPFMessageCopySentTime>"
        f"<OPFMessageCopyReceivedTime>2012-06-11T00:{n % 60:02d}:30</OPFMessageCopyReceivedTime>"
        f"<OPFMessageCopyMessageID>{n}.olm@example.org</OPFMessageCopyMessageID>"
        f"<OPFMessageCopyBody>{escape(body or f'Body of message {n}.')}</OPFMessageCopyBody>"
        f"<OPFMessageCopyHTMLBody>{escape(f'<p>Body of message {n}.</p>')}</OPFMessageCopyHTMLBody>"
        f"<OPFMessageGetIsRead>{'1E0' if read else '0'}</OPFMessageGetIsRead>"
        f"<OPFMessageCopyGetFlagStatus>{1 if flagged else 0}</OPFMessageCopyGetFlagStatus>"
        f"{files}</email></emails>"
    )


def build_olm(path: Path, entries: dict[str, str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _read(path: Path) -> tuple[list[Copy], list[Problem]]:
    found = list(OlmPlugin().read(str(path), ReadContext()))
    return [f for f in found if isinstance(f, Copy)], [f for f in found if isinstance(f, Problem)]


class TestOutlookMacContract(SourcePluginContract):
    def make_plugin(self):
        return OlmPlugin()

    def build_store(self, root: Path) -> Sample:
        entries = {f"{ACCOUNT}/Inbox/message_{n:05d}.xml": item(n) for n in range(6)}
        return Sample(str(build_olm(root / "archive.olm", entries)), 6)

    def build_damaged(self, root: Path) -> str:
        entries = {f"{ACCOUNT}/Inbox/message_{n:05d}.xml": item(n) for n in range(3)}
        entries[f"{ACCOUNT}/Inbox/message_00009.xml"] = "<emails><email><OPFMessageCopySubject>cut"
        return str(build_olm(root / "archive.olm", entries))

    def build_large(self, root: Path, nbytes: int) -> str:
        body = "".join(f"line {i} of a long message body with words in it\n" for i in range(800))
        n = nbytes // 40_000 + 1
        return str(
            build_olm(
                root / "archive.olm",
                {f"{ACCOUNT}/Inbox/message_{i:05d}.xml": item(i, body=body) for i in range(n)},
            )
        )

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "archive.olm").write_bytes(data)
        return str(root / "archive.olm")


def test_folders_flags_dates_attachments_and_skipped_items(tmp_path):
    pdf = b"%PDF-1.4 quote\n"
    path = build_olm(
        tmp_path / "src" / "Outlook for Mac Archive.olm",
        {
            f"{ACCOUNT}/Inbox/message_00000.xml": item(1, read=False),
            f"{ACCOUNT}/Inbox/Clients/message_00000.xml": item(
                2, flagged=True, attachment="com.microsoft.__Attachments/a1"
            ),
            "com.microsoft.__Attachments/a1": pdf,
            f"{ACCOUNT}/Sent Items/message_00000.xml": item(3),
            f"{ACCOUNT}/Deleted Items/message_00000.xml": item(4),
            f"Accounts/{OWNER}/com.microsoft.__Contacts/Contacts/contact_00000.xml": "<contacts/>",
            f"Accounts/{OWNER}/com.microsoft.__Contacts/Contacts/contact_00001.xml": "<contacts/>",
            f"Accounts/{OWNER}/com.microsoft.__Calendar/Calendar/event_00000.xml": "<appointments/>",
        },
    )
    before = snapshot(path.parent)
    copies, problems = _read(path)
    assert [(p.kind, p.reason) for p in problems] == [
        (ProblemKind.SKIPPED, "1 calendar items, 2 contacts not read: mail only")
    ]
    got = {
        c.raw.split(b"Message-ID: <", 1)[1].split(b">", 1)[0].decode(): (c.folder, c.flags) for c in copies
    }
    assert got == {
        "1.olm@example.org": ("INBOX", frozenset()),
        "2.olm@example.org": ("INBOX/Clients", {Flag.SEEN, Flag.FLAGGED}),
        "3.olm@example.org": ("Sent", {Flag.SEEN}),
        "4.olm@example.org": ("Trash", {Flag.SEEN, Flag.DELETED}),
    }
    for c in copies:
        assert c.reconstructed and c.account_hints == (OWNER,)
        assert c.internal_date is not None and c.internal_date.tzinfo is not None
    second = next(c for c in copies if b"2.olm@" in c.raw)
    assert second.internal_date == datetime(2012, 6, 11, 0, 2, 30, tzinfo=UTC)
    msg = email.message_from_bytes(second.raw, policy=email.policy.default)
    assert (
        msg["Subject"] == "olm message 2 & more" and msg["From"].addresses[0].addr_spec == "jiro@example.org"
    )
    assert msg["Date"].datetime == datetime(2012, 6, 11, 0, 2, tzinfo=UTC)
    (attached,) = list(msg.iter_attachments())
    assert attached.get_filename() == "見積書.pdf" and attached.get_content() == pdf
    assert copies[0].raw == _read(path)[0][0].raw  # the same rebuild every time: no new copies on a re-gather
    assert snapshot(path.parent) == before


def test_missing_attachment_is_reported_and_the_message_kept(tmp_path):
    path = build_olm(
        tmp_path / "a.olm", {f"{ACCOUNT}/Inbox/message_00000.xml": item(1, attachment="gone/a1")}
    )
    copies, problems = _read(path)
    assert len(copies) == 1
    assert [p.kind for p in problems] == [ProblemKind.DAMAGED]
    assert "見積書.pdf" in problems[0].reason and problems[0].position.endswith("message_00000.xml")


def test_gather_and_restore_through_the_command_line(tmp_path):
    path = build_olm(
        tmp_path / "src" / "archive.olm",
        {
            f"{ACCOUNT}/Inbox/message_00000.xml": item(1),
            f"{ACCOUNT}/Sent Items/message_00000.xml": item(2),
        },
    )
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(path.parent)]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = {mid: (folder, flags) for mid, (folder, flags, _raw) in restored_maildir(target).items()}
    assert restored == {"<1.olm@example.org>": ("", "S"), "<2.olm@example.org>": (".Sent", "S")}


def test_discover_finds_archives_in_documents(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    path = build_olm(
        home / "Documents" / "Outlook for Mac Archive.olm", {f"{ACCOUNT}/Inbox/message_00000.xml": item(1)}
    )
    build_olm(home / "Documents" / "photos.olm", {"a.txt": "not outlook"})
    assert [s.location for s in OlmPlugin().discover()] == [str(path)]
