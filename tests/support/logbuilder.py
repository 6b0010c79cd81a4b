"""Writes realistic rotated Postfix, Exim and Sendmail logs from a list of mails, with the
delivery evidence a correct reader must find in them (file and line included).

A ``Mail`` says what happened to one message; each writer renders it in its MTA's own
words, mixes in noise (connections, rejects, warnings) and garbage, sorts everything by
time so messages interleave, and cuts the stream into rotated files, older ones gzipped.
"""

from __future__ import annotations

import gzip
import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["Mail", "Outcome", "Written", "scenario", "write_log", "LOCAL"]

LOCAL = "taro@example.jp"


@dataclass
class Outcome:
    at: datetime
    recipient: str
    status: str  # sent, deferred, bounced
    local: bool = True
    orig_to: str = ""


@dataclass
class Mail:
    queue_id: dict[str, str]  # per MTA: postfix, exim, sendmail
    message_id: str
    sender: str
    size: int
    arrived: datetime
    outcomes: list[Outcome]
    removed: bool = True  # the log shows it leaving the queue
    expired: datetime | None = None  # Postfix gave up on waiting recipients then


@dataclass
class _Line:
    at: datetime
    text: str
    tag: tuple[int, int] | None = None  # (mail index, outcome index) of a delivery line


@dataclass
class Written:
    files: list[Path]  # oldest first
    expected: list[dict[str, str]]  # delivery fields plus time, source, position
    lines: int = 0
    where: dict[tuple[int, int], tuple[str, int]] = field(default_factory=dict)


def _t(day: int, hh: int, mm: int, ss: int = 0, month: int = 12, year: int = 2025) -> datetime:
    return datetime(year, month, day, hh, mm, ss)


def scenario() -> list[Mail]:
    """Mails over a New Year, interleaved, with retries, a reused id and a split message."""
    jan = dict(month=1, year=2026)
    return [
        Mail(
            {"postfix": "3F2A81C0A2", "exim": "1aB3cD-0001aB-Q1", "sendmail": "5BUA0aQx001001"},
            "m1@hanako.example.net",
            "hanako@example.net",
            2345,
            _t(30, 9, 0),
            [Outcome(_t(30, 9, 0, 2), LOCAL, "sent")],
        ),
        Mail(
            {"postfix": "4B7C22D0F1", "exim": "1aB3cE-0001aC-Q2", "sendmail": "5BUA0bQx001002"},
            "m2@lists.example.org",
            "news@lists.example.org",
            51234,
            _t(30, 9, 0, 1),
            [
                Outcome(_t(30, 9, 0, 3), LOCAL, "sent"),
                Outcome(_t(30, 9, 0, 4), "jiro@example.jp", "deferred"),
                Outcome(_t(30, 9, 30, 4), "jiro@example.jp", "deferred"),
                Outcome(_t(30, 10, 30, 4), "jiro@example.jp", "sent"),
            ],
        ),
        Mail(
            {"postfix": "5C8D33E1A2", "exim": "1aB3cF-0001aD-Q3", "sendmail": "5BUA0cQx001003"},
            "m3@spam.example.com",
            "bulk@spam.example.com",
            800,
            _t(30, 11, 0),
            [Outcome(_t(30, 11, 0, 1), "nobody@example.jp", "bounced")],
        ),
        Mail(
            {"postfix": "6D9E44F2B3", "exim": "1aB3cG-0001aE-Q4", "sendmail": "5BUA0dQx001004"},
            "m4@example.jp",
            LOCAL,
            4096,
            _t(31, 8, 15),
            [Outcome(_t(31, 8, 15, 2), "friend@remote.example", "sent", local=False)],
        ),
        # reused short Postfix id after "removed" (the other MTAs use distinct ids)
        Mail(
            {"postfix": "7E0F55A3C4", "exim": "1aB3cH-0001aF-Q5", "sendmail": "5BUA0eQx001005"},
            "m5@example.net",
            "alice@example.net",
            1500,
            _t(31, 12, 0),
            [Outcome(_t(31, 12, 0, 1), LOCAL, "sent")],
        ),
        Mail(
            {"postfix": "7E0F55A3C4", "exim": "1aB3cI-0001aG-Q6", "sendmail": "5BUA0fQx001006"},
            "m6@example.net",
            "bob@example.net",
            1600,
            _t(31, 12, 5),
            [Outcome(_t(31, 12, 5, 1), "jiro@example.jp", "sent")],
        ),
        # split across the rotation at midnight: arrives in one file, delivered in the next
        Mail(
            {"postfix": "8F1A66B4D5", "exim": "1aB3cJ-0001aH-Q7", "sendmail": "5BUA0gQx001007"},
            "m7@example.org",
            "carol@example.org",
            2222,
            _t(31, 23, 59, 58),
            [Outcome(_t(1, 0, 0, 3, **jan), LOCAL, "sent")],
        ),
        # alias: delivered to taro for info@
        Mail(
            {"postfix": "9A2B77C5E6", "exim": "1aB3cK-0001aI-Q8", "sendmail": "5BUA0hQx001008"},
            "m8@shop.example.com",
            "orders@shop.example.com",
            3333,
            _t(1, 10, 0, **jan),
            [Outcome(_t(1, 10, 0, 1, **jan), LOCAL, "sent", orig_to="info@example.jp")],
        ),
        # never delivered: deferred until Postfix expired it
        Mail(
            {"postfix": "AB3C88D6F7", "exim": "1aB3cL-0001aJ-Q9", "sendmail": "5BUA0iQx001009"},
            "m9@example.jp",
            LOCAL,
            900,
            _t(1, 11, 0, **jan),
            [Outcome(_t(1, 11, 0, 2, **jan), "away@down.example", "deferred", local=False)],
            removed=False,
            expired=_t(2, 11, 0, 5, **jan),
        ),
        Mail(
            {"postfix": "BC4D99E7A8", "exim": "1aB3cM-0001aK-R0", "sendmail": "5BUA0jQx001010"},
            "m10@example.net",
            "dave@example.net",
            7777,
            _t(2, 8, 0, **jan),
            [
                Outcome(_t(2, 8, 0, 1, **jan), LOCAL, "sent"),
                Outcome(_t(2, 8, 0, 1, **jan), "jiro@example.jp", "sent"),
            ],
        ),
    ]


