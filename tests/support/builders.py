"""Writes realistic surviving mail stores of one account, and says what a restore must hold.

The scenario: taro@example.co.jp lost his server mailbox.  What survived:
- his Thunderbird ``Local Folders`` (CRLF mbox files, a ``.sbd`` subfolder, an index
  file, an empty Trash, a garbage file named like a folder, a cut-off last message, a
  message deleted but not compacted away);
- an older Maildir backup of the server mailbox, whose copies carry other transport headers;
- ``.eml`` files he saved (LF);
- an Outlook-style export of some of the same mail, re-encoded: ISO-2022-JP and Shift_JIS
  turned into UTF-8 base64, the Date rewritten in +0900, headers reordered.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ACCOUNT = "taro@example.co.jp"
JST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class Mail:
    """One distinct mail of the scenario, and where and how it must be restored."""

    name: str
    raw: bytes  # LF line endings, as the sender's server delivered it
    folder: str  # where the restore must put it
    flags: str  # Maildir flag letters the restore must give it
    message_id: str | None
    marker: str  # a string only this mail's body holds, to recognise it after restore


def _iso2022(text: str) -> bytes:
    return text.encode("iso2022_jp")


def _b_word(text: str, charset: str = "ISO-2022-JP") -> str:
    data = text.encode("iso2022_jp" if charset == "ISO-2022-JP" else charset)
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def _received(by: str, for_addr: str, when: str) -> bytes:
    return (
        f"Received: from mx.sender.example (mx.sender.example [192.0.2.7])\n"
        f"\tby {by} (Postfix) with ESMTP id 4A1B2C3D\n\tfor <{for_addr}>; {when}\n"
    ).encode()


def _mail(headers: list[tuple[str, str]], body: bytes, extra: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in headers).encode("ascii")
    return extra + head + b"\n" + body


def scenario_mails() -> list[Mail]:
    d = "Mon, 18 Jun 2012 10:{:02d}:00 +0000"
    mails: list[Mail] = []

    def add(name: str, raw: bytes, folder: str, flags: str, mid: str | None, marker: str) -> None:
        mails.append(Mail(name, raw, folder, flags, mid, marker))

    add(
        "plain",
        _mail(
            [
                ("From", "Hanako Yamada <hanako@example.com>"),
                ("To", ACCOUNT),
                ("Subject", "Meeting on Thursday"),
                ("Date", d.format(1)),
                ("Message-ID", "<m1.plain@example.com>"),
            ],
            b"Can we meet on Thursday at ten?\nmarker-plain\n",
        ),
        "INBOX",
        "S",
        "m1.plain@example.com",
        "marker-plain",
    )

    jp_subject = "会議の議事録について"
    add(
        "iso2022jp",
        _mail(
            [
                ("From", f"{_b_word('山田花子')} <hanako@example.com>"),
                ("To", ACCOUNT),
                ("Subject", _b_word(jp_subject)),
                ("Date", d.format(2)),
                ("Message-ID", "<m2.jis@example.com>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", 'text/plain; charset="ISO-2022-JP"'),
                ("Content-Transfer-Encoding", "7bit"),
            ],
            _iso2022("議事録を送ります。よろしくお願いします。\n") + b"marker-jis\n",
        ),
        "INBOX",
        "RS",
        "m2.jis@example.com",
        "marker-jis",
    )

    add(
        "sjis",
        _mail(
            [
                ("From", "suzuki@example.net"),
                ("To", ACCOUNT),
                ("Subject", _b_word("見積書の件", "Shift_JIS")),
                ("Date", d.format(3)),
                ("Message-ID", "<m3.sjis@example.net>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/plain; charset=Shift_JIS"),
                ("Content-Transfer-Encoding", "8bit"),
            ],
            "見積書を添付いたします。～①㈱\n".encode("cp932") + b"marker-sjis\n",
        ),
        "Projects",
        "S",
        "m3.sjis@example.net",
        "marker-sjis",
    )

    add(
        "no-id",
        _mail(
            [
                ("From", "printer@office.example.co.jp"),
                ("To", ACCOUNT),
                ("Subject", "Scan finished"),
                ("Date", d.format(4)),
            ],
            b"Your scan is ready.\nmarker-noid\n",
        ),
        "INBOX",
        "",
        None,
        "marker-noid",
    )

    add(
        "reused-a",
        _mail(
            [
                ("From", "news@shop.example"),
                ("To", ACCOUNT),
                ("Subject", "June offers"),
                ("Date", d.format(5)),
                ("Message-ID", "<same@shop.example>"),
            ],
            b"June: everything half price.\nmarker-reused-a\n",
        ),
        "INBOX",
        "S",
        "same@shop.example",
        "marker-reused-a",
    )

    add(
        "reused-b",
        _mail(
            [
                ("From", "news@shop.example"),
                ("To", ACCOUNT),
                ("Subject", "July offers"),
                ("Date", "Mon, 16 Jul 2012 10:05:00 +0000"),
                ("Message-ID", "<same@shop.example>"),
            ],
            b"July: free shipping.\nmarker-reused-b\n",
        ),
        "INBOX",
        "",
        "same@shop.example",
        "marker-reused-b",
    )

    add(
        "from-line",
        _mail(
            [
                ("From", "jiro@example.org"),
                ("To", ACCOUNT),
                ("Subject", "Quote"),
                ("Date", d.format(7)),
                ("Message-ID", "<m7.from@example.org>"),
            ],
            b"He wrote:\n\nFrom the start this was hard.\n>From quoted already\nmarker-fromline\n",
        ),
        "INBOX",
        "F",
        "m7.from@example.org",
        "marker-fromline",
    )

    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
    add(
        "attachment",
        _mail(
            [
                ("From", "suzuki@example.net"),
                ("To", ACCOUNT),
                ("Subject", "Drawings"),
                ("Date", d.format(8)),
                ("Message-ID", "<m8.att@example.net>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", 'multipart/mixed; boundary="b0undary"'),
            ],
            b"--b0undary\nContent-Type: text/plain; charset=us-ascii\n\nDrawings attached.\nmarker-att\n"
            b'--b0undary\nContent-Type: application/pdf; name="plan.pdf"\n'
            b'Content-Disposition: attachment; filename="plan.pdf"\nContent-Transfer-Encoding: base64\n\n'
            + base64.encodebytes(pdf)
            + b"--b0undary--\n",
        ),
        "Projects/2012",
        "S",
        "m8.att@example.net",
        "marker-att",
    )

    add(
        "sent",
        _mail(
            [
                ("From", f"Taro <{ACCOUNT}>"),
                ("To", "hanako@example.com"),
                ("Subject", "Re: Meeting"),
                ("Date", d.format(9)),
                ("Message-ID", "<m9.sent@example.co.jp>"),
                ("In-Reply-To", "<m1.plain@example.com>"),
            ],
            b"Thursday is fine.\nmarker-sent\n",
        ),
        "Sent",
        "S",
        "m9.sent@example.co.jp",
        "marker-sent",
    )

    add(
        "cut",
        _mail(
            [
                ("From", "hanako@example.com"),
                ("To", ACCOUNT),
                ("Subject", "Long report"),
                ("Date", d.format(10)),
                ("Message-ID", "<m10.cut@example.com>"),
            ],
            b"".join(b"line %d of the long report\n" % i for i in range(200)) + b"marker-cut\n",
        ),
        "INBOX",
        "S",
        "m10.cut@example.com",
        "marker-cut",
    )

    add(
        "deleted",
        _mail(
            [
                ("From", "spam-ish@example.biz"),
                ("To", ACCOUNT),
                ("Subject", "Old newsletter"),
                ("Date", d.format(11)),
                ("Message-ID", "<m11.del@example.biz>"),
            ],
            b"Unsubscribe anytime.\nmarker-deleted\n",
        ),
        "Recovered Deleted/INBOX",
        "S",
        "m11.del@example.biz",
        "marker-deleted",
    )
    return mails


def _delivered(m: Mail, by: str, when: str) -> bytes:
    """The copy the server stored: Return-Path, Delivered-To and a Received on top."""
    return (
        (f"Return-Path: <bounce@{by}>\nDelivered-To: {ACCOUNT}\n").encode()
        + _received(by, ACCOUNT, when)
        + m.raw
    )


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _mbox_entry(raw: bytes, status: int, crlf: bool = True) -> bytes:
    quoted = b"\n".join(
        b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in raw.split(b"\n")
    )
    head = b"From - Mon Jun 18 19:00:00 2012\nX-Mozilla-Status: %04x\nX-Mozilla-Status2: 00000000\n" % status
    entry = head + quoted
    entry = entry if entry.endswith(b"\n") else entry + b"\n"
    entry += b"\n"
    return _crlf(entry) if crlf else entry


def _outlook_style(m: Mail) -> bytes:
    """What an Outlook export of the mail looks like: decoded, re-encoded as UTF-8 base64."""
    import email
    import email.policy

    msg = email.message_from_bytes(m.raw, policy=email.policy.default)
    charset = msg.get_content_charset()
    payload = msg.get_payload(decode=True)
    text = payload.decode("cp932" if charset == "shift_jis" else charset)  # as Windows reads it
    date = email.utils.parsedate_to_datetime(msg["Date"]).astimezone(JST)
    subject = str(msg["Subject"])
    headers = [
        ("Message-ID", msg["Message-ID"]),
        ("Subject", f"=?utf-8?B?{base64.b64encode(subject.encode()).decode()}?="),
        ("Date", email.utils.format_datetime(date)),
        ("To", ACCOUNT),
        (
            "From",
            str(msg["From"]).encode("ascii", "ignore").decode()
            if msg["From"].isascii()
            else f"=?utf-8?B?{base64.b64encode(str(msg['From']).encode()).decode()}?=",
        ),
        ("Thread-Index", "AQHNTUY5k2lV8n2QWkqE"),
        ("X-MS-Has-Attach", ""),
        ("Content-Language", "ja-JP"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("ascii")
    return head + b"\r\n" + base64.encodebytes(text.replace("\n", "\r\n").encode()).replace(b"\n", b"\r\n")


@dataclass
class Scenario:
    root: Path
    mails: list[Mail]
    locations: list[Path] = field(default_factory=list)
    garbage: Path | None = None

    def by_name(self, name: str) -> Mail:
        return next(m for m in self.mails if m.name == name)


def build_scenario(root: Path, damaged: bool = True) -> Scenario:
    """The stores on disk; ``damaged=False`` leaves out the garbage file and the cut-off copy."""
    mails = {m.name: m for m in scenario_mails()}
    s = Scenario(root, list(mails.values()))

    # 1. Thunderbird Local Folders: CRLF mbox files, X-Mozilla-Status state.
    tb = root / "old-pc" / "Thunderbird" / "Local Folders"
    (tb / "Projects.sbd").mkdir(parents=True)
    cut_copy = _mbox_entry(mails["cut"].raw, 0x0001)
    cut_copy = cut_copy[: len(cut_copy) // 2 - 7]  # the disk copy stopped mid-line
    (tb / "Inbox").write_bytes(
        _mbox_entry(mails["plain"].raw, 0x0001)
        + _mbox_entry(mails["iso2022jp"].raw, 0x0003)
        + _mbox_entry(mails["from-line"].raw, 0x0004)
        + _mbox_entry(mails["no-id"].raw, 0x0000)
        + _mbox_entry(mails["deleted"].raw, 0x0009)
        + (cut_copy if damaged else b"")
    )
    (tb / "Inbox.msf").write_bytes(b'// <!-- <mdb:mork:z v="1.4"/> -->\n< <(a=c)> >\n')
    (tb / "Projects").write_bytes(_mbox_entry(mails["sjis"].raw, 0x0001))
    (tb / "Projects.sbd" / "2012").write_bytes(_mbox_entry(mails["attachment"].raw, 0x0001))
    (tb / "Sent").write_bytes(_mbox_entry(mails["sent"].raw, 0x0001))
    (tb / "Trash").write_bytes(b"")
    if damaged:
        s.garbage = tb / "Junk"
        s.garbage.write_bytes(hashlib.sha512(b"garbage").digest() * 64 + b"\x00\x01\x02")
    s.locations.append(tb)

    # 2. An older Maildir backup of the server mailbox.
    md = root / "backup" / "Maildir"
    for folder in (md, md / ".Projects"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
    when = "Mon, 18 Jun 2012 10:30:00 +0000"

    def put(folder: Path, sub: str, name: str, data: bytes) -> None:
        path = folder / sub / name
        path.write_bytes(data)
        os.utime(path, (1340013600, 1340013600))

    put(md, "cur", "1340013601.M1P1.old:2,S", _delivered(mails["plain"], "mail1.example.co.jp", when))
    put(md, "cur", "1340013602.M2P1.old:2,S", _delivered(mails["iso2022jp"], "mail1.example.co.jp", when))
    put(md, "cur", "1340013605.M5P1.old:2,S", _delivered(mails["reused-a"], "mail1.example.co.jp", when))
    put(md, "new", "1340013610.M10P1.old", _delivered(mails["cut"], "mail1.example.co.jp", when))
    put(
        md / ".Projects",
        "cur",
        "1340013603.M3P1.old:2,S",
        _delivered(mails["sjis"], "mail1.example.co.jp", when),
    )
    s.locations.append(md)

    # 3. Messages saved as .eml files (LF), one of them the second mail reusing a Message-ID.
    saved = root / "Desktop" / "saved-mail"
    saved.mkdir(parents=True)
    (saved / "July offers.eml").write_bytes(mails["reused-b"].raw)
    (saved / "scan.eml").write_bytes(mails["no-id"].raw)
    (saved / "Drawings.eml").write_bytes(_crlf(mails["attachment"].raw))
    s.locations.append(saved)

    # 4. An Outlook-style export of Japanese mail, re-encoded.
    export = root / "outlook-export"
    export.mkdir()
    (export / "議事録.eml").write_bytes(_outlook_style(mails["iso2022jp"]))
    (export / "見積書.eml").write_bytes(_outlook_style(mails["sjis"]))
    s.locations.append(export)
    return s


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under ``root``: content checksum and mtime (ns)."""
    found: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            found[str(path.relative_to(root))] = (digest, st.st_mtime_ns)
    return found


