"""Builders of realistic desktop-client stores for tests: Thunderbird profiles, Becky!
mailboxes, Windows (Live) Mail folders.  Each writes into a temporary folder and returns
what a test needs to check (paths, Message-IDs)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailrecover.model import Copy, Finding
from mailrecover.plugin import Plugin, ReadContext

from ..support.builders import snapshot

__all__ = [
    "OWNER",
    "OTHER",
    "message",
    "by_message_id",
    "message_id",
    "read_untouched",
    "restored_maildir",
    "ThunderbirdProfile",
    "build_thunderbird",
]

OWNER = "taro@example.co.jp"
OTHER = "hanako@example.net"


def message(
    n: int,
    subject: str = "",
    *,
    to: str = OWNER,
    sender: str = "jiro@example.org",
    delivered_to: str | None = OWNER,
    body: str = "",
    extra: str = "",
    nl: str = "\n",
    encoded_subject: str | None = None,
) -> bytes:
    """One plain-text message with a Message-ID ``<n.test@example.org>``."""
    subject = subject or f"test message {n}"
    lines = []
    if delivered_to:
        lines.append(f"Delivered-To: {delivered_to}")
        lines.append(
            f"Received: from mx.example.org (mx.example.org [192.0.2.{n % 250}]){nl}"
            f"\tby mail.example.co.jp (Postfix) with ESMTP id 4A{n:04d}{nl}"
            f"\tfor <{delivered_to}>; Mon, 11 Jun 2012 09:{n % 60:02d}:00 +0900 (JST)"
        )
    lines += [
        f"Message-ID: <{n}.test@example.org>",
        f"Date: Mon, 11 Jun 2012 09:{n % 60:02d}:00 +0900",
        f"From: Jiro <{sender}>",
        f"To: {to}",
        f"Subject: {encoded_subject or subject}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
    ]
    if extra:
        lines += extra.split("\n")
    text = body or f"Body of message {n}.\nSecond line.\n"
    head = nl.join(lines) + nl + nl
    return (head + text.replace("\n", nl)).encode("utf-8")


def _mozilla(status: int, status2: int = 0, nl: str = "\n") -> bytes:
    return (
        f"X-Mozilla-Status: {status:04x}{nl}X-Mozilla-Status2: {status2:08x}{nl}"
        f"X-Mozilla-Keys: {' ' * 80}{nl}"
    ).encode()


def _mbox(entries: list[tuple[int, int, bytes]], nl: str = "\n") -> bytes:
    """An mbox folder as Thunderbird writes it: 'From - ' lines, its own fields first."""
    out = []
    for status, status2, raw in entries:
        body = raw.replace(b"\nFrom ", b"\n>From ")
        out.append(f"From - Mon Jun 11 09:30:00 2012{nl}".encode() + _mozilla(status, status2, nl) + body)
        if not body.endswith(nl.encode()):
            out.append(nl.encode())
        out.append(nl.encode())
    return b"".join(out)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@dataclass
class ThunderbirdProfile:
    root: Path  # the folder holding profiles.ini
    profile: Path
    expected: dict[str, set[str]] = field(default_factory=dict)  # folder -> Message-IDs


_PREFS = r"""// Mozilla User Preferences
user_pref("mail.account.account1.server", "server1");
user_pref("mail.account.account2.identities", "id1");
user_pref("mail.account.account2.server", "server2");
user_pref("mail.account.account3.identities", "id2");
user_pref("mail.account.account3.server", "server3");
user_pref("mail.account.account4.server", "server4");
user_pref("mail.accountmanager.accounts", "account2,account3,account1,account4");
user_pref("mail.identity.id1.fullName", "\u5c71\u7530\u592a\u90ce");
user_pref("mail.identity.id1.useremail", "taro@example.co.jp");
user_pref("mail.identity.id2.useremail", "Taro@Example.co.jp");
user_pref("mail.server.server1.directory", "C:\\Users\\taro\\AppData\\Roaming\\Thunderbird\\Profiles\\k3x9q2.default\\Mail\\Local Folders");
user_pref("mail.server.server1.directory-rel", "[ProfD]Mail/Local Folders");
user_pref("mail.server.server1.hostname", "Local Folders");
user_pref("mail.server.server1.storeContractID", "@mozilla.org/msgstore/STORE;1");
user_pref("mail.server.server1.type", "none");
user_pref("mail.server.server2.directory", "C:\\Users\\taro\\AppData\\Roaming\\Thunderbird\\Profiles\\k3x9q2.default\\Mail\\pop.example.co.jp");
user_pref("mail.server.server2.hostname", "pop.example.co.jp");
user_pref("mail.server.server2.type", "pop3");
user_pref("mail.server.server2.userName", "taro");
user_pref("mail.server.server3.directory-rel", "[ProfD]ImapMail/imap.example.co.jp");
user_pref("mail.server.server3.hostname", "imap.example.co.jp");
user_pref("mail.server.server3.type", "imap");
user_pref("mail.server.server3.userName", "taro@example.co.jp");
user_pref("mail.server.server4.directory-rel", "[ProfD]Mail/Feeds");
user_pref("mail.server.server4.type", "rss");
"""


def build_thunderbird(base: Path, *, maildir_local: bool = False) -> ThunderbirdProfile:
    """A Thunderbird root as copied off a Japanese Windows PC.

    ``Mail/Local Folders`` (Inbox, Inbox.sbd/Projects, Trash), ``Mail/pop.example.co.jp``
    (CRLF: Inbox with read, replied, expunged, partial and flagged mail, Sent, Drafts,
    Inbox.sbd/Projects), ``ImapMail/imap.example.co.jp`` (offline INBOX copy holding the
    whole of the partial POP message and one mail deleted on the server), and a feed
    account whose articles are not mail.
    """
    root = base / "Thunderbird"
    profile = root / "Profiles" / "k3x9q2.default"
    _write(
        root / "profiles.ini",
        (
            b"[Install4F96D1932A9F858E]\r\nDefault=Profiles/k3x9q2.default\r\nLocked=1\r\n\r\n"
            b"[Profile0]\r\nName=default\r\nIsRelative=1\r\nPath=Profiles/k3x9q2.default\r\nDefault=1\r\n\r\n"
            b"[General]\r\nStartWithLastProfile=1\r\nVersion=2\r\n"
        ),
    )
    store = "maildirstore" if maildir_local else "berkeleystore"
    _write(profile / "prefs.js", _PREFS.replace("STORE", store).encode())
    expected: dict[str, set[str]] = {}

    def expect(folder: str, *ns: int) -> None:
        expected.setdefault(folder, set()).update(f"<{n}.test@example.org>" for n in ns)

    crlf = "\r\n"
    pop = profile / "Mail" / "pop.example.co.jp"
    _write(
        pop / "Inbox",
        _mbox(
            [
                (0x0001, 0, message(1, nl=crlf)),
                (0x0003, 0, message(2, "Re: meeting", nl=crlf)),
                (0x0009, 0, message(3, "expunged but not compacted", nl=crlf)),
                (0x0401, 0, message(4, "cut short by POP", nl=crlf, body="First part only\n")),
                (
                    0x0004,
                    0,
                    message(
                        5,
                        nl=crlf,
                        body="From the desk of Jiro:\nhello\n",
                        encoded_subject="=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=",
                    ),
                ),
            ],
            crlf,
        ),
    )
    _write(pop / "Inbox.msf", b'// <!-- <mdb:mork:z v="1.4"/> -->\r\n')
    _write(pop / "Inbox.sbd" / "Projects", _mbox([(0x0001, 0, message(6, "project A", nl=crlf))], crlf))
    _write(pop / "Inbox.sbd" / "Projects.msf", b"")
    _write(
        pop / "Sent",
        _mbox(
            [
                (
                    0x0001,
                    0,
                    message(
                        7, "sent by taro", sender=OWNER, to="jiro@example.org", delivered_to=None, nl=crlf
                    ),
                )
            ],
            crlf,
        ),
    )
    draft = message(
        13,
        "unfinished",
        sender=OWNER,
        to="jiro@example.org",
        delivered_to=None,
        nl=crlf,
        extra="X-Mozilla-Draft-Info: internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0",
    )
    _write(pop / "Drafts", _mbox([(0x0000, 0, draft)], crlf))
    _write(pop / "popstate.dat", b"# POP3 State File\r\n*pop.example.co.jp taro\r\n")
    _write(pop / "msgFilterRules.dat", b'version="9"\r\nlogging="no"\r\n')
    expect("INBOX", 1, 2, 4, 5)
    expect("Recovered Deleted/INBOX", 3)
    expect("INBOX/Projects", 6)
    expect("Sent", 7)
    expect("Drafts", 13)

    local = profile / "Mail" / "Local Folders"
    local_entries = {
        "Inbox": [(0x0001, 0, message(1)), (0x0000, 0, message(8, "only in Local Folders"))],
        "Inbox.sbd/Projects": [(0x0005, 0, message(9, "project B"))],
        "Trash": [(0x0009, 0, message(10, "thrown away"))],
    }
    for name, entries in local_entries.items():
        if maildir_local:
            for i, (status, status2, raw) in enumerate(entries):
                separator = b"From - Mon Jun 11 09:30:00 2012\n" if i % 2 else b""  # some versions keep one
                _write(
                    local / name / "cur" / f"{1338000000 + i}.{i}",
                    separator + _mozilla(status, status2) + raw,
                )
            (local / name / "tmp").mkdir(parents=True, exist_ok=True)
        else:
            _write(local / name, _mbox(entries))
            _write(local / (name + ".msf"), b"")
    expect("INBOX", 8)
    expect("INBOX/Projects", 9)
    expect("Recovered Deleted/Trash", 10)

    imap = profile / "ImapMail" / "imap.example.co.jp"
    _write(
        imap / "INBOX",
        _mbox(
            [
                (
                    0x0001,
                    0,
                    message(4, "cut short by POP", body="First part only\nand the rest of it, whole.\n"),
                ),
                (0x0001, 0x00200000, message(11, "deleted on the server")),
                (0x0000, 0, message(12, "unquoted From line", body="From here on it is unquoted\n")),
            ]
        ).replace(b">From here", b"From here"),
    )
    _write(imap / "INBOX.msf", b"")
    expect("INBOX", 12)
    expect("Recovered Deleted/INBOX", 11)

    feeds = profile / "Mail" / "Feeds"
    _write(
        feeds / "News",
        (
            b"From - Mon Jun 11 09:30:00 2012\nX-Mozilla-Status: 0001\nMessage-ID: <feed-1@example.com>\n"
            b"Subject: an article\nFrom: blog@example.com\n\nnot mail\n"
        ),
    )
    _write(feeds / "News.msf", b"")
    return ThunderbirdProfile(root, profile, expected)


def read_untouched(plugin: Plugin, location: str | Path, folder: str = "INBOX") -> list[Finding]:
    """Everything ``plugin`` reads at ``location``, checking that the store did not change."""
    store = Path(location) if Path(location).is_dir() else Path(location).parent
    before = snapshot(store)
    found = list(plugin.read(str(location), ReadContext(folder=folder)))
    assert snapshot(store) == before, f"{plugin.name} changed {store}"
    return found


def message_id(raw: bytes) -> str:
    """The Message-ID field's value as written, or '' without one."""
    return next(
        (
            line.split(b":", 1)[1].strip().decode()
            for line in raw.splitlines()
            if line.lower().startswith(b"message-id:")
        ),
        "",
    )


