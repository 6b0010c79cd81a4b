"""A deterministic corpus of surviving mail for speed and memory runs.

One account lost its server mailbox; what survived, with copies of the same mail in
several places:
- a Thunderbird ``Local Folders`` tree: CRLF mbox files with ``X-Mozilla-Status``,
  ``.sbd`` subfolders, ``>From`` quoting;
- a Maildir++ backup of the server mailbox, whose copies carry the server's transport
  headers (Return-Path, Delivered-To, Received) and flags in their names;
- ``.eml`` exports (LF), some re-encoded the way Outlook saves them (UTF-8 base64, the
  Date rewritten in +0900, headers reordered).

Mail is plain ASCII, ISO-2022-JP, Shift_JIS or UTF-8 (8bit, base64, quoted-printable),
some multipart with attachments whose sizes have a long tail, some without Message-ID,
a few Message-IDs reused by different mails.  ``expected.tsv`` says which distinct mails
a restore must hold, in which folder and with which Maildir flags; each mail carries an
``X-Bench-Id`` header so a restored file can be told apart without parsing it.

``python3 -m benchmarks.corpus --copies 10000 --out benchmarks/data/10k``
"""

from __future__ import annotations

import argparse
import base64
import os
import quopri
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from mailrecover.rfc822 import decode_text

__all__ = ["ACCOUNT", "generate", "main"]

ACCOUNT = "taro@example.co.jp"
JST = timezone(timedelta(hours=9))
SEED = 20120620

#: (folder, its mbox file below Local Folders, its Maildir++ directory, share of mail)
FOLDERS = [
    ("INBOX", "Inbox", "", 0.50),
    ("Sent", "Sent", ".Sent", 0.10),
    ("Projects", "Projects", ".Projects", 0.08),
    ("Projects/2012", "Projects.sbd/2012", ".Projects.2012", 0.10),
    ("Archives/2011", "Archives.sbd/2011", ".Archives.2011", 0.12),
    ("Lists/ml-users", "Lists.sbd/ml-users", ".Lists.ml-users", 0.10),
]

_JA = [
    "お世話になっております。",
    "会議の議事録を送ります。",
    "よろしくお願いいたします。",
    "見積書を添付いたしました。",
    "来週の打ち合わせの件です。",
    "ご確認ください。",
    "サーバーの移行作業について",
    "本日の作業は完了しました。",
    "明日は休みをいただきます。",
    "資料を修正しました。～",
    "①②③の順で対応します。",
    "株式会社の担当者様",
]
_EN = [
    "Please find the minutes of the meeting below.",
    "Thanks for the quick reply.",
    "The server migration is planned for next week.",
    "Can you check the attached drawing?",
    "Let me know if anything is unclear.",
    "The backup finished without errors.",
    "We will send the invoice at the end of the month.",
    "See you on Thursday.",
]
_NAMES = ["hanako", "jiro", "suzuki", "sato", "tanaka", "ito", "kobayashi", "watanabe"]
_DOMAINS = ["example.com", "example.net", "example.org", "office.example.co.jp", "shop.example"]
_SUBJECTS_JA = [
    "会議の議事録について",
    "見積書の件",
    "打ち合わせ日程",
    "移行作業の報告",
    "請求書送付のお知らせ",
]
_SUBJECTS_EN = ["Meeting on Thursday", "Drawings", "Re: invoice", "Backup report", "Weekly update"]


@dataclass
class Mail:
    n: int
    folder: str
    raw: bytes  # LF, as the sender's server handed it over
    message_id: str | None
    text_only: bool
    in_mbox: bool
    in_maildir: bool
    in_eml: bool
    mbox_flags: set[str] = field(default_factory=set)  # S R F T
    maildir_flags: set[str] = field(default_factory=set)


def _b_word(text: str, charset: str) -> str:
    codec = {"ISO-2022-JP": "iso2022_jp", "Shift_JIS": "cp932", "UTF-8": "utf-8"}[charset]
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode()}?="


def _jis(text: str) -> bytes:
    """ISO-2022-JP as Windows writes it: CP932-only characters (①, ～) as their JIS pairs."""
    out = bytearray()
    kanji = False
    for ch in text:
        try:
            ch.encode("ascii")
            if kanji:
                out += b"\x1b(B"
                kanji = False
            out += ch.encode("ascii")
            continue
        except UnicodeEncodeError:
            pass
        s1, s2 = ch.encode("cp932")
        if s1 >= 0xE0:
            s1 -= 0x40
        j1 = (s1 - 0x81) * 2 + 0x21
        if s2 >= 0x9F:
            j1, j2 = j1 + 1, s2 - 0x7E
        else:
            j2 = s2 - 0x1F - (1 if s2 >= 0x80 else 0)
        if not kanji:
            out += b"\x1b$B"
            kanji = True
        out += bytes((j1, j2))
    if kanji:
        out += b"\x1b(B"
    return bytes(out)