def _syslog(at: datetime, program: str, text: str, rfc3339: bool) -> str:
    stamp = at.isoformat() + "+09:00" if rfc3339 else f"{at:%b} {at.day:2d} {at:%H:%M:%S}"
    return f"{stamp} mail {program}: {text}"


def _noise(rng: random.Random, at: datetime, mta: str, rfc3339: bool) -> list[_Line]:
    ip = f"203.0.113.{rng.randrange(1, 250)}"
    if mta == "exim":
        stamp = f"{at:%Y-%m-%d %H:%M:%S}"
        return [
            _Line(at, f"{stamp} SMTP connection from [{ip}]:{rng.randrange(1024, 65535)} lost"),
            _Line(
                at,
                f"{stamp} H=([{ip}]) [{ip}] F=<x@spam.example> rejected RCPT <a@example.jp>: relay not permitted",
            ),
        ]
    if mta == "sendmail":
        return [
            _Line(
                at,
                _syslog(
                    at,
                    "sm-mta[2001]",
                    f"{rng.randrange(10**9):014x}: ruleset=check_rcpt, arg1=<a@example.org>, relay=[{ip}], reject=550 5.7.1 <a@example.org>... Relaying denied",
                    rfc3339,
                ),
            ),
            _Line(
                at,
                _syslog(
                    at, "sm-mta[2001]", f"STARTTLS=server, relay=[{ip}], version=TLSv1.2, verify=NO", rfc3339
                ),
            ),
        ]
    return [
        _Line(at, _syslog(at, "postfix/smtpd[1001]", f"connect from unknown[{ip}]", rfc3339)),
        _Line(
            at,
            _syslog(
                at,
                "postfix/smtpd[1001]",
                f"NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <x@example.org>: Relay access denied; from=<s@spam.example> to=<x@example.org> proto=ESMTP helo=<spam>",
                rfc3339,
            ),
        ),
        _Line(
            at,
            _syslog(
                at,
                "postfix/smtpd[1001]",
                f"disconnect from unknown[{ip}] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4",
                rfc3339,
            ),
        ),
        _Line(
            at, _syslog(at, "dovecot", f"imap-login: Login: user=<{LOCAL}>, method=PLAIN, rip={ip}", rfc3339)
        ),
    ]


