"""Sendmail: ``from=`` opens a message, each ``to=`` line ends one or more recipients.

Sendmail never logs that a message left the queue; a message is done when as many
recipients as ``nrcpts`` announced have a final status, or when the bounded queue table
lets it go.  One ``to=`` line may list several recipients, each with the same status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailrecover.model import Evidence

from ._plugin import LogPlugin, Parser, unbracket
from ._queue import Recipient
from ._stream import LogLine

__all__ = ["SendmailParser", "SendmailPlugin"]

_QID = re.compile(r"([0-9A-Za-z]{8,20}): (.*)", re.S)
_PAIR = re.compile(r"(\w+)=(<[^>]*>|[^,]*)")
_TO = re.compile(r"to=(.*?), (?=(?:ctladdr|delay|xdelay|mailer|pri|relay|dsn|stat|orcpt)=)", re.S)
_STAT = re.compile(r", stat=(.*)$", re.S)
_REMOTE_MAILERS = {"esmtp", "smtp", "smtp8", "dsmtp", "relay"}


def is_sendmail(line: LogLine) -> bool:
    p = line.program
    return p is not None and (p == "sendmail" or p.startswith("sm-"))


def _split_recipients(value: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        if ch == "," and not quoted and depth == 0:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return [unbracket(v) for v in out if v.strip()]


def _status(stat: str, dsn: str) -> str:
    word = stat.strip().lower()
    if word.startswith("sent"):
        return "sent"
    if word.startswith(("deferred", "queued")) or dsn.startswith("4"):
        return "deferred"
    return "bounced"


class SendmailParser(Parser):
    def feed(self, line: LogLine) -> Iterator[Evidence]:
        m = _QID.match(line.text)
        if not m:
            return
        qid, rest = m[1], m[2]
        if rest.startswith("from="):
            yield from self.queue.start(qid, line)
            msg, _ = self.queue.touch(qid, line)
            pairs = dict(_PAIR.findall(rest))
            msg.sender = unbracket(pairs.get("from", ""))
            msg.size = pairs.get("size", "").strip()
            msg.message_id = unbracket(pairs.get("msgid", ""))
            try:
                msg.expected = int(pairs.get("nrcpts", ""))
            except ValueError:
                msg.expected = None
        elif rest.startswith("to="):
            to, stat = _TO.match(rest), _STAT.search(rest)
            if not to or not stat:
                return
            msg, closed = self.queue.touch(qid, line)
            yield from closed
            pairs = dict(_PAIR.findall(rest[to.end() : stat.start()]))
            dsn = pairs.get("dsn", "").strip()
            mailer = pairs.get("mailer", "").strip()
            relay = pairs.get("relay", "").strip()
            if mailer and mailer not in _REMOTE_MAILERS:
                relay = mailer
            else:
                relay = re.sub(r"\.? \[([^\]]+)\].*", r"[\1]", relay)
            status = _status(stat[1], dsn)
            for address in _split_recipients(to[1]):
                rcpt = Recipient(address, unbracket(pairs.get("orcpt", "")), status, relay, dsn, line)
                yield from self.queue.outcome(msg, rcpt)


class SendmailPlugin(LogPlugin):
    name = "sendmail-log"
    description = "Sendmail maillog (rotated, gzip): delivery evidence, several recipients a line"
    markers = (b"from=", b"to=")
    owns = staticmethod(is_sendmail)
    parser = SendmailParser
