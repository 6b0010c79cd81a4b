"""The reports: JSON fields for a known scenario, the terminal text, the self-contained HTML."""

from __future__ import annotations

import json
import stat
from collections import Counter
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.report import summary
from mailrecover.report_html import holes, render_html
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, HOSTILE_FOLDER, build_contaminated


@pytest.fixture
def restored_ws(tmp_path: Path):
    """The contaminated backup gathered and restored to a Maildir: (workspace, target)."""
    sources = build_contaminated(tmp_path / "sources")
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(sources.root)]) == 0
    target = tmp_path / "Maildir"
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 3
    return ws, target


def test_json_report_fields(restored_ws, capsys):
    ws, target = restored_ws
    capsys.readouterr()
    assert (
        main(["--workspace", str(ws), "--json", "report", "--account", ACCOUNT]) == 3
    )  # it lists quarantined mail
    a = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert (a["messages"], a["copies"], a["duplicates"], a["quarantined"], a["problems"]) == (13, 14, 1, 4, 0)
    assert a["folders"] == {HOSTILE_FOLDER[1:]: 1, "INBOX": 11, "Sent": 1}
    assert a["restored"] == {f"maildir:{target}": 9}
    assert a["deleted"] == 0 and a["conflicts"] == []
    assert list(a["sources"].values()) == [14]
    assert "missing" not in a  # only the log inventory adds it


def test_text_report_says_what_happened(restored_ws, capsys):
    ws, target = restored_ws
    capsys.readouterr()
    assert main(["--workspace", str(ws), "report"]) == 3
    text = capsys.readouterr().out
    assert "14 copies found, 13 distinct messages (1 duplicate merged) in 3 folders" in text
    assert "4 quarantined: delivered to other mailboxes, held back" in text
    assert f"restored to maildir:{target}: 9 of 13 (complete)" in text
    assert "\x1b" not in text and "\u202e" not in text and "'?[2J?exim'" in text  # hostile subject, defused


def test_sources_count_a_folder_of_one_message_files_once(tmp_path, capsys):
    """A folder of saved .eml files is one line of the report, whatever it holds; a store
    that gave several copies, and a file alone in its folder, keep their own names."""
    mail = b"From: jiro@example.org\nTo: %s\nSubject: n%d\nMessage-ID: <%d.t@example.org>\n\nbody %d\n"
    root = tmp_path / "sources"
    (root / "saved").mkdir(parents=True)
    (root / "alone").mkdir()
    for n in range(4):
        (root / "saved" / f"{n:07}.eml").write_bytes(mail % (ACCOUNT.encode(), n, n, n))
    (root / "alone" / "x.eml").write_bytes(mail % (ACCOUNT.encode(), 9, 9, 9))
    (root / "Archive.mbox").write_bytes(
        b"".join(
            b"From jiro@example.org Mon Jun 18 12:00:00 2012\n" + mail % (ACCOUNT.encode(), n, n, n) + b"\n"
            for n in range(10, 13)
        )
    )
    ws = str(tmp_path / "ws")
    assert main(["--workspace", ws, "gather", "--account", ACCOUNT, str(root)]) == 0
    capsys.readouterr()
    assert main(["--workspace", ws, "--json", "report"]) == 0
    sources = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]["sources"]
    assert sources == {
        str(root / "Archive.mbox"): 3,
        str(root / "alone" / "x.eml"): 1,
        str(root / "saved" / "*"): 4,
    }
    assert main(["--workspace", ws, "report"]) == 0
    text = capsys.readouterr().out
    assert f"from {root / 'saved' / '*'}: 4 copies, one per file" in text
    assert f"from {root / 'alone' / 'x.eml'}: 1 copy\n" in text
    with Workspace(ws) as w:  # the HTML page's sources table: the same places, one row each
        page = render_html(w, summary(w, ACCOUNT))
    table = page[page.index("<h3>Sources</h3>") : page.index("<h3>Duplicates merged")]
    assert table.count("<tr>") == 1 + 3
    cells = "".join(f"<td class=n>{n}</td>" for n in (4, 4, 4))  # copies, messages, only found there
    assert f"<code>{root / 'saved' / '*'}</code> (one copy per file)</td><td>eml</td>{cells}" in table
    assert f"<code>{root / 'Archive.mbox'}</code></td><td>mbox</td>" in table


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attrs: set[tuple[str, str]] = set()
        self.links: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        for name, value in attrs:
            self.attrs.add((tag, name))
            if name in ("href", "src", "xlink:href", "action"):
                self.links.add(value or "")

    def handle_data(self, data):
        self.text.append(data)


_ALLOWED = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "div",
    "section",
    "span",
    "b",
    "br",
    "code",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "svg",
    "rect",
    "line",
    "text",
}


