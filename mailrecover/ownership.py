"""Which account a message may go to.

A message is restored into account A only when nothing shows it was delivered to someone
else.  The evidence (``Clue``) is what servers and clients wrote:

- ``Delivered-To``, ``X-Original-To``, ``Envelope-To``, ``X-Envelope-To`` (every one of them);
- the last hop's ``Received: … for <x>`` (only the topmost Received field: earlier hops
  name earlier recipients, such as a list's own address or a forwarder's);
- the client account a copy was filed under (``Copy.account_hints``).

A message whose clues name other mailboxes and never A is quarantined: held back from
every target, reported with its clues, restored only with ``--include-quarantined``.
The clues of all copies of a message count together: one copy delivered to A is enough.
Mail with no clues at all (sent mail, drafts, most BCC) stays with A: nothing shows it
belongs elsewhere.

An address names A when it is A itself, A with a ``+tag`` subaddress, A's local part at
``localhost`` (what fetchmail and local delivery write), or qmail's virtual-domain form
``domain-local@domain``.  A's local part at another domain, even a subdomain of A's, does
not: on a hosting service ``info@example.jp`` and ``info@shop.example.jp`` are different
customers.

Mailing lists.  A list post names the list's own address in the delivery fields of the
hop into the list server (``Received … for <ml@…>``, and ``Delivered-To: ml@…`` when
the list is on the same host).  The list's address is not a person's mailbox, so an
address that the message itself names as its list (``List-Post`` mailto, ``X-BeenThere``,
``List-Id`` ``<ml.example.org>`` for ``ml@example.org``, fml's ``X-ML-Name`` for the local
part) is no clue either way.  Decision for a list post that carries no other clue, no
``Delivered-To: A``: it stays with A, like any mail without delivery evidence; A's store
holding a list post is how list members receive one.  A list post that also names
another person's mailbox (``Delivered-To: other@…``) is quarantined like any other
mail.  The price of this rule: a sender who forges ``List-Post: <mailto:victim@…>`` makes
that one address neutral in its own message; the message is then treated as mail without
evidence, never as mail proven to be A's.

When a message may go to A but its best copy is one delivered to someone else (the
same mail sent to both, one copy from a contaminated backup), the check makes an equally
complete copy that names A, or names no one, the one restored, so no other customer's
delivery headers travel into A's mailbox.  Completeness still comes first: a whole copy
delivered to both is not traded for a cut-off one (nothing found is dropped).

Verdicts are stored with the messages and hold until the account's copies change (then
the merge and this check run again before the next report or restore).  A change to what
this check decides must come with a workspace migration that sets every verdict back to
``unchecked`` (as ``004_recheck_ownership`` does), so no verdict is older than the rules.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any

from .rfc822 import addresses, decode_header_value, header_fields, normalize_address

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "Clue",
    "check_account",
    "clues_from_fields",
    "delivery_clues",
    "list_marks",
    "names_account",
    "quarantine_details",
    "verdict",
]

_DELIVERY_FIELDS = {
    "delivered-to": "Delivered-To",
    "x-original-to": "X-Original-To",
    "envelope-to": "Envelope-To",
    "x-envelope-to": "X-Envelope-To",
}
RECEIVED_FOR = "Received … for"
CLIENT_ACCOUNT = "client account"
_RECEIVED_FOR = re.compile(rb"\bfor\s+<?([^\s<>;@]+@[^\s<>;]+?)>?\s*(?:;|$|\()", re.I)
_MAILTO = re.compile(r"mailto:([^>\s,?]+)", re.I)
_LIST_ID = re.compile(r"<([^<>\s]+)>")
_LOCALHOST = {"localhost", "localhost.localdomain"}


@dataclass(frozen=True)
class Clue:
    """One piece of delivery evidence: which field (or client account) named which address."""

    field: str
    address: str


def clues_from_fields(fields: Iterable[tuple[str, bytes]]) -> list[Clue]:
    """The delivery clues in a header (as ``rfc822.header_fields`` gives it), in order."""
    clues: list[Clue] = []
    first_received = True
    for name, value in fields:
        if name in _DELIVERY_FIELDS:
            clues.extend(Clue(_DELIVERY_FIELDS[name], a) for a in addresses(value))
        elif name == "received" and first_received:
            first_received = False
            found = _RECEIVED_FOR.findall(value)
            clues.extend(Clue(RECEIVED_FOR, normalize_address(a.decode("ascii", "replace"))) for a in found)
    return clues


def delivery_clues(raw: bytes) -> list[Clue]:
    return clues_from_fields(header_fields(raw))


def list_marks(fields: Iterable[tuple[str, bytes]]) -> frozenset[str]:
    """How the message names its own mailing list: addresses, ``id:`` List-Ids, ``name:`` fml names."""
    marks: set[str] = set()
    for name, value in fields:
        if name not in ("list-post", "x-beenthere", "list-id", "x-ml-name"):
            continue
        text = decode_header_value(value)
        if name == "list-post":
            marks.update(normalize_address(a) for a in _MAILTO.findall(text) if "@" in a)
        elif name == "x-beenthere":
            marks.update(addresses(value))
        elif name == "list-id":
            marks.update("id:" + m.lower() for m in _LIST_ID.findall(text))
        elif text.strip():
            marks.add("name:" + text.strip().lower())
    return frozenset(marks)


def _is_list(address: str, marks: frozenset[str]) -> bool:
    if not marks:
        return False
    local, _, domain = address.rpartition("@")
    return address in marks or f"id:{local}.{domain}" in marks or f"name:{local}" in marks


@functools.lru_cache(maxsize=1 << 16)  # a mailbox names the same few addresses over and over
def names_account(address: str, account: str) -> bool:
    """Whether a delivery address is the mailbox of ``account`` (see the module's rules)."""
    a, own = normalize_address(address), normalize_address(account)
    if a == own:
        return True
    local, _, domain = a.rpartition("@")
    own_local, _, own_domain = own.rpartition("@")
    if domain == own_domain:
        return local.partition("+")[0] == own_local or local == f"{own_domain}-{own_local}"
    return domain in _LOCALHOST and local.partition("+")[0] == own_local


def verdict(account: str, clues: Sequence[Clue]) -> str | None:
    """None when the message may go to ``account``, else the reason it may not."""
    if not account or not clues or any(names_account(c.address, account) for c in clues):
        return None
    fields: dict[str, list[str]] = {}
    for c in clues:
        fields.setdefault(c.address, [])
        if c.field not in fields[c.address]:
            fields[c.address].append(c.field)
    named = ", ".join(f"{a} ({', '.join(f)})" for a, f in sorted(fields.items()))
    return f"delivered to {named}, never to {account}"


@dataclass
class _CopyRow:
    message: int
    id: int
    blob: str
    delivered: list[str]
    hints: list[str]
    rank: tuple[int, ...]
    canonical: int
    source: str
    position: str


_ROWS = (
    "SELECT c.message, c.id, c.blob, c.delivered_to, c.account_hints, c.reconstructed, c.partial, "
    "c.received, c.size, m.canonical, c.source, c.position FROM copies c "
    "JOIN messages m ON m.id = c.message WHERE c.account = ? {extra} ORDER BY c.message, c.id"
)


def _list(text: str) -> list[str]:
    return [] if text == "[]" else list(json.loads(text))


def _rows(ws: Workspace, account: str, extra: str = "") -> Iterable[_CopyRow]:
    for r in ws.db.execute(_ROWS.format(extra=extra), (account,)):
        yield _CopyRow(
            message=r[0], id=r[1], blob=r[2], delivered=_list(r[3]), hints=_list(r[4]),
            rank=(not r[5], not r[6], min(r[7], 50), r[8], -r[1]), canonical=r[9],
            source=r[10], position=r[11],
        )  # fmt: skip


def _copy_clues(ws: Workspace, row: _CopyRow, account: str) -> list[Clue]:
    """A copy's clues; its raw header is read only when every address it names is someone else's."""
    named = getaddresses(row.hints) if row.hints else []  # most copies name no client account
    clues = [Clue(CLIENT_ACCOUNT, normalize_address(a)) for _, a in named if "@" in a]
    if any(names_account(a, account) for a in row.delivered):
        return clues + [Clue("delivery", a) for a in row.delivered]
    if not row.delivered:
        return clues
    fields = header_fields(ws.raw(row.blob))
    marks = list_marks(fields)
    return clues + [c for c in clues_from_fields(fields) if not _is_list(c.address, marks)]


def check_account(ws: Workspace, account: str) -> int:
    """Mark each merged message of ``account`` ok or quarantined; returns how many are held back."""
    held = 0
    db = ws.db
    db.execute("BEGIN IMMEDIATE")
    try:
        updates: list[tuple[str, str, int, int]] = []
        for message, group in itertools.groupby(_rows(ws, account), key=lambda r: r.message):
            copies = [(row, _copy_clues(ws, row, account)) for row in group]
            reason = verdict(account, [c for _, clues in copies for c in clues])
            canonical = copies[0][0].canonical
            if reason is None:
                canonical = _own_canonical(copies, account)
            held += reason is not None
            updates.append(("quarantined" if reason else "ok", reason or "", canonical, message))
            if len(updates) >= 1000:  # memory bounded by the batch, not by the mailbox
                _mark(db, updates)
        _mark(db, updates)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return held


def _mark(db: sqlite3.Connection, updates: list[tuple[str, str, int, int]]) -> None:
    db.executemany("UPDATE messages SET status = ?, reason = ?, canonical = ? WHERE id = ?", updates)
    updates.clear()


def _own_canonical(copies: list[tuple[_CopyRow, list[Clue]]], account: str) -> int:
    """The canonical copy, unless it was delivered to someone else and another copy was not."""

    def foreign(clues: list[Clue]) -> bool:
        return bool(clues) and not any(names_account(c.address, account) for c in clues)

    current = copies[0][0].canonical
    by_id = {row.id: clues for row, clues in copies}
    if not foreign(by_id.get(current, [])):
        return current
    # completeness first (nothing is lost), then the owner's own delivery, then the usual order
    best = max(copies, key=lambda c: (*c[0].rank[:2], not foreign(c[1]), *c[0].rank[2:]))
    return best[0].id


def quarantine_details(ws: Workspace, account: str) -> list[dict[str, Any]]:
    """Every quarantined message of ``account`` with its clues and where each was found."""
    info = {
        mid: {"key": key, "message_id": message_id or "", "subject": subject or "",
              "from": sender or "", "date": date or "", "folder": folder, "reason": reason,
              "evidence": []}
        for mid, key, message_id, subject, sender, date, folder, reason in ws.db.execute(
            "SELECT m.id, m.key, m.message_id, c.subject, c.from_addr, m.date, m.folder, m.reason "
            "FROM messages m JOIN copies c ON c.id = m.canonical "
            "WHERE m.account = ? AND m.status = 'quarantined' ORDER BY m.date, m.id",
            (account,),
        )
    }  # fmt: skip
    if not info:
        return []
    for row in _rows(ws, account, "AND m.status = 'quarantined'"):
        for clue in _copy_clues(ws, row, account):
            info[row.message]["evidence"].append(
                {"field": clue.field, "address": clue.address, "source": row.source,
                 "position": row.position}
            )  # fmt: skip
    return list(info.values())
