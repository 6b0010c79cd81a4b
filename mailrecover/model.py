"""What plugins find and the core keeps: copies, evidence and problems.

A plugin's ``read`` yields these four kinds of finding and nothing else (``Item``: an
address-book or calendar entry kept beside the mail, never restored as mail).
They are frozen values: the core stores them, it never changes them.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime

__all__ = [
    "Copy",
    "Evidence",
    "LIST_EVIDENCE_KINDS",
    "ListFields",
    "Finding",
    "Flag",
    "Item",
    "ItemKind",
    "Person",
    "Phone",
    "PostalAddress",
    "JournalState",
    "MessageStatus",
    "Problem",
    "ProblemKind",
    "normalize_folder",
]


class Flag(enum.StrEnum):
    """Message state as IMAP names it; every store's flags map onto these."""

    SEEN = "seen"
    ANSWERED = "answered"
    FLAGGED = "flagged"
    DRAFT = "draft"
    DELETED = "deleted"
    FORWARDED = "forwarded"


class ProblemKind(enum.StrEnum):
    UNREADABLE = "unreadable"  # could not be opened or parsed at all
    NOT_MAIL = "not-mail"  # handed to a plugin but is not its kind of store
    TRUNCATED = "truncated"  # cut off; what was there is kept
    DAMAGED = "damaged"  # part of it could be read, part not
    SKIPPED = "skipped"  # readable but deliberately not taken (calendar item, …)
    NEEDS_INPUT = "needs-input"  # readable, but not taken until the user says what it is (--list)
    LIMIT = "limit"  # a resource limit was hit; the copy is kept raw
    MISFILED = "misfiled"  # a sort took back a copy already restored from the account it misfiled
    # (One Message-ID on different mails, and quarantined mail, are no reading problems:
    # the report lists them from the merge's conflicts and the messages' status.)


class MessageStatus(enum.StrEnum):
    """The ownership check's verdict on a merged message, as the workspace stores it."""

    UNCHECKED = "unchecked"  # merged, not yet checked: never restored
    OK = "ok"  # may go to the account
    QUARANTINED = "quarantined"  # delivered to other mailboxes: held back


class JournalState(enum.StrEnum):
    """A restore journal entry's state, as the workspace stores it, per target and key."""

    PENDING = "pending"  # tried, outcome unknown: the target is asked before sending again
    DONE = "done"  # in the target; ``ref`` says where
    END = "end"  # an mbox file's ``file:`` entry: its size after this tool's last write


def normalize_folder(name: str) -> str:
    """One spelling for a folder path: '/'-separated, no empty parts, INBOX upper-case, NFC.

    Only spellings of the same folder become one: a Mac's decomposed ``café`` and ``Inbox``.
    A ``\\`` or spaces at the ends are part of a name (``a\\b`` is not ``a/b``): targets
    clean such names and tag them, so they stay apart (``targets.safe_parts``).
    """
    parts = unicodedata.normalize("NFC", name).split("/")
    parts = [p for p in parts if p and p not in (".", "..")]
    if not parts:
        return "INBOX"
    if parts[0].casefold() == "inbox":
        parts[0] = "INBOX"
    return "/".join(parts)