def _postfix(mails: list[Mail], rfc3339: bool) -> list[_Line]:
    out: list[_Line] = []
    for i, m in enumerate(mails):
        q = m.queue_id["postfix"]
        s = lambda at, prog, text, q=q: _syslog(at, prog, f"{q}: {text}", rfc3339)  # noqa: E731
        nrcpt = len({o.recipient for o in m.outcomes})
        if m.sender == LOCAL:
            out.append(
                _Line(
                    m.arrived,
                    s(
                        m.arrived,
                        "postfix/submission/smtpd[1101]",
                        "client=pc.example.jp[192.0.2.5], sasl_method=PLAIN, sasl_username=" + LOCAL,
                    ),
                )
            )
        else:
            out.append(
                _Line(m.arrived, s(m.arrived, "postfix/smtpd[1102]", "client=mx.example.net[198.51.100.20]"))
            )
        out.append(_Line(m.arrived, s(m.arrived, "postfix/cleanup[1201]", f"message-id=<{m.message_id}>")))
        out.append(
            _Line(
                m.arrived,
                s(
                    m.arrived,
                    "postfix/qmgr[900]",
                    f"from=<{m.sender}>, size={m.size}, nrcpt={nrcpt} (queue active)",
                ),
            )
        )
        last_retry = m.arrived
        for j, o in enumerate(m.outcomes):
            if o.at - last_retry > timedelta(minutes=5):  # a queue run re-activates it
                out.append(
                    _Line(
                        o.at,
                        s(
                            o.at,
                            "postfix/qmgr[900]",
                            f"from=<{m.sender}>, size={m.size}, nrcpt={nrcpt} (queue active)",
                        ),
                    )
                )
            last_retry = o.at
            orig = f", orig_to=<{o.orig_to}>" if o.orig_to else ""
            if o.local:
                prog, relay = (
                    ("postfix/local[1301]", "local") if o.orig_to else ("postfix/virtual[1302]", "virtual")
                )
            else:
                prog, relay = (
                    "postfix/smtp[1303]",
                    "mx.remote.example[198.51.100.7]:25" if o.status == "sent" else "none",
                )
            dsn, reply = {
                "sent": ("2.0.0", "delivered to maildir" if o.local else "250 2.0.0 Ok: queued as 4dZxQ1"),
                "deferred": ("4.4.1", "connect to mx.remote.example[198.51.100.7]:25: Connection timed out"),
                "bounced": ("5.1.1", f'unknown user: "{o.recipient}"'),
            }[o.status]
            out.append(
                _Line(
                    o.at,
                    s(
                        o.at,
                        prog,
                        f"to=<{o.recipient}>{orig}, relay={relay}, delay=1.2, delays=0.1/0/0.5/0.6, dsn={dsn}, status={o.status} ({reply})",
                    ),
                    (i, j),
                )
            )
            if o.status == "bounced":
                out.append(
                    _Line(
                        o.at, s(o.at, "postfix/bounce[1401]", "sender non-delivery notification: 1B2C3D4E5F")
                    )
                )
        if m.expired:
            out.append(
                _Line(
                    m.expired,
                    s(
                        m.expired,
                        "postfix/qmgr[900]",
                        f"from=<{m.sender}>, status=expired, returned to sender",
                    ),
                )
            )
        end = max([m.arrived, *(o.at for o in m.outcomes)]) + timedelta(seconds=1)
        if m.removed or m.expired:
            out.append(_Line(m.expired or end, s(m.expired or end, "postfix/qmgr[900]", "removed")))
    return out


