"""What the mail server's logs say an account received and sent, against what was recovered.

Delivery evidence (kind ``delivery``, from any log plugin) names each message's
Message-ID, envelope sender, recipient, original recipient, final status, size and relay.
A message counts as delivered into account A's mailbox when a record has A as recipient
or original recipient, status ``sent`` and a relay that is a local delivery agent (not a
content filter or another server).  It counts as sent by A when A is its envelope sender,
whatever became of its recipients: the Sent folder kept it either way.  A message is
recovered when one of A's gathered copies carries its Message-ID.

Log records without a Message-ID cannot be matched; they are listed as ``unidentified``,
never silently counted as lost or as found.  Pure functions over the workspace's SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from .clean import is_addr_spec, write_csv
from .model import Problem, ProblemKind
from .workspace import store

__all__ = [
    "Delivered",
    "by_day",
    "gap",
    "incoming",
    "is_local_relay",
    "logs_gathered",
    "lost_by_sender",
    "named_in_logs",
    "outgoing",
    "senders",
    "write_senders_csv",
]

#: Delivery agents that write into a mailbox on the server itself.
_LOCAL_AGENTS = {
    "local",
    "virtual",
    "dovecot",
    "lmtp",
    "maildrop",
    "procmail",
    "cyrus",
    "cyrusv2",
    "deliver",
    "dovecot-lda",
    "pipe",
    "address_file",
    "address_directory",
    "appendfile",
    "mail_spool",
}


def is_local_relay(relay: str) -> bool:
    """Whether a record's relay is final delivery into a mailbox here."""
    r = relay.strip().lower()
    name = r.split("[", 1)[0]
    if name in _LOCAL_AGENTS or "lmtp" in r or "dovecot" in r or "[private/" in r:
        return True
    if r.endswith("]:24"):  # the LMTP port
        return True
    # Exim names local transports (local_delivery, maildir_delivery, virtual_delivery, …)
    return "[" not in r and "smtp" not in name and (name.startswith("local") or name.endswith("_delivery"))


@dataclass(frozen=True)
class Delivered:
    """One message as the logs show it, with whether a copy of it was recovered."""

    message_id: str
    date: str  # ISO time of its first record
    sender: str
    size: str
    recipients: tuple[str, ...]
    recovered: bool


def _records(db: sqlite3.Connection, field: str, account: str) -> Iterable[tuple[str, ...]]:
    """(id, time, message_id, sender, recipient, status, size, relay) where ``field`` is ``account``."""
    for row in store.delivery_records(db, field, account.strip().lower()):
        yield tuple("" if v is None else str(v) for v in row)


def _recovered_ids(db: sqlite3.Connection, account: str) -> set[str]:
    return {r[0].strip() for r in store.message_ids(db, account)}


def _group(rows: Iterable[tuple[str, str, str, str, str]], recovered: set[str]) -> list[Delivered]:
    """(time, message_id, sender, size, recipient) rows → one Delivered per message."""
    found: dict[str, dict[str, Any]] = {}
    unnamed: list[Delivered] = []
    for time, mid, sender, size, recipient in rows:
        mid = mid.strip().strip("<>")
        if not mid:
            unnamed.append(Delivered("", time, sender, size, (recipient,), False))
            continue
        entry = found.setdefault(mid, {"date": time, "sender": sender, "size": size, "to": set()})
        if time and (not entry["date"] or time < entry["date"]):
            entry["date"] = time
        entry["sender"] = entry["sender"] or sender
        entry["size"] = entry["size"] or size
        entry["to"].add(recipient)
    items = [
        Delivered(mid, e["date"], e["sender"], e["size"], tuple(sorted(e["to"])), mid in recovered)
        for mid, e in found.items()
    ]
    return sorted(items + unnamed, key=lambda d: (d.date, d.message_id))


def incoming(db: sqlite3.Connection, account: str) -> list[Delivered]:
    """Messages the logs show delivered into ``account``'s mailbox."""
    records = {r[0]: r for field in ("recipient", "orig_to") for r in _records(db, field, account)}
    rows = (
        (time, mid, sender, size, account)
        for _id, time, mid, sender, _rcpt, status, size, relay in records.values()
        if status == "sent" and is_local_relay(relay)
    )
    return _group(rows, _recovered_ids(db, account))


