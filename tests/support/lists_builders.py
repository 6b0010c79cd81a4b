"""Writes what survives of two mailing lists after the list server is gone, and what must come back.

``dev@lists.example.org`` (Mailman 2.1):
- ``logs/subscribe.1.gz`` and ``logs/subscribe``: every change up to 31 March 2012, then nothing;
- the list archive (an mbox under ``archives/private/``) with one post;
- the owner's mailbox (a Maildir): April subscription and unsubscribe notices, a VERP bounce
  report, and one list post delivered to the owner, who is subscribed too;
- mail-log delivery lines: a May list post from ``dev-bounces@`` to each regular member
  (one bounces), an owner notice to ``dev-owner@``, and a post sent to the list.

``elena@fml.example.jp`` (fml4): ``config.ph``, ``members`` with ``##BYE`` and a
delivery-off line, ``actives``, ``members.bak`` with an older snapshot, and a ``log`` that
goes on after the member files were last written.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailrecover.model import Evidence
from mailrecover.workspace import Workspace
from mailrecover.workspace.store import save_evidence

MAILMAN_LIST = "dev@lists.example.org"
OWNER = "owner@example.org"
FML_LIST = "elena@fml.example.jp"

#: What ``members --format mailman2`` must print for each list, in order.
MAILMAN_MEMBERS = [
    "Alice Liddell <alice@example.com>",
    "bob@example.org",
    "Carol <carol@example.jp>",
    "dave.mixed@example.com",
    "Frank Zappa <frank@example.com>",
    "Grace Hopper <grace@example.com>",
    "owner@example.org",
]
MAILMAN_LEFT = {"bob@example.net", "erin@example.com", "heidi@example.com", "ivan@example.com"}
FML_MEMBERS = ["rokuro@example.jp", "saburo@example.jp", "shiro@example.jp", "taro@example.jp"]
FML_LEFT = {"goro@example.jp", "hanako@example.co.jp", "jiro@example.ne.jp", "taro@example.co.jp"}


def _stamp(path: Path, when: datetime) -> None:
    t = when.timestamp()
    os.utime(path, (t, t))


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


SUBSCRIBE_OLD = """\
Jan 10 09:00:00 2012 (2301) dev: new Alice Liddell <alice@example.com>, admin mass sub
Jan 10 09:00:01 2012 (2301) dev: new bob@example.net, admin mass sub
Jan 10 09:00:02 2012 (2301) dev: new owner@example.org, admin mass sub
Jan 10 09:00:03 2012 (2301) dev: new ivan@example.com, admin mass sub
Jan 11 12:30:00 2012 (2417) dev: pending carol@example.jp 192.0.2.10
Jan 11 12:31:10 2012 (2417) dev: new (digest) Carol <carol@example.jp>, via web confirmation
"""

SUBSCRIBE = """\
Feb 01 08:15:00 2012 (3120) dev: new Dave.Mixed@Example.COM, via web confirmation
Feb 02 10:00:00 2012 (3121) dev: new erin@example.com, via email confirmation
Feb 15 18:40:00 2012 (3300) dev: deleted erin@example.com; via the member options page
Mar 01 07:00:00 2012 (3410) dev: changed member address from bob@example.net to bob@example.org
Mar 10 11:00:00 2012 (3512) dev: new heidi@example.com, via web confirmation
Mar 20 04:00:00 2012 (3600) dev: ivan@example.com auto-unsubscribed [reason: BYBOUNCE]
Mar 31 23:59:00 2012 (3700) other: new someone@example.com, admin mass sub
"""


ARCHIVED_POST = (
    b"From: Grace Hopper <grace@example.com>\nTo: dev@lists.example.org\nSubject: [Dev] compiler news\n"
    b"Date: Thu, 10 May 2012 09:00:00 +0000\nMessage-ID: <post-1@example.com>\n"
    b"List-Id: Developers <dev.lists.example.org>\nX-BeenThere: dev@lists.example.org\n\nnews\n"
)


def _mail(headers: list[tuple[str, str]], body: str) -> bytes:
    return ("".join(f"{k}: {v}\n" for k, v in headers) + "\n" + body).encode("utf-8")


def owner_mails() -> dict[str, bytes]:
    """What the owner's mailbox kept, by file name."""
    host = "lists.example.org"
    return {
        "1334912400.1.mx:2,S": _mail(
            [
                ("Return-Path", f"<dev-bounces@{host}>"),
                ("Delivered-To", OWNER),
                ("From", f"dev-bounces@{host}"),
                ("To", f"dev-owner@{host}"),
                ("Subject", "dev subscription notification"),
                ("Date", "Fri, 20 Apr 2012 09:00:00 +0000"),
                ("Message-ID", "<notice-1@lists.example.org>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/plain; charset=us-ascii"),
                ("X-List-Administrivia", "yes"),
            ],
            "Frank Zappa <frank@example.com> has been successfully subscribed to dev.\n",
        ),
        "1335344400.2.mx:2,S": _mail(
            [
                ("Delivered-To", OWNER),
                ("From", f"dev-bounces@{host}"),
                ("To", f"dev-owner@{host}"),
                ("Subject", "dev unsubscribe notification"),
                ("Date", "Wed, 25 Apr 2012 09:00:00 +0000"),
                ("Message-ID", "<notice-2@lists.example.org>"),
                ("Content-Type", "text/plain; charset=us-ascii"),
            ],
            "heidi@example.com has been removed from dev.\n",
        ),
        "1336640400.3.mx:2,S": _mail(
            [
                ("Delivered-To", OWNER),
                ("From", "Mail Delivery System <MAILER-DAEMON@mx.example.com>"),
                ("To", f"dev-bounces+frank=example.com@{host}"),
                ("Subject", "Undelivered Mail Returned to Sender"),
                ("Date", "Thu, 10 May 2012 09:05:00 +0000"),
                ("Message-ID", "<dsn-1@mx.example.com>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="B"'),
            ],
            "--B\nContent-Type: text/plain\n\nI could not deliver it.\n\n"
            "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
            "Final-Recipient: rfc822; frank@example.com\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n--B--\n",
        ),
        "1336640600.4.mx:2,S": _mail(
            [
                ("Return-Path", f"<dev-bounces@{host}>"),
                ("Delivered-To", OWNER),
                ("From", "Grace Hopper <grace@example.com>"),
                ("To", f"dev@{host}"),
                ("Subject", "[Dev] compiler news"),
                ("Date", "Thu, 10 May 2012 09:00:00 +0000"),
                ("Message-ID", "<post-1@example.com>"),
                ("List-Id", f"Developers <dev.{host}>"),
                ("List-Post", f"<mailto:dev@{host}>"),
                ("X-BeenThere", f"dev@{host}"),
                ("Sender", f"dev-bounces@{host}"),
            ],
            "news\n",
        ),
    }


@dataclass(frozen=True)
class Delivery:
    when: datetime
    queue_id: str
    message_id: str
    sender: str
    recipient: str
    status: str
    orig_to: str = ""


def deliveries() -> list[Delivery]:
    bounces = "dev-bounces@lists.example.org"
    post = [
        ("alice@example.com", "sent"),
        ("bob@example.org", "sent"),
        ("Dave.Mixed@example.com", "sent"),
        ("frank@example.com", "bounced"),
        ("grace@example.com", "sent"),
        ("owner@example.org", "sent"),
    ]
    out = [
        Delivery(_utc(2012, 5, 10, 9, 0, 5), "4A1", "<post-1@example.com>", bounces, r, s) for r, s in post
    ]
    out += [
        Delivery(
            _utc(2012, 4, 20, 9, 0, 1),
            "4A0",
            "<notice-1@lists.example.org>",
            bounces,
            r,
            "sent",
            orig_to="dev-owner@lists.example.org",
        )
        for r in ("owner@example.org", "deputy@example.org")
    ]
    out.append(
        Delivery(
            _utc(2012, 5, 10, 9, 0, 2),
            "3F9",
            "<post-1@example.com>",
            "grace@example.com",
            "dev@lists.example.org",
            "sent",
        )
    )
    return out


def store_deliveries(ws: Workspace, items: list[Delivery], source: str = "/var/log/mail.log") -> None:
    """Delivery evidence as the mail-log plugins store it (kind ``delivery``)."""
    loc = ws.location(source, "postfix-test")
    for n, d in enumerate(items, 1):
        fields = {
            "message_id": d.message_id,
            "sender": d.sender,
            "recipient": d.recipient,
            "status": d.status,
            "queue_id": d.queue_id,
            "relay": "mx",
            "size": "1200",
            "dsn": "2.0.0" if d.status == "sent" else "5.1.1",
        }
        if d.orig_to:
            fields["orig_to"] = d.orig_to
        save_evidence(ws.db, loc, "", "", Evidence("delivery", source, str(n), d.when, fields))


def build_mailman(root: Path) -> tuple[Path, Path]:
    """(Mailman var dir, owner's Maildir)."""
    var = root / "mailman"
    (var / "logs").mkdir(parents=True)
    with gzip.open(var / "logs" / "subscribe.1.gz", "wb") as f:
        f.write(SUBSCRIBE_OLD.encode())
    (var / "logs" / "subscribe").write_text(SUBSCRIBE)
    archive = var / "archives" / "private" / "dev.mbox"
    archive.mkdir(parents=True)
    (archive / "dev.mbox").write_bytes(b"From grace@example.com  Thu May 10 09:00:00 2012\n" + ARCHIVED_POST)
    _stamp(var / "logs" / "subscribe", _utc(2012, 3, 31, 23, 59))
    maildir = root / "owner" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for name, raw in owner_mails().items():
        (maildir / "cur" / name).write_bytes(raw)
    return var, maildir


FML_HEADER = """#.FML HEADER
# NEW FORMAT FOR FURTHER EXTENSION
# e.g. fukachan@phys r=relayserver m=3u s=skip
#.endFML HEADER
"""


def build_fml(root: Path) -> Path:
    d = root / "spool" / "ml" / "elena"
    d.mkdir(parents=True)
    (d / "config.ph").write_text('$DOMAINNAME = "fml.example.jp";\n$MAIL_LIST = "elena\\@$DOMAINNAME";\n')
    (d / "members").write_text(
        FML_HEADER + "taro@example.co.jp \n##BYE hanako@example.co.jp \njiro@example.ne.jp m=3u \n"
        "#\tsaburo@example.jp \nshiro@example.jp\ts=skip \n# a comment, not an address\n"
    )
    (d / "actives").write_text(
        FML_HEADER + "taro@example.co.jp \njiro@example.ne.jp m=3u \n#\tsaburo@example.jp \n"
    )
    (d / "members.bak").write_text(
        "----- Backup on 12/02/01 10:00:00 -----\n"
        "taro@example.co.jp \nhanako@example.co.jp \ngoro@example.jp \n"
        "----- Backup on 12/03/01 10:00:00 -----\ntaro@example.co.jp \nhanako@example.co.jp \n"
        "jiro@example.ne.jp  m=3u \nsaburo@example.jp \nshiro@example.jp s=skip \n"
    )
    (d / "log").write_text(
        "12/01/05 10:00:00 Added: goro@example.jp\n"
        "12/03/01 10:00:00 BYE [hanako@example.co.jp]  accepted\n"
        "12/04/10 09:00:00 Added: rokuro@example.jp\n"
        "12/04/12 09:00:00 BYE [jiro@example.ne.jp]  accepted\n"
        "12/04/15 09:00:00 CHADDR: Try change address: taro@example.co.jp -> taro@example.jp\n"
        "12/04/15 09:00:00 CHADDR [taro@example.co.jp]  accepted\n"
    )
    for name in ("members", "actives", "config.ph"):
        _stamp(d / name, _utc(2012, 3, 2))
    _stamp(d / "members.bak", _utc(2012, 3, 1, 10))
    _stamp(d / "log", _utc(2012, 4, 15, 9))
    return d


class Py2Str:
    """A Python 2 byte string in a pickle (SHORT_BINSTRING), as Mailman 2 wrote them."""

    def __init__(self, text: str) -> None:
        self.text = text


class BounceRecord:
    """Pickled as Mailman 2 pickled its old-style ``_BounceInfo`` instances (INST + BUILD)."""

    def __init__(self, **state: Any) -> None:
        self.state = state


class _Mailman2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, Py2Str):
            data = obj.text.encode("latin-1")
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        elif isinstance(obj, BounceRecord):
            self.write(pickle.MARK + pickle.INST + b"Mailman.Bouncer\n_BounceInfo\n")
            self.save({Py2Str(k): v for k, v in obj.state.items()})
            self.write(pickle.BUILD)
        else:
            super().save(obj, save_persistent_id)


def mailman2_pickle(config: dict[Any, Any]) -> bytes:
    import io

    out = io.BytesIO()
    _Mailman2Pickler(out, protocol=1).dump(config)
    return out.getvalue()


def s(text: str) -> Py2Str:
    return Py2Str(text)
