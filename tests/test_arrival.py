"""Arrival times: the best evidence wins, file times count only where they agree, and a fresh
clone of the examples restores its mail with its 2012 dates, to every kind of target."""

from __future__ import annotations

import json
import mailbox
import os
import re
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from mailrecover.arrival import AGREES, TimeSource, arrival, best_arrival
from mailrecover.cli import main
from mailrecover.gather import gather
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, snapshot

UTC = UTC
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ARRIVED = datetime(2012, 6, 18, 10, 0, 1, tzinfo=UTC)  # 1340013601
RECEIVED = datetime(2012, 6, 18, 10, 30, tzinfo=UTC)
DATE = datetime(2012, 6, 18, 10, 1, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --- the rule, evidence kind by kind ----------------------------------------------------------


def test_the_stores_own_record_wins_over_everything():
    assert arrival(ARRIVED, NOW, RECEIVED, DATE, NOW) == (ARRIVED, TimeSource.STORE)


def test_a_store_record_long_after_the_last_hop_is_a_later_save_not_the_arrival():
    migrated = datetime(2019, 3, 1, tzinfo=UTC)  # Dovecot names files by their save time
    assert arrival(migrated, None, RECEIVED, DATE, NOW) == (RECEIVED, TimeSource.RECEIVED)
    kept = RECEIVED + timedelta(seconds=3)  # ... and keeps the old date as the file time
    assert arrival(migrated, kept, RECEIVED, DATE, NOW) == (kept, TimeSource.MTIME)
    late = RECEIVED + AGREES  # a POP download the next day is still the arrival
    assert arrival(late, None, RECEIVED, DATE, NOW) == (late, TimeSource.STORE)
    sent = datetime(2019, 3, 1, tzinfo=UTC)  # without Received, nothing outweighs the store
    assert arrival(sent, None, None, DATE, NOW) == (sent, TimeSource.STORE)
    skewed = RECEIVED - 2 * AGREES  # before the last hop: a clock's error, not a later save
    assert arrival(skewed, None, RECEIVED, DATE, NOW) == (skewed, TimeSource.STORE)


def test_received_wins_over_date_when_there_is_no_store_record():
    assert arrival(None, None, RECEIVED, DATE, NOW) == (RECEIVED, TimeSource.RECEIVED)
    assert arrival(None, None, None, DATE, NOW) == (DATE, TimeSource.DATE)
    assert arrival(None, None, None, None, NOW) == (None, TimeSource.NONE)


def test_a_file_time_counts_only_where_it_agrees_with_the_mails_own_dates():
    copied = NOW - timedelta(minutes=5)  # cp without -p, a fresh clone: "arrived today"
    assert arrival(None, copied, RECEIVED, DATE, NOW) == (RECEIVED, TimeSource.RECEIVED)
    assert arrival(None, copied, None, DATE, NOW) == (DATE, TimeSource.DATE)
    assert arrival(None, copied, None, None, NOW) == (None, TimeSource.NONE)  # nothing to agree with
    delivered = RECEIVED + timedelta(seconds=2)  # a delivery agent set it
    assert arrival(None, delivered, RECEIVED, DATE, NOW) == (delivered, TimeSource.MTIME)
    assert arrival(None, delivered, None, DATE, NOW) == (delivered, TimeSource.MTIME)  # Date witnesses it
    # the tolerance, both ways: the last hop's Received is the witness when there is one
    assert arrival(None, RECEIVED + AGREES, RECEIVED, DATE, NOW)[1] is TimeSource.MTIME
    assert arrival(None, RECEIVED - AGREES, RECEIVED, DATE, NOW)[1] is TimeSource.MTIME
    beyond = RECEIVED + AGREES + timedelta(seconds=1)
    assert arrival(None, beyond, RECEIVED, DATE, NOW)[1] is TimeSource.RECEIVED


def test_impossible_times_are_no_evidence():
    placeholder = datetime(1965, 1, 1, tzinfo=UTC)  # Thunderbird's "From - Mon Jan  1 00:00:00 1965"
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    future = NOW + timedelta(days=3)
    for bad in (placeholder, epoch, future):
        assert arrival(bad, None, RECEIVED, DATE, NOW) == (RECEIVED, TimeSource.RECEIVED)
        assert arrival(None, None, bad, DATE, NOW) == (DATE, TimeSource.DATE)
        assert arrival(None, None, None, bad, NOW) == (None, TimeSource.NONE)


def test_a_message_takes_the_best_evidence_of_any_copy_and_the_earliest_among_equals():
    copies = [
        ("2012-06-18T10:01:00+00:00", "date"),
        ("2012-06-18T10:00:01+00:00", "store"),
        ("2012-06-20T08:00:00+00:00", "store"),
        ("2012-06-18T10:30:00+00:00", "received"),
    ]
    assert best_arrival(copies) == ("2012-06-18T10:00:01+00:00", "store")  # a later refiling loses
    assert best_arrival(copies[:1] + copies[3:]) == ("2012-06-18T10:30:00+00:00", "received")
    assert best_arrival([(None, "none")]) == (None, "none")
    assert best_arrival([]) == (None, "none")


# --- what plugins hand over, and what gather records per copy -----------------------------------

MAIL = (
    b"Received: from mx.example.net by mail.example.co.jp; Mon, 18 Jun 2012 10:30:00 +0000\n"
    b"From: jiro@example.net\nTo: taro@example.co.jp\nSubject: %s\nMessage-ID: <%s@example.net>\n"
    b"Date: Mon, 18 Jun 2012 10:01:00 +0000\n\nbody\n"
)
NO_RECEIVED = (
    b"From: taro@example.co.jp\nSubject: %s\nMessage-ID: <%s@example.net>\n"
    b"Date: Mon, 18 Jun 2012 10:01:00 +0000\n\nbody\n"
)


def _copies(ws: Workspace) -> dict[str, tuple[str, str]]:
    """Subject -> (arrival, source) of every copy."""
    return {s: (a, src) for s, a, src in ws.db.execute("SELECT subject, arrival, arrival_source FROM copies")}


def _stale(path: Path) -> None:
    """Give a file today's time, as a copy without -p or a fresh clone does."""
    now = time.time()
    os.utime(path, (now, now))


def test_maildir_name_stamp_wins_over_a_reset_file_time_and_an_agreeing_file_time_counts(tmp_path):
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    stamped = md / "cur" / "1340013601.M1P1.old:2,S"
    stamped.write_bytes(MAIL % (b"stamped", b"a"))
    _stale(stamped)
    unnamed = md / "cur" / "msg-b:2,S"  # no stamp in its name, its time kept by the backup
    unnamed.write_bytes(MAIL % (b"kept", b"b"))
    os.utime(unnamed, (1340013605, 1340013605))
    reset = md / "cur" / "msg-c:2,S"  # no stamp, its time reset: Received decides
    reset.write_bytes(MAIL % (b"reset", b"c"))
    _stale(reset)
    bare = md / "cur" / "msg-d:2,S"  # no stamp, no Received, its time reset: Date decides
    bare.write_bytes(NO_RECEIVED % (b"bare", b"d"))
    _stale(bare)
    with Workspace(tmp_path / "ws") as ws:
        gather(ws, [str(md)], account=ACCOUNT, jobs=1)
        assert _copies(ws) == {
            "stamped": ("2012-06-18T10:00:01+00:00", "store"),
            "kept": ("2012-06-18T10:00:05+00:00", "mtime"),
            "reset": ("2012-06-18T10:30:00+00:00", "received"),
            "bare": ("2012-06-18T10:01:00+00:00", "date"),
        }


def test_mbox_and_thunderbird_from_lines_are_the_stores_record(tmp_path):
    from mailrecover.pluginkit import from_line_date

    jst = timezone(timedelta(hours=9))
    assert from_line_date(b"From jiro@example.net Sat Apr 14 14:01:30 +0900 2012") == datetime(
        2012, 4, 14, 14, 1, 30, tzinfo=jst
    )
    assert from_line_date(b"From jiro@example.net Mon Jun 18 19:00 2012 +0900") == datetime(
        2012, 6, 18, 19, 0, tzinfo=jst
    )
    assert from_line_date(b"From MAILER-DAEMON Fri Jul  8 12:08:34 GMT 2011") == datetime(
        2011, 7, 8, 12, 8, 34, tzinfo=UTC
    )
    wall = from_line_date(b"From - Mon Jun 18 19:00:00 2012")  # no zone: the writer's wall clock
    assert wall is not None and wall.tzinfo is not None
    assert wall == datetime(2012, 6, 18, 19, 0).astimezone()
    assert from_line_date(b"From ") is None and from_line_date(b"From x Feb 31 00:00:00 2012") is None

    folders = tmp_path / "Local Folders"
    folders.mkdir()
    (folders / "Inbox").write_bytes(
        b"From - Mon Jun 18 10:00:07 GMT 2012\nX-Mozilla-Status: 0001\n"
        + NO_RECEIVED % (b"tb", b"tb")
        + b"\n"
    )
    (folders / "Inbox.msf").write_bytes(b"")
    _stale(folders / "Inbox")
    archive = tmp_path / "Archive.mbox"
    archive.write_bytes(
        b"From jiro@example.net Mon Jun 18 10:00:08 2012 +0000\n"
        + MAIL % (b"mb", b"mb")
        + b"\nFrom - Mon Jan  1 00:00:00 1965\n"
        + MAIL % (b"placeholder", b"ph")
    )
    with Workspace(tmp_path / "ws") as ws:
        gather(ws, [str(folders), str(archive)], account=ACCOUNT, jobs=1)
        assert ws.db.execute(
            "SELECT DISTINCT l.plugin FROM copies c JOIN locations l ON l.id = c.location_id ORDER BY 1"
        ).fetchall() == [("mbox",), ("thunderbird",)]
        assert _copies(ws) == {
            "tb": ("2012-06-18T10:00:07+00:00", "store"),
            "mb": ("2012-06-18T10:00:08+00:00", "store"),
            "placeholder": ("2012-06-18T10:30:00+00:00", "received"),  # 1965 means "unknown"
        }


def test_emlx_date_received_is_the_stores_record(tmp_path):
    from .plugins.client_stores import emlx

    box = tmp_path / "Mail" / "V2" / "acct" / "INBOX.mbox" / "Messages"
    box.mkdir(parents=True)
    (box / "1.emlx").write_bytes(emlx(MAIL % (b"apple", b"ap"), received=1340013609))
    _stale(box / "1.emlx")
    with Workspace(tmp_path / "ws") as ws:
        gather(ws, [str(tmp_path / "Mail")], account=ACCOUNT, jobs=1)
        assert _copies(ws) == {"apple": ("2012-06-18T10:00:09+00:00", "store")}


# --- the README example from a fresh clone -------------------------------------------------------


def _fresh_clone(tmp_path: Path) -> Path:
    """``examples/`` as a clone gives it: every file and folder timed now."""
    root = tmp_path / "clone" / "examples"
    shutil.copytree(EXAMPLES, root)
    now = time.time()
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(os.path.join(dirpath, name), (now, now))
    return root


def _gather_examples(tmp_path: Path, ws: Path) -> Path:
    root = _fresh_clone(tmp_path)
    taro = root / "taro"
    locations = [
        taro / "old-pc" / "Thunderbird" / "Local Folders",
        taro / "backup" / "Maildir",
        taro / "Desktop" / "saved-mail",
        taro / "outlook-export",
    ]
    before = snapshot(root)
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, *map(str, locations)]) == 0
    assert snapshot(root) == before  # times read, never touched
    return root