def by_message_id(findings: Iterable[object]) -> dict[str, Copy]:
    """The copies among ``findings`` by Message-ID; each Message-ID must come once."""
    out: dict[str, Copy] = {}
    for c in findings:
        if isinstance(c, Copy):
            mid = message_id(c.raw)
            assert mid not in out, f"{mid} read twice"
            out[mid] = c
    return out


def restored_maildir(root: Path) -> dict[str, tuple[str, str, bytes]]:
    """Message-ID -> (Maildir++ folder directory, '' for INBOX; flag letters; bytes)."""
    found: dict[str, tuple[str, str, bytes]] = {}
    for cur in sorted(root.rglob("cur")):
        folder = "" if cur.parent == root else cur.parent.name
        for path in sorted(cur.iterdir()):
            raw = path.read_bytes()
            mid = message_id(raw) or path.name
            assert mid not in found, f"{mid} restored twice"
            found[mid] = (folder, path.name.rsplit(":2,", 1)[1], raw)
    return found


def emlx(raw: bytes, flags: int = 0, received: int = 1339372800) -> bytes:
    """An ``.emlx`` file: byte count line, message, property list."""
    import plistlib

    info = {"date-received": received, "flags": flags, "remote-id": "1"}
    return f"{len(raw):<10}\n".encode() + raw + plistlib.dumps(info)


