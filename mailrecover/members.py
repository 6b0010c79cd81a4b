"""Rebuilding mailing-list rosters from evidence: per list, per address, a timeline and a verdict.

Every piece of evidence about a list (from list-manager files, gathered mail and mail-log
delivery lines) becomes an event for one address.  Events that put an address on the list
(subscribed, found in a member file, sent a list post, bounced a list post) and events that
take it off (unsubscribed, address changed away, left out of a complete member file that an
earlier snapshot of the same file listed it in) are
ordered by time; the last one decides: ``member`` or ``left``.  An address seen only as a
poster is ``unknown``.  A member whose latest list mail bounced stays a member, marked
``bouncing``.  The list's own addresses (``-owner``, ``-bounces``, …) are never members.

Times without a zone (list-manager logs) are taken as UTC, and every time is shown in UTC.
A member file's time is its modification time, so a restored backup that lost its times can
make a member file look newer than it is: the CSV names every line behind a verdict so an
owner can check.
"""

from __future__ import annotations

import enum
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from .clean import is_addr_spec, terminal_safe, write_csv
from .errors import UsageError
from .lists import evidence_from_deliveries, is_list_address, scan_workspace
from .logtimes import correct_log_years
from .model import Evidence, Problem, ProblemKind
from .rfc822 import normalize_address
from .words import counted

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "Effect",
    "Event",
    "ExportFormat",
    "Exported",
    "ListPicture",
    "Member",
    "Status",
    "export",
    "export_files",
    "find_list",
    "from_workspace",
    "reconstruct",
    "render_summary",
    "summary",
    "to_json",
]


class Status(enum.StrEnum):
    MEMBER = "member"
    LEFT = "left"
    UNKNOWN = "unknown"


class Effect(enum.IntEnum):
    """What an event does to membership; the value orders events at the same instant."""

    NONE = 0
    JOIN = 1
    LEAVE = 2


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    MAILMAN2 = "mailman2"
    MAILMAN3 = "mailman3"
    FML = "fml"


_JOINS = {"subscribe", "member", "delivered", "deferred", "received", "bounce", "auto-reply"}
_LEAVES = {"unsubscribe"}
_NEUTRAL = {"post"}
_LIST_KINDS = _JOINS | _LEAVES | _NEUTRAL | {"address-change", "roster", "role"}
_FROM_MAIL = ("mail", "mail-log")  # managers whose evidence says nothing of a member's options
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """One fact on one address's timeline, with the evidence line behind it."""

    time: datetime | None
    kind: str
    effect: Effect
    evidence: Evidence
    note: str = ""

    def describe(self) -> str:
        when = self.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if self.time else "undated"
        f = self.evidence.fields
        how = self.note or f.get("how", "")
        where = self.evidence.source + (f":{self.evidence.position}" if self.evidence.position else "")
        return f"{when} {self.kind}{f' ({how})' if how else ''} [{where}]"


@dataclass
class Member:
    """What is known of one address on one list."""

    address: str
    events: list[Event] = field(default_factory=list)
    status: Status = Status.UNKNOWN
    bouncing: bool = False
    name: str = ""
    digest: bool | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    nomail: str = ""  # why delivery is off (``by user``, ``by admin``, ``by bounce``, ``off``…), '' when on
    nomail_since: str = ""
    moderated: bool = False
    options: str = ""  # the list manager's own options on the member's line (fml ``m=3u``)
    doubts: list[str] = field(default_factory=list)  # what makes the verdict unsure, for the owner

    def decide(self) -> None:
        self.events.sort(key=lambda e: (e.time or _EPOCH, e.effect))
        self.status, self.bouncing = Status.UNKNOWN, False
        self.nomail, self.nomail_since, self.moderated, self.options = "", "", False, ""
        for e in self.events:
            f = e.evidence.fields
            if e.effect is Effect.JOIN:
                self.status = Status.MEMBER
            elif e.effect is Effect.LEAVE:
                self.status = Status.LEFT
            if e.kind == "member" and f.get("manager") not in _FROM_MAIL:
                self.nomail, self.nomail_since = f.get("nomail", ""), f.get("nomail_since", "")
                self.moderated = f.get("moderated") == "yes"
                self.options = f.get("options", self.options if f.get("manager") != "fml" else "")
            elif e.kind in ("delivered", "received", "subscribe") or e.effect is Effect.LEAVE:
                self.nomail, self.nomail_since = "", ""  # mail reached them, or they started afresh
            if e.kind == "bounce" or f.get("bouncing") == "yes" or f.get("nomail") == "by bounce":
                self.bouncing = True
            elif e.kind in ("delivered", "received", "subscribe"):
                self.bouncing = False
            if f.get("name") and e.effect is not Effect.LEAVE:
                self.name = f["name"]
            if f.get("digest") in ("yes", "no") and e.kind != "post":
                self.digest = f["digest"] == "yes"
        times = [e.time for e in self.events if e.time]
        self.first_seen = min(times) if times else None
        self.last_seen = max(times) if times else None
        if self.status is not Status.MEMBER:
            self.bouncing = False

    @property
    def label(self) -> str:
        """The status as the CSV says it: ``member``, ``member-bouncing``, ``left``, ``unknown``."""
        return "member-bouncing" if self.bouncing else str(self.status)


