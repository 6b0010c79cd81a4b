"""``mailrecover verify``: the workspace checks itself, and the targets it restored to.

Three looks, each of which a recovery can quietly lose mail to: the database (SQLite's own
``integrity_check``), every stored copy's bytes against the SHA-256 they are named by (and
copies whose bytes are gone), and each local target's restored messages against the plan
(a file deleted or changed since).  What is wrong is named with what it means for a
restore; nothing is changed but the record of the last look (``verifications``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BlobError, MailRecoverError
from .merge import ranked_copies
from .merged import ensure_merged
from .model import JournalState
from .restore import outgoing, record_verification
from .spill import spilled
from .targets import Outgoing, Verification, open_target
from .targets.maildir import MaildirTarget
from .targets.mbox import MboxTarget
from .workspace import Workspace, store

__all__ = ["BadBlob", "TargetCheck", "VerifyResult", "verify_workspace"]


@dataclass
class BadBlob:
    digest: str
    reason: str  # "is damaged (…)", "is lost (…)"
    copies: list[dict[str, Any]] = field(default_factory=list)  # the copies whose bytes these were


@dataclass
class TargetCheck:
    target: str
    account: str
    verification: Verification | None  # None: not looked at (see ``note``)
    note: str = ""


@dataclass
class VerifyResult:
    integrity: list[str]  # ["ok"] when SQLite finds nothing wrong
    blobs: int  # stored copies' bytes checked
    bad: list[BadBlob]
    targets: list[TargetCheck]

    @property
    def ok(self) -> bool:
        return (
            self.integrity == ["ok"]
            and not self.bad
            and not any(t.verification and t.verification.missing for t in self.targets)
        )


def verify_workspace(
    ws: Workspace, progress: Callable[[str, int, int], None] = lambda what, n, total: None
) -> VerifyResult:
    """Check the database, every blob, and every local target's journal against the target."""
    integrity = store.integrity_check(ws.db)
    if integrity != ["ok"]:  # the rows below may be the damaged ones: say what SQLite says first
        return VerifyResult(integrity, 0, [], [])
    checked, bad = _check_blobs(ws, progress)
    _name_copies(ws.db, bad)
    ensure_merged(ws)  # the plans below are today's merged, checked messages
    return VerifyResult(integrity, checked, bad, _check_targets(ws, progress))


def _check_blobs(ws: Workspace, progress: Callable[[str, int, int], None]) -> tuple[int, list[BadBlob]]:
    """Every blob the database names, read in pack order and hashed; and the names copies use
    that no blob row answers for (a loose file of an older workspace, deleted)."""
    total = store.blob_count(ws.db)
    rows = store.blobs_in_pack_order(ws.db)
    bad: list[BadBlob] = []
    checked = 0
    for digest, pack, offset, length in spilled(rows, _spill_dir(ws)):  # no query left open meanwhile
        checked += 1
        try:
            ws.blobs.read(digest, None if pack is None else (pack, offset, length))
        except BlobError as e:
            bad.append(BadBlob(e.digest, e.reason))
        progress("blobs", checked, total)
    unnamed = store.unnamed_blobs(ws.db)
    for (digest,) in spilled(unnamed, _spill_dir(ws)):
        checked += 1
        try:
            ws.blobs.read(digest, None)
        except BlobError as e:
            bad.append(BadBlob(e.digest, e.reason))
    return checked, bad


def _name_copies(db: sqlite3.Connection, bad: list[BadBlob]) -> None:
    """Which copies each bad blob held, and for the restored ones what a restore does now."""
    if not bad:
        return
    digests = {b.digest for b in bad}
    by_digest = {b.digest: b for b in bad}
    rows = store.copies_of_blobs(db, digests)
    for digest, copy_id, account, source, position, message, message_id, canonical in rows:
        entry: dict[str, Any] = {
            "copy": copy_id,
            "account": account,
            "source": source,
            "position": position,
            "message_id": message_id or "",
            "canonical": bool(canonical),
        }
        if canonical:
            spare = next((c for c, blob, _s, _p in ranked_copies(db, message) if blob not in digests), None)
            entry["restore"] = (
                f"uses copy {spare} instead" if spare else "leaves the message out: no other intact copy"
            )
        by_digest[digest].copies.append(entry)


def _check_targets(ws: Workspace, progress: Callable[[str, int, int], None]) -> list[TargetCheck]:
    found: list[TargetCheck] = []
    for spec in store.restored_targets(ws.db):
        for account in store.restored_accounts(ws.db, spec):
            found.append(_check_target(ws, spec, account, progress))
    return found


def _check_target(
    ws: Workspace, spec: str, account: str, progress: Callable[[str, int, int], None]
) -> TargetCheck:
    """The account's messages the journal says are on ``spec``, looked for there."""
    try:
        target = open_target(spec)
    except MailRecoverError as e:
        return TargetCheck(spec, account, None, f"not checked: {e}")
    if not isinstance(target, MaildirTarget | MboxTarget):
        return TargetCheck(
            spec,
            account,
            None,
            "not checked: verify does not log in to servers; 'restore' again looks at "
            "every message there and sends what is missing",
        )
    journal = ws.journal(spec)
    seen = 0

    def restored() -> Iterator[Outgoing]:
        nonlocal seen
        for item in outgoing(ws, account, include_quarantined=True):  # damaged blobs: named above
            if journal.state(item.key) == JournalState.DONE:
                yield item
            seen += 1
            progress(spec, seen, 0)

    check = target.verify(restored(), journal)
    if not ws.read_only:
        record_verification(ws, spec, account, check, "verify")
    return TargetCheck(spec, account, check)


def _spill_dir(ws: Workspace) -> Path | None:
    """Where long listings wait: in the workspace, private as it is, unless it cannot be written."""
    return None if ws.read_only else ws.path
