"""Server logs of 2012 copied to the rescue machine today still give 2012 in every report."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from mailrecover.cli import main
from tests.plugins.test_logs import _june_2012
from tests.support.logbuilder import LOCAL, scenario, write_log


def _logs(directory: Path, names: str) -> None:
    """The June 2012 Sendmail log, rotated twice, every file's mtime today."""
    written = write_log(
        directory,
        "sendmail",
        _june_2012(scenario()),
        base="maillog",
        cuts=(datetime(2012, 6, 21), datetime(2012, 6, 23)),
    )
    oldest, middle, _live = written.files  # maillog.2.gz, maillog.1, maillog
    if names == "dated":
        oldest.rename(directory / "maillog-20120621.gz")
        middle.rename(directory / "maillog-20120623")
    for path in directory.iterdir():
        os.utime(path)  # copied without keeping times


def _message(directory: Path) -> None:
    """The one message gathered: the first one the log names."""
    (directory / "hanako.eml").write_bytes(
        b"From: Hanako <hanako@example.net>\r\nTo: taro@example.jp\r\n"
        b"Subject: before the wipe\r\nDate: Wed, 20 Jun 2012 18:00:00 +0900\r\n"
        b"Message-ID: <m1@hanako.example.net>\r\n\r\nStill here.\r\n"
    )


@pytest.mark.parametrize("order", ["logs-first", "mail-first"])
@pytest.mark.parametrize("names", ["dated", "numbered"])
def test_2012_logs_copied_today_give_2012_in_every_report(
    tmp_path: Path, capsys, names: str, order: str
) -> None:
    logs, mail, ws = tmp_path / "log", tmp_path / "mail", str(tmp_path / "ws")
    logs.mkdir()
    mail.mkdir()
    _logs(logs, names)
    _message(mail)
    steps = [["gather", str(logs)], ["gather", "--account", LOCAL, str(mail)]]
    for step in steps if order == "logs-first" else steps[::-1]:
        assert main(["--workspace", ws, *step]) in (0, 3)  # 3: the builder's garbage lines
    capsys.readouterr()

    html = tmp_path / "report.html"
    assert main(["--workspace", ws, "--json", "report", "--account", LOCAL, "--html", str(html)]) == 0
    data = json.loads(capsys.readouterr().out)
    a = data["accounts"][LOCAL]
    # how the years were found: the names where they exist, else the message the lines name
    years = {basis.split("/")[0] for basis in data["log_times"]}
    assert years == ({"messages", "rotation-name", "chain"} if names == "dated" else {"messages"})
    assert [d["day"] for d in a["by_day"]] == ["2012-06-20", "2012-06-21", "2012-06-22", "2012-06-23"]
    assert (a["delivered"], a["recovered_of_delivered"]) == (6, 1)
    assert sorted(m["date"][:10] for m in a["missing"]) == [
        "2012-06-20",
        "2012-06-21",
        "2012-06-22",
        "2012-06-22",
        "2012-06-23",
    ]
    assert {m["date"][:7] for m in a["missing_sent"]} == {"2012-06"}

    assert main(["--workspace", ws, "report", "--account", LOCAL]) == 0
    text = capsys.readouterr().out
    assert "read in this machine's time zone, assumed to be the server's" in text
    assert (
        "lost for good" in text
        and "2012-06-22" in text
        and not re.search(r"\b20(1[3-9]|2\d)-\d\d-\d\d", text)
    )

    page = html.read_text(encoding="utf-8")
    span = re.search(r'aria-label="recovered messages per day from (\S+) to (\S+)"', page)
    assert span is not None and span.groups() == ("2012-06-20", "2012-06-23")
    holes = re.findall(r"no mail recovered from (\S+) to (\S+) ", page)
    assert holes == [("2012-06-21", "2012-06-23")]  # none reaching into the year of the copy
    lost_days = re.findall(r'class="lost"[^>]*><title>(\S+): ', page)
    assert sorted(lost_days) == ["2012-06-20", "2012-06-21", "2012-06-22", "2012-06-23"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_servers_zone_is_given_on_gather(tmp_path: Path, capsys, monkeypatch, how: str) -> None:
    import sqlite3

    logs, ws = tmp_path / "log", str(tmp_path / "ws")
    logs.mkdir()
    _logs(logs, "dated")
    args = ["--log-timezone", "Asia/Tokyo"] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("MAILRECOVER_LOG_TZ", "+09:00")
    assert main(["--workspace", ws, "gather", *args, str(logs)]) == 3  # the builder's garbage lines
    db = sqlite3.connect(Path(ws) / "workspace.db")
    rows = db.execute("SELECT time, time_basis FROM evidence").fetchall()
    assert {t[-6:] for t, _ in rows} == {"+09:00"} and {b.split("/")[1] for _, b in rows} == {"given"}
    assert min(t for t, _ in rows) == "2012-06-20T09:00:02+09:00"  # the wall clock as the server logged it
    capsys.readouterr()
    assert main(["--workspace", ws, "gather", "--log-timezone", "Mars/Olympus", str(logs)]) == 2
    assert "Mars/Olympus" in capsys.readouterr().err


def test_without_evidence_the_year_is_a_guess_and_the_report_says_so(tmp_path: Path, capsys) -> None:
    logs, mail, ws = tmp_path / "log", tmp_path / "mail", str(tmp_path / "ws")
    logs.mkdir()
    mail.mkdir()
    _logs(logs, "numbered")
    (mail / "other.eml").write_bytes(
        b"From: a@example.net\r\nMessage-ID: <unrelated@example.net>\r\n"
        b"Date: Wed, 20 Jun 2012 18:00:00 +0900\r\n\r\nx\r\n"
    )
    main(["--workspace", ws, "gather", str(logs)])
    main(["--workspace", ws, "gather", "--account", LOCAL, str(mail)])
    capsys.readouterr()
    assert main(["--workspace", ws, "--json", "report", "--account", LOCAL]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["log_times"]) == {"current-year/local", "chain/local"}  # the live file, then the rest
    this_year = datetime.now().year - (datetime.now().month < 6)
    assert {d["day"][:4] for d in data["accounts"][LOCAL]["by_day"]} == {str(this_year)}
    assert main(["--workspace", ws, "report", "--account", LOCAL]) == 0
    assert "log records carry a guessed year (the current one)" in capsys.readouterr().out


def test_members_reads_the_corrected_years_too(tmp_path: Path, capsys) -> None:
    import sqlite3

    logs, mail, ws = tmp_path / "log", tmp_path / "mail", str(tmp_path / "ws")
    logs.mkdir()
    mail.mkdir()
    _logs(logs, "numbered")
    _message(mail)
    main(["--workspace", ws, "gather", str(logs)])
    main(["--workspace", ws, "gather", "--account", LOCAL, str(mail)])
    main(["--workspace", ws, "members"])  # a delivery line dates a list membership: the year must be right
    capsys.readouterr()
    db = sqlite3.connect(Path(ws) / "workspace.db")
    assert {t[:4] for (t,) in db.execute("SELECT time FROM evidence WHERE time_basis != ''")} == {"2012"}