@dataclass
class ListPicture:
    """One list: every address seen on it, by address key."""

    address: str
    members: dict[str, Member] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)  # ``owner`` / ``moderator`` → addresses
    notes: list[str] = field(default_factory=list)  # what could not be decided, for the owner

    def current(self) -> list[Member]:
        return sorted(
            (m for m in self.members.values() if m.status is Status.MEMBER), key=lambda m: m.address
        )

    def member(self, address: str) -> Member:
        if address not in self.members:
            self.members[address] = Member(address)
        return self.members[address]


def _canonical_lists(evidence: list[Evidence]) -> dict[str, str]:
    """Each list key as found → the key used: a short name joins the one address with that local part."""
    keys = {e.fields.get("list", "") for e in evidence} - {""}
    full = {k for k in keys if "@" in k}
    by_local: dict[str, set[str]] = {}
    for k in full:
        by_local.setdefault(k.partition("@")[0], set()).add(k)
    mapping = {}
    for k in keys:
        candidates = by_local.get(k, set()) if "@" not in k else set()
        mapping[k] = next(iter(candidates)) if len(candidates) == 1 else k
    return mapping


def _once(evidence: Iterable[Evidence]) -> Iterator[Evidence]:
    """Each fact once: copies of one mail in several places say the same thing."""
    seen: set[tuple[str, ...]] = set()
    for e in evidence:
        f = e.fields
        if f.get("message_id") and f.get("manager") == "mail":
            key = (e.kind, f.get("list", ""), f.get("address", ""), f["message_id"])
            if key in seen:
                continue
            seen.add(key)
        yield e


def reconstruct(evidence: Iterable[Evidence]) -> dict[str, ListPicture]:
    """Every list found in the evidence, each address on it with its timeline and status."""
    items = [e for e in _once(evidence) if e.kind in _LIST_KINDS or e.kind == "delivery"]
    known = {e.fields.get("list", "") for e in items if e.kind != "delivery"}
    items = [e for e in items if e.kind != "delivery"] + list(
        evidence_from_deliveries((e for e in items if e.kind == "delivery"), known)
    )
    mapping = _canonical_lists(items)
    all_lists = set(mapping.values())
    items, undecided = _order_snapshots(items, mapping)
    pictures: dict[str, ListPicture] = {}
    rosters: list[tuple[str, Evidence]] = []
    snapshots: dict[tuple[str, str], set[str]] = {}

    verdicts: dict[str, bool] = {}

    def excluded(address: str) -> bool:
        if address not in verdicts:
            verdicts[address] = any(address == k or is_list_address(address, k) for k in all_lists)
        return verdicts[address]

    for e in items:
        list_key = mapping.get(e.fields.get("list", ""), "")
        if not list_key:
            continue
        picture = pictures.setdefault(list_key, ListPicture(list_key))
        if e.kind == "roster":
            rosters.append((list_key, e))
            continue
        address = e.fields.get("address", "")
        if e.kind == "role":
            if address:
                picture.roles.setdefault(e.fields.get("role", "owner"), set()).add(address)
            continue
        if not address or excluded(address):
            continue
        if e.kind == "address-change":
            old = e.fields.get("old_address", "")
            picture.member(address).events.append(
                Event(e.time, "address-change", Effect.JOIN, e, f"from {old}")
            )
            if old and not excluded(old):
                picture.member(old).events.append(
                    Event(e.time, "address-change", Effect.LEAVE, e, f"to {address}")
                )
            continue
        if e.kind == "member" and e.fields.get("snapshot"):
            snapshots.setdefault((list_key, e.fields["snapshot"]), set()).add(address)
        effect = Effect.JOIN if e.kind in _JOINS else Effect.LEAVE if e.kind in _LEAVES else Effect.NONE
        picture.member(address).events.append(Event(e.time, e.kind, effect, e))
    for list_key, roster in rosters:
        _apply_roster(
            pictures[list_key], roster, snapshots.get((list_key, roster.fields.get("snapshot", "")), set())
        )
    for (list_key, _), note in undecided.items():
        pictures[list_key].notes.append(note)
    for picture in pictures.values():
        for m in picture.members.values():
            m.decide()
            m.doubts.extend(
                sorted({n for e in m.events if (n := e.evidence.fields.get("order_undecided", ""))})
            )
        for m in picture.members.values():  # a changed address keeps its owner's name
            old = next(
                (
                    e.evidence.fields.get("old_address", "")
                    for e in m.events
                    if e.kind == "address-change" and e.effect is Effect.JOIN
                ),
                "",
            )
            if not m.name and old in picture.members:
                m.name = picture.members[old].name
    return pictures