@dataclass(frozen=True)
class Copy:
    """One message as found in one place.

    ``raw`` is the message exactly as the store holds it, with only the store's own
    wrapping removed (an mbox ``From `` line and ``>From`` quoting, an emlx length
    line and plist, dot-stuffing).  Client bookkeeping headers such as
    ``X-Mozilla-Status`` may be stripped by the plugin that understands them.
    """

    raw: bytes
    folder: str
    source: str  # the file (or URL) the copy came from
    position: str  # where inside the source: an offset, a file name, a UID
    flags: frozenset[Flag] = frozenset()
    # When the mail arrived, by the store's own record (Maildir name stamp, client database,
    # INTERNALDATE, an mbox From line): aware (a zoneless one through arrival.wall_clock).
    internal_date: datetime | None = None
    # The modification time of a file holding only this copy: evidence of arrival only where
    # it agrees with the mail's own dates, since copies and clones reset it (see arrival.py).
    file_time: datetime | None = None
    partial: bool = False  # cut short: a whole copy elsewhere is better
    reconstructed: bool = False  # rebuilt from properties (PST/MSG), not original MIME
    wrapped: bool = False  # its content is locked in TNEF (winmail.dat): its unpacked rebuild is better
    account_hints: tuple[str, ...] = ()  # addresses of the client account it was filed under
    keywords: tuple[str, ...] = ()  # client tags, kept as data
    # Other folders this very copy is in, where its store files one message in several places
    # (Gmail's labels): restored as labels of one message where the target has labels too.
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", normalize_folder(self.folder))
        object.__setattr__(self, "labels", tuple(normalize_folder(label) for label in self.labels))


@dataclass(frozen=True)
class Evidence:
    """A fact that is not a message: a delivery line, a subscription event, …

    ``kind`` names the fact (``delivery``, ``subscribe``, ``unsubscribe``, …);
    ``fields`` carries its values as strings, for example for a delivery:
    ``message_id``, ``sender``, ``recipient``, ``orig_to``, ``status``, ``size``, ``relay``.
    ``time_basis`` says how ``time`` was found where the source left part of it out,
    ``YEAR/ZONE`` (a log line without year or zone: ``chain/local``); records whose years
    came from one anchor share a ``time_group``, so that better evidence can move them together.
    """

    kind: str
    source: str
    position: str
    time: datetime | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    time_basis: str = ""
    time_group: str = ""


#: Kinds of list-manager evidence: ``subscribe`` (joined), ``unsubscribe`` (left),
#: ``member`` (in a member file, roster dump or list of addresses, at the file's time),
#: ``address-change`` (``address`` is the new one, ``old_address`` the old one), ``role`` (the
#: list's ``owner`` or ``moderator``, named in ``role``: no member) and ``roster``
#: (a member file listing *every* member at its time: whoever an earlier snapshot of the same
#: file listed and it leaves out had left by then).
LIST_EVIDENCE_KINDS = ("subscribe", "unsubscribe", "member", "address-change", "role", "roster")


