"""export-items: contacts as vCard 4.0, calendar items as iCalendar, parsed back by vobject."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, date, datetime

import pytest
import vobject

from mailrecover.cli import main
from mailrecover.errors import OperationError
from mailrecover.items import content_line, escape_text, export_items, icalendar, vcards
from mailrecover.model import Item, ItemKind, Person, Phone, PostalAddress
from mailrecover.workspace import Workspace, migrations, store

ACCOUNT = "taro@example.co.jp"
HARD = 'Yamada, Taro; \\ the "boss"\nsecond line 山田太郎 ' + "長い" * 40

CONTACT = Item(
    ItemKind.CONTACT,
    "Contacts/Work",
    "/src/taro.pst",
    "101",
    full_name=HARD,
    given_name="Taro",
    family_name="Yamada, Jr.",
    middle_name="Q",
    emails=("taro@example.co.jp", "t.yamada@example.com"),
    phones=(Phone("+81 3 1234 5678", "work"), Phone("090", "fax,home")),
    addresses=(PostalAddress("home", "1-2-3 Chiyoda\nBuilding 4", "Tokyo", "", "100-0001", "Japan"),),
    organization="Example; Inc.",
    department="Sales",
    title="Manager",
    birthday=date(1980, 5, 4),
    web="www.example.co.jp/taro",
    body="notes, with; all \\ of\nthem",
)
GROUP = Item(
    ItemKind.GROUP,
    "Contacts/Work",
    "/src/taro.pst",
    "102",
    full_name="Team",
    members=(Person("A", "a@example.com"), Person("No address", "")),
)
EVENT = Item(
    ItemKind.EVENT,
    "Calendar",
    "/src/taro.pst",
    "201",
    uid="040000008200E000",
    summary="会議, weekly; review",
    start=datetime(2021, 10, 13, 9, 30, tzinfo=UTC),
    end=datetime(2021, 10, 13, 10, 0, tzinfo=UTC),
    timezone="(UTC+09:00) Osaka, Sapporo, Tokyo",
    utc_offset=540,
    location="Room 1",
    organizer=Person("Boss", "boss@example.com"),
    attendees=(Person("Taro", "taro@example.co.jp", "required"), Person("", "room@example.com", "resource")),
    recurrence="FREQ=WEEKLY;BYDAY=WE",
    body=HARD,
)
ALL_DAY = Item(
    ItemKind.EVENT,
    "Calendar",
    "/src/taro.pst",
    "202",
    summary="Holiday",
    start=datetime(2021, 10, 12, 15, 0, tzinfo=UTC),  # midnight of 13 October in Tokyo
    end=datetime(2021, 10, 13, 15, 0, tzinfo=UTC),
    all_day=True,
    utc_offset=540,
)


def _lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    return data.split(b"\r\n")[:-1]


def test_content_lines_fold_at_75_octets_never_inside_a_character():
    line = content_line("DESCRIPTION", escape_text(HARD))
    physical = _lines(line)
    assert len(physical) > 3
    assert all(len(p) <= 75 for p in physical)
    assert all(p.startswith(b" ") for p in physical[1:])
    for p in physical:
        p.decode("utf-8")  # each physical line is whole UTF-8
    unfolded = b"".join([physical[0], *(p[1:] for p in physical[1:])]).decode()
    assert unfolded == "DESCRIPTION:" + escape_text(HARD)


def test_text_escaping():
    assert escape_text("a,b;c\\d\r\ne\nf") == "a\\,b\\;c\\\\d\\ne\\nf"


def test_vcards_parse_back_with_every_field():
    data = vcards([CONTACT, GROUP])
    assert all(len(p) <= 75 for p in _lines(data))
    card, group = vobject.readComponents(data.decode())
    assert card.version.value == "4.0"
    assert card.fn.value == HARD
    assert (card.n.value.family, card.n.value.given, card.n.value.additional) == ("Yamada, Jr.", "Taro", "Q")
    assert [e.value for e in card.email_list] == ["taro@example.co.jp", "t.yamada@example.com"]
    assert [(t.value, t.params["TYPE"]) for t in card.tel_list] == [
        ("+81 3 1234 5678", ["work"]),
        ("090", ["fax", "home"]),
    ]
    adr = card.adr.value
    assert (adr.street, adr.city, adr.code, adr.country) == (
        "1-2-3 Chiyoda\nBuilding 4",
        "Tokyo",
        "100-0001",
        "Japan",
    )
    assert card.org.value == ["Example; Inc.", "Sales"]
    assert card.title.value == "Manager"
    assert card.bday.value == "19800504"
    assert card.url.value == "http://www.example.co.jp/taro"  # a URI, as vCard 4.0 wants
    assert card.note.value == "notes, with; all \\ of\nthem"
    assert group.kind.value == "group" and group.fn.value == "Team"
    assert [m.value for m in group.member_list] == ["mailto:a@example.com"]


def test_icalendar_parses_back_with_times_recurrence_and_people():
    data = icalendar([EVENT, ALL_DAY], now=datetime(2026, 1, 1, tzinfo=UTC))
    assert all(len(p) <= 75 for p in _lines(data))
    calendar = vobject.readOne(data.decode())
    timed, all_day = calendar.vevent_list
    assert timed.summary.value == "会議, weekly; review"
    assert timed.dtstart.value == EVENT.start and timed.dtend.value == EVENT.end
    assert timed.rrule.value == "FREQ=WEEKLY;BYDAY=WE"
    assert timed.location.value == "Room 1"
    assert timed.description.value == HARD
    assert timed.organizer.value == "mailto:boss@example.com" and timed.organizer.params["CN"] == ["Boss"]
    assert [(a.value, a.params["ROLE"]) for a in timed.attendee_list] == [
        ("mailto:taro@example.co.jp", ["REQ-PARTICIPANT"]),
        ("mailto:room@example.com", ["NON-PARTICIPANT"]),
    ]
    assert timed.uid.value == "040000008200E000"
    assert all_day.dtstart.value == date(2021, 10, 13) and all_day.dtend.value == date(2021, 10, 14)
    assert all_day.dtstamp.value == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for _name, step in migrations.MIGRATIONS:
        step(conn)
    conn.execute(
        "INSERT INTO locations (id, location, plugin, account, list, first_gathered, last_gathered) "
        "VALUES (1, '/src/taro.pst', 'outlook-pst', ?, '', '', '')",
        (ACCOUNT,),
    )
    yield conn
    conn.close()


def test_items_are_stored_once_and_read_back_whole(db):
    assert [store.save_item(db, 1, ACCOUNT, i) for i in (CONTACT, GROUP, EVENT)] == [True] * 3
    assert [store.save_item(db, 1, ACCOUNT, i) for i in (CONTACT, GROUP, EVENT)] == [False] * 3
    # the same event found in a second file is one item to export, its first place kept
    assert store.save_item(
        db, 1, ACCOUNT, Item(**{**vars(EVENT), "source": "/src/saved.msg", "position": ""})
    )
    assert list(store.items(db, ACCOUNT)) == [EVENT, CONTACT, GROUP]
    assert store.item_counts(db, ACCOUNT) == {"contact": 1, "group": 1, "event": 1}
    assert list(store.items(db, "other@example.com")) == []


def _workspace(tmp_path, *items: Item) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    loc = ws.location("/src/taro.pst", "outlook-pst", ACCOUNT, "")
    with store.transaction(ws.db):
        for item in items:
            store.save_item(ws.db, loc, ACCOUNT, item)
    return ws


def test_export_writes_one_file_per_folder_and_never_over_a_file(tmp_path):
    ws = _workspace(tmp_path, CONTACT, GROUP, EVENT, ALL_DAY)
    out = tmp_path / "out"
    result = export_items(ws, ACCOUNT, out)
    assert sorted(p.name for p in result.files) == ["Calendar.ics", "Contacts.Work.vcf"]
    assert result.written == {"contact": 1, "group": 1, "event": 2}
    assert [p.reason for p in result.left_out] == [
        "Contacts/Work: Team: 1 members without an Internet address left out of the group"
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in result.files)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(OperationError, match="exists already"):
        export_items(ws, ACCOUNT, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    ws.close()


def test_export_items_command_line(tmp_path, capsys):
    _workspace(tmp_path, CONTACT, EVENT).close()
    ws, out = str(tmp_path / "ws"), tmp_path / "out"
    assert main(["--workspace", ws, "--json", "export-items", "--account", ACCOUNT, str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["written"] == {"contact": 1, "group": 0, "event": 1}
    assert sorted(data["files"]) == [str(out / "Calendar.ics"), str(out / "Contacts.Work.vcf")]
    assert main(["--workspace", ws, "export-items", "--account", ACCOUNT, str(out)]) == 1  # files there
    assert "exists already" in capsys.readouterr().err
    assert main(["--workspace", ws, "export-items", "--account", "taro@example.co", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "account taro@example.co is not in the workspace" in err and ACCOUNT in err
    assert not (tmp_path / "x").exists()
    assert main(["--workspace", str(tmp_path / "none"), "export-items", "--account", ACCOUNT, str(out)]) == 2
