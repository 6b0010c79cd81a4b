"""The core scenario through the command line: gather local stores, merge, restore."""

from __future__ import annotations

import json
import mailbox
import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from mailrecover.cli import main

from .support.builders import ACCOUNT, build_scenario, snapshot


def _restored_maildir(root: Path) -> dict[str, tuple[str, str, bytes]]:
    """marker -> (folder, flags, raw) for every message in a Maildir++ tree."""
    found: dict[str, tuple[str, str, bytes]] = {}
    for dirpath, _dirs, files in os.walk(root):
        here = Path(dirpath)
        if here.name not in ("cur", "new"):
            continue
        folder_dir = here.parent
        folder = "INBOX" if folder_dir == root else folder_dir.name[1:]
        for name in files:
            raw = (here / name).read_bytes()
            flags = name.rsplit(":2,", 1)[1] if ":2," in name else ""
            markers = [w for w in raw.split() if w.startswith(b"marker-")]
            assert len(markers) == 1, f"{name} holds {markers}"
            key = markers[0].decode()
            assert key not in found, f"{key} restored twice"
            found[key] = (folder, flags, raw)
    return found


@pytest.fixture
def scenario(tmp_path: Path):
    return build_scenario(tmp_path / "sources")


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


def test_recovery_restores_every_distinct_message_once(scenario, tmp_path, capsys):
    before = snapshot(scenario.root)
    ws = tmp_path / "ws"
    status = _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations))
    err = capsys.readouterr().err
    assert status == 3  # the garbage file and the cut-off message are problems
    assert str(scenario.garbage) in err and "not an mbox" in err
    assert "cut off" in err

    target = tmp_path / "new" / "taro" / "Maildir"
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 0
    restored = _restored_maildir(target)

    folder_names = {"Projects/2012": "Projects.2012", "Recovered Deleted/INBOX": "Recovered Deleted.INBOX"}
    expected = {m.marker: (folder_names.get(m.folder, m.folder), m.flags) for m in scenario.mails}
    assert {k: v[:2] for k, v in restored.items()} == expected
    # both mails that share one Message-ID are there
    assert b"June: everything" in restored["marker-reused-a"][2]
    assert b"July: free shipping" in restored["marker-reused-b"][2]
    # the whole copy of the cut-off message won, with the state of the cut one merged in
    assert b"line 199 of the long report" in restored["marker-cut"][2]
    # mbox quoting is undone exactly, client state headers are gone
    body = restored["marker-fromline"][2]
    assert b"\nFrom the start this was hard.\n>From quoted already\n" in body.replace(b"\r\n", b"\n")
    assert all(b"X-Mozilla-Status" not in raw for _f, _fl, raw in restored.values())
    # the original MIME wins over the Outlook-style re-encoding
    assert b"ISO-2022-JP" in restored["marker-jis"][2]

    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", ACCOUNT) == 3  # it lists quarantined mail or problems
    report = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert report["messages"] == len(expected)
    # folders as restore files the mail: deleted mail under 'Recovered Deleted/', as in the target
    assert report["folders"] == dict(Counter(m.folder for m in scenario.mails))
    assert report["deleted"] == sum(1 for m in scenario.mails if m.folder.startswith("Recovered Deleted/"))
    assert report["deleted"] >= 1
    assert report["restored"] == {f"maildir:{target}": len(expected)}

    assert snapshot(scenario.root) == before  # sources untouched: bytes, times, no new files


def test_restoring_twice_adds_nothing_and_files_are_private(scenario, tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations))
    target = tmp_path / "Maildir"
    os.umask(0o022)
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 0
    first = sorted(p.relative_to(target) for p in target.rglob("*"))
    assert _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations)) == 3
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 0
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == first

    assert stat.S_IMODE(ws.stat().st_mode) == 0o700
    for path in ws.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    for path in target.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_message_file_time_is_its_date(scenario, tmp_path):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(scenario.locations[2]))
    target = tmp_path / "Maildir"
    _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}")
    july = next(p for p in (target / "cur").iterdir() if b"July" in p.read_bytes())
    assert int(july.stat().st_mtime) == 1342433100  # Mon, 16 Jul 2012 10:05:00 +0000