def partial_message(n: int, attachment_name: str = "report.pdf") -> bytes:
    """A multipart message whose attachment body Apple Mail left out of the .partial.emlx."""
    return (
        f"Message-ID: <{n}.test@example.org>\nDate: Mon, 11 Jun 2012 09:00:00 +0900\n"
        f"From: Jiro <jiro@example.org>\nTo: {OWNER}\nSubject: with attachment {n}\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="Apple-Mail=_B1"\n\n'
        "--Apple-Mail=_B1\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"
        "See the attachment.\n\n"
        "--Apple-Mail=_B1\nContent-Type: application/pdf; name=x.pdf\nContent-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; filename={attachment_name}\nX-Apple-Content-Length: 4\n\n\n"
        "--Apple-Mail=_B1--\n"
    ).encode()


@dataclass
class AppleMail:
    library: Path  # ~/Library/Mail
    version: Path  # ~/Library/Mail/V10
    attachment: bytes  # what the partial message's attachment holds


def build_apple_mail(library: Path) -> AppleMail:
    """``Library/Mail/V10`` with an IMAP account (INBOX, Work/Projects, Deleted Messages)
    and local ``Mailboxes/Archive``: six messages, one of them partial with its attachment."""
    v10 = library / "Mail" / "V10"
    account = v10 / "2B9E6F1C-0000-4A4A-9B9B-ACCOUNT00001"
    data = "7D1F9E22-1111-4B4B-8C8C-STORE0000001/Data"
    attachment = bytes(range(256)) * 40 + b"%%EOF\r\n"
    boxes = {
        account / "INBOX.mbox" / data / "1" / "Messages": [
            ("101.emlx", emlx(message(101), flags=0x1)),
            ("102.emlx", emlx(message(102), flags=0x1 | 0x4 | 0x10)),
            ("103.partial.emlx", emlx(partial_message(103), flags=0x1)),
        ],
        account / "Work.mbox" / "Projects.mbox" / data / "Messages": [
            ("104.emlx", emlx(message(104), flags=0x1 | 0x100)),
        ],
        account / "Deleted Messages.mbox" / data / "Messages": [
            ("105.emlx", emlx(message(105), flags=0x1 | 0x2)),
        ],
        v10 / "Mailboxes" / "Archive.mbox" / data / "Messages": [
            ("106.emlx", emlx(message(106, sender=OWNER, delivered_to=None), flags=0x40)),
        ],
    }
    for directory, files in boxes.items():
        for name, content in files:
            _write(directory / name, content)
    _write(account / "INBOX.mbox" / data / "1" / "Attachments" / "103" / "2" / "report.pdf", attachment)
    _write(v10 / "MailData" / "Envelope Index", b"SQLite format 3\x00")
    return AppleMail(library / "Mail", v10, attachment)


