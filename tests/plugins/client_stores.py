"""Builders of realistic desktop-client stores for tests: Thunderbird profiles, Becky!
mailboxes, Windows (Live) Mail folders.  Each writes into a temporary folder and returns
what a test needs to check (paths, Message-IDs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "OWNER",
    "OTHER",
    "message",
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


_PREFS = r'''// Mozilla User Preferences
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
'''


def build_thunderbird(base: Path, *, maildir_local: bool = False) -> ThunderbirdProfile:
    """A Thunderbird root as copied off a Japanese Windows PC.

    ``Mail/Local Folders`` (Inbox, Inbox.sbd/Projects, Trash), ``Mail/pop.example.co.jp``
    (CRLF: Inbox with read, replied, expunged, partial and flagged mail, Sent,
    Inbox.sbd/Projects), ``ImapMail/imap.example.co.jp`` (offline INBOX copy holding the
    whole of the partial POP message and one mail deleted on the server), and a feed
    account whose articles are not mail.
    """
    root = base / "Thunderbird"
    profile = root / "Profiles" / "k3x9q2.default"
    _write(root / "profiles.ini", (
        "[Install4F96D1932A9F858E]\r\nDefault=Profiles/k3x9q2.default\r\nLocked=1\r\n\r\n"
        "[Profile0]\r\nName=default\r\nIsRelative=1\r\nPath=Profiles/k3x9q2.default\r\nDefault=1\r\n\r\n"
        "[General]\r\nStartWithLastProfile=1\r\nVersion=2\r\n"
    ).encode())  # fmt: skip
    store = "maildirstore" if maildir_local else "berkeleystore"
    _write(profile / "prefs.js", _PREFS.replace("STORE", store).encode())
    expected: dict[str, set[str]] = {}

    def expect(folder: str, *ns: int) -> None:
        expected.setdefault(folder, set()).update(f"<{n}.test@example.org>" for n in ns)

    crlf = "\r\n"
    pop = profile / "Mail" / "pop.example.co.jp"
    _write(pop / "Inbox", _mbox([
        (0x0001, 0, message(1, nl=crlf)),
        (0x0003, 0, message(2, "Re: meeting", nl=crlf)),
        (0x0009, 0, message(3, "expunged but not compacted", nl=crlf)),
        (0x0401, 0, message(4, "cut short by POP", nl=crlf, body="First part only\n")),
        (0x0004, 0, message(5, nl=crlf, body="From the desk of Jiro:\nhello\n",
                            encoded_subject="=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=")),
    ], crlf))  # fmt: skip
    _write(pop / "Inbox.msf", b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\r\n")
    _write(pop / "Inbox.sbd" / "Projects", _mbox([(0x0001, 0, message(6, "project A", nl=crlf))], crlf))
    _write(pop / "Inbox.sbd" / "Projects.msf", b"")
    _write(pop / "Sent", _mbox([(0x0001, 0, message(7, "sent by taro", sender=OWNER, to="jiro@example.org",
                                                    delivered_to=None, nl=crlf))], crlf))  # fmt: skip
    _write(pop / "popstate.dat", b"# POP3 State File\r\n*pop.example.co.jp taro\r\n")
    _write(pop / "msgFilterRules.dat", b'version="9"\r\nlogging="no"\r\n')
    expect("INBOX", 1, 2, 4, 5)
    expect("Recovered Deleted/INBOX", 3)
    expect("INBOX/Projects", 6)
    expect("Sent", 7)

    local = profile / "Mail" / "Local Folders"
    local_entries = {
        "Inbox": [(0x0001, 0, message(1)), (0x0000, 0, message(8, "only in Local Folders"))],
        "Inbox.sbd/Projects": [(0x0005, 0, message(9, "project B"))],
        "Trash": [(0x0009, 0, message(10, "thrown away"))],
    }
    for name, entries in local_entries.items():
        if maildir_local:
            for i, (status, status2, raw) in enumerate(entries):
                _write(local / name / "cur" / f"{1338000000 + i}.{i}", _mozilla(status, status2) + raw)
            (local / name / "tmp").mkdir(parents=True, exist_ok=True)
        else:
            _write(local / name, _mbox(entries))
            _write(local / (name + ".msf"), b"")
    expect("INBOX", 8)
    expect("INBOX/Projects", 9)
    expect("Recovered Deleted/Trash", 10)

    imap = profile / "ImapMail" / "imap.example.co.jp"
    _write(imap / "INBOX", _mbox([
        (0x0001, 0, message(4, "cut short by POP", body="First part only\nand the rest of it, whole.\n")),
        (0x0001, 0x00200000, message(11, "deleted on the server")),
        (0x0000, 0, message(12, "unquoted From line", body="From here on it is unquoted\n")),
    ]).replace(b">From here", b"From here"))  # fmt: skip
    _write(imap / "INBOX.msf", b"")
    expect("INBOX", 12)
    expect("Recovered Deleted/INBOX", 11)

    feeds = profile / "Mail" / "Feeds"
    _write(feeds / "News", b"From - Mon Jun 11 09:30:00 2012\nX-Mozilla-Status: 0001\nMessage-ID: <feed-1@example.com>\n"
                           b"Subject: an article\nFrom: blog@example.com\n\nnot mail\n")  # fmt: skip
    _write(feeds / "News.msf", b"")
    return ThunderbirdProfile(root, profile, expected)


def restored_maildir(root: Path) -> dict[str, tuple[str, str, bytes]]:
    """Message-ID -> (Maildir++ folder directory, '' for INBOX; flag letters; bytes)."""
    found: dict[str, tuple[str, str, bytes]] = {}
    for cur in sorted(root.rglob("cur")):
        folder = "" if cur.parent == root else cur.parent.name
        for path in sorted(cur.iterdir()):
            raw = path.read_bytes()
            mid = next((line.split(b":", 1)[1].strip().decode() for line in raw.splitlines()
                        if line.lower().startswith(b"message-id:")), path.name)  # fmt: skip
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