def from_workspace(ws: Workspace) -> dict[str, ListPicture]:
    """Every list in a workspace: list-manager evidence, delivery lines and gathered mail."""
    correct_log_years(ws.db, ws.accounts())  # a delivery line's year dates a membership
    return reconstruct(scan_workspace(ws))


def _family(snapshot: str) -> str:
    """Which member file a snapshot is of: the file itself and its ``.bak`` / ``.last`` copies."""
    path = snapshot.rpartition("#")[0] or snapshot
    for suffix in (".bak", ".last"):
        path = path.removesuffix(suffix)
    return path


_TIE = timedelta(seconds=2)  # file times this close say nothing of which copy is older
_Snapshot = tuple[str, list[int], Evidence]  # (snapshot, its evidence's indexes, its roster)


def _order_snapshots(
    items: list[Evidence], mapping: Mapping[str, str]
) -> tuple[list[Evidence], dict[tuple[str, str], str]]:
    """Two snapshots of one member file whose file times tie (``config.pck`` and
    ``config.pck.last`` copied without ``-p``) put in order by what they hold (Mailman's
    ``post_id`` / ``last_post_time`` grow with every save), else by the log (who joined or
    left between them); the older one is re-dated to just before the newer one and before
    the log lines that tell them apart.  The ties neither decides are returned, by (list,
    file), with a sentence for the owner, and their evidence carries ``order_undecided``.
    """
    groups: dict[tuple[str, str], dict[str, list[int]]] = {}
    for i, e in enumerate(items):
        if (snap := e.fields.get("snapshot", "")) and e.kind in ("member", "roster"):
            key = (mapping.get(e.fields.get("list", ""), ""), _family(snap))
            groups.setdefault(key, {}).setdefault(snap, []).append(i)
    items = list(items)
    undecided: dict[tuple[str, str], str] = {}
    for (list_key, family), snaps in groups.items():
        found: list[_Snapshot] = []
        for snap, idx in sorted(snaps.items()):
            roster = next((items[i] for i in idx if items[i].kind == "roster"), None)
            if roster is not None and roster.time is not None:
                found.append((snap, idx, roster))
        if len(found) != 2:
            continue
        a, b = found
        assert a[2].time is not None and b[2].time is not None
        if abs(a[2].time - b[2].time) > _TIE:
            continue
        decided = _older(items, list_key, mapping, a, b)
        if decided is None:
            names = " and ".join(os.path.basename(s.rpartition("#")[0] or s) for s, _, _ in found)
            note = (
                f"{names} have the same file time and neither their content nor the log says which "
                f"is older: who is in only one of them is uncertain"
            )
            undecided[(list_key, family)] = note
            for i in a[1] + b[1]:
                items[i] = replace(items[i], fields={**items[i].fields, "order_undecided": note})
            continue
        (old, new), how, explained = decided
        assert new[2].time is not None
        when = min([new[2].time, *explained]) - timedelta(seconds=1)
        for i in old[1]:
            items[i] = replace(items[i], time=when, fields={**items[i].fields, "order": how})
    return items, undecided