def _bmf(entries: list[tuple[int | None, bytes]]) -> bytes:
    """A Becky! folder file: CRLF, each message dot-stuffed and ended by a '.' line."""
    out = []
    for status, raw in entries:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if status is not None:
            end = raw.index(b"\r\n\r\n") + 2
            raw = raw[:end] + f"X-Becky-Status: {status:x},0\r\n".encode() + raw[end:]
        lines = [b"." + line if line.startswith(b".") else line for line in raw.split(b"\r\n")]
        out.append(b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n.\r\n")
    return b"".join(out)


@dataclass
class Becky:
    root: Path  # the data folder (Documents\Becky)
    mailbox: Path  # taro's mailbox
    other: Path  # hanako's mailbox
    attachment: bytes  # the encoded part body kept in #Attach
    expected: dict[str, str] = field(default_factory=dict)  # Message-ID -> folder


def build_becky(base: Path, *, legacy_names: bool = True) -> Becky:
    """A Becky! data folder from Japanese Windows: Shift_JIS INI files, CRLF .bmf files.

    taro's mailbox ``4e4d186e.mb``: ``!!!!Inbox`` (two .bmf files, read / replied /
    unread mail, dot-stuffed lines, one mail whose attachment lives in ``#Attach``), its
    subfolder ``取引先`` (named in CP932 bytes on disk, as an old copy leaves it, unless
    ``legacy_names`` is false),
    ``!!!!Outbox`` (sent, forwarded), ``!Trash``, the user folder ``仕事`` with a
    Shift_JIS mail, an empty ``!!!!Unsent`` and ``#Templates`` holding no mail.
    hanako's mailbox ``5a6b7c8d.mb`` with one mail.
    """
    root = base / "Documents" / "Becky"
    taro = root / "4e4d186e.mb"
    hanako = root / "5a6b7c8d.mb"
    _write(root / "Folder.lst", "4e4d186e.mb\r\n5a6b7c8d.mb\r\n".encode("cp932"))
    _write(
        taro / "Mailbox.ini",
        (
            "[Account]\r\nName=山田太郎のメール\r\nYourName=山田 太郎\r\nMailAddress=Taro@Example.co.jp\r\n"
            "UserID=taro\r\nMailServer=pop.example.co.jp\r\nProtocol=0\r\n"
        ).encode("cp932"),
    )
    _write(
        hanako / "Mailbox.ini", "[Account]\r\nName=花子\r\nMailAddress=hanako@example.net\r\n".encode("cp932")
    )
    _write(
        taro / "Folder.lst",
        "!!!!Inbox\\\r\n!!!!Outbox\\\r\n!!!!Unsent\\\r\n!Trash\\\r\n仕事\\\r\n".encode("cp932"),
    )
    inbox = taro / "!!!!Inbox"
    _write(inbox / "Folder.ini", "[Settings]\r\nName=受信箱\r\n".encode("cp932"))
    _write(inbox / "Folder.idx", b"\x00\x01binary index")
    _write(
        inbox / "00000001.bmf",
        _bmf(
            [
                (0x1, message(201)),
                (0x5, message(202, "Re: schedule")),
                (0x0, message(203, body=".hidden line\n.\nlast line\n")),
            ]
        ),
    )
    attachment = b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\nZW5kc3RyZWFtCg==\r\n"
    with_attachment = message(204, "estimate", extra='Content-Type: multipart/mixed; boundary="b1"').replace(
        b"Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n", b""
    )
    with_attachment = with_attachment.split(b"\n\n")[0] + (
        b"\n\n--b1\nContent-Type: text/plain; charset=us-ascii\n\nPlease see the estimate.\n"
        b'--b1\nContent-Type: application/pdf; name="estimate.pdf"\nContent-Transfer-Encoding: base64\n\n'
        b"X-Becky-Include: 3f2a1b00.att\n--b1--\n"
    )
    _write(inbox / "00000002.bmf", _bmf([(0x1, with_attachment)]))
    _write(inbox / "#Attach" / "3f2a1b00.att", attachment)
    clients = inbox / "取引先"
    if legacy_names:
        clients = Path(os.fsdecode(bytes(inbox) + b"/" + "取引先".encode("cp932")))
    _write(clients / "00000001.bmf", _bmf([(0x1, message(205, "order"))]))
    _write(
        taro / "!!!!Outbox" / "00000001.bmf",
        _bmf(
            [
                (0x3, message(206, "sent mail", sender=OWNER, to="jiro@example.org", delivered_to=None)),
            ]
        ),
    )
    (taro / "!!!!Unsent").mkdir()
    _write(taro / "!Trash" / "00000001.bmf", _bmf([(0x1, message(207, "old"))]))
    sjis = (
        message(208, extra="")
        .replace(b"charset=us-ascii", b"charset=Shift_JIS")
        .replace(b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: 8bit")
    )
    sjis = sjis.split(b"\n\n")[0] + b"\n\n" + "会議は木曜日です。\n".encode("cp932")
    _write(taro / "仕事" / "00000001.bmf", _bmf([(0x1, sjis)]))
    _write(taro / "#Templates" / "00000001.bmf", _bmf([(None, message(299, "a template"))]))
    _write(hanako / "!!!!Inbox" / "00000001.bmf", _bmf([(0x1, message(209, to=OTHER, delivered_to=OTHER))]))
    expected = {
        f"<{n}.test@example.org>": folder
        for n, folder in [
            (201, "INBOX"),
            (202, "INBOX"),
            (203, "INBOX"),
            (204, "INBOX"),
            (205, "INBOX/取引先"),
            (206, "Sent"),
            (207, "Trash"),
            (208, "仕事"),
            (209, "INBOX"),
        ]
    }
    return Becky(root, taro, hanako, attachment, expected)


def _oeaccount(name: str, address: str) -> bytes:
    xml = (
        '<?xml version="1.0" encoding="utf-16"?>\r\n<MessageAccount>\r\n'
        f'\t<Account_Name type="SZ">{name}</Account_Name>\r\n'
        '\t<POP3_Server type="SZ">pop.example.co.jp</POP3_Server>\r\n'
        '\t<POP3_User_Name type="SZ">taro</POP3_User_Name>\r\n'
        '\t<SMTP_Display_Name type="SZ">山田太郎</SMTP_Display_Name>\r\n'
        f'\t<SMTP_Email_Address type="SZ">{address}</SMTP_Email_Address>\r\n</MessageAccount>\r\n'
    )
    return b"\xff\xfe" + xml.encode("utf-16-le")


@dataclass
class WindowsMail:
    live: Path  # …\Windows Live Mail
    vista: Path  # …\Windows Mail
    expected: dict[str, str] = field(default_factory=dict)  # Message-ID -> folder (Live Mail)


def build_windows_mail(local_appdata: Path) -> WindowsMail:
    """``Microsoft\\Windows Live Mail`` (an account folder with Inbox, Inbox\\Projects, Sent
    Items, Deleted Items; Storage Folders with Drafts and an empty Outbox; the ESE database and
    a Backup copy that must not be read) and ``Microsoft\\Windows Mail\\Local Folders`` (Vista,
    Japanese: the inbox is ``受信トレイ``)."""
    live = local_appdata / "Microsoft" / "Windows Live Mail"
    vista = local_appdata / "Microsoft" / "Windows Mail"
    crlf = "\r\n"
    _write(live / "Mail.MSMessageStore", b"\xef\xcd\xab\x89" + b"\x00" * 4092)
    _write(live / "edb.chk", b"\x00" * 64)
    account = live / "pop.example.co.jp (taro)"
    _write(
        account / "account{3F2A1B00-8C7D-4E5F-9A0B-1C2D3E4F5A6B}.oeaccount",
        _oeaccount("pop.example.co.jp (taro)", "taro@example.co.jp"),
    )
    files = {
        account / "Inbox" / "0A1B2C3D.eml": message(301, nl=crlf),
        account / "Inbox" / "0A1B2C3E.eml": message(302, nl=crlf),
        account / "Inbox" / "Projects" / "0A1B2C40.eml": message(303, nl=crlf),
        account / "Sent Items" / "0A1B2C41.eml": message(304, sender=OWNER, delivered_to=None, nl=crlf),
        account / "Deleted Items" / "0A1B2C42.eml": message(305, nl=crlf),
        live / "Storage Folders" / "Drafts" / "0A1B2C43.eml": message(
            306, sender=OWNER, delivered_to=None, nl=crlf
        ),
        live / "Backup" / "new" / "Inbox" / "0A1B2C3D.eml": message(301, nl=crlf),
        vista / "Local Folders" / "受信トレイ" / "{6B1C2D3E-0000-4A4A-9B9B-00000000A001}.eml": message(
            311, nl=crlf
        ),
        vista / "Local Folders" / "Sent Items" / "{6B1C2D3E-0000-4A4A-9B9B-00000000A002}.eml": message(
            312, sender=OWNER, delivered_to=None, nl=crlf
        ),
    }
    for path, raw in files.items():
        _write(path, raw)
    (live / "Storage Folders" / "Outbox").mkdir(parents=True)
    _write(vista / "Local Folders" / "account{0000}.oeaccount", _oeaccount("pop", "taro@example.co.jp"))
    _write(vista / "Mail.MSMessageStore", b"\x00" * 512)
    expected = {
        f"<{n}.test@example.org>": folder
        for n, folder in [
            (301, "INBOX"),
            (302, "INBOX"),
            (303, "INBOX/Projects"),
            (304, "Sent Items"),
            (305, "Deleted Items"),
            (306, "Drafts"),
        ]
    }
    return WindowsMail(live, vista, expected)