def _exim(mails: list[Mail]) -> list[_Line]:
    out: list[_Line] = []
    for i, m in enumerate(mails):
        q = m.queue_id["exim"]
        s = lambda at, text, q=q: f"{at:%Y-%m-%d %H:%M:%S} {q} {text}"  # noqa: E731
        out.append(
            _Line(
                m.arrived,
                s(
                    m.arrived,
                    f"<= {m.sender} H=mx.example.net [198.51.100.20] P=esmtps S={m.size} id={m.message_id}",
                ),
            )
        )
        for j, o in enumerate(m.outcomes):
            if o.status == "sent" and o.local:
                user = o.recipient.split("@")[0]
                text = f"=> {user} <{o.orig_to or o.recipient}> R=local_user T=local_delivery"
            elif o.status == "sent":
                text = f'=> {o.recipient} R=dnslookup T=remote_smtp H=mx.remote.example [198.51.100.7] X=TLS1.3 C="250 2.0.0 Ok: queued as 4dZxQ1"'
            elif o.status == "deferred":
                text = f"== {o.recipient} R=dnslookup T=remote_smtp defer (110): Connection timed out"
            else:
                text = f"** {o.recipient}: Unrouteable address"
            out.append(_Line(o.at, s(o.at, text), (i, j)))
        end = max([m.arrived, *(o.at for o in m.outcomes)]) + timedelta(seconds=1)
        if m.removed:
            out.append(_Line(end, s(end, "Completed")))
    return out


def _sendmail(mails: list[Mail], rfc3339: bool) -> list[_Line]:
    out: list[_Line] = []
    for i, m in enumerate(mails):
        q = m.queue_id["sendmail"]
        s = lambda at, text, q=q: _syslog(at, "sm-mta[3001]", f"{q}: {text}", rfc3339)  # noqa: E731
        nrcpts = len({o.recipient for o in m.outcomes})
        out.append(
            _Line(
                m.arrived,
                s(
                    m.arrived,
                    f"from=<{m.sender}>, size={m.size}, class=0, nrcpts={nrcpts}, msgid=<{m.message_id}>, proto=ESMTP, daemon=MTA, relay=mx.example.net [198.51.100.20]",
                ),
            )
        )
        # recipients with one outcome at one instant share a line, as Sendmail logs them
        groups: dict[tuple[datetime, str, bool, str], list[int]] = {}
        for j, o in enumerate(m.outcomes):
            groups.setdefault((o.at, o.status, o.local, o.orig_to), []).append(j)
        for (at, status, local, orig_to), js in groups.items():
            to = ",".join(f"<{m.outcomes[j].recipient}>" for j in js)
            mailer = "mailer=local" if local else "mailer=esmtp"
            relay = "" if local else ", relay=mx.remote.example. [198.51.100.7]"
            orcpt = f", orcpt=<{orig_to}>" if orig_to else ""
            stat = {
                "sent": "dsn=2.0.0, stat=Sent" + ("" if local else " (4dZxQ1 Message accepted for delivery)"),
                "deferred": "dsn=4.0.0, stat=Deferred: Connection timed out with mx.remote.example.",
                "bounced": "dsn=5.1.1, stat=User unknown",
            }[status]
            line = _Line(
                at,
                s(
                    at,
                    f"to={to}{orcpt}, delay=00:00:01, xdelay=00:00:01, {mailer}, pri=120000{relay}, {stat}",
                ),
            )
            line.tag = (i, js[0])
            out.append(line)
            for j in js[1:]:
                out.append(_Line(at, "", (i, j)))  # shares the line above
    return out