# --- the 2012 situation: a backup of one customer's mailbox holding another's mail ------------

OTHER = "jiro@other-customer.example"
LIST = "ml@lists.example.co.jp"
HOSTILE_FOLDER = ".<img src=x onerror=alert(1)>"  # a Maildir++ folder name as a hostile server made it


@dataclass(frozen=True)
class Contaminated:
    root: Path  # the Maildir backup
    own: dict[str, str]  # marker -> folder (Maildir++ name) the restore must put it in
    foreign: dict[str, str]  # marker -> Message-ID of mail delivered only to other mailboxes
    shared_marker: str  # one mail delivered to both: restored from taro's copy


def _list_headers() -> list[tuple[str, str]]:
    return [
        ("List-Id", "Staff list <ml.lists.example.co.jp>"),
        ("List-Post", f"<mailto:{LIST}>"),
        ("X-BeenThere", LIST),
        ("Precedence", "list"),
    ]


def build_contaminated(root: Path) -> Contaminated:
    """taro's server Maildir as restored from a backup in which jiro's mail was mixed."""
    when = "Tue, 19 Jun 2012 09:00:00 +0000"
    own: dict[str, str] = {}
    foreign: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []

    def mail(
        marker: str,
        day: int,
        extra: list[tuple[str, str]],
        top: bytes = b"",
        subject: str = "",
        to: str = ACCOUNT,
    ) -> bytes:
        headers = [
            ("From", "sender@example.org"),
            ("To", to),
            ("Subject", subject or marker),
            ("Date", f"{day:02d} Jun 2012 08:00:00 +0000"),
            ("Message-ID", f"<{marker}@example.org>"),
            *extra,
        ]
        return top + _mail(headers, f"Body of {marker}.\n{marker}\n".encode())

    def keep(folder: str, marker: str, raw: bytes) -> None:
        own[marker] = folder
        files.append((folder, raw))

    def leak(marker: str, raw: bytes) -> None:
        foreign[marker] = f"{marker}@example.org"
        files.append(("INBOX", raw))

    mine = f"Delivered-To: {ACCOUNT}\n".encode() + _received("mx.example.co.jp", ACCOUNT, when)
    keep("INBOX", "marker-own-1", mail("marker-own-1", 1, [], mine))
    keep(
        HOSTILE_FOLDER,
        "marker-own-2",
        mail("marker-own-2", 2, [], mine, subject=_b_word('<b>bold</b> & "quoted" 議事録', "utf-8")),
    )
    keep(
        "INBOX",
        "marker-subaddress",
        mail("marker-subaddress", 3, [], b"Delivered-To: taro+shop@example.co.jp\n"),
    )
    keep(
        "INBOX",
        "marker-qmail",
        mail("marker-qmail", 4, [], b"Delivered-To: example.co.jp-taro@example.co.jp\n"),
    )
    keep(
        "INBOX",
        "marker-fetchmail",
        mail(
            "marker-fetchmail",
            5,
            [],
            b"Received: from pop.example.co.jp by localhost with POP3 (fetchmail-6.4)\n"
            b"\tfor <taro@localhost> (single-drop); Tue, 05 Jun 2012 09:00:00 +0900\n",
        ),
    )
    keep(".Sent", "marker-sent", mail("marker-sent", 6, [], to=OTHER))  # sent mail: no evidence
    # a list post: the hop into the list server names the list, the final delivery names taro
    keep(
        "INBOX",
        "marker-list-delivered",
        mail(
            "marker-list-delivered",
            7,
            _list_headers(),
            f"Delivered-To: {ACCOUNT}\n".encode() + _received("lists.example.co.jp", LIST, when),
            to=LIST,
        ),
    )
    # the same without Delivered-To (a POP client's copy): only the list is named; it stays
    keep(
        "INBOX",
        "marker-list-only",
        mail("marker-list-only", 8, _list_headers(), _received("lists.example.co.jp", LIST, when), to=LIST),
    )

    theirs = f"Delivered-To: {OTHER}\n".encode() + _received("mx.other-customer.example", OTHER, when)
    leak(
        "marker-foreign-1",
        mail(
            "marker-foreign-1",
            20,
            [],
            theirs,
            to=OTHER,
            subject=_b_word("<script>alert('pwned')</script> 見積", "utf-8"),
        ),
    )
    leak(
        "marker-foreign-2",
        mail(
            "marker-foreign-2",
            21,
            [],
            f"X-Original-To: sales@other-customer.example\nDelivered-To: {OTHER}\n".encode(),
            to=OTHER,
        ),
    )
    # its subject carries a terminal escape and a bidi override
    leak(
        "marker-foreign-exim",
        mail(
            "marker-foreign-exim",
            22,
            [],
            b"Envelope-To: hanako@third.example\n",
            to="hanako@third.example",
            subject=_b_word("\x1b[2J\u202eexim", "utf-8"),
        ),
    )
    # jiro's own list mail: its list is neutral, his Delivered-To is not
    leak(
        "marker-foreign-list",
        mail(
            "marker-foreign-list",
            23,
            _list_headers(),
            f"Delivered-To: {OTHER}\n".encode() + _received("lists.example.co.jp", LIST, when),
            to=LIST,
        ),
    )

    # one mail sent to both: jiro's copy (more Received fields, larger) and taro's
    shared = "marker-shared"
    both = mail(shared, 24, [("Cc", OTHER)])
    hop = _received("relay.example.net", "relay@example.net", when)
    files.append(("INBOX", theirs + hop + hop + both))
    files.append(("INBOX", f"Delivered-To: {ACCOUNT}\n".encode() + both))
    own[shared] = "INBOX"

    md = root / "backup-2012-06-20" / "Maildir"
    for i, (folder, raw) in enumerate(files):
        base = md if folder == "INBOX" else md / folder
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        day = int(raw.split(b"Body of marker-")[0].rsplit(b"Date: ", 1)[1][:2])
        raw = raw.replace(when.encode(), f"{day:02d} Jun 2012 08:00:30 +0000".encode())  # relayed that day
        stamp = int(datetime(2012, 6, day, 8, 1, tzinfo=UTC).timestamp())
        path = base / "cur" / f"{stamp}.M{i}P7.mx:2,S"  # named and timed as a delivery agent does
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))  # delivered on the day its Date says
    return Contaminated(md, own, foreign, shared)


