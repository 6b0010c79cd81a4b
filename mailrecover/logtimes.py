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

from .workspace import store

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
    votes: Counter[int] = Counter()
    for log_time, message_id in store.time_group_sample(db, group, _SAMPLE):
        found = store.message_date(db, accounts, str(message_id).strip("<>"))
        off = _years_off(log_time, found) if found is not None else None
        if off is not None:
            votes[off] += 1
    if not votes:
        return None
    years, count = votes.most_common(1)[0]
    return years if count * 2 > sum(votes.values()) else None


def correct_log_years(db: sqlite3.Connection, accounts: list[str]) -> int:
    """Move log records whose years were inferred to the years the named messages give;
    returns how many records moved, in one transaction (the caller's, if one is open)."""
    groups = store.unconfirmed_time_groups(db, _CONFIRMED)
    if not groups or not accounts:
        return 0
    with store.joined_transaction(db):
        moved = _correct(db, groups, accounts)
    return moved


def _correct(db: sqlite3.Connection, groups: list[str], accounts: list[str]) -> int:
    moved = 0
    for group in groups:
        years = _vote(db, group, accounts)
        if years is None:
            continue  # no named message was gathered, or they disagree: the files' evidence stands
        for row_id, text, basis in store.time_group_records(db, group):
            zone = str(basis).partition("/")[2]
            new = _moved(text, years) if text and years else text
            if new is None:
                continue
            store.retime_record(db, row_id, new, f"{_CONFIRMED}/{zone}")
            moved += new != text
    return moved
