"""Outlook contacts, distribution lists and calendar items: read as items, checked against
readpst's own vCard and iCalendar output of the same files."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import vobject
from mailrecover_outlook import _mapi as p
from mailrecover_outlook._items import item_of, recurrence_rule
from mailrecover_outlook._mapi import MapiObject
from mailrecover_outlook.pst import PstPlugin

from mailrecover.model import Item, ItemKind, Person, Phone, PostalAddress
from mailrecover.plugin import ReadContext


def _items(path: Path) -> dict[ItemKind, list[Item]]:
    found: dict[ItemKind, list[Item]] = {}
    for f in PstPlugin().read(str(path), ReadContext()):
        if isinstance(f, Item):
            found.setdefault(f.kind, []).append(f)
    return found


def _readpst(pst: Path, out: Path) -> dict[str, list]:
    """readpst's contacts (-cv: vCard) and appointments, parsed: folder -> components."""
    if not shutil.which("readpst"):
        pytest.skip("readpst (Debian package pst-utils) is not installed")
    out.mkdir()
    subprocess.run(
        ["readpst", "-q", "-j", "0", "-t", "ca", "-cv", "-o", str(out), str(pst)],
        check=True,
        capture_output=True,
    )
    return {
        f.stem: list(vobject.readComponents(f.read_text())) for f in sorted(out.rglob("*")) if f.is_file()
    }


def test_dist_list_pst_items_match_readpst(corpus, tmp_path):
    pst = corpus / "pst" / "javalibpst_dist-list.pst"
    found = _items(pst)
    theirs = _readpst(pst, tmp_path / "readpst")
    (contact,) = found[ItemKind.CONTACT]
    (card,) = theirs["Contacts"]
    assert contact.folder == "Contacts"
    assert contact.emails == (card.email.value,) == ("contact1@rjohnson.id.au",)
    assert (contact.family_name, contact.given_name, contact.middle_name) == (
        card.n.value.family,
        card.n.value.given,
        card.n.value.additional,
    )
    assert contact.full_name == "contact name 1"
    (event,) = found[ItemKind.EVENT]
    (calendar,) = theirs["Calendar"]
    vevent = calendar.vevent
    assert event.folder == "Calendar"
    assert event.summary == vevent.summary.value == "Test appointment"
    assert event.start == vevent.dtstart.value == datetime(2016, 8, 2, 15, 0, tzinfo=UTC)
    assert event.end == vevent.dtend.value
    assert event.recurrence == vevent.rrule.value == "FREQ=WEEKLY;BYDAY=TU"
    assert event.body == vevent.description.value.strip()
    assert event.timezone == "(UTC-08:00) Pacific Time (US & Canada)" and event.utc_offset == -480
    (group,) = found[ItemKind.GROUP]  # readpst writes no distribution lists: checked by their names
    assert group.full_name == "test dist list"
    assert group.members == (
        Person("contact name 1", "contact1@rjohnson.id.au"),
        Person("dist name 1", "dist1@rjohnson.id.au"),
        Person("dist name 2", "dist2@rjohnson.id.au"),
    )


def test_ansi_pst_calendar_item_matches_readpst_with_its_attendees(corpus, tmp_path):
    pst = corpus / "pst" / "gopst_32-bit.pst"
    (event,) = _items(pst)[ItemKind.EVENT]
    (calendar,) = _readpst(pst, tmp_path / "readpst")["Calendar"]
    assert event.summary == calendar.vevent.summary.value == "Updated: Olympus training for new hires"
    assert (event.start, event.end) == (calendar.vevent.dtstart.value, calendar.vevent.dtend.value)
    assert event.body == calendar.vevent.description.value.strip()
    assert [(a.email, a.role) for a in event.attendees] == [
        ("Patty.Fukasawa@stellent.com", "required"),
        ("Barb.Tentinger@stellent.com", "required"),
        ("Zeeshan.Farooq@stellent.com", "required"),
        ("John.Harrison@stellent.com", "optional"),
        ("Al.Senzamici@stellent.com", "optional"),
        ("Vince.Raso@stellent.com", "optional"),
    ]