def _older(
    items: list[Evidence], list_key: str, mapping: Mapping[str, str], a: _Snapshot, b: _Snapshot
) -> tuple[tuple[_Snapshot, _Snapshot], str, list[datetime]] | None:
    """((older, newer), how it was told, times of the log lines between them), or None."""

    def members(s: _Snapshot) -> set[str]:
        return {items[i].fields.get("address", "") for i in s[1] if items[i].kind == "member"}

    only_a, only_b = members(a) - members(b), members(b) - members(a)
    latest: dict[str, Evidence] = {}  # each differing address's last join or leave in the log
    for e in items:
        address = e.fields.get("address", "")
        if (
            e.kind in ("subscribe", "unsubscribe")
            and e.time is not None
            and not e.fields.get("snapshot")
            and address in only_a | only_b
            and mapping.get(e.fields.get("list", ""), "") == list_key
            and (address not in latest or (latest[address].time or e.time) <= e.time)
        ):
            latest[address] = e
    votes: dict[bool, list[datetime]] = {True: [], False: []}  # True: a is the older one
    for address, e in latest.items():
        assert e.time is not None
        votes[(e.kind == "unsubscribe") == (address in only_a)].append(e.time)
    for mark in ("post_id", "last_post_time"):
        va, vb = a[2].fields.get(mark, ""), b[2].fields.get(mark, "")
        if va and vb and va != vb:
            a_older = (float(va) < float(vb)) if mark == "post_id" else va < vb
            return ((a, b) if a_older else (b, a)), f"the older save by its {mark}", votes[a_older]
    if bool(votes[True]) == bool(votes[False]):
        return None
    a_older = bool(votes[True])
    return ((a, b) if a_older else (b, a)), "the older copy by the log", votes[a_older]


def _apply_roster(picture: ListPicture, roster: Evidence, present: set[str]) -> None:
    """Whoever an earlier snapshot of the same member file listed, and this complete one leaves
    out, had left by then (unless something after that earlier snapshot says otherwise).

    Only snapshots of one file are compared: their order is the file's own, while a member
    file's time against other sources' times rests on a modification time a backup may lose.
    """
    if roster.time is None:
        return
    family = _family(roster.fields.get("snapshot", ""))
    for address, m in picture.members.items():
        if address in present:
            continue
        listed = any(
            e.kind == "member"
            and e.time
            and e.time < roster.time
            and _family(e.evidence.fields.get("snapshot", "")) == family
            for e in m.events
        )
        before = [e for e in m.events if e.time and e.time < roster.time and e.effect is not Effect.NONE]
        before.sort(key=lambda e: (e.time or _EPOCH, e.effect))
        if listed and before and before[-1].effect is Effect.JOIN:
            note = f"not in the complete member file ({roster.fields.get('how', '')})"
            m.events.append(Event(roster.time, "absent", Effect.LEAVE, roster, note))


def find_list(pictures: Mapping[str, ListPicture], wanted: str) -> ListPicture:
    """The list named by address or short name; UsageError naming the lists found otherwise."""
    key = normalize_address(wanted) if "@" in wanted else wanted.lower()
    if key in pictures:
        return pictures[key]
    matches = [p for k, p in pictures.items() if "@" not in key and k.partition("@")[0] == key]
    if len(matches) == 1:
        return matches[0]
    raise UsageError(f"no list {wanted!r} in the evidence; found: {', '.join(sorted(pictures)) or 'none'}")


def summary(pictures: Mapping[str, ListPicture]) -> list[dict[str, object]]:
    """One row per list: its key and how many addresses are members, bouncing, left, unknown."""
    rows = []
    for key in sorted(pictures):
        ms = pictures[key].members.values()
        rows.append(
            {
                "list": key,
                "members": sum(1 for m in ms if m.status is Status.MEMBER),
                "bouncing": sum(1 for m in ms if m.bouncing),
                "left": sum(1 for m in ms if m.status is Status.LEFT),
                "unknown": sum(1 for m in ms if m.status is Status.UNKNOWN),
            }
        )
    return rows


def render_summary(rows: list[dict[str, object]]) -> str:
    if not rows:
        return "no mailing lists found in the evidence"
    width = max(len(str(r["list"])) for r in rows)
    lines = []
    for r in rows:
        n = {key: value if isinstance(value, int) else 0 for key, value in r.items()}  # the counts of the row
        lines.append(
            f"{terminal_safe(str(r['list'])):<{width}}  {counted(n['members'], 'member')} "
            f"({n['bouncing']:,} bouncing), {n['left']:,} left, {n['unknown']:,} unknown"
        )
    return "\n".join(lines)


