"""The gap analysis: what the server's logs show delivered, against what was recovered."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.inventory import is_local_relay
from mailrecover.workspace import Workspace
from tests.support.logbuilder import LOCAL, scenario, write_log


def _maildir(root: Path, mails: dict[str, str]) -> Path:
    """A Maildir++ tree holding one message per Message-ID, in the given folder."""
    for n, (mid, folder) in enumerate(mails.items()):
        base = root if folder == "INBOX" else root / f".{folder}"
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        raw = (
            f"From: someone@example.net\r\nTo: {LOCAL}\r\nSubject: kept {n}\r\n"
            f"Date: Tue, 30 Dec 2025 09:00:0{n % 10} +0900\r\nMessage-ID: <{mid}>\r\n\r\nbody {n}\r\n"
        )
        (base / "cur" / f"17000000{n:02d}.M1P1.host:2,S").write_text(raw)
    return root


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


@pytest.mark.parametrize("mta", ["postfix", "exim", "sendmail"])
def test_report_names_exactly_the_lost_messages(
    tmp_path: Path, mta: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "var-log"
    logs.mkdir()
    write_log(logs, mta)
    survivors = _maildir(
        tmp_path / "Maildir",
        {
            "m1@hanako.example.net": "INBOX",  # delivered Dec 30, kept
            "m2@lists.example.org": "INBOX",  # delivered Dec 30, kept
            "m4@example.jp": "Sent",  # sent by taro, kept
            "unlogged@example.net": "INBOX",  # older than the logs
        },
    )
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", LOCAL, str(survivors)) == 0
    assert _run(ws, "gather", str(logs)) == 3  # the garbage lines are reported
    capsys.readouterr()

    assert _run(ws, "--json", "report", "--account", LOCAL) == 0
    report = json.loads(capsys.readouterr().out)
    taro = report["accounts"][LOCAL]
    # delivered to taro's mailbox: m1, m2, m5, m7 (split across files), m8 (via info@), m10;
    # not m3 (bounced, someone else), m6 (jiro), m4/m9 (sent by taro, not to taro)
    missing = [(m["message_id"], m["date"][:19], m["from"], m["size"]) for m in taro["missing"]]
    assert missing == [
        ("m5@example.net", "2025-12-31T12:00:01", "alice@example.net", "1500"),
        ("m7@example.org", "2026-01-01T00:00:03", "carol@example.org", "2222"),
        ("m8@shop.example.com", "2026-01-01T10:00:01", "orders@shop.example.com", "3333"),
        ("m10@example.net", "2026-01-02T08:00:01", "dave@example.net", "7777"),
    ]
    assert (taro["delivered"], taro["recovered_of_delivered"]) == (6, 2)
    assert taro["by_day"] == [
        {"day": "2025-12-30", "delivered": 2, "recovered": 2},
        {"day": "2025-12-31", "delivered": 1, "recovered": 0},
        {"day": "2026-01-01", "delivered": 2, "recovered": 0},
        {"day": "2026-01-02", "delivered": 1, "recovered": 0},
    ]
    assert taro["sent"] == 2
    assert [(m["message_id"], m["to"]) for m in taro["missing_sent"]] == [
        ("m9@example.jp", ["away@down.example"])
    ]
    assert taro["unidentified"] == []

    assert _run(ws, "report", "--account", LOCAL, "--senders") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["sender", "count", "first", "last"]
    assert sorted((r[0], r[1], r[2][:19], r[3][:19]) for r in rows[1:]) == [
        ("alice@example.net", "1", "2025-12-31T12:00:01", "2025-12-31T12:00:01"),
        ("carol@example.org", "1", "2026-01-01T00:00:03", "2026-01-01T00:00:03"),
        ("dave@example.net", "1", "2026-01-02T08:00:01", "2026-01-02T08:00:01"),
        ("orders@shop.example.com", "1", "2026-01-01T10:00:01", "2026-01-01T10:00:01"),
    ]

    assert _run(ws, "report", "--account", LOCAL) == 0
    text = capsys.readouterr().out
    assert "6 messages delivered here, 2 of them recovered; 4 lost for good" in text
    assert "<m10@example.net>" in text and "<m1@hanako.example.net>" not in text


def test_senders_needs_an_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Workspace(tmp_path / "ws").close()
    assert _run(tmp_path / "ws", "report", "--senders") == 2
    assert "--account" in capsys.readouterr().err


def test_gathering_the_logs_twice_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_log(logs, "postfix", garbage=False)
    ws = tmp_path / "ws"
    assert _run(ws, "gather", str(logs)) == 0
    assert _run(ws, "gather", str(logs)) == 0
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", LOCAL) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["evidence"] == {"delivery": 12}
    assert len(report["accounts"][LOCAL]["missing"]) == 6


@pytest.mark.parametrize(
    ("relay", "local"),
    [
        ("local", True),
        ("virtual", True),
        ("dovecot", True),
        ("mail.example.jp[private/dovecot-lmtp]", True),
        ("127.0.0.1[127.0.0.1]:24", True),
        ("local_delivery", True),
        ("maildir_delivery", True),
        ("lmtp", True),
        ("127.0.0.1[127.0.0.1]:10024", False),
        ("mx.remote.example[198.51.100.7]:25", False),
        ("none", False),
        ("remote_smtp", False),
        ("mx.remote.example[198.51.100.7]", False),
        ("", False),
    ],
)
def test_local_relays(relay: str, local: bool) -> None:
    assert is_local_relay(relay) is local


def test_the_scenario_covers_what_the_report_must_tell_apart() -> None:
    mails = {m.message_id: m for m in scenario()}
    assert mails["m3@spam.example.com"].outcomes[0].status == "bounced"
    assert mails["m8@shop.example.com"].outcomes[0].orig_to == "info@example.jp"
    assert mails["m5@example.net"].queue_id["postfix"] == mails["m6@example.net"].queue_id["postfix"]


def test_one_account_s_records_are_found_through_the_index(tmp_path: Path) -> None:
    from mailrecover.workspace import Workspace
    from mailrecover.workspace.store import RECORDS_SQL

    with Workspace(tmp_path / "ws") as ws:
        for field in ("recipient", "orig_to", "sender"):
            plan = ws.db.execute("EXPLAIN QUERY PLAN " + RECORDS_SQL.format(field=field), (LOCAL,)).fetchall()
            assert f"USING INDEX evidence_delivery_{field} (<expr>=?)" in " ".join(str(r[-1]) for r in plan)


def test_without_logs_nothing_is_called_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    survivors = _maildir(tmp_path / "Maildir", {"m1@hanako.example.net": "INBOX"})
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", LOCAL, str(survivors)) == 0
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--account", LOCAL) == 0
    taro = json.loads(capsys.readouterr().out)["accounts"][LOCAL]
    assert "missing" not in taro and "by_day" not in taro
    assert _run(ws, "report", "--account", LOCAL) == 0
    assert "lost for good" not in capsys.readouterr().out
