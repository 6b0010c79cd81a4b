"""Messages in flight: what a log said about each queued message until its fate is known.

The table is bounded so that memory stays flat on any size of log: a message leaves it
when the log says it left the queue, when every recipient has a final status, when it has
been quiet longer than a mail server keeps anything queued, or, oldest first, when the
table is full.  Recipients still waiting then are reported with the last status seen.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mailrecover.model import Evidence

from ._stream import LogLine

__all__ = ["FINAL", "Message", "Queue", "Recipient"]

#: Statuses after which the log says nothing more about that recipient.
FINAL = frozenset(
    {"sent", "bounced", "expired", "discarded", "suppressed", "undeliverable", "deliverable", "softbounce"}
)

#: Longer than any queue lifetime (Postfix 5 days, Exim and Sendmail about 4-5).
WINDOW = timedelta(days=7)
LIMIT = 50_000


@dataclass
class Recipient:
    address: str
    orig_to: str
    status: str
    relay: str
    dsn: str
    line: LogLine


@dataclass
class Message:
    queue_id: str
    last: datetime
    message_id: str = ""
    sender: str = ""
    size: str = ""
    subject: str = ""  # where the MTA logs it (Postfix header_checks WARN/INFO, Exim +subject)
    expected: int | None = None  # recipients announced (nrcpt)
    finished: int = 0  # recipients that reached a final status
    waiting: dict[tuple[str, str], Recipient] = field(default_factory=dict)


class Queue:
    """Pending messages by queue id, least recently active first."""

    def __init__(self, limit: int = LIMIT, window: timedelta = WINDOW, sweep_every: int = 1000) -> None:
        self.limit = limit
        self.window = window
        self.sweep_every = sweep_every
        self._messages: OrderedDict[str, Message] = OrderedDict()
        self._since_sweep = 0

    def __len__(self) -> int:
        return len(self._messages)

    def get(self, queue_id: str) -> Message | None:
        return self._messages.get(queue_id)

    def start(self, queue_id: str, line: LogLine) -> Iterator[Evidence]:
        """A new message under ``queue_id``; an old one still held there is closed first."""
        yield from self.finish(queue_id)
        self._messages[queue_id] = Message(queue_id, line.time)
        yield from self._keep_bounded(line.time)

    def touch(self, queue_id: str, line: LogLine) -> tuple[Message, list[Evidence]]:
        """The message under ``queue_id``, started if the log began in its middle."""
        msg = self._messages.get(queue_id)
        if msg is None:
            msg = self._messages[queue_id] = Message(queue_id, line.time)
            closed = list(self._keep_bounded(line.time))
        else:
            self._messages.move_to_end(queue_id)
            closed = []
        msg.last = line.time
        return msg, closed

    def outcome(self, msg: Message, rcpt: Recipient) -> Iterator[Evidence]:
        """Record one recipient's status; final ones are reported at once."""
        key = (rcpt.address, rcpt.orig_to)
        if rcpt.status in FINAL:
            msg.waiting.pop(key, None)
            msg.finished += 1
            yield delivery(msg, rcpt)
            if msg.expected is not None and msg.finished >= msg.expected and not msg.waiting:
                self._messages.pop(msg.queue_id, None)
        else:
            msg.waiting[key] = rcpt

    def expire_waiting(self, msg: Message, status: str) -> Iterator[Evidence]:
        """Every recipient still waiting gets ``status`` (the message expired)."""
        for rcpt in list(msg.waiting.values()):
            rcpt.status = status
            yield from self.outcome(msg, rcpt)

    def finish(self, queue_id: str) -> Iterator[Evidence]:
        """The message left the queue: recipients still waiting keep their last status."""
        msg = self._messages.pop(queue_id, None)
        if msg is not None:
            for rcpt in msg.waiting.values():
                yield delivery(msg, rcpt)

    def close(self) -> Iterator[Evidence]:
        """End of the stream: whatever is still pending is reported as last seen."""
        while self._messages:
            yield from self.finish(next(iter(self._messages)))

    def _keep_bounded(self, now: datetime) -> Iterator[Evidence]:
        while len(self._messages) > self.limit:
            yield from self.finish(next(iter(self._messages)))
        self._since_sweep += 1
        if self._since_sweep < self.sweep_every:
            return
        self._since_sweep = 0
        while self._messages:
            oldest = next(iter(self._messages.values()))
            if now - oldest.last <= self.window:
                break
            yield from self.finish(oldest.queue_id)


def delivery(msg: Message, rcpt: Recipient) -> Evidence:
    """The delivery evidence for one recipient of one message."""
    line = rcpt.line
    return Evidence(
        kind="delivery",
        source=line.source,
        position=str(line.number),
        time=line.time,
        time_basis=f"{line.basis.year}/{line.basis.zone}",
        time_group=line.basis.group,
        fields={
            "message_id": msg.message_id,
            "sender": msg.sender,
            "recipient": rcpt.address,
            "orig_to": rcpt.orig_to,
            "status": rcpt.status,
            "size": msg.size,
            "relay": rcpt.relay,
            "queue_id": msg.queue_id,
            "dsn": rcpt.dsn,
            **({"subject": msg.subject} if msg.subject else {}),
        },
    )