def _iso(t: datetime | None) -> str:
    """Times in UTC: events from sources in many zones read in one order."""
    return t.astimezone(UTC).isoformat() if t else ""


def _with_name(m: Member) -> str:
    """``Name <address>``; the name without control characters, so it stays on its line."""
    if not m.name:
        return m.address
    name = terminal_safe(m.name).replace("\\", "\\\\").replace('"', '\\"')
    if any(c in name for c in '()<>@,;:\\".[]'):
        name = f'"{name}"'
    return f"{name} <{m.address}>"


class Exported(NamedTuple):
    """An export's text, and the addresses left out of it as problems (to be shown)."""

    text: str
    left_out: list[Problem]


def _left_out(m: Member, list_address: str) -> Problem:
    first = m.events[0].evidence if m.events else None
    return Problem(
        ProblemKind.SKIPPED,
        first.source if first else list_address,
        first.position if first else "",
        f"left out of the export of {list_address}: {m.address!r} is not an address a list manager can take",
    )


def export(picture: ListPicture, fmt: ExportFormat | str) -> Exported:
    """The list in a tool's input format: its current members only, except CSV (every address).

    Each entry is one line, whatever the sources held: names lose their control characters,
    and an address that is not a plain addr-spec (``is_addr_spec``) is left out, as a problem,
    since a list manager would read it as something else (a second entry, a broken line).
    """
    fmt = ExportFormat(fmt)
    order = {Status.MEMBER: 0, Status.UNKNOWN: 1, Status.LEFT: 2}
    chosen = (
        sorted(picture.members.values(), key=lambda m: (order[m.status], m.address))
        if fmt is ExportFormat.CSV
        else picture.current()
    )
    members = [m for m in chosen if is_addr_spec(m.address)]
    left_out = [_left_out(m, picture.address) for m in chosen if not is_addr_spec(m.address)]
    if fmt is ExportFormat.MAILMAN2 or fmt is ExportFormat.MAILMAN3:
        return Exported("".join(f"{_with_name(m)}\n" for m in members), left_out)
    if fmt is ExportFormat.FML:
        return Exported("".join(f"{m.address}\n" for m in members), left_out)
    out = io.StringIO()
    write_csv(
        out,
        ["address", "name", "status", "first_seen", "last_seen", "evidence", "digest", "nomail", "moderated"],
        (
            [
                m.address,
                m.name,
                m.label,
                _iso(m.first_seen),
                _iso(m.last_seen),
                "; ".join(e.describe() for e in m.events),
                "" if m.digest is None else "yes" if m.digest else "no",
                f"{m.nomail} since {m.nomail_since}" if m.nomail and m.nomail_since else m.nomail,
                "yes" if m.moderated else "",
            ]
            for m in members
        ),
    )
    return Exported(out.getvalue(), left_out)


#: Mailman 2 has no command that switches a member's delivery off: this withlist script (run
#: by ``commands.sh``) does it through Mailman's own API, from ``nomail.txt``'s sections.
_MAILMAN2_NOMAIL = """\
# Python 2, run by Mailman 2's withlist: PYTHONPATH=THIS_DIR bin/withlist -l -r mailrecover_nomail LIST
import os
from Mailman import MemberAdaptor

_WHY = {'by user': MemberAdaptor.BYUSER, 'by admin': MemberAdaptor.BYADMIN,
        'by bounce': MemberAdaptor.BYBOUNCE}


def mailrecover_nomail(mlist):
    why = MemberAdaptor.BYADMIN
    for line in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'nomail.txt')):
        line = line.strip()
        if line.startswith('#'):
            why = _WHY.get(line.lstrip('# '), MemberAdaptor.BYADMIN)
        elif line and mlist.isMember(line):
            mlist.setDeliveryStatus(line, why)
    mlist.Save()
"""


def _nomail_sections(members: list[Member]) -> str:
    """``nomail.txt``: one ``# by …`` section per reason (list managers skip ``#`` lines)."""
    out = []
    for why in sorted({m.nomail for m in members}):
        out.append(f"# {why}\n" + "".join(f"{m.address}\n" for m in members if m.nomail == why))
    return "".join(out)