def _in_2012(when: datetime) -> bool:
    return datetime(2012, 1, 1, tzinfo=UTC) <= when < datetime(2013, 1, 1, tzinfo=UTC)


def test_the_readme_example_restores_all_eleven_messages_with_their_2012_dates(tmp_path, capsys):
    ws = tmp_path / "ws"
    _gather_examples(tmp_path, ws)

    maildir = tmp_path / "restored" / "Maildir"
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{maildir}"]) == 0
    files = [p for p in maildir.rglob("*") if p.is_file() and p.parent.name == "cur"]
    assert len(files) == 11
    for path in files:
        stamp = int(path.name.split(".", 1)[0])
        assert int(path.stat().st_mtime) == stamp, path.name  # the name and the file time agree
        assert _in_2012(datetime.fromtimestamp(stamp, UTC)), path.name

    mbox_root = tmp_path / "restored" / "mbox"
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"mbox:{mbox_root}"]) == 0
    from_lines = []
    for path in (p for p in mbox_root.rglob("*") if p.is_file()):
        for msg in mailbox.mbox(path, create=False):
            from_lines.append(msg.get_from())
    assert len(from_lines) == 11
    in_2012 = re.compile(r"mailrecover \w{3} (Jun|Jul) [ \d]\d [\d:]{8} 2012")
    assert all(in_2012.fullmatch(f) for f in from_lines), from_lines

    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report", "--account", ACCOUNT]) == 0
    report = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    # the Maildir's name stamps and Thunderbird's From lines; the .eml alone has only its Date
    assert report["date_sources"] == {"date": 1, "store": 10}
    with Workspace(ws) as w:
        dates = [datetime.fromisoformat(d) for (d,) in w.db.execute("SELECT date FROM messages")]
        assert len(dates) == 11 and all(_in_2012(d) for d in dates)
        # the Maildir copies' time comes from their names, the clone's file times are no evidence
        per_copy = dict(w.db.execute("SELECT arrival_source, count(*) FROM copies GROUP BY 1").fetchall())
        assert per_copy == {"date": 5, "store": 13}

    page = tmp_path / "report.html"
    assert main(["--workspace", str(ws), "report", "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Dates from: date 1, store 10" in html
    days = re.findall(r"<title>(\d{4})-\d\d-\d\d: \d+ recovered</title>", html)
    assert days and set(days) == {"2012"}  # no day of the clone's, no hole from 2012 up to it
    holes = re.findall(r"no mail recovered from (\S+) to (\S+)", html)  # June to July (its first
    assert len(holes) == 1 and holes[0][1] == "2012-07-15"  # day moves with the From lines' zone)


def test_a_rerun_of_the_example_after_regathering_moves_nothing(tmp_path):
    ws = tmp_path / "ws"
    root = _gather_examples(tmp_path, ws)
    maildir = tmp_path / "Maildir"
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{maildir}"]) == 0
    first = sorted(p.name for p in maildir.rglob("*") if p.is_file())
    backup = root / "taro" / "backup" / "Maildir"
    _stale(backup / "cur" / "1340013601.M1P1.old:2,S")
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(backup)]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{maildir}"]) == 0
    assert sorted(p.name for p in maildir.rglob("*") if p.is_file()) == first


# --- workspaces made before 006_arrival_times -----------------------------------------------------


def _make_old(ws_dir: Path, file_time: str) -> None:
    """Turn a workspace back into what mailrecover made before 006: no arrival columns, and
    the Maildir plugin's file time stored as the copy's internal date."""
    db = sqlite3.connect(ws_dir / "workspace.db", isolation_level=None)
    for statement in (
        "DROP INDEX messages_by_date_source",
        "ALTER TABLE copies DROP COLUMN arrival",
        "ALTER TABLE copies DROP COLUMN arrival_source",
        "ALTER TABLE messages DROP COLUMN date_source",
        "DELETE FROM migrations WHERE name = '006_arrival_times'",
    ):
        db.execute(statement)
    db.execute("UPDATE copies SET internal_date = ?", (file_time,))
    db.execute("UPDATE messages SET date = ?", (file_time,))
    db.close()


def test_an_older_workspace_still_works_and_a_new_gather_dates_its_copies(tmp_path, capsys):
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1340013601.M1P1.old:2,S").write_bytes(MAIL % (b"old", b"old"))
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(md)]) == 0
    assert main(["--workspace", str(ws), "report"]) == 0
    _make_old(ws, NOW.isoformat())

    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report"]) == 0  # the migration runs on open
    report = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert report["date_sources"] == {"legacy": 1}  # said plainly, not passed off as the store's record

    assert main(["--workspace", str(ws), "--json", "gather", "--account", ACCOUNT, str(md)]) == 0
    assert json.loads(capsys.readouterr().out)["new_copies"] == 0
    assert main(["--workspace", str(ws), "--json", "report"]) == 0
    report = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert report["date_sources"] == {"store": 1}
    with Workspace(ws) as w:
        assert w.db.execute("SELECT date FROM messages").fetchall() == [("2012-06-18T10:00:01+00:00",)]