class _Props(MapiObject):
    """An item made of properties, named ones through a name map, as either store gives them."""

    def __init__(self, props: dict[int, tuple[int, bytes]], names: dict[tuple[bytes, int], int]):
        self.props, self.names = props, names

    def raw(self, prop_id: int) -> tuple[int, bytes] | None:
        return self.props.get(prop_id)


def _text(value: str) -> tuple[int, bytes]:
    return (p.PT_UNICODE, value.encode("utf-16-le"))


def _time(when: datetime) -> tuple[int, bytes]:
    ticks = int((when - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
    return (p.PT_SYSTIME, struct.pack("<Q", ticks))


def test_a_contact_reads_names_addresses_phones_birthday_through_the_name_map():
    # the store gives named properties ids of its own (here from 0x8100): found through its map
    names = {
        (p.PSETID_ADDRESS, 0x8083): 0x8100,  # Email1
        (p.PSETID_ADDRESS, 0x8082): 0x8101,
        (p.PSETID_ADDRESS, 0x8093): 0x8102,  # Email2, an Exchange address: its shown one is used
        (p.PSETID_ADDRESS, 0x8092): 0x8103,
        (p.PSETID_ADDRESS, 0x8094): 0x8104,
        (p.PSETID_ADDRESS, 0x8045): 0x8105,  # work street, city
        (p.PSETID_ADDRESS, 0x8046): 0x8106,
    }
    props = {
        p.MESSAGE_CLASS: _text("IPM.Contact"),
        p.DISPLAY_NAME: _text("山田 太郎"),
        0x3A06: _text("太郎"),
        0x3A11: _text("山田"),
        0x3A16: _text("Example, Inc."),
        0x3A18: _text("Sales; East"),
        0x3A17: _text("Manager"),
        0x3A08: _text("+81 3 1234 5678"),
        0x3A1C: _text("090-1234-5678"),
        0x3A5D: _text("1-2-3 Chiyoda"),
        0x3A59: _text("Tokyo"),
        0x3A42: _time(datetime(1980, 5, 3, 15, 0, tzinfo=UTC)),  # midnight of 4 May in Tokyo
        p.BODY: _text("line one\r\nline two"),
        0x8100: _text("taro@example.co.jp"),
        0x8101: _text("SMTP"),
        0x8102: _text("/o=Example/cn=taro"),
        0x8103: _text("EX"),
        0x8104: _text("taro.yamada@example.com"),
        0x8105: _text("4-5-6 Marunouchi"),
        0x8106: _text("Tokyo"),
    }
    item = item_of(_Props(props, names), ItemKind.CONTACT, "Contacts", "x.pst", "1")
    assert (item.full_name, item.given_name, item.family_name) == ("山田 太郎", "太郎", "山田")
    assert item.emails == ("taro@example.co.jp", "taro.yamada@example.com")
    assert item.phones == (Phone("+81 3 1234 5678", "work"), Phone("090-1234-5678", "cell"))
    assert item.addresses == (
        PostalAddress("work", "4-5-6 Marunouchi", "Tokyo"),
        PostalAddress("home", "1-2-3 Chiyoda", "Tokyo"),
    )
    assert (item.organization, item.department, item.title) == ("Example, Inc.", "Sales; East", "Manager")
    assert item.birthday == date(1980, 5, 4)
    assert item.body == "line one\nline two"


def _pattern(
    frequency: int, kind: int, period: int, specific: bytes, end: int, count: int, last: int
) -> bytes:
    """A RecurrencePattern: no deleted or changed instances, first day 0 (unused by these rules)."""
    head = struct.pack("<HHHHHIII", 0x3004, 0x3004, frequency, kind, 0, 0, period, 0)
    return head + specific + struct.pack("<IIIIIII", end, count, 0, 0, 0, 0, last)


@pytest.mark.parametrize(
    ("blob", "rule"),
    [
        (_pattern(0x200A, 0, 2 * 1440, b"", 0x2022, 5, 0), "FREQ=DAILY;INTERVAL=2;COUNT=5"),
        (_pattern(0x200B, 1, 1, struct.pack("<I", 0b0101010), 0x2023, 0, 0), "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        (_pattern(0x200C, 2, 1, struct.pack("<I", 15), 0x2023, 0, 0), "FREQ=MONTHLY;BYMONTHDAY=15"),
        (
            _pattern(0x200C, 3, 3, struct.pack("<II", 0b0000010, 5), 0x2023, 0, 0),
            "FREQ=MONTHLY;INTERVAL=3;BYDAY=MO;BYSETPOS=-1",
        ),
        (
            # ends 31 Dec 2012: minutes from 1601 to that midnight
            _pattern(0x200C, 4, 1, struct.pack("<I", 31), 0x2021, 0, 216_689_760),
            "FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20121231T235959Z",
        ),
        (b"\x04\x30\x04\x30", ""),  # cut short: no rule rather than a wrong one
    ],
    ids=["daily", "weekly", "monthly", "last-monday", "month-end-until", "cut"],
)
def test_recurrence_patterns_become_rrules(blob, rule):
    assert recurrence_rule(blob) == rule


def test_gather_twice_then_export_items_matches_readpst(corpus, tmp_path, capsys):
    """Gathered for an account (twice: nothing doubles), reported as kept, exported, and the
    written files say what readpst says of the same items."""
    from mailrecover.cli import main

    from ..support.builders import snapshot

    source = tmp_path / "outlook"
    source.mkdir()
    for name in ("javalibpst_dist-list", "gopst_32-bit"):
        shutil.copy(corpus / "pst" / f"{name}.pst", source / f"{name}.pst")
    shutil.copy(corpus / "msg" / "hiraoka_A_schedule.msg", source / "A schedule.msg")
    before = snapshot(source)
    ws, account = str(tmp_path / "ws"), "taro@example.co.jp"
    for _ in range(2):
        assert main(["--workspace", ws, "--json", "gather", "--account", account, str(source)]) == 0
        gathered = json.loads(capsys.readouterr().out)
        assert gathered["items"] == {"contact": 1, "group": 1, "event": 3} and gathered["problems"] == []
    assert gathered["new_items"] == 0
    # no mail in these files: the account is known by its items, and the report counts them
    assert main(["--workspace", ws, "--json", "report", "--account", account]) == 0
    reported = json.loads(capsys.readouterr().out)["accounts"][account]
    assert (reported["copies"], reported["items"]) == (0, {"contact": 1, "group": 1, "event": 3})
    out = tmp_path / "out"
    assert main(["--workspace", ws, "--json", "export-items", "--account", account, str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == {"contact": 1, "group": 1, "event": 3}
    assert sorted(p.name for p in out.iterdir()) == ["Calendar.ics", "Contacts.vcf"]
    card, group = vobject.readComponents((out / "Contacts.vcf").read_text())
    (theirs,) = _readpst(source / "javalibpst_dist-list.pst", tmp_path / "readpst")["Contacts"]
    assert card.email.value == theirs.email.value == "contact1@rjohnson.id.au"
    assert card.n.value.family == theirs.n.value.family and card.n.value.given == theirs.n.value.given
    assert group.kind.value == "group"
    assert [m.value for m in group.member_list] == [
        "mailto:contact1@rjohnson.id.au",
        "mailto:dist1@rjohnson.id.au",
        "mailto:dist2@rjohnson.id.au",
    ]
    events = {e.summary.value: e for e in vobject.readOne((out / "Calendar.ics").read_text()).vevent_list}
    assert sorted(events) == ["A schedule", "Test appointment", "Updated: Olympus training for new hires"]
    for name in ("javalibpst_dist-list", "gopst_32-bit"):
        (calendar,) = _readpst(source / f"{name}.pst", tmp_path / f"readpst-{name}")["Calendar"]
        ours = events[calendar.vevent.summary.value]
        assert (ours.dtstart.value, ours.dtend.value) == (
            calendar.vevent.dtstart.value,
            calendar.vevent.dtend.value,
        )
        assert ours.description.value.strip() == calendar.vevent.description.value.strip()
    assert events["Test appointment"].rrule.value == "FREQ=WEEKLY;BYDAY=TU"
    assert events["A schedule"].location.value == "A place"
    assert events["A schedule"].dtstart.value == datetime(2021, 10, 13, 9, 30, tzinfo=UTC)
    assert snapshot(source) == before
