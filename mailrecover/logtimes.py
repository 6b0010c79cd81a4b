"""The year of log lines that carry none, corrected by the messages they name.

A syslog line says ``Jun 25 03:10:00``; the log plugins give it a year from the files
themselves (rotation names, the chain of rotations, a file time that agrees, else the
current year) and record how (``time_basis``) and which records share that guess
(``time_group``).  The best evidence of all only exists once mail is gathered too: the
``Date:`` of a gathered message whose Message-ID a line names.  When most of a group's
named messages say its lines are whole years off, every record of the group moves by
those years; when they agree, the group is marked as confirmed.  Gathering order does not
matter: this runs whenever a report reads the records.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime

__all__ = ["correct_log_years"]

_SAMPLE = 50  # named messages looked up per group: enough for a vote, cheap on any log
_YEAR_SECONDS = 365.2425 * 86400
_CONFIRMED = "messages"


def _years_off(log_time: str, message_date: str) -> int | None:
    """Whole years from a record's time to the date of the message it names."""
    try:
        logged = datetime.fromisoformat(log_time)
        dated = datetime.fromisoformat(message_date)
    except ValueError:
        return None
    if logged.tzinfo is None or dated.tzinfo is None:
        return None
    return round((dated - logged).total_seconds() / _YEAR_SECONDS)


def _moved(text: str, years: int) -> str | None:
    try:
        when = datetime.fromisoformat(text)
        return when.replace(year=when.year + years).isoformat()
    except ValueError:  # 29 February moved to a year without it: a line no such year can hold
        return None


def _vote(db: sqlite3.Connection, group: str, accounts: list[str]) -> int | None:
    """The years most of the group's named messages put between their Date and the log."""
    rows = db.execute(
        "SELECT time, json_extract(fields, '$.message_id') FROM evidence WHERE time_group = ? "
        "AND time_group != '' AND time IS NOT NULL AND json_extract(fields, '$.message_id') != '' LIMIT ?",
        (group, _SAMPLE),
    ).fetchall()
    marks = ",".join("?" * len(accounts))
    votes: Counter[int] = Counter()
    for log_time, message_id in rows:
        found = db.execute(  # through the (account, message_id) index, one probe per account
            f"SELECT date FROM copies WHERE account IN ({marks}) AND message_id = ? AND date IS NOT NULL LIMIT 1",
            (*accounts, str(message_id).strip("<>")),
        ).fetchone()
        off = _years_off(log_time, found[0]) if found else None
        if off is not None:
            votes[off] += 1
    if not votes:
        return None
    years, count = votes.most_common(1)[0]
    return years if count * 2 > sum(votes.values()) else None


def correct_log_years(db: sqlite3.Connection, accounts: list[str]) -> int:
    """Move log records whose years were inferred to the years the named messages give;
    returns how many records moved, in one transaction (the caller's, if one is open)."""
    groups = [r[0] for r in db.execute(
        "SELECT DISTINCT time_group FROM evidence WHERE time_group != '' AND time_basis NOT LIKE ?",
        (_CONFIRMED + "/%",),
    )]  # fmt: skip
    if not groups or not accounts:
        return 0
    moved = 0
    own = not db.in_transaction
    if own:
        db.execute("BEGIN")
    try:
        moved = _correct(db, groups, accounts)
    except BaseException:
        if own:
            db.execute("ROLLBACK")
        raise
    if own:
        db.execute("COMMIT")
    return moved


def _correct(db: sqlite3.Connection, groups: list[str], accounts: list[str]) -> int:
    moved = 0
    for group in groups:
        years = _vote(db, group, accounts)
        if years is None:
            continue  # no named message was gathered, or they disagree: the files' evidence stands
        rows = db.execute(
            "SELECT id, time, time_basis FROM evidence WHERE time_group = ? AND time_group != ''", (group,)
        ).fetchall()
        for row_id, text, basis in rows:
            zone = str(basis).partition("/")[2]
            new = _moved(text, years) if text and years else text
            if new is None:
                continue
            db.execute(
                "UPDATE evidence SET time = ?, time_basis = ? WHERE id = ?",
                (new, f"{_CONFIRMED}/{zone}", row_id),
            )
            moved += new != text
    return moved