# --- the 2012 restore at provider scale: many customers' areas, their mail mixed up --------


@dataclass(frozen=True)
class Provider:
    root: Path  # the restored tree: root/<area>/Maildir, one area per customer (and strangers)
    accounts: dict[str, tuple[str, ...]]  # the job: address -> aliases
    owners: dict[str, frozenset[str]]  # marker -> the accounts whose mailbox must hold it (empty: unassigned)
    accounts_file: Path  # the job's accounts as ``gather --by-owner --accounts`` reads them


def build_provider(root: Path, customers: int = 3, per_account: int = 4) -> Provider:
    """A botched restore of ``customers`` accounts (``user0@c0.example`` …): each area holds the
    customer's own mail, and mail of the others placed in it, in every form ownership is read."""
    accounts = {f"user{i}@c{i}.example": (f"user{i}@old-c{i}.example",) for i in range(customers)}
    names = list(accounts)
    when = "Tue, 19 Jun 2012 09:00:00 +0000"
    owners: dict[str, frozenset[str]] = {}
    areas: dict[str, list[bytes]] = {}

    def put(area: str, marker: str, head: bytes, owned: set[str], sender: str = "sender@example.org") -> None:
        headers = [
            ("From", sender),
            ("To", "someone@example.net"),
            ("Subject", marker),
            ("Date", f"{len(owners) % 28 + 1:02d} Jun 2012 08:00:00 +0000"),
            ("Message-ID", f"<{marker}@example.org>"),
        ]
        areas.setdefault(area, []).append(_mail(headers, f"Body of {marker}.\n{marker}\n".encode(), head))
        owners[marker] = frozenset(owned)

    def area(account: str) -> str:
        return account.partition("@")[0]

    for i, me in enumerate(names):
        other = names[(i + 1) % len(names)]
        for n in range(per_account):  # delivered to me, in my area
            put(area(me), f"own-{i}-{n}", f"Delivered-To: {me}\n".encode() + _received("mx", me, when), {me})
        # mine, placed in the next customer's area by the restore: each form of evidence
        put(area(other), f"misplaced-{i}-delivered", f"Delivered-To: {me}\n".encode(), {me})
        put(area(other), f"misplaced-{i}-xorig", f"X-Original-To: {me}\n".encode(), {me})
        put(area(other), f"misplaced-{i}-envelope", f"Envelope-To: {me}\n".encode(), {me})
        put(area(other), f"misplaced-{i}-received", _received("mx", me, when), {me})
        put(area(other), f"misplaced-{i}-alias", f"Delivered-To: {accounts[me][0]}\n".encode(), {me})
        put(area(other), f"misplaced-{i}-sent", b"", {me}, sender=me)  # my Sent mail: I wrote it
        # a list post delivered to me: the list's own address is no clue
        put(
            area(other),
            f"misplaced-{i}-list",
            f"Delivered-To: {me}\n".encode()
            + _received("lists", LIST, when)
            + f"List-Post: <mailto:{LIST}>\n".encode(),
            {me},
        )
        # one hop to two customers of the job: both customers' mail
        put(
            area(me),
            f"both-{i}",
            f"Received: from a by mx with ESMTP id 1\n\tfor <{me}>, <{other}>; {when}\n".encode(),
            {me, other},
        )
        # no evidence, someone else wrote it, in my area: mine (the area is the only hint)
        put(area(me), f"bare-{i}", b"", {me})
        # delivered to a customer outside the job: unassigned, whatever area it sits in
        put(area(me), f"stranger-{i}", f"Delivered-To: nobody{i}@not-in-job.example\n".encode(), set())
    put("lost+found", "orphan", b"", set())  # no evidence in no customer's area
    put("lost+found", "orphan-foreign", f"Delivered-To: {OTHER}\n".encode(), set())

    stamp = int(datetime(2012, 6, 20, tzinfo=UTC).timestamp())
    for name, mails in areas.items():
        cur = root / name / "Maildir" / "cur"
        cur.mkdir(parents=True)
        for sub in ("new", "tmp"):
            (cur.parent / sub).mkdir()
        for n, raw in enumerate(mails):
            path = cur / f"{stamp + n}.M{n}P1.mx:2,S"
            path.write_bytes(raw)
            os.utime(path, (stamp + n, stamp + n))
    listing = root.parent / f"{root.name}-accounts.txt"
    listing.write_text("# the job\n" + "".join(f"{a} {' '.join(al)}\n" for a, al in accounts.items()))
    return Provider(root, accounts, owners, listing)