def export_files(picture: ListPicture, fmt: ExportFormat | str) -> tuple[dict[str, str], list[Problem]]:
    """The current members as the files a list manager takes, options kept apart, and a
    ``commands.sh`` that says how to load them (never run by mailrecover).

    Mailman 2: ``regular.txt`` / ``digest.txt`` for ``add_members -r … -d …``, and
    ``nomail.txt`` (those whose delivery was off, by reason) set by ``mailrecover_nomail.py``
    through ``withlist``.  Mailman 3: one file per delivery mode for ``mailman addmembers -d``
    (``disabled`` for delivery off).  fml: ``members`` (everyone who belongs) and ``actives``
    (who receives, ``#<tab>addr`` for delivery off, options such as ``m=3u`` kept).
    Entries go through the same cleaning as ``export`` (addr-spec only, names on one line).
    """
    fmt = ExportFormat(fmt)
    current = picture.current()
    members = [m for m in current if is_addr_spec(m.address)]
    left_out = [_left_out(m, picture.address) for m in current if not is_addr_spec(m.address)]

    def lines(chosen: Iterable[Member]) -> str:
        return "".join(f"{_with_name(m)}\n" for m in chosen)

    name = picture.address
    files: dict[str, str] = {}
    if fmt is ExportFormat.MAILMAN2:
        files["regular.txt"] = lines(m for m in members if not m.digest)
        files["digest.txt"] = lines(m for m in members if m.digest)
        files["nomail.txt"] = _nomail_sections([m for m in members if m.nomail])
        files["mailrecover_nomail.py"] = _MAILMAN2_NOMAIL
        short = name.partition("@")[0]
        files["commands.sh"] = (
            "# Mailman 2.1, from its home (e.g. /usr/lib/mailman), with this folder as DIR:\n"
            f"bin/add_members -r DIR/regular.txt -d DIR/digest.txt -w n -a n {short}\n"
            "# then delivery off again for those who had it off (nomail.txt, by reason):\n"
            f"PYTHONPATH=DIR bin/withlist -l -r mailrecover_nomail {short}\n"
        )
    elif fmt is ExportFormat.MAILMAN3:
        off = [m for m in members if m.nomail]
        files["regular.txt"] = lines(m for m in members if not m.digest and not m.nomail)
        files["digest.txt"] = lines(m for m in members if m.digest and not m.nomail)
        files["nomail.txt"] = _nomail_sections(off)
        files["commands.sh"] = (
            "# Mailman 3, with this folder as DIR:\n"
            f"mailman addmembers --delivery regular --no-welcome-msg DIR/regular.txt {name}\n"
            f"mailman addmembers --delivery mime --no-welcome-msg DIR/digest.txt {name}\n"
            f"mailman addmembers --delivery disabled --no-welcome-msg DIR/nomail.txt {name}\n"
        )
    elif fmt is ExportFormat.FML:
        files["members"] = "".join(f"{m.address}\n" for m in members)
        files["actives"] = "".join(
            f"#\t{m.address}\n" if m.nomail else f"{m.address}{' ' + m.options if m.options else ''}\n"
            for m in members
        )
        files["commands.sh"] = (
            "# fml 4, in the list's directory (e.g. /var/spool/ml/LIST), with this folder as DIR:\n"
            "cp DIR/members members && cp DIR/actives actives\n"
        )
    else:
        raise UsageError("--output writes a list manager's files: choose --format mailman2, mailman3 or fml")
    return files, left_out


def _event_json(e: Event) -> dict[str, object]:
    return {
        "time": _iso(e.time),
        "kind": e.kind,
        "effect": e.effect.name.lower(),
        "note": e.note,
        "source": e.evidence.source,
        "position": e.evidence.position,
        "fields": dict(e.evidence.fields),
    }


def to_json(pictures: Iterable[ListPicture]) -> list[dict[str, object]]:
    """The full picture: per list, per address, status and every event behind it."""
    return [
        {
            "list": p.address,
            "roles": {role: sorted(addresses) for role, addresses in sorted(p.roles.items())},
            "notes": p.notes,
            "members": [
                {
                    "address": m.address,
                    "name": m.name,
                    "status": str(m.status),
                    "bouncing": m.bouncing,
                    "digest": m.digest,
                    "nomail": m.nomail,
                    "nomail_since": m.nomail_since,
                    "moderated": m.moderated,
                    "doubts": m.doubts,
                    "first_seen": _iso(m.first_seen),
                    "last_seen": _iso(m.last_seen),
                    "events": [_event_json(e) for e in m.events],
                }
                for m in sorted(p.members.values(), key=lambda m: m.address)
            ],
        }
        for p in pictures
    ]