def test_html_report_is_self_contained_private_and_escaped(restored_ws, tmp_path, capsys):
    ws, _target = restored_ws
    page_path = tmp_path / "out" / "report.html"
    assert main(["--workspace", str(ws), "report", "--html", str(page_path)]) == 3
    assert stat.S_IMODE(page_path.stat().st_mode) == 0o600
    page = page_path.read_text(encoding="utf-8")
    parsed = _Tags()
    parsed.feed(page)
    assert set(parsed.tags) <= _ALLOWED
    assert not [a for a in parsed.attrs if a[1].startswith("on")]  # no event handlers, hostile or not
    assert parsed.links == {"#a0"}  # nothing to fetch: no network, no external asset
    assert "default-src 'none'" in page
    text = "".join(parsed.text)
    # hostile subject and folder are shown as text, exactly
    assert "<script>alert('pwned')</script> 見積" in text
    assert '<b>bold</b> & "quoted" 議事録' in text
    assert HOSTILE_FOLDER[1:] in text
    assert "?[2J?exim" in text and "\x1b" not in page and "\u202e" not in page
    # the sections the administrator needs
    for heading in (
        "Summary",
        "Timeline: recovered messages per day",
        "Quarantined (4)",
        "Folders",
        "Sources",
        "Duplicates merged (1)",
        "Problems (0)",
        "Missing mail",
    ):
        assert heading in text, heading
    assert parsed.tags["svg"] == 1
    assert "no mail recovered from 2012-06-09 to 2012-06-19 (11 days)" in text  # the hole
    assert "No mail server logs were gathered" in text


def test_html_lists_the_first_messages_with_where_each_was_found(restored_ws, monkeypatch):
    """Past ``MESSAGE_ROWS`` the page stops listing; the messages it lists, and the
    duplicates, still say every place they were found."""
    from mailrecover import report_html

    ws, _target = restored_ws
    monkeypatch.setattr(report_html, "MESSAGE_ROWS", 2)
    with Workspace(ws) as w:
        page = render_html(w, summary(w, ACCOUNT))
        first = [
            r
            for r in w.db.execute(
                "SELECT id FROM messages WHERE account = ? ORDER BY date, id LIMIT 2", (ACCOUNT,)
            )
        ]
        twice = w.db.execute(
            "SELECT id FROM messages WHERE account = ? AND copies = 2", (ACCOUNT,)
        ).fetchone()
        shown = [
            [
                (s, p)
                for s, p in w.db.execute(
                    "SELECT source, position FROM copies WHERE message = ? ORDER BY id", (m,)
                )
            ]
            for (m,) in [*first, twice]
        ]
    assert "The first 2 of 13 messages are shown." in page
    assert len(shown[2]) == 2  # the duplicate: both copies
    for places in shown:
        assert "<br>".join(report_html._where(s, p) for s, p in places) in page


def test_missing_mail_from_the_logs_is_listed_when_the_summary_has_it(restored_ws):
    ws, _target = restored_ws
    with Workspace(ws) as w:
        data = summary(w, ACCOUNT)
        data["accounts"][ACCOUNT]["missing"] = [
            {
                "date": "2012-06-12T08:00:00+00:00",
                "from": "boss@<example>.jp",
                "size": "4321",
                "message_id": "lost-1@example.jp",
            },
        ]
        data["accounts"][ACCOUNT]["by_day"] = [{"day": "2012-06-12", "delivered": 3, "recovered": 1}]
        data["accounts"][ACCOUNT]["missing_sent"] = [
            {"date": "2012-06-13T01:00:00+00:00", "to": ["x@<y>"], "size": "9", "message_id": "s@x"}
        ]
        page = render_html(w, data)
    assert '<section class="missing"><h3>Missing mail (1)</h3>' in page
    assert "boss@&lt;example&gt;.jp" in page and "lost-1@example.jp" in page and "4321" in page
    assert "2012-06-12: 2 delivered according to the logs, not recovered" in page  # in the timeline
    assert "Sent, according to the logs, and in no copy (1)" in page and "x@&lt;y&gt;" in page
    # the log inventory's empty answer when no logs were gathered
    with Workspace(ws) as w:
        data = summary(w, ACCOUNT)
        data["accounts"][ACCOUNT].update(missing=[], delivered=0, sent=0, by_day=[], missing_sent=[])
        assert "No mail server logs were gathered" in render_html(w, data)


def test_holes_are_runs_of_empty_days_longest_first():
    days = Counter({date(2012, 6, 1): 3, date(2012, 6, 3): 1, date(2012, 6, 8): 2, date(2012, 7, 1): 1})
    assert holes(days, date(2012, 6, 1), date(2012, 7, 1)) == [
        (date(2012, 6, 9), date(2012, 6, 30)),
        (date(2012, 6, 4), date(2012, 6, 7)),
    ]


def test_report_shows_each_targets_last_check(restored_ws, capsys):
    ws, target = restored_ws
    restore = ["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]

    def report() -> tuple[dict, str]:
        capsys.readouterr()
        assert (
            main(["--workspace", str(ws), "--json", "report", "--account", ACCOUNT]) == 3
        )  # quarantined mail listed
        data = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]["verified"][f"maildir:{target}"]
        assert main(["--workspace", str(ws), "report", "--account", ACCOUNT]) == 3
        return data, capsys.readouterr().out

    last, text = report()
    assert (last["by"], last["planned"], last["present"], last["missing"], last["repaired"]) == (
        "restore",
        9,
        9,
        0,
        0,
    )
    assert "(complete)" in text and "9 planned, 9 present, 0 missing, 0 repaired" in text
    next(p for p in target.rglob("*") if p.parent.name == "cur").unlink()  # gone since
    assert main(["--workspace", str(ws), "-q", "verify"]) == 3
    last, text = report()
    assert (last["by"], last["missing"]) == ("verify", 1)
    assert "incomplete: 1 missing at the last check" in text
    assert main(restore) == 3  # (quarantined mail held back, as before)
    last, text = report()
    assert (last["by"], last["planned"], last["present"], last["missing"], last["repaired"]) == (
        "restore",
        9,
        9,
        0,
        1,
    )
    assert "(complete)" in text
