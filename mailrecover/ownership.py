"""Which account a message may go to.

A message is restored into account A only when nothing shows it was delivered to someone
else.  The evidence is what the servers and clients wrote: Delivered-To, X-Original-To,
Envelope-To, the last hop's ``Received: … for <x>``, and the client account a copy was
filed under.  Evidence that names other mailboxes and never A quarantines the message.
Mail with no delivery evidence at all (sent mail, drafts, most BCC) stays with A.
"""

from __future__ import annotations

import itertools
import json
import sqlite3

from .rfc822 import normalize_address

__all__ = ["check_account", "verdict"]


def verdict(account: str, evidence: set[str]) -> str | None:
    """None when the message may go to ``account``, else the reason it may not."""
    if not account or not evidence:
        return None
    if normalize_address(account) in evidence:
        return None
    return "delivered to " + ", ".join(sorted(evidence)) + f", never to {account}"


def check_account(db: sqlite3.Connection, account: str) -> int:
    """Mark each merged message of ``account`` ok or quarantined; returns how many are held back."""
    held = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        rows = db.execute(
            "SELECT message, delivered_to, account_hints FROM copies WHERE account = ? "
            "AND message IS NOT NULL ORDER BY message",
            (account,),
        )
        current: int | None = None
        found: set[str] = set()
        for message, delivered, hints in itertools.chain(rows, [(None, "[]", "[]")]):
            if message != current and current is not None:
                reason = verdict(account, found)
                db.execute(
                    "UPDATE messages SET status = ?, reason = ? WHERE id = ?",
                    ("quarantined" if reason else "ok", reason or "", current),
                )
                held += reason is not None
                found = set()
            current = message
            found.update(normalize_address(a) for a in json.loads(delivered))
            found.update(normalize_address(a) for a in json.loads(hints))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return held
