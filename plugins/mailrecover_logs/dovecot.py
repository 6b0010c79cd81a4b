"""Dovecot LMTP and LDA: one line per message saved into a mailbox.

``lmtp(user)<pid><session>: msgid=<…>: saved mail to INBOX`` (or ``lda(user)``,
``deliver(user)`` in 1.x, ``sieve: … stored mail into mailbox 'X'``) is a complete record by
itself: no queue to join.  Where an MTA's log says the same (Postfix handing mail to
Dovecot over LMTP), that plugin claims the log first; this one is for hosts where only
Dovecot's log survived.  Dovecot names the user it logged in, which may lack a domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailrecover.model import Evidence

from ._plugin import LogPlugin, Parser, unbracket
from ._queue import Message, Recipient, delivery
from ._stream import LogLine

__all__ = ["DovecotParser", "DovecotPlugin"]

_SAVE = re.compile(
    r"(?:dovecot: )?(lmtp|lda|deliver)\(([^)]*)\)(?:<\d+>)?(?:<([^>]*)>)?: (?:Info: )?(?:sieve: )?"
    r"msgid=(<[^>]*>|[^:\s]*)[^:]*: (saved mail to|stored mail into mailbox|save failed to|failed to store into mailbox) (.*)",
    re.S,
)


def is_dovecot(line: LogLine) -> bool:
    if line.program is not None and not line.program.startswith("dovecot"):
        return False
    return _SAVE.match(line.text) is not None


class DovecotParser(Parser):
    def feed(self, line: LogLine) -> Iterator[Evidence]:
        m = _SAVE.match(line.text)
        if not m:
            return
        agent, user, session, msgid, outcome, _folder = m.groups()
        msg = Message(session or "", line.time, message_id=unbracket(msgid))
        yield delivery(
            msg,
            Recipient(
                address=user.rsplit(",", 1)[-1].strip(),  # 2.2 wrote "lmtp(pid, user)"
                orig_to="",
                status="sent" if outcome.startswith(("saved", "stored")) else "failed",
                relay=f"dovecot-{'lda' if agent == 'deliver' else agent}",
                dsn="",
                line=line,
            ),
        )


class DovecotPlugin(LogPlugin):
    name = "dovecot-log"
    description = "Dovecot LMTP/LDA delivery lines (only where no MTA log claims the file)"
    markers = (b"msgid=",)
    owns = staticmethod(is_dovecot)
    parser = DovecotParser
    # below the MTA plugins: a mail.log holding Postfix and Dovecot lines is Postfix's
    file_score = 70
    directory_score = 80