# --- quarantined messages say where their date came from -----------------------------------------


def test_quarantined_messages_carry_their_date_source(tmp_path, capsys):
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    foreign = b"Delivered-To: jiro@other.example\n" + MAIL % (b"theirs", b"q")
    (md / "cur" / "1340013601.M1P1.old:2,S").write_bytes(foreign)
    ws = tmp_path / "ws"
    main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(md)])
    capsys.readouterr()
    main(["--workspace", str(ws), "--json", "report", "--account", ACCOUNT])
    quarantine = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]["quarantine"]
    assert [(q["date"], q["date_source"]) for q in quarantine] == [("2012-06-18T10:00:01+00:00", "store")]


def test_imap_restore_uploads_each_message_with_its_arrival_as_internaldate(
    imap_account, tmp_path, monkeypatch
):
    ws = tmp_path / "ws"
    _gather_examples(tmp_path, ws)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", imap_account.password)
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", imap_account.url()]) == 0
    with Workspace(ws) as w:
        expected = sorted(datetime.fromisoformat(d) for (d,) in w.db.execute("SELECT date FROM messages"))
    on_server = sorted(date for folder in imap_account.messages().values() for _raw, _flags, date in folder)
    assert len(on_server) == 11 and on_server == expected  # the same instants, second for second
    assert all(_in_2012(d) for d in on_server)


def test_a_message_without_any_date_is_restored_with_the_time_it_was_gathered_on_every_run(tmp_path):
    mh = tmp_path / "Mail" / "inbox"
    mh.mkdir(parents=True)
    (mh / "1").write_bytes(b"From: jiro@example.net\nSubject: undated\nMessage-ID: <u@example.net>\n\nbody\n")
    (mh / ".mh_sequences").write_bytes(b"")
    _stale(mh / "1")  # nothing for the file time to agree with: no evidence
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(mh)]) == 0
    with Workspace(ws) as w:
        assert w.db.execute("SELECT arrival_source FROM copies").fetchall() == [("none",)]
        gathered = "2020-01-01T00:00:00+00:00"  # gathered long before the restore, whenever it runs
        w.db.execute("UPDATE copies SET gathered = ?", (gathered,))
    names = []
    for run in ("a", "b"):
        target = tmp_path / run
        assert (
            main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 0
        )
        (path,) = (target / "cur").iterdir()
        names.append(path.name)
        assert int(path.stat().st_mtime) == int(datetime.fromisoformat(gathered).timestamp())
    assert names[0] == names[1]