def _lines(rng: random.Random, japanese: bool) -> list[str]:
    count = min(int(rng.lognormvariate(2.3, 0.8)) + 1, 400)  # median ~10 lines, long tail
    pool = _JA if japanese else _EN
    out = [rng.choice(pool) for _ in range(count)]
    if rng.random() < 0.03:
        out.insert(rng.randrange(len(out) + 1), "From the start this was hard.")
    return out


def _attachment(rng: random.Random) -> tuple[str, bytes]:
    size = min(int(rng.lognormvariate(9.0, 1.3)), 2_000_000)  # median ~8 KB, up to 2 MB
    kind = rng.choice(["pdf", "png", "xls", "zip"])
    return f"file{rng.randrange(1000)}.{kind}", rng.randbytes(size)


def _date(rng: random.Random) -> datetime:
    base = datetime(2010, 1, 1, tzinfo=UTC)
    when = base + timedelta(seconds=rng.randrange(3 * 365 * 86400))
    zone = rng.choice([JST, JST, JST, UTC, timezone(timedelta(hours=-5))])
    return when.astimezone(zone)


def _body(rng: random.Random, n: int) -> tuple[list[tuple[str, str]], bytes, bool]:
    """Content headers, body bytes and whether it is single-part text with MIME headers."""
    style = rng.random()
    japanese = style < 0.45
    lines = _lines(rng, japanese)
    lines.append(f"bench mail {n}")
    text = "\n".join(lines) + "\n"
    if style < 0.25:
        ctype, cte, data = 'text/plain; charset="ISO-2022-JP"', "7bit", _jis(text)
    elif style < 0.35:
        ctype, cte, data = "text/plain; charset=Shift_JIS", "8bit", text.encode("cp932")
    elif style < 0.45:
        ctype, cte, data = "text/plain; charset=utf-8", "base64", base64.encodebytes(text.encode())
    elif style < 0.55:
        ctype, cte = "text/plain; charset=utf-8", "quoted-printable"
        data = quopri.encodestring(text.replace("Thanks", "Thanks — ").encode())
    elif style < 0.62:
        ctype, cte, data = "text/plain; charset=utf-8", "8bit", text.replace("the", "thé").encode()
    else:
        ctype, cte, data = "text/plain; charset=us-ascii", "7bit", text.encode()
    headers = [("MIME-Version", "1.0"), ("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    if rng.random() >= 0.12:
        if rng.random() < 0.1:  # an old client: no MIME headers at all
            return [], _jis(text) if japanese else text.encode("ascii"), False
        return headers, data, True
    boundary = f"----=_Part_{n}_{rng.randrange(10**9)}"
    parts = [f"--{boundary}\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n\n".encode() + data]
    if rng.random() < 0.3:
        html = "<html><body><p>" + "</p><p>".join(lines) + "</p></body></html>\n"
        parts.append(
            f"--{boundary}\nContent-Type: text/html; charset=utf-8\n"
            f"Content-Transfer-Encoding: base64\n\n".encode()
            + base64.encodebytes(html.encode())
        )
    for _ in range(1 + (rng.random() < 0.2)):
        name, blob = _attachment(rng)
        parts.append(
            f'--{boundary}\nContent-Type: application/octet-stream; name="{name}"\n'
            f'Content-Disposition: attachment; filename="{name}"\n'
            f"Content-Transfer-Encoding: base64\n\n".encode()
            + base64.encodebytes(blob)
        )
    body = b"".join(parts) + f"--{boundary}--\n".encode()
    return [("MIME-Version", "1.0"), ("Content-Type", f'multipart/mixed; boundary="{boundary}"')], body, False


def _make_mail(rng: random.Random, n: int, reuse_id: str | None) -> Mail:
    folder = rng.choices([f[0] for f in FOLDERS], weights=[f[3] for f in FOLDERS])[0]
    sender = f"{rng.choice(_NAMES)}@{rng.choice(_DOMAINS)}"
    if folder == "Sent":
        sender, to = f"Taro <{ACCOUNT}>", f"{rng.choice(_NAMES)}@{rng.choice(_DOMAINS)}"
    else:
        to = ACCOUNT
    when = _date(rng)
    if rng.random() < 0.5:
        subject = _b_word(
            rng.choice(_SUBJECTS_JA) + f" {n}",
            rng.choice(["ISO-2022-JP", "ISO-2022-JP", "Shift_JIS", "UTF-8"]),
        )
    else:
        subject = f"{rng.choice(_SUBJECTS_EN)} {n}"
    message_id: str | None = reuse_id or f"{n}.{rng.randrange(10**12)}@{sender.rsplit('@', 1)[1].rstrip('>')}"
    if reuse_id is None and rng.random() < 0.05:
        message_id = None  # a printer, a cron job, an old client
    headers = [("From", sender), ("To", to), ("Subject", subject), ("Date", format_datetime(when))]
    if message_id:
        headers.append(("Message-ID", f"<{message_id}>"))
    headers.append(("X-Bench-Id", str(n)))
    if folder == "Lists/ml-users":
        headers += [("List-Id", "<ml-users.example.org>"), ("X-ML-Name", "ml-users")]
    content, body, text_only = _body(rng, n)
    head = "".join(f"{k}: {v}\n" for k, v in headers + content).encode("ascii")
    in_mbox = rng.random() < 0.75
    in_maildir = (not in_mbox) or rng.random() < 0.55
    mail = Mail(
        n, folder, head + b"\n" + body, message_id, text_only, in_mbox, in_maildir, in_eml=rng.random() < 0.08
    )
    r = rng.random()
    for flags in (mail.mbox_flags, mail.maildir_flags):
        if r < 0.85:
            flags.add("S")
        if rng.random() < 0.1:
            flags.add("R")
        if rng.random() < 0.05:
            flags.add("F")
    if in_mbox and not in_maildir and rng.random() < 0.02:
        mail.mbox_flags.add("T")  # deleted in Thunderbird, not yet compacted away
        mail.in_eml = False
    if not in_mbox:
        mail.mbox_flags = set()
    if not in_maildir:
        mail.maildir_flags = set()
    return mail


def _expected(mail: Mail) -> tuple[str, str]:
    """(Maildir++ folder name, flag letters) the restore must give the mail."""
    flags = mail.mbox_flags | mail.maildir_flags
    folder = mail.folder
    if "T" in flags and not (mail.in_maildir or mail.in_eml):
        folder = f"Recovered Deleted/{folder}"
    flags.discard("T")
    name = "INBOX" if folder == "INBOX" else folder.replace("/", ".")
    return name, "".join(sorted(flags))


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _mbox_entry(mail: Mail) -> bytes:
    status = sum(bit for letter, bit in (("S", 1), ("R", 2), ("F", 4), ("T", 8)) if letter in mail.mbox_flags)
    lines = mail.raw.split(b"\n")
    quoted = b"\n".join(b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in lines)
    head = b"From - Mon Jun 18 19:00:00 2012\nX-Mozilla-Status: %04x\nX-Mozilla-Status2: 00000000\n" % status
    entry = head + quoted
    if not entry.endswith(b"\n"):
        entry += b"\n"
    return _crlf(entry + b"\n")


def _delivered(mail: Mail, stamp: datetime) -> bytes:
    when = format_datetime(stamp)
    return (
        f"Return-Path: <bounce@mx.example.co.jp>\nDelivered-To: {ACCOUNT}\n"
        f"Received: from mx.sender.example (mx.sender.example [192.0.2.7])\n"
        f"\tby mail1.example.co.jp (Postfix) with ESMTP id {mail.n:08X}\n"
        f"\tfor <{ACCOUNT}>; {when}\n"
    ).encode() + mail.raw


def _outlook_style(mail: Mail) -> bytes | None:
    """The mail as Outlook exports it: UTF-8 base64, Date in +0900, headers reordered."""
    import email
    import email.policy

    msg = email.message_from_bytes(mail.raw, policy=email.policy.compat32)
    if msg.is_multipart() or msg.get_content_maintype() != "text":
        return None
    charset = (msg.get_content_charset() or "us-ascii").lower()
    payload = msg.get_payload(decode=True)
    text = decode_text(payload, charset)  # as Windows reads it, CP932 extensions and all
    from email.header import decode_header, make_header
    from email.utils import parsedate_to_datetime

    subject = str(make_header(decode_header(msg["Subject"])))
    date = parsedate_to_datetime(msg["Date"]).astimezone(JST)
    headers = [
        ("Subject", _b_word(subject, "UTF-8")),
        ("Date", format_datetime(date)),
        ("To", msg["To"]),
        ("From", msg["From"]),
        ("X-Bench-Id", msg["X-Bench-Id"]),
        ("Thread-Index", "AQHNTUY5k2lV8n2QWkqE"),
        ("Content-Language", "ja-JP"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "base64"),
    ]
    if msg["Message-ID"]:
        headers.insert(0, ("Message-ID", msg["Message-ID"]))
    head = "".join(f"{k}: {v}\n" for k, v in headers).encode("ascii")
    return head + b"\n" + base64.encodebytes(text.encode())


class _Writer:
    """Keeps the store files open while mail is spread over them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tb = root / "sources" / "thunderbird" / "Local Folders"
        self.md = root / "sources" / "backup" / "Maildir"
        self.eml = root / "sources" / "saved-mail"
        self.mbox: dict[str, object] = {}
        for _folder, mbox_rel, md_rel, _share in FOLDERS:
            path = self.tb / mbox_rel
            path.parent.mkdir(parents=True, exist_ok=True)
            self.mbox[mbox_rel] = open(path, "wb")  # noqa: SIM115 - closed in close()
            for sub in ("cur", "new", "tmp"):
                (self.md / md_rel / sub).mkdir(parents=True, exist_ok=True)
        (self.tb / "Inbox.msf").write_bytes(b'// <!-- <mdb:mork:z v="1.4"/> -->\n')
        (self.tb / "Trash").write_bytes(b"")
        self.eml.mkdir(parents=True, exist_ok=True)
        self.bytes = 0
        self.copies = 0

    def add(self, mail: Mail, rng: random.Random) -> None:
        folder = next(f for f in FOLDERS if f[0] == mail.folder)
        if mail.in_mbox:
            entry = _mbox_entry(mail)
            self.mbox[folder[1]].write(entry)  # type: ignore[attr-defined]
            self._count(len(entry))
        if mail.in_maildir:
            stamp = datetime(2012, 6, 18, tzinfo=UTC) - timedelta(seconds=mail.n)
            data = _delivered(mail, stamp)
            flags = "".join(sorted(mail.maildir_flags))
            sub = "cur" if flags or rng.random() < 0.7 else "new"
            name = f"{int(stamp.timestamp())}.M{mail.n}P1.backup" + (f":2,{flags}" if sub == "cur" else "")
            path = self.md / folder[2] / sub / name
            path.write_bytes(data)
            os.utime(path, (stamp.timestamp(), stamp.timestamp()))
            self._count(len(data))
        if mail.in_eml:
            data = (mail.text_only and rng.random() < 0.4 and _outlook_style(mail)) or mail.raw
            path = self.eml / f"{mail.n:07d}.eml"
            path.write_bytes(data)
            self._count(len(data))

    def _count(self, n: int) -> None:
        self.bytes += n
        self.copies += 1

    def close(self) -> None:
        for f in self.mbox.values():
            f.close()  # type: ignore[attr-defined]


def generate(out: Path, copies: int, seed: int = SEED) -> dict[str, int]:
    """Write about ``copies`` copies under ``out``; the same arguments give the same bytes."""
    if (out / "expected.tsv").exists():
        raise SystemExit(f"{out} already holds a corpus; remove it first")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    writer = _Writer(out)
    n = 0
    ids: list[str] = []
    with open(out / "expected.tsv", "w", encoding="utf-8") as expected:
        while writer.copies < copies:
            reuse = rng.choice(ids) if ids and rng.random() < 0.002 else None
            mail = _make_mail(rng, n, reuse)
            if mail.message_id and reuse is None and len(ids) < 1000:
                ids.append(mail.message_id)
            writer.add(mail, rng)
            folder, flags = _expected(mail)
            expected.write(f"{n}\t{folder}\t{flags}\n")
            n += 1
    writer.close()
    facts = {"distinct": n, "copies": writer.copies, "bytes": writer.bytes}
    (out / "corpus.txt").write_text("".join(f"{k}\t{v}\n" for k, v in facts.items()))
    return facts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--copies", type=int, required=True, help="how many copies to write in all")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    facts = generate(args.out, args.copies, args.seed)
    print(
        f"{facts['copies']:,} copies of {facts['distinct']:,} distinct mails, "
        f"{facts['bytes'] / 1e6:,.1f} MB under {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