def test_report_json_counts(scenario, tmp_path, capsys):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations))
    capsys.readouterr()
    assert _run(ws, "--json", "report") == 3  # it lists quarantined mail or problems
    data = json.loads(capsys.readouterr().out)
    a = data["accounts"][ACCOUNT]
    copies = 6 + 1 + 1 + 1 + 4 + 1 + 3 + 2  # Inbox, Projects, 2012, Sent, Maildir, .Projects, eml, export
    assert a["copies"] == copies
    assert a["messages"] == len(scenario.mails)
    assert a["duplicates"] == copies - len(scenario.mails)
    assert a["folders"]["Projects/2012"] == 1
    assert a["conflicts"] == [{"message_id": "same@shop.example", "messages": 2}]
    assert a["quarantined"] == 0
    kinds = sorted(p["kind"] for p in data["problems"])
    assert kinds == ["not-mail", "truncated"]


def test_restore_to_mbox_round_trips(scenario, tmp_path):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations))
    target = tmp_path / "mbox-out"
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"mbox:{target}") == 0
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"mbox:{target}") == 0
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["INBOX", "Projects", "Projects.sbd/2012", "Recovered Deleted.sbd/INBOX", "Sent"]
    # read it back with our own reader: every mail once, quoting undone
    ws2 = tmp_path / "ws2"
    assert _run(ws2, "gather", "--account", ACCOUNT, str(target)) == 0
    target2 = tmp_path / "Maildir2"
    _run(ws2, "restore", "--account", ACCOUNT, "--to", f"maildir:{target2}")
    again = _restored_maildir(target2)
    assert set(again) == {m.marker for m in scenario.mails}
    assert b"\n>From quoted already\n" in again["marker-fromline"][2]
    # and a standard reader agrees on the count
    inbox = mailbox.mbox(target / "INBOX", create=False)
    assert len(inbox) == sum(1 for m in scenario.mails if m.folder == "INBOX")


def test_dry_run_writes_nothing(scenario, tmp_path, capsys):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, *map(str, scenario.locations))
    target = tmp_path / "Maildir"
    capsys.readouterr()
    assert _run(ws, "--json", "restore", "--dry-run", "--account", ACCOUNT, "--to", f"maildir:{target}") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["planned"] == len(scenario.mails)
    assert plan["folders"]["Recovered Deleted/INBOX"] == 1
    assert not target.exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["--workspace", str(tmp_path / "ws"), "restore", "--to", "maildir:x"]) == 2
    assert main(["--workspace", str(tmp_path / "ws"), "restore", "--account", "a@b", "--to", "ftp:x"]) == 2
    assert main(["--workspace", str(tmp_path / "ws"), "gather", "--plugin", "nope", "x"]) == 2


def test_missing_location_is_a_problem_not_a_crash(tmp_path, capsys):
    status = main(["--workspace", str(tmp_path / "ws"), "gather", str(tmp_path / "nowhere")])
    assert status == 3
    assert "nowhere" in capsys.readouterr().err


def test_names_that_are_not_utf8_on_disk(tmp_path, capsys):
    """An old zip from Japanese Windows: file and folder names in CP932 bytes."""
    src = os.fsencode(tmp_path / "zip")
    folder = src + b"/" + "受信".encode("cp932") + b".sbd"
    os.makedirs(folder)
    with open(folder + b"/" + "仕事".encode("cp932"), "wb") as f:
        f.write(b"From - x 2012\nFrom: a@example.com\nSubject: s\nMessage-ID: <x@y>\n\nbody marker-x\n")
    with open(src + b"/" + "壊れ".encode("cp932"), "wb") as f:
        f.write(b"\x00garbage")
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", ACCOUNT, os.fsdecode(src)) == 3
    assert "\\x89\\xf3" in capsys.readouterr().err  # the bad file named, bytes shown
    target = tmp_path / "Maildir"
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 0
    assert [p.parent.parent.name for p in target.rglob("cur/*")] == [".&U9dP4Q-.&TtVOiw-"]  # 受信.仕事