def outgoing(db: sqlite3.Connection, account: str) -> list[Delivered]:
    """Messages the logs show ``account`` sending (as envelope sender)."""
    rows = (
        (time, mid, sender, size, rcpt)
        for _id, time, mid, sender, rcpt, _status, size, _relay in _records(db, "sender", account)
    )
    return _group(rows, _recovered_ids(db, account))


def by_day(items: Iterable[Delivered]) -> list[dict[str, Any]]:
    """Per day (the log's own calendar): how many were delivered and how many recovered."""
    days: dict[str, list[int]] = {}
    for d in items:
        if not d.message_id:
            continue
        counts = days.setdefault(d.date[:10] or "unknown", [0, 0])
        counts[0] += 1
        counts[1] += d.recovered
    return [{"day": day, "delivered": n, "recovered": r} for day, (n, r) in sorted(days.items())]


def senders(items: Iterable[Delivered]) -> list[tuple[str, int, str, str]]:
    """(sender, count, first, last) over lost messages, most first."""
    seen: dict[str, list[Any]] = {}
    for d in items:
        if d.recovered or not d.message_id:
            continue
        entry = seen.setdefault(d.sender, [0, d.date, d.date])
        entry[0] += 1
        entry[1] = min(entry[1], d.date)
        entry[2] = max(entry[2], d.date)
    return sorted(((s, n, a, b) for s, (n, a, b) in seen.items()), key=lambda t: (-t[1], t[0]))


def lost_by_sender(db: sqlite3.Connection, account: str) -> dict[str, list[tuple[str, str]]]:
    """Per sender of mail ``account`` lost: each lost message's (ISO time, subject), the subject
    where a log kept it (Postfix ``header_checks`` WARN/INFO lines, Exim's ``T=``), else ''."""
    subjects: dict[str, str] = {}
    for field in ("recipient", "orig_to"):
        for mid, subject in store.delivery_subjects(db, field, account.strip().lower()):
            subjects.setdefault(str(mid or "").strip().strip("<>"), str(subject))
    lost: dict[str, list[tuple[str, str]]] = {}
    for d in incoming(db, account):
        if d.message_id and not d.recovered and d.sender:
            lost.setdefault(d.sender, []).append((d.date, subjects.get(d.message_id, "")))
    return lost


def write_senders_csv(db: sqlite3.Connection, account: str, out: TextIO) -> list[Problem]:
    """Who sent ``account`` the mail that was lost, as CSV (the null sender ``<>`` as an empty
    cell); returns the senders left out because they are no address (to be shown as problems)."""
    rows = senders(incoming(db, account))
    kept = [r for r in rows if not r[0] or is_addr_spec(r[0])]
    write_csv(out, ["sender", "count", "first", "last"], kept)
    return [
        Problem(
            ProblemKind.SKIPPED,
            f"delivery records of {account}",
            "",
            f"left out of the senders: {r[0]!r} is not an address ({r[1]} lost messages)",
        )
        for r in rows
        if r[0] and not is_addr_spec(r[0])
    ]


logs_gathered = store.logs_gathered  # (kept in this module's surface: the report asks it here)


def named_in_logs(db: sqlite3.Connection, account: str) -> bool:
    """Whether a delivery record names ``account`` (a mailbox of which no copy survived is
    still one the logs can report on)."""
    return store.named_in_logs(db, account.lower())


def gap(db: sqlite3.Connection, account: str) -> dict[str, Any]:
    """The gap analysis ``report`` adds to each account once logs were gathered (plain data)."""
    received = incoming(db, account)
    sent = outgoing(db, account)
    return {
        "delivered": sum(1 for d in received if d.message_id),
        "recovered_of_delivered": sum(1 for d in received if d.recovered),
        "missing": [
            {"message_id": d.message_id, "date": d.date, "from": d.sender, "size": d.size}
            for d in received
            if d.message_id and not d.recovered
        ],
        "by_day": by_day(received),
        "sent": sum(1 for d in sent if d.message_id),
        "missing_sent": [
            {"message_id": d.message_id, "date": d.date, "to": list(d.recipients), "size": d.size}
            for d in sent
            if d.message_id and not d.recovered
        ],
        "unidentified": [
            {
                "date": d.date,
                "from": d.sender,
                "to": list(d.recipients),
                "size": d.size,
                "direction": direction,
            }
            for direction, items in (("in", received), ("out", sent))
            for d in items
            if not d.message_id
        ],
    }
