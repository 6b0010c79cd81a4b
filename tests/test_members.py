"""Rosters rebuilt from every surviving trace, through the command line, and the rules behind them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.lists import scan_workspace
from mailrecover.members import ExportFormat, Status, export, reconstruct
from mailrecover.model import Evidence
from mailrecover.workspace import Workspace

from .support.builders import snapshot
from .support.lists_builders import (
    FML_LEFT,
    FML_LIST,
    FML_MEMBERS,
    MAILMAN_LEFT,
    MAILMAN_LIST,
    MAILMAN_MEMBERS,
    OWNER,
    build_fml,
    build_mailman,
    deliveries,
    store_deliveries,
)


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


@pytest.fixture
def recovered(tmp_path, capsys):
    """A workspace holding everything that survived of both lists; sources checked untouched."""
    sources = tmp_path / "sources"
    var, owner_maildir = build_mailman(sources)
    fml_dir = build_fml(sources)
    before = snapshot(sources)
    ws = tmp_path / "ws"
    assert _run(ws, "--json", "gather", "--list", MAILMAN_LIST, str(var)) == 0
    gathered = json.loads(capsys.readouterr().out)
    assert (gathered["copies"], gathered["evidence"]) == (
        1,
        12,
    )  # the archived post; log lines but the pending one
    assert _run(ws, "gather", "--account", OWNER, str(owner_maildir)) == 0
    assert _run(ws, "gather", str(fml_dir)) == 0
    with Workspace(ws) as w:
        store_deliveries(w, deliveries())
    capsys.readouterr()
    yield ws
    assert snapshot(sources) == before


def _out(capsys, ws: Path, *args: str) -> str:
    assert _run(ws, *args) == 0
    return capsys.readouterr().out


def test_mailman2_export_is_exactly_the_current_members(recovered, capsys):
    out = _out(capsys, recovered, "members", "--list", MAILMAN_LIST, "--format", "mailman2")
    assert out.splitlines() == MAILMAN_MEMBERS


def test_fml_export_is_exactly_the_current_members(recovered, capsys):
    assert (
        _out(capsys, recovered, "members", "--list", FML_LIST, "--format", "mailman2").splitlines()
        == FML_MEMBERS
    )
    assert (
        _out(capsys, recovered, "members", "--list", "elena", "--format", "fml").splitlines() == FML_MEMBERS
    )


def test_csv_names_status_and_evidence_of_every_address(recovered, capsys):
    out = _out(capsys, recovered, "members", "--list", MAILMAN_LIST, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "address",
        "name",
        "status",
        "first_seen",
        "last_seen",
        "evidence",
        "digest",
        "nomail",
        "moderated",
    ]
    status = {r["address"]: r["status"] for r in rows}
    assert {a for a, s in status.items() if s.startswith("member")} == {
        line.rsplit("<", 1)[-1].rstrip(">") for line in MAILMAN_MEMBERS
    }
    assert {a for a, s in status.items() if s == "left"} == MAILMAN_LEFT
    assert status["frank@example.com"] == "member-bouncing"
    assert not any("dev-owner" in a or a.startswith("dev@") or "deputy" in a for a in status)
    by = {r["address"]: r for r in rows}
    assert "logs/subscribe" in by["erin@example.com"]["evidence"]
    assert "unsubscribe (via the member options page)" in by["erin@example.com"]["evidence"]
    assert "Maildir/cur/1335344400.2.mx:2,S" in by["heidi@example.com"]["evidence"]
    assert "/var/log/mail.log:" in by["grace@example.com"]["evidence"]
    assert "delivered (mail log: list post sent)" in by["grace@example.com"]["evidence"]
    assert "bounce (delivery status notification)" in by["frank@example.com"]["evidence"]
    assert by["dave.mixed@example.com"]["first_seen"] == "2012-02-01T08:15:00+00:00"
    assert by["dave.mixed@example.com"]["last_seen"] == "2012-05-10T09:00:05+00:00"
    assert "address-change (to bob@example.org)" in by["bob@example.net"]["evidence"]


def test_fml_csv_explains_who_left(recovered, capsys):
    rows = list(csv.DictReader(io.StringIO(_out(capsys, recovered, "members", "--list", FML_LIST))))
    status = {r["address"]: r["status"] for r in rows}
    assert {a for a, s in status.items() if s == "left"} == FML_LEFT
    by = {r["address"]: r["evidence"] for r in rows}
    assert "not in the complete member file (fml members)" in by["goro@example.jp"]
    assert "##BYE in fml members" in by["hanako@example.co.jp"]
    assert "fml log: BYE" in by["jiro@example.ne.jp"]


def test_members_without_list_names_every_list(recovered, capsys):
    out = _out(capsys, recovered, "members")
    assert f"{MAILMAN_LIST}  7 members (1 bouncing), 4 left, 0 unknown" in out
    assert f"{FML_LIST}" in out and "4 members (0 bouncing), 4 left" in out
    data = json.loads(_out(capsys, recovered, "--json", "members"))
    assert {r["list"]: r["members"] for r in data} == {MAILMAN_LIST: 7, FML_LIST: 4, "other": 1}
    assert _run(recovered, "members", "--format", "fml") == 2


def test_gathering_again_changes_no_verdict(recovered, tmp_path, capsys):
    first = _out(capsys, recovered, "members", "--list", MAILMAN_LIST)
    sources = tmp_path / "sources"
    assert _run(recovered, "gather", "--list", MAILMAN_LIST, str(sources / "mailman")) == 0
    assert _run(recovered, "gather", "--account", OWNER, str(sources / "owner" / "Maildir")) == 0
    capsys.readouterr()
    assert _out(capsys, recovered, "members", "--list", MAILMAN_LIST) == first


def test_members_json_is_the_full_picture(recovered, capsys):
    data = json.loads(_out(capsys, recovered, "--json", "members", "--list", MAILMAN_LIST))
    assert data["list"] == MAILMAN_LIST
    by = {m["address"]: m for m in data["members"]}
    assert by["carol@example.jp"]["digest"] is True and by["carol@example.jp"]["status"] == "member"
    dave = by["dave.mixed@example.com"]
    assert [e["kind"] for e in dave["events"]] == ["subscribe", "delivered"]
    assert dave["events"][0]["fields"]["as_written"] == "Dave.Mixed@Example.COM"
    assert by["frank@example.com"]["bouncing"] is True and by["frank@example.com"]["name"] == "Frank Zappa"


def test_members_reads_the_evidence_gather_stored_and_older_copies_from_their_bytes(recovered, monkeypatch):
    """Gather stores each copy's list evidence: ``members`` reads no copy again, and a copy
    gathered before it was stored is read from its bytes, to the same evidence."""
    with Workspace(recovered) as ws:
        with monkeypatch.context() as m:

            def read_again(self: Workspace, blob: str) -> bytes:
                raise AssertionError(f"copy {blob} read again")

            m.setattr(Workspace, "raw", read_again)
            stored = list(scan_workspace(ws))
        ws.db.execute("UPDATE copies SET list_evidence = NULL")
        read = list(scan_workspace(ws))
    assert stored == read
    from_copies = [e for e in stored if e.fields.get("manager") == "mail"]
    assert {e.kind for e in from_copies} >= {"received", "subscribe", "unsubscribe"}


def test_mailman3_format_and_unknown_list(recovered, capsys):
    out = _out(capsys, recovered, "members", "--list", MAILMAN_LIST, "--format", "mailman3")
    assert out.splitlines() == MAILMAN_MEMBERS
    assert _run(recovered, "members", "--list", "nosuch@example.org") == 2
    assert "no list 'nosuch@example.org'" in capsys.readouterr().err


def test_members_on_an_empty_workspace(tmp_path, capsys):
    Workspace(tmp_path / "ws").close()
    assert _run(tmp_path / "ws", "members") == 0
    assert capsys.readouterr().out.strip() == "no mailing lists found in the evidence"


# --- the rules, on evidence alone -----------------------------------------------------------


def _ev(kind, address, day, list_key="l@example.org", **fields):
    when = datetime(2020, 1, day, tzinfo=UTC) if day else None
    return Evidence(kind, "src", str(day), when, {"list": list_key, "address": address, **fields})


def test_latest_event_decides_and_a_later_delivery_rejoins():
    pics = reconstruct(
        [
            _ev("subscribe", "a@x.org", 1),
            _ev("unsubscribe", "a@x.org", 2),
            _ev("subscribe", "b@x.org", 1),
            _ev("unsubscribe", "b@x.org", 2),
            _ev("delivered", "b@x.org", 3),
            _ev("post", "c@x.org", 4),
        ]
    )
    m = pics["l@example.org"].members
    assert (m["a@x.org"].status, m["b@x.org"].status, m["c@x.org"].status) == (
        Status.LEFT,
        Status.MEMBER,
        Status.UNKNOWN,
    )


def test_bouncing_clears_when_mail_gets_through_again():
    pics = reconstruct(
        [
            _ev("subscribe", "a@x.org", 1),
            _ev("bounce", "a@x.org", 2),
            _ev("delivered", "a@x.org", 3),
            _ev("subscribe", "b@x.org", 1),
            _ev("bounce", "b@x.org", 3),
        ]
    )
    m = pics["l@example.org"].members
    assert (m["a@x.org"].bouncing, m["b@x.org"].bouncing) == (False, True)


def test_short_list_names_join_the_list_with_that_address():
    pics = reconstruct(
        [
            _ev("subscribe", "a@x.org", 1, list_key="dev"),
            _ev("delivered", "b@x.org", 2, list_key="dev@lists.example.org"),
        ]
    )
    assert set(pics) == {"dev@lists.example.org"}
    assert sorted(pics["dev@lists.example.org"].members) == ["a@x.org", "b@x.org"]


def _roster(day: int, snapshot: str) -> Evidence:
    when = datetime(2020, 1, day, tzinfo=UTC)
    return Evidence(
        "roster",
        "members",
        snapshot,
        when,
        {"list": "l@example.org", "snapshot": snapshot, "how": "fml members"},
    )


def test_complete_roster_takes_off_whom_an_earlier_snapshot_of_it_listed():
    pics = reconstruct(
        [
            _ev("member", "gone@x.org", 2, snapshot="/ml/members.bak#1"),
            _roster(2, "/ml/members.bak#1"),
            _ev("member", "back@x.org", 2, snapshot="/ml/members.bak#1"),
            _ev("subscribe", "back@x.org", 6),
            _ev("member", "kept@x.org", 5, snapshot="/ml/members#current"),
            _roster(5, "/ml/members#current"),
            # joined by another source before the file was written and not in it: the file's time
            # may be a restored backup's, so it does not overrule the log
            _ev("subscribe", "logged@x.org", 3),
        ]
    )
    m = pics["l@example.org"].members
    assert [(a, m[a].status) for a in sorted(m)] == [
        ("back@x.org", Status.MEMBER),
        ("gone@x.org", Status.LEFT),
        ("kept@x.org", Status.MEMBER),
        ("logged@x.org", Status.MEMBER),
    ]
    assert [e.kind for e in m["gone@x.org"].events] == ["member", "absent"]


def test_list_addresses_of_every_list_are_never_members():
    pics = reconstruct(
        [
            _ev("member", a, 1)
            for a in (
                "l@example.org",
                "l-request@example.org",
                "owner-l@example.org",
                "l-bounces+a=b.org@example.org",
                "m@example.org",
                "real@example.org",
            )
        ]
        + [_ev("subscribe", "x@y.org", 1, list_key="m@example.org")]
    )
    assert sorted(pics["l@example.org"].members) == ["real@example.org"]


def test_a_changed_address_keeps_the_name():
    change = Evidence(
        "address-change",
        "log",
        "3",
        datetime(2020, 1, 3, tzinfo=UTC),
        {"list": "l@example.org", "address": "new@x.org", "old_address": "old@x.org"},
    )
    pics = reconstruct([_ev("subscribe", "old@x.org", 1, name="Ann"), change])
    m = pics["l@example.org"].members
    assert (m["old@x.org"].status, m["new@x.org"].status, m["new@x.org"].name) == (
        Status.LEFT,
        Status.MEMBER,
        "Ann",
    )


def test_each_member_once_whatever_the_spelling():
    pics = reconstruct(
        [_ev("subscribe", "a@x.org", 1, as_written="A@X.ORG", name="Ann"), _ev("member", "a@x.org", 2)]
    )
    assert export(pics["l@example.org"], ExportFormat.MAILMAN2).text == "Ann <a@x.org>\n"
    assert export(pics["l@example.org"], "fml").text == "a@x.org\n"


# --- config.pck and config.pck.last with one file time ----------------------------------------


def _copied_without_times(root: Path, last_extra: dict, current_extra: dict, log: str) -> Path:
    """A Mailman 2 tree whose config.pck and config.pck.last a copy gave one file time: .last
    (the save before) still lists bob, whom the current file and the log say left."""
    import os

    from .support.lists_builders import mailman2_pickle, s

    var = root / "mailman"
    d = var / "lists" / "dev"
    d.mkdir(parents=True)
    base = {s("_internal_name"): s("dev"), s("host_name"): s("lists.example.org")}
    (d / "config.pck").write_bytes(
        mailman2_pickle({**base, s("members"): {s("ann@example.com"): 0}, **current_extra})
    )
    (d / "config.pck.last").write_bytes(
        mailman2_pickle(
            {**base, s("members"): {s("ann@example.com"): 0, s("bob@example.com"): 0}, **last_extra}
        )
    )
    (var / "logs").mkdir()
    (var / "logs" / "subscribe").write_text(log)
    copied = datetime(2012, 6, 20, 12, 0, tzinfo=UTC).timestamp()
    for f in ("config.pck", "config.pck.last"):
        os.utime(d / f, (copied, copied))
    return var


_BOB_JOINED = "Jan 10 10:00:00 2012 (100) dev: new bob@example.com, admin mass sub\n"
_BOB_LEFT = "Mar 10 10:00:00 2012 (100) dev: deleted bob@example.com; member mgt page\n"


@pytest.mark.parametrize(
    ("last_extra", "current_extra", "log", "how"),
    [
        ({}, {}, _BOB_JOINED + _BOB_LEFT, "the older copy by the log"),
        ({"post_id": 10}, {"post_id": 12}, "", "the older save by its post_id"),
        ({"post_id": 10}, {"post_id": 12}, _BOB_JOINED + _BOB_LEFT, "the older save by its post_id"),
    ],
)
def test_snapshots_with_one_file_time_are_ordered_by_content_or_log(
    tmp_path, capsys, last_extra, current_extra, log, how
):
    from .support.lists_builders import s

    var = _copied_without_times(
        tmp_path, {s(k): v for k, v in last_extra.items()}, {s(k): v for k, v in current_extra.items()}, log
    )
    ws = tmp_path / "ws"
    assert _run(ws, "gather", str(var)) == 0
    capsys.readouterr()
    assert _run(ws, "--json", "members", "--list", "dev@lists.example.org") == 0
    out = capsys.readouterr()
    picture = json.loads(out.out)
    status = {m["address"]: m["status"] for m in picture["members"]}
    assert status == {"ann@example.com": "member", "bob@example.com": "left"}
    assert picture["notes"] == [] and "same file time" not in out.err
    bob = next(m for m in picture["members"] if m["address"] == "bob@example.com")
    assert any(e["fields"].get("order") == how for e in bob["events"])
    assert _run(ws, "members", "--list", "dev@lists.example.org", "--format", "fml") == 0
    assert capsys.readouterr().out == "ann@example.com\n"


def test_snapshots_with_one_file_time_and_nothing_to_order_them_are_said_to_be_undecided(tmp_path, capsys):
    var = _copied_without_times(tmp_path, {}, {}, "")
    ws = tmp_path / "ws"
    assert _run(ws, "gather", str(var)) == 0
    capsys.readouterr()
    assert _run(ws, "--json", "members", "--list", "dev@lists.example.org") == 0
    out = capsys.readouterr()
    picture = json.loads(out.out)
    [note] = picture["notes"]
    assert "config.pck and config.pck.last have the same file time" in note and note in out.err
    doubts = {m["address"]: m["doubts"] for m in picture["members"]}
    assert doubts["bob@example.com"] == [note]


# --- exports that keep digest, delivery-off and fml's actives apart -----------------------------


def _options_workspace(tmp_path: Path, capsys) -> Path:
    from .support.lists_builders import FML_HEADER, mailman2_pickle, s

    d = tmp_path / "src" / "mailman" / "lists" / "dev"
    d.mkdir(parents=True)
    (d / "config.pck").write_bytes(
        mailman2_pickle(
            {
                s("_internal_name"): s("dev"),
                s("host_name"): s("lists.example.org"),
                s("members"): {s("ann@example.com"): 0, s("bob@example.com"): 0, s("eve@example.com"): 0},
                s("digest_members"): {s("cy@example.com"): 0, s("dan@example.com"): 0},
                s("usernames"): {s("ann@example.com"): "Ann\nB\x1b[31mcc: x@evil.example"},
                s("delivery_status"): {
                    s("bob@example.com"): (2, 1331000000.0),
                    s("dan@example.com"): (4, 1331000000.0),
                },
            }
        )
    )
    fml = tmp_path / "src" / "elena"
    fml.mkdir()
    (fml / "config.ph").write_text('$MAIL_LIST = "elena\\@fml.example.jp";\n')
    (fml / "members").write_text(FML_HEADER + "taro@example.jp\njiro@example.jp\nsaburo@example.jp\n")
    (fml / "actives").write_text(FML_HEADER + "taro@example.jp\njiro@example.jp m=3u\n#\tsaburo@example.jp\n")
    ws = tmp_path / "ws"
    assert _run(ws, "gather", str(tmp_path / "src" / "mailman")) == 0
    assert _run(ws, "gather", str(fml)) == 0
    capsys.readouterr()
    return ws


def test_mailman2_export_keeps_digest_and_delivery_off_apart(tmp_path, capsys):
    ws = _options_workspace(tmp_path, capsys)
    out = tmp_path / "out"
    assert (
        _run(ws, "members", "--list", "dev@lists.example.org", "--format", "mailman2", "--output", str(out))
        == 0
    )
    files = {p.name: p.read_text() for p in out.iterdir()}
    # the one cleaning path: the name's control characters gone, quoted, on one line
    assert (
        files["regular.txt"]
        == '"Ann?B?[31mcc: x@evil.example" <ann@example.com>\nbob@example.com\neve@example.com\n'
    )
    assert files["digest.txt"] == "cy@example.com\ndan@example.com\n"
    assert files["nomail.txt"] == "# by bounce\ndan@example.com\n# by user\nbob@example.com\n"
    assert "bin/add_members -r DIR/regular.txt -d DIR/digest.txt -w n -a n dev\n" in files["commands.sh"]
    assert "bin/withlist -l -r mailrecover_nomail dev" in files["commands.sh"]
    compile(files["mailrecover_nomail.py"], "mailrecover_nomail.py", "exec")
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {"0o600"}
    # never over an owner's files
    assert (
        _run(ws, "members", "--list", "dev@lists.example.org", "--format", "mailman2", "--output", str(out))
        == 1
    )
    assert "exists already" in capsys.readouterr().err


def test_mailman3_export_gives_each_delivery_mode_its_file(tmp_path, capsys):
    ws = _options_workspace(tmp_path, capsys)
    out = tmp_path / "out"
    assert (
        _run(ws, "members", "--list", "dev@lists.example.org", "--format", "mailman3", "--output", str(out))
        == 0
    )
    files = {p.name: p.read_text() for p in out.iterdir()}
    assert files["regular.txt"].splitlines()[1:] == ["eve@example.com"]
    assert files["digest.txt"] == "cy@example.com\n"
    assert files["nomail.txt"] == "# by bounce\ndan@example.com\n# by user\nbob@example.com\n"
    assert (
        "mailman addmembers --delivery mime --no-welcome-msg DIR/digest.txt dev@lists.example.org"
        in files["commands.sh"]
    )
    assert "--delivery disabled --no-welcome-msg DIR/nomail.txt" in files["commands.sh"]


def test_fml_export_keeps_actives_apart_from_members(tmp_path, capsys):
    ws = _options_workspace(tmp_path, capsys)
    out = tmp_path / "out"
    assert _run(ws, "members", "--list", "elena@fml.example.jp", "--format", "fml", "--output", str(out)) == 0
    files = {p.name: p.read_text() for p in out.iterdir()}
    assert files["members"] == "jiro@example.jp\nsaburo@example.jp\ntaro@example.jp\n"
    assert files["actives"] == "jiro@example.jp m=3u\n#\tsaburo@example.jp\ntaro@example.jp\n"


def test_a_one_stream_export_says_when_options_were_mixed_in(tmp_path, capsys):
    ws = _options_workspace(tmp_path, capsys)
    assert _run(ws, "members", "--list", "dev@lists.example.org", "--format", "mailman2") == 0
    assert "3 of these members had digests or delivery off" in capsys.readouterr().err
