"""Exim: the mainlog's one-line-per-event records, joined by message id.

``<=`` is the arrival (sender, ``S=`` size, ``id=`` Message-ID); ``=>`` a delivery and
``->`` a further address delivered in the same transaction; ``==`` a deferral, ``**`` a
bounce, ``*>`` a delivery suppressed by ``-N``; ``Completed`` ends the message.  The same
lines also reach syslog (``exim[pid]: …``), sometimes with Exim's own timestamp kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailrecover.model import Evidence
from mailrecover.pluginkit import decode_header_value

from ._plugin import LogPlugin, Parser, unbracket
from ._queue import Recipient
from ._stream import LogLine

__all__ = ["EximParser", "EximPlugin"]

_ID = r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}"
_LINE = re.compile(
    r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})? )?(?:\[\d+\] )?"
    rf"({_ID}) (.*)",
    re.S,
)
_MARKS = {"=>": "sent", "->": "sent", ">>": "sent", "*>": "suppressed", "==": "deferred", "**": "bounced"}
_ADDRESS = re.compile(r"(\S+?):?(?: \(([^)]*)\))?(?: <([^>]*)>)?(?= |$)")
_HOST = re.compile(r" H=(\S+)(?: \([^)]*\))? \[([^\]]+)\]")
_DSN = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_SUBJECT = re.compile(r' T="((?:[^"\\]|\\.)*)"')  # on an arrival line with log_selector +subject


def _field(text: str, name: str) -> str:
    m = re.search(rf" {name}=(\S+)", text)
    return m[1] if m else ""


def is_exim(line: LogLine) -> bool:
    if line.program is not None and not line.program.startswith("exim"):
        return False
    return _LINE.match(line.text) is not None


class EximParser(Parser):
    def feed(self, line: LogLine) -> Iterator[Evidence]:
        m = _LINE.match(line.text)
        if not m:
            return
        qid, rest = m[1], m[2]
        mark = rest[:2]
        if mark == "<=":
            yield from self.queue.start(qid, line)
            msg, _ = self.queue.touch(qid, line)
            sender = rest[3:].split(" ", 1)[0]
            msg.sender = "" if sender == "<>" else unbracket(sender)
            msg.size = _field(rest, "S")
            msg.message_id = unbracket(_field(rest, "id"))
            if subject := _SUBJECT.search(rest):
                msg.subject = decode_header_value(
                    re.sub(r"\\(.)", r"\1", subject[1]).encode("utf-8", "surrogateescape")
                )
        elif mark in _MARKS and rest[2:3] == " ":
            msg, closed = self.queue.touch(qid, line)
            yield from closed
            yield from self.queue.outcome(msg, self._recipient(rest[3:], _MARKS[mark], line))
        elif rest.startswith(("Completed", "removed")):
            yield from self.queue.finish(qid)

    @staticmethod
    def _recipient(text: str, status: str, line: LogLine) -> Recipient:
        m = _ADDRESS.match(text)
        token, parent, angle = (m[1], m[2] or "", m[3] or "") if m else (text.split(" ", 1)[0], "", "")
        if token.startswith(":blackhole"):
            status, token = "discarded", ":blackhole:"
        if "@" in token:
            address = token
        elif "@" in parent:
            address = parent
        elif angle and re.fullmatch(r"[\w.+=-]+", token):
            # a local user: on the host that received it for <angle>, so in its domain
            address = f"{token}@{angle.rpartition('@')[2]}" if "@" in angle else token
        else:
            address = angle or token  # a file or pipe: its top address says whose
        orig_to = angle if angle and angle != address else ""
        transport = _field(text, "T")
        host = _HOST.search(text)
        if host and "lmtp" not in transport.lower():
            relay = f"{host[1]}[{host[2]}]"
        else:
            relay = transport or (token if token.startswith(":") else "")
        dsn = _DSN.search(text)
        return Recipient(address, orig_to, status, relay, dsn[1] if dsn else "", line)


class EximPlugin(LogPlugin):
    name = "exim-log"
    description = "Exim mainlog (or Exim via syslog; rotated, gzip): delivery evidence"
    markers = (b" <= ", b" => ", b" -> ", b" >> ", b" *> ", b" == ", b" ** ", b" Completed", b" removed")
    owns = staticmethod(is_exim)
    parser = EximParser