def _expected(
    mails: list[Mail], mta: str, where: dict[tuple[int, int], tuple[str, int]]
) -> list[dict[str, str]]:
    expected = []
    for i, m in enumerate(mails):
        final: dict[tuple[str, str], int] = {}
        for j, o in enumerate(m.outcomes):
            final[(o.recipient, o.orig_to)] = j
        for (rcpt, orig_to), j in final.items():
            o = m.outcomes[j]
            status = o.status
            if mta == "postfix" and status == "deferred" and m.expired:
                status = "expired"
            if mta == "postfix":
                relay = (
                    ("local" if o.orig_to else "virtual")
                    if o.local
                    else ("mx.remote.example[198.51.100.7]:25" if o.status == "sent" else "none")
                )
                dsn = {"sent": "2.0.0", "deferred": "4.4.1", "bounced": "5.1.1"}[o.status]
            elif mta == "exim":
                relay = (
                    "local_delivery"
                    if o.local and o.status == "sent"
                    else (
                        "mx.remote.example[198.51.100.7]"
                        if o.status == "sent"
                        else "remote_smtp"
                        if o.status == "deferred"
                        else ""
                    )
                )
                dsn = "2.0.0" if o.status == "sent" and not o.local else ""
            else:
                relay = "local" if o.local else "mx.remote.example[198.51.100.7]"
                dsn = {"sent": "2.0.0", "deferred": "4.0.0", "bounced": "5.1.1"}[o.status]
            if mta == "exim" and o.status == "bounced":
                relay = ""  # "** addr: reason" names no transport
            source, number = where[(i, j)]
            expected.append(
                {
                    "message_id": m.message_id,
                    "sender": m.sender,
                    "recipient": rcpt,
                    "orig_to": orig_to,
                    "status": status,
                    "size": str(m.size),
                    "relay": relay,
                    "queue_id": m.queue_id[mta],
                    "dsn": dsn,
                    "time": o.at.isoformat(),
                    "source": source,
                    "position": str(number),
                }
            )
    return expected


def write_log(
    directory: Path,
    mta: str,
    mails: list[Mail] | None = None,
    *,
    base: str | None = None,
    cuts: tuple[datetime, ...] = (datetime(2025, 12, 31, 0, 0), datetime(2026, 1, 1, 0, 0)),
    gzip_older_than: int = 2,
    rfc3339: bool = False,
    noise: int = 40,
    garbage: bool = True,
    keep_times: bool = True,
    seed: int = 7,
) -> Written:
    """Write ``mails`` as ``mta``'s rotated log in ``directory``; return files and expectations.

    Files are cut at ``cuts``: the newest part is ``base``, older ones ``base.1``,
    ``base.2.gz`` …  With ``keep_times`` each file's mtime is its last line's time, else
    all files look freshly copied (mtime now).
    """
    mails = scenario() if mails is None else mails
    base = base or {"postfix": "mail.log", "exim": "mainlog", "sendmail": "maillog"}[mta]
    rng = random.Random(seed)
    if mta == "postfix":
        lines = _postfix(mails, rfc3339)
    elif mta == "exim":
        lines = _exim(mails)
    else:
        lines = _sendmail(mails, rfc3339)
    start = min(m.arrived for m in mails)
    span = (max(m.arrived for m in mails) - start).total_seconds()
    for _ in range(noise):
        at = start + timedelta(seconds=rng.randrange(int(span)))
        lines.extend(_noise(rng, at, mta, rfc3339))
    lines.sort(key=lambda line: line.at)  # stable: a message's own lines keep their order
    segments: list[list[_Line]] = [[] for _ in range(len(cuts) + 1)]
    for line in lines:
        segments[sum(line.at >= c for c in cuts)].append(line)
    if garbage:
        segments[-1].insert(len(segments[-1]) // 2, _Line(start, "\x00\x00\x00\x00 binary junk \udcff"))
        segments[-1].insert(3, _Line(start, "--- log continues on next page ---"))
    files: list[Path] = []
    written = Written([], [])
    for age, segment in enumerate(reversed(segments)):
        name = base if age == 0 else f"{base}.{age}"
        path = directory / (name + (".gz" if age >= gzip_older_than else ""))
        number = 0
        chunks = []
        for line in segment:
            if line.text:
                number += 1
                chunks.append(line.text + "\n")
            if line.tag is not None:
                written.where[line.tag] = (str(path), number)
        data = "".join(chunks).encode("utf-8", "surrogateescape")
        if path.suffix == ".gz":
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        if keep_times and segment:
            t = segment[-1].at.timestamp()
            os.utime(path, (t, t))
        written.lines += number
        files.append(path)
    written.files = list(reversed(files))
    written.expected = _expected(mails, mta, written.where)
    return written
