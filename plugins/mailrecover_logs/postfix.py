"""Postfix: delivery outcomes joined from smtpd, cleanup, qmgr and the delivery agents.

A message's lines share its queue id: ``client=`` or ``uid=`` opens it, cleanup names its
Message-ID, qmgr its sender and size, each delivery agent one recipient's status, and
``removed`` closes it (after which a short queue id may be used again).  When a content
filter hands the message back under a new id (``queued as NEWID``), the new id inherits
the Message-ID and sender in case its own lines lack them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator

from mailrecover.model import Evidence
from mailrecover.pluginkit import decode_header_value

from ._plugin import LogPlugin, Parser, unbracket
from ._queue import Message, Queue, Recipient
from ._stream import LogLine

__all__ = ["PostfixPlugin", "PostfixParser"]

_QID = re.compile(r"([0-9A-Za-z]{5,20}): (.*)", re.S)
_PAIR = re.compile(r"(\w+)=(<[^>]*>|[^,]*)")
_STATUS = re.compile(r", status=(\w+)(?: \((.*)\)|,.*)?$", re.S)
_QUEUED_AS = re.compile(r"queued as ([0-9A-Za-z]{5,20})\)?")
_LINKS = 10_000
#: ``header_checks`` ``/^Subject:/ WARN`` (or INFO): the subject, then `` from HOST[IP]; from=<…>``.
_SUBJECT = re.compile(r"(?:warning|info): header Subject: (.*) from [^\s;]+; from=<", re.S)


def _pairs(text: str) -> dict[str, str]:
    return {k: v for k, v in _PAIR.findall(text)}


def is_postfix(line: LogLine) -> bool:
    return line.program is not None and line.program.split("/", 1)[0].startswith("postfix")


class PostfixParser(Parser):
    def __init__(self, queue: Queue | None = None) -> None:
        super().__init__(queue)
        self._links: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def feed(self, line: LogLine) -> Iterator[Evidence]:
        m = _QID.match(line.text)
        if not m or m[1] == "NOQUEUE":
            return
        qid, rest = m[1], m[2]
        if rest.startswith(("client=", "uid=")):
            yield from self.queue.start(qid, line)
            msg, closed = self.queue.touch(qid, line)
            if rest.startswith("uid="):
                msg.sender = unbracket(_pairs(rest).get("from", ""))
            self._inherit(msg)
        elif rest.startswith("message-id="):
            msg, closed = self.queue.touch(qid, line)
            msg.message_id = unbracket(rest[len("message-id=") :].split(" ", 1)[0])
            self._inherit(msg)
        elif rest.startswith("from="):
            msg, closed = self.queue.touch(qid, line)
            pairs = _pairs(rest)
            msg.sender = unbracket(pairs.get("from", ""))
            msg.size = pairs.get("size", msg.size).strip()
            if ", status=expired" in rest:
                yield from self.queue.expire_waiting(msg, "expired")
        elif rest.startswith("to="):
            msg, closed = self.queue.touch(qid, line)
            yield from self._recipient(msg, rest, line)
        elif m := _SUBJECT.match(rest):
            msg, closed = self.queue.touch(qid, line)
            msg.subject = decode_header_value(m[1].encode("utf-8", "surrogateescape")).strip()
        elif rest == "removed":
            closed = []
            yield from self.queue.finish(qid)
        else:
            return
        yield from closed

    def _recipient(self, msg: Message, rest: str, line: LogLine) -> Iterator[Evidence]:
        status = _STATUS.search(rest)
        if not status:
            return
        pairs = _pairs(rest[: status.start()])
        word = status[1].lower()
        if word == "sent" and status[2]:
            queued = _QUEUED_AS.search(status[2])
            if queued:
                self._links[queued[1]] = (msg.message_id, msg.sender)
                while len(self._links) > _LINKS:
                    self._links.popitem(last=False)
                later = self.queue.get(queued[1])
                if later is not None:  # the filter's handback was logged first
                    self._inherit(later)
        yield from self.queue.outcome(
            msg,
            Recipient(
                address=unbracket(pairs.get("to", "")),
                orig_to=unbracket(pairs.get("orig_to", "")),
                status=word,
                relay=pairs.get("relay", "").strip(),
                dsn=pairs.get("dsn", "").strip(),
                line=line,
            ),
        )

    def _inherit(self, msg: Message) -> None:
        link = self._links.pop(msg.queue_id, None)
        if link:
            msg.message_id = msg.message_id or link[0]
            msg.sender = msg.sender or link[1]


class PostfixPlugin(LogPlugin):
    name = "postfix-log"
    description = "Postfix mail logs (mail.log, maillog; rotated, gzip): delivery evidence"
    markers = (b"client=", b"message-id=", b"from=<", b"to=<", b": removed", b"uid=")
    owns = staticmethod(is_postfix)
    parser = PostfixParser
