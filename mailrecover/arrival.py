"""When a copy arrived in its mailbox, from the best evidence it carries, and which one that was.

The order, best first (DESIGN "Times"):

1. ``store``: the store's own record of the arrival, as the plugin read it from the store
   (a Maildir file-name stamp, a client database, an emlx plist, PST delivery time, IMAP
   INTERNALDATE, an mbox ``From `` line); it survives any copy of the store.  Unless it
   lies more than ``AGREES`` after the last hop's ``Received:`` date: the server delivered
   the mail then, so the store wrote it down later, as a migration, a POP download after a
   holiday or a re-filing does (Dovecot names a Maildir file by the time it saves it, even
   for mail an IMAP migration appends with its old date);
2. ``mtime``: the file's modification time, only where it agrees (``AGREES``) with the last
   hop's ``Received:`` date or, without one, the ``Date:`` header.  A delivery agent sets it
   to the second of arrival (Dovecot, MH), but ``cp`` without ``-p``, ``git clone``, zip tools
   and many backup restores reset it to "now": only agreement tells the two apart;
3. ``received``: the last hop's ``Received:`` date, stamped by the server that delivered it;
4. ``date``: the ``Date:`` header, the sender's clock;
5. ``none``: nothing usable; the restore then stamps the time the copy was gathered.

A time is no evidence at all when it is impossible: before ``EARLIEST`` (epoch-0 and
"1965" placeholders that stores write for "unknown") or more than ``AHEAD`` after the
moment it was read.  A store record without a zone (an mbox ``From `` line) is wall-clock
time of the machine that wrote it: plugins hand it over through ``wall_clock``, which reads
it in this machine's local zone (the rescue machine usually stands where the mail was read).

Plugins only say what they found (``Copy.internal_date`` for a store record,
``Copy.file_time`` for a file's mtime); this module alone decides which one counts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

__all__ = ["AGREES", "AHEAD", "EARLIEST", "TimeSource", "arrival", "best_arrival", "wall_clock"]


class TimeSource(enum.StrEnum):
    """Which evidence a copy's (or message's) arrival time came from."""

    STORE = "store"
    MTIME = "mtime"
    LEGACY = "legacy"  # gathered before this rule: a store record or a file time, not told apart
    RECEIVED = "received"
    DATE = "date"
    NONE = "none"


#: How far a file time may lie from the Received/Date evidence and still be the arrival:
#: a Date from a sender's clock in the wrong zone is off by up to 26 hours, and servers retry
#: deferred mail for a day or more; a copied backup or a fresh clone is weeks or years away.
AGREES = timedelta(days=2)

#: Earlier than this, a time is a store's placeholder for "unknown" (0, or Thunderbird's 1965).
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)

#: Mail cannot arrive after it was read: a time this far past reading is a broken clock.
AHEAD = timedelta(days=1)

#: Better evidence ranks higher (``best_arrival`` compares copies of one message by it).
_RANK = {
    TimeSource.STORE: 6,
    TimeSource.MTIME: 5,
    TimeSource.LEGACY: 4,
    TimeSource.RECEIVED: 3,
    TimeSource.DATE: 2,
    TimeSource.NONE: 0,
}


def wall_clock(when: datetime) -> datetime | None:
    """A time a store wrote without a zone, as an aware time: read in this machine's zone.
    None for a time the platform cannot place (years beyond its clock)."""
    try:
        return _aware(when)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(when: datetime) -> datetime:
    """A time with its zone; a naive one is wall-clock time here (``astimezone`` reads it so)."""
    return when if when.tzinfo is not None else when.astimezone()


def _plausible(when: datetime | None, now: datetime) -> datetime | None:
    if when is None:
        return None
    try:
        when = _aware(when)
    except (OverflowError, OSError, ValueError):  # a naive time the platform cannot place
        return None
    return when if EARLIEST <= when <= now + AHEAD else None


def arrival(
    store: datetime | None,
    file_time: datetime | None,
    received: datetime | None,
    date: datetime | None,
    now: datetime | None = None,
) -> tuple[datetime | None, TimeSource]:
    """A copy's arrival time and its source, from the store's record, the file's mtime, the
    last hop's Received date and the Date header (any may be None); ``now`` is when it was read."""
    now = now or datetime.now(UTC)
    found, received, date = _plausible(store, now), _plausible(received, now), _plausible(date, now)
    if found is not None and (received is None or found - received <= AGREES):
        return found, TimeSource.STORE
    mtime = _plausible(file_time, now)
    witness = received or date
    if mtime is not None and witness is not None and abs(mtime - witness) <= AGREES:
        return mtime, TimeSource.MTIME
    if received is not None:
        return received, TimeSource.RECEIVED
    if date is not None:
        return date, TimeSource.DATE
    return None, TimeSource.NONE


def best_arrival(copies: Iterable[tuple[str | None, str | None]]) -> tuple[str | None, str]:
    """A message's arrival (ISO text) and source from its copies' ``(arrival, source)``.

    The best evidence wins, whichever copy carries it (the canonical copy is chosen for its
    bytes, not its dates); among equal evidence the earliest time, since a later record of
    the same mail is a refiling, a copy or an upload, not its arrival.
    """
    best: tuple[int, datetime] | None = None
    chosen: tuple[str | None, str] = (None, TimeSource.NONE.value)
    for when, source in copies:
        if not when:
            continue
        try:
            kind = TimeSource(source) if source else TimeSource.LEGACY
            rank = (-_RANK[kind], _aware(datetime.fromisoformat(when)))
        except (ValueError, OverflowError, OSError):
            continue
        if best is None or rank < best:
            best, chosen = rank, (when, kind.value)
    return chosen