@dataclass(frozen=True)
class ListFields:
    """The fields list evidence carries (``Evidence.fields``; all strings, empty ones left out).

    List-manager plugins build their evidence through it, so a field the core does not know
    (``lists.py``, ``members.py`` read them) cannot be written by mistake.
    """

    list: str = ""  # the list's address (lower-case), or its short name when none is known
    address: str = ""  # the member's address key (``normalize_address``)
    as_written: str = ""  # the address exactly as the file wrote it, when that differs
    name: str = ""  # the display name, kept as data
    how: str = ""  # how it happened or where it was read (``admin mass sub``, ``config.pck``)
    digest: str = ""  # ``yes`` / ``no`` when the source says
    options: str = ""  # an fml member line's delivery options (``m=3u``, ``r=relay``)
    list_id: str = ""  # Mailman 3's list id (``ann.example.com``) as the roster named it
    delivery_mode: str = ""  # Mailman 3's own word for it (``regular``, ``mime_digests`` …)
    nomail: str = ""  # why delivery is off (``by user``, ``by bounce``) while still a member
    nomail_since: str = ""  # when delivery was switched off (ISO 8601), where the source says
    moderated: str = ""  # ``yes`` when the member's posts are held for the moderator
    bouncing: str = ""  # ``yes`` when the list manager was counting bounces (or stopped delivery)
    bounce_score: str = ""  # its bounce score
    role: str = ""  # for ``role``: ``owner`` or ``moderator``
    snapshot: str = ""  # which member-file snapshot a ``member`` or ``roster`` line belongs to
    file: str = ""  # which of a list's member files (fml: ``members``, ``actives``) it was in
    count: str = ""  # how many members a ``roster`` lists
    manager: str = ""  # the plugin that read it (``mailman2``, ``fml``)
    old_address: str = ""  # for ``address-change``
    post_id: str = ""  # on a Mailman 2 ``roster``: grows with every save, orders two snapshots
    last_post_time: str = ""  # the same, where file times a copy made equal say nothing

    @classmethod
    def check(cls, values: Mapping[str, str]) -> dict[str, str]:
        """``values`` as evidence fields, empty ones dropped, in their order; ``TypeError``
        names a field list evidence does not have."""
        cls(**values)
        return {k: v for k, v in values.items() if v}

    @classmethod
    def of(cls, evidence_fields: Mapping[str, str]) -> ListFields:
        """The record of a piece of list evidence (fields it does not have are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in evidence_fields.items() if k in names})


@dataclass(frozen=True)
class Problem:
    """Something that could not be read, or must not be restored, and why (one line)."""

    kind: ProblemKind
    source: str
    position: str
    reason: str

    def __post_init__(self) -> None:
        # Reasons often quote a library's error, which may run over several lines
        # (configparser's does): one line on the terminal and in the report, always.
        if "\n" in self.reason or "\r" in self.reason:
            object.__setattr__(self, "reason", " ".join(self.reason.split()))


class ItemKind(enum.StrEnum):
    """What a non-mail item is; ``export-items`` writes contacts and groups as vCard, events as iCalendar."""

    CONTACT = "contact"
    GROUP = "group"  # a distribution list: its members
    EVENT = "event"  # a calendar item (appointment, meeting)


@dataclass(frozen=True)
class Person:
    """Someone an item names: an attendee, an organizer, a group's member."""

    name: str = ""
    email: str = ""
    role: str = ""  # an attendee's: ``required``, ``optional`` or ``resource``


@dataclass(frozen=True)
class Phone:
    number: str
    kind: str = ""  # ``work``, ``home``, ``cell``, ``fax``, ``pager`` … (vCard's TYPE words)


@dataclass(frozen=True)
class PostalAddress:
    kind: str = ""  # ``work``, ``home`` or ``""`` (other)
    street: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""


@dataclass(frozen=True)
class Item:
    """A contact, distribution list or calendar item found beside the mail (Outlook's
    address book and calendar): kept per account, exported by ``export-items``, never
    restored as mail.  Text fields are empty when the source has no value.

    Times are aware; ``start``/``end`` of an all-day event are the local midnights the
    source stored (``all_day``), of any other event the instants.  ``timezone`` is the
    zone as the source names it (``(UTC+09:00) Osaka, Sapporo, Tokyo``), ``utc_offset``
    its standard offset in minutes east of UTC where known (None: not said).
    """

    kind: ItemKind
    folder: str
    source: str
    position: str
    uid: str = ""  # the source's own stable id, where it has one
    # a contact's names, or the event's summary / group's name in ``full_name`` / ``summary``
    full_name: str = ""
    given_name: str = ""
    family_name: str = ""
    middle_name: str = ""
    prefix: str = ""
    suffix: str = ""
    nickname: str = ""
    emails: tuple[str, ...] = ()
    phones: tuple[Phone, ...] = ()
    addresses: tuple[PostalAddress, ...] = ()
    organization: str = ""
    department: str = ""
    title: str = ""
    birthday: date | None = None
    web: str = ""
    members: tuple[Person, ...] = ()  # a group's
    summary: str = ""
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    timezone: str = ""
    utc_offset: int | None = None
    location: str = ""
    organizer: Person | None = None
    attendees: tuple[Person, ...] = ()
    recurrence: str = ""  # an RFC 5545 RRULE value (``FREQ=WEEKLY;BYDAY=TU``)
    body: str = ""  # a contact's notes, an event's description
    created: datetime | None = None
    modified: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", normalize_folder(self.folder))


Finding = Copy | Evidence | Problem | Item
