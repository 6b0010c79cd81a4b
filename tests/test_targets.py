"""Targets: hostile folder names stay inside the target and apart; files are private."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrecover.gather import gather
from mailrecover.report import summary
from mailrecover.report_html import write_html
from mailrecover.restore import restore
from mailrecover.targets import Outgoing, open_target, safe_name
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, build_contaminated

HOSTILE = [
    "../../../etc",
    "/etc/passwd",
    "..",
    ".",
    "a/../../b",
    "x\x00y",
    "xy",
    "x",
    "CON",
    "con/nul.txt",
    "LPT1.log",
    "a.b",
    "a_b",
    "a.sbd",
    "a",
    "a/b",
    ".hidden",
    "trailing. ",
    "tab\there\x1b[31m",
    "\u202eevil\u202c",
    "abc~12345678",
    "&-amp & more",
    "a" * 300,
    "日本語の長いフォルダ名" * 30,
    "Слово" * 60,
    "/".join(["level" * 40] * 12),
    "surrogate \udce9 byte",
    "受信トレイ/削除済みアイテム",
]


def _items() -> list[Outgoing]:
    when = datetime(2012, 6, 18, 10, 0, tzinfo=UTC)
    return [
        Outgoing(
            key=f"k{i:03d}",
            folder=folder,
            flags=frozenset(),
            date=when,
            raw=f"Subject: {i}\n\nmarker-{i:03d}\n".encode(),
        )
        for i, folder in enumerate(HOSTILE)
    ]


def _inside(root: Path) -> list[Path]:
    """Every path under root; fails if any leads outside or has a name a file system refuses."""
    found = []
    real = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            assert os.path.realpath(path).startswith(real + os.sep), path
            assert len(name.encode("utf-8")) <= 255 and "\x00" not in name, name
            assert name.split(".")[0].lower() not in ("con", "nul", "lpt1") or name.startswith("."), name
            found.append(path)
    return found


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_hostile_folder_names_stay_inside_and_apart(tmp_path, kind):
    root = tmp_path / "target"
    with Workspace(tmp_path / "ws") as ws:
        outside = sorted(p.name for p in tmp_path.iterdir())
        target = open_target(f"{kind}:{root}")
        assert target.write(_items(), ws.journal(target.description)) == len(HOSTILE)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*outside, "target"])
    paths = _inside(root)
    holder: dict[str, Path] = {}  # marker -> the file or folder holding it
    for path in paths:
        if path.is_file() and path.name != "maildirfolder":
            data = path.read_bytes()
            for i in range(len(HOSTILE)):
                if b"marker-%03d\n" % i in data:
                    assert f"{i}" not in holder, f"{HOSTILE[i]!r} written twice"
                    holder[f"{i}"] = path if kind == "mbox" else path.parent.parent
    assert len(holder) == len(HOSTILE)
    # two different folders never share a place (x\0y, a.b vs a_b, CON …)
    assert len(set(holder.values())) == len(HOSTILE)


@given(st.text(max_size=300), st.text(max_size=300))
def test_cleaned_names_never_collide_and_are_safe(a, b):
    for rules in ({}, {"forbidden": ".", "suffixes": (".sbd",)}):
        na, nb = safe_name(a, **rules), safe_name(b, **rules)
        for n in (na, nb):
            assert n and n not in (".", "..") and not n.startswith(".")
            assert "/" not in n and "\\" not in n and "\x00" not in n
            assert len(n.encode("utf-8")) <= 200
            n.encode("utf-8")  # no lone surrogates
        if a != b:
            assert na != nb


@pytest.fixture
def open_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path)] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_everything_written_is_private_under_an_open_umask(tmp_path, open_umask):
    sources = build_contaminated(tmp_path / "sources")
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)
    with Workspace(out / "jobs" / "ws") as ws:
        result = gather(ws, [str(sources.root)], account=ACCOUNT)
        assert result.new_copies == 14
        restore(ws, ACCOUNT, f"maildir:{out / 'new' / 'taro' / 'Maildir'}")
        restore(ws, ACCOUNT, f"mbox:{out / 'mbox' / 'taro'}")
        write_html(ws, summary(ws), str(out / "reports" / "taro.html"))
        modes = _modes(out)  # while open: SQLite's -wal and -shm files are there too
    assert modes.pop(str(out)) == 0o755  # the administrator's own folder is left as it was
    assert len(modes) > 30
    assert any("/blobs/packs/" in p for p in modes)  # the workspace's kept bytes are checked too
    wrong = {p: oct(m) for p, m in modes.items() if m != (0o700 if Path(p).is_dir() else 0o600)}
    assert wrong == {}
    assert {str(out / "jobs" / "ws" / n) for n in ("workspace.db-wal", "workspace.db-shm")} <= set(modes)
    assert str(out / "reports" / "taro.html") in modes


ODD_MESSAGES = [
    b"From: a@example.com\nMessage-ID: <no-body@x>\n",  # a header block and nothing else
    b"From: a@example.com\nMessage-ID: <blank-end@x>\n\nbody\n\n\n\n",  # blank lines at its end
    b"From: a@example.com\r\nMessage-ID: <crlf@x>\r\n\r\nCRLF body\r\n\r\n",
    b"From: a@example.com\nMessage-ID: <from-line@x>\n\nFrom the start\n>From quoted\n\nFrom again\n",
    b"From: a@example.com\n\nno Message-ID, only blank lines after this\n\n",
    b"From: a@example.com\n\n\n\n",  # an empty body of blank lines
    b"From: a@example.com\nMessage-ID: <no-newline@x>\n\nno newline at the end",
]


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_every_kind_of_message_written_is_found_again_by_a_rerun_that_lost_its_journal(tmp_path, kind):
    """What a target writes, its own check must recognise, whatever the message's shape."""
    items = [
        Outgoing(
            key=f"k{i}",
            folder="INBOX",
            flags=frozenset(),
            date=datetime(2012, 6, 18, tzinfo=UTC),
            raw=raw,
        )
        for i, raw in enumerate(ODD_MESSAGES)
    ]
    with Workspace(tmp_path / "ws") as ws:
        target = open_target(f"{kind}:{tmp_path / 'out'}")
        assert target.write(items, ws.journal("first")) == len(items)
        before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
        again = open_target(f"{kind}:{tmp_path / 'out'}")
        assert again.write(items, ws.journal("journal lost")) == 0
        assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
        assert again.verification.present == len(items)  # type: ignore[attr-defined]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_an_mbox_read_in_chunks_gives_the_same_messages_as_read_whole(tmp_path, monkeypatch, chunk):
    import mailrecover.targets.mbox as mbox

    items = [
        Outgoing(
            key=f"k{i}",
            folder="INBOX",
            flags=frozenset(),
            date=datetime(2012, 6, 18, tzinfo=UTC),
            raw=raw,
        )
        for i, raw in enumerate(ODD_MESSAGES * 3)
    ]
    with Workspace(tmp_path / "ws") as ws:
        open_target(f"mbox:{tmp_path / 'out'}").write(items, ws.journal("t"))
    data = (tmp_path / "out" / "INBOX").read_bytes()
    whole = list(mbox._entries(data))
    assert len(whole) == len(items)
    monkeypatch.setattr(mbox, "_CHUNK", chunk)
    fd = os.open(tmp_path / "out" / "INBOX", os.O_RDONLY)
    try:
        assert list(mbox._scan(fd)) == whole
    finally:
        os.close(fd)


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_folder_names_are_modified_utf7_exactly_as_imapclient_writes_them(name):
    """Folder names on disk and on servers must stay what earlier runs made (a rerun finds its
    folders by them): ours is checked against imapclient's encoder."""
    from imapclient import imap_utf7

    from mailrecover.targets import utf7

    assert utf7(name).encode("ascii") == imap_utf7.encode(name)


def test_a_maildir_restore_does_not_load_the_imap_client(tmp_path):
    """Its ssl and imaplib cost every restore start-up time (0.05 CPU s) for nothing."""
    import subprocess
    import sys

    sources = build_contaminated(tmp_path / "sources")
    with Workspace(tmp_path / "ws") as ws:
        gather(ws, [str(sources.root)], account=ACCOUNT)
    code = (
        "import sys; from mailrecover.cli import main; "
        f"status = main(['--workspace', {str(tmp_path / 'ws')!r}, '-q', 'restore', '--account', {ACCOUNT!r}, "
        f"'--to', 'maildir:' + {str(tmp_path / 'out')!r}]); "
        "from mailrecover.targets.maildir import _folder_name; "
        "assert _folder_name('Entwürfe/Réponses & co') == '.Entw&APw-rfe.R&AOk-ponses &- co'; "
        "print(status, sorted(m for m in sys.modules if m.split('.')[0] in ('imapclient', 'imaplib', 'ssl')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] in ("0 []", "3 []")  # 3: the quarantined mail held back
    assert any((tmp_path / "out" / "cur").iterdir())
