"""Targets that hold links or are shared with other writers, and folder names that must stay apart.

The same cases run against every target where they mean something: Maildir and mbox (files on
this machine, where symbolic links and other programs' files can be) and IMAP (the real Dovecot
fixture, where other clients add mail and the server refuses names).  What must hold (DESIGN.md,
invariant 6): nothing outside a target is written, links in a target are never followed, and
bytes this tool did not write are never cut or overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailrecover.cli import main
from mailrecover.errors import TargetError
from mailrecover.model import Copy
from mailrecover.pluginkit import split_mbox
from mailrecover.targets import Outgoing, open_target
from mailrecover.targets.mbox import MboxTarget
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT

KINDS = ["maildir", "mbox", "imap"]
FILE_KINDS = ["maildir", "mbox"]  # where symbolic links and lock files exist
WHEN = datetime(2012, 6, 18, 10, 0, tzinfo=UTC)
_MARK = re.compile(rb"marker-([0-9a-z-]+)\.")


def _raw(tag: str) -> bytes:
    return (
        f"From: sender@example.net\nTo: {ACCOUNT}\nMessage-ID: <{tag}@safety.example>\n"
        f"Subject: {tag}\n\nmarker-{tag}.\n"
    ).encode()


def _out(tag: str, folder: str = "INBOX") -> Outgoing:
    return Outgoing(
        key=f"k-{tag}",
        folder=folder,
        flags=frozenset(),
        date=WHEN + timedelta(minutes=len(tag)),
        raw=_raw(tag),
    )


def _markers(data: bytes) -> list[str]:
    return [m.decode() for m in _MARK.findall(data)]


class Place:
    """One target of each kind: write to it, add mail as another program would, see where mail is."""

    def __init__(self, kind: str, tmp_path: Path, account: Any = None) -> None:
        self.kind, self.account = kind, account
        self.root = tmp_path / "target"
        self.spec = account.url() if kind == "imap" else f"{kind}:{self.root}"
        self.ws = Workspace(tmp_path / "ws")

    def write(self, items: Iterable[Outgoing]) -> Any:
        password = (lambda prompt: self.account.password) if self.account else None
        target = open_target(self.spec, password=password)
        target.write(items, self.ws.journal(target.description))
        return target

    def add_foreign(self, tag: str, *, newline: bool = True) -> bytes:
        """Mail another program puts into INBOX; the exact bytes it wrote."""
        raw = _raw(tag) if newline else _raw(tag).rstrip(b"\n")
        if self.kind == "maildir":
            (self.root / "new").mkdir(parents=True, exist_ok=True)
            (self.root / "new" / f"1340000000.P1Q{tag}.otherhost").write_bytes(raw)
            return raw
        if self.kind == "mbox":
            entry = b"From other@example.net Mon Jun 18 10:00:00 2012\n" + raw
            with open(self.root / "INBOX", "ab") as f:
                f.write(entry)
            return entry
        client = self.account.client()
        client.append("INBOX", raw.replace(b"\n", b"\r\n"), (), WHEN)
        client.logout()
        return raw

    def found(self) -> dict[str, list[str]]:
        """marker -> every place (folder directory, file or server folder) holding it."""
        where: dict[str, list[str]] = {}
        if self.kind == "imap":
            for folder, messages in self.account.messages().items():
                for raw, _flags, _date in messages:
                    for m in _markers(raw):
                        where.setdefault(m, []).append(folder)
            return where
        for path in self.root.rglob("*"):
            if not path.is_file() or path.is_symlink() or path.name == "maildirfolder":
                continue
            if self.kind == "maildir":
                if path.parent.name not in ("cur", "new"):
                    continue  # the server's own files, unfinished deliveries in tmp/
                place = str(path.parent.parent.relative_to(self.root))
                messages = [path.read_bytes()]
            else:
                place = str(path.relative_to(self.root))
                messages = [raw for _at, _line, raw, _cut in split_mbox(path.read_bytes())]
            for raw in messages:
                for m in _markers(raw):
                    where.setdefault(m, []).append(place)
        return where


@pytest.fixture
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    kind = request.param
    account = request.getfixturevalue("imap_account") if kind == "imap" else None
    p = Place(kind, tmp_path, account)
    yield p
    p.ws.close()


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root (links not followed): bytes and mtime."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def _tree(root: Path) -> dict[str, str]:
    """Every entry under root, links included, without following any: what it is and holds."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath) / name
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            data = hashlib.sha256(path.read_bytes()).hexdigest() if kind == "file" else ""
            found[str(path.relative_to(root))] = kind + data
    return found


# --- a target shared with other writers ---------------------------------------------------------


@pytest.mark.parametrize("place", KINDS, indirect=True)
def test_mail_another_program_added_survives_reruns(place: Place) -> None:
    """A mail client or another job adds mail between restores: every rerun keeps it."""
    place.write([_out("m1"), _out("m2")])
    first = place.add_foreign("other1")
    place.write([_out("m1"), _out("m2"), _out("m3")])
    second = place.add_foreign("other2", newline=False)  # not even ending in a newline
    place.write([_out("m1"), _out("m2"), _out("m3"), _out("m4")])
    found = place.found()
    assert {m: len(w) for m, w in found.items()} == {
        "m1": 1,
        "m2": 1,
        "m3": 1,
        "m4": 1,
        "other1": 1,
        "other2": 1,
    }
    if place.kind == "mbox":
        data = (place.root / "INBOX").read_bytes()
        assert first in data and second in data  # byte for byte, where the other program put them


@pytest.mark.parametrize("place", KINDS, indirect=True)
def test_existing_mail_and_files_in_the_target_stay_byte_for_byte(place: Place) -> None:
    """A target that already holds mail (and a server's or client's own files) gets ours added."""
    if place.kind == "maildir":
        for rel, data in {
            "cur/1339000000.M1P2.host:2,S": _raw("old1"),
            "new/1339000001.M2P3.host": _raw("old2"),
            "tmp/1339000002.M3P4.host": b"From: half",
            "dovecot-uidlist": b"3 V1 N3\n",
            ".Work/cur/1339000003.M4P5.host:2,": _raw("old3"),
            ".Work/maildirfolder": b"kept",
            ".INBOX.Projects/cur/1339000004.M5P6.host:2,": _raw("old4"),
        }.items():
            (place.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (place.root / rel).write_bytes(data)
        os.utime(place.root / "dovecot-uidlist", (1_300_000_000, 1_300_000_000))
    elif place.kind == "mbox":
        place.root.mkdir()
        (place.root / "INBOX").write_bytes(b"From a@b Mon Jun 18 09:00:00 2012\n" + _raw("old1").rstrip())
        (place.root / "Work").write_bytes(b"From a@b Mon Jun 18 09:00:00 2012\n" + _raw("old3") + b"\n")
    else:
        place.add_foreign("old1")
    before = _files(place.root) if place.kind != "imap" else {}
    place.write([_out("m1"), _out("m2", "Work"), _out("m3", "INBOX/Projects")])
    place.write([_out("m1"), _out("m2", "Work"), _out("m3", "INBOX/Projects"), _out("m4", "Work")])
    after = _files(place.root) if place.kind != "imap" else {}
    for rel, (data, mtime) in before.items():
        if place.kind == "maildir":
            assert after[rel] == (data, mtime), rel  # never opened, never renamed over
        else:
            assert after[rel][0].startswith(data), rel  # mbox: only ever appended to
    found = place.found()
    assert {m: len(w) for m, w in found.items() if m.startswith("m")} == {"m1": 1, "m2": 1, "m3": 1, "m4": 1}
    assert all(len(found[m]) == 1 for m in found if m.startswith("old"))


def test_an_mbox_tail_this_tool_did_not_write_is_kept(tmp_path: Path) -> None:
    """Bytes after the journalled end that are not the start of our next message are another's."""
    place = Place("mbox", tmp_path)
    place.write([_out("m1")])
    inbox = place.root / "INBOX"
    foreign = b"From mailrecover Mon Jun 18 10:00:00 2012\nStatus: O\nFrom: half@writ"
    with inbox.open("ab") as f:
        f.write(foreign)
    before = inbox.read_bytes()
    place.write([_out("m1"), _out("m2")])
    after = inbox.read_bytes()
    assert after.startswith(before)
    assert sorted(place.found()) == ["m1", "m2"]
    place.ws.close()


# --- locks: as mail clients expect ----------------------------------------------------------------

_LOCK_HELD = """
import fcntl, sys
with open(sys.argv[1], "r+b") as f:
    try:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(7)
"""


def test_mbox_is_written_under_dot_lock_and_fcntl_lock(tmp_path: Path) -> None:
    place = Place("mbox", tmp_path)
    seen: list[tuple[bool, int]] = []

    def items() -> Iterator[Outgoing]:
        yield _out("m1")
        yield _out("m2")

    import mailrecover.targets.mbox as mbox

    real = mbox.write_all

    def watching(fd: int, data: bytes, *, sync: bool = True) -> None:
        if sync:  # a message: look from outside while it is written
            probe = subprocess.run([sys.executable, "-c", _LOCK_HELD, str(place.root / "INBOX")])
            seen.append(((place.root / "INBOX.lock").exists(), probe.returncode))
        real(fd, data, sync=sync)

    mbox.write_all = watching  # type: ignore[assignment]
    try:
        place.write(list(items()))
    finally:
        mbox.write_all = real
    assert seen == [(True, 7), (True, 7)]  # both locks held while each message was written
    assert sorted(os.listdir(place.root)) == ["INBOX"]  # and the dot-lock taken away after
    place.ws.close()


def test_a_dot_lock_held_by_another_program_stops_the_restore_and_is_left_alone(tmp_path: Path) -> None:
    place = Place("mbox", tmp_path)
    place.write([_out("m1")])
    lock = place.root / "INBOX.lock"
    lock.write_bytes(b"4242\n")
    before = (place.root / "INBOX").read_bytes()
    target = MboxTarget(str(place.root), lock_wait=0.3)
    with pytest.raises(TargetError, match=r"INBOX is locked by another program .*INBOX\.lock"):
        target.write([_out("m1"), _out("m2")], place.ws.journal(target.description))
    assert lock.read_bytes() == b"4242\n"
    assert (place.root / "INBOX").read_bytes() == before
    place.ws.close()


def test_an_fcntl_lock_held_by_another_program_stops_the_restore(tmp_path: Path) -> None:
    place = Place("mbox", tmp_path)
    place.write([_out("m1")])
    inbox = place.root / "INBOX"
    before = inbox.read_bytes()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys\nf = open(sys.argv[1], 'r+b')\nfcntl.lockf(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\nsys.stdin.read()\n",
            str(inbox),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        target = MboxTarget(str(place.root), lock_wait=0.3)
        with pytest.raises(TargetError, match="INBOX is locked by another program .*fcntl"):
            target.write([_out("m1"), _out("m2")], place.ws.journal(target.description))
    finally:
        holder.communicate(b"")
    assert inbox.read_bytes() == before
    assert not (place.root / "INBOX.lock").exists()  # ours, taken away again
    place.ws.close()


# --- symbolic links in the target ------------------------------------------------------------------

LINKS = [  # (kind, link below the root, what it points to, the folder restored)
    ("maildir", ".Work", "outside-dir", "Work"),
    ("maildir", "cur", "outside-dir", "INBOX"),
    ("maildir", "tmp", "outside-dir", "INBOX"),
    ("maildir", ".Work/tmp", "outside-dir", "Work"),
    ("maildir", ".INBOX.Projects", "outside-dir", "INBOX/Projects"),
    ("maildir", ".Work", "missing-dir", "Work"),
    ("mbox", "Work", "victim.txt", "Work"),
    ("mbox", "INBOX", "victim.txt", "INBOX"),
    ("mbox", "Work", "missing-file", "Work"),
    ("mbox", "A.sbd", "outside-dir", "A/B"),
    ("mbox", "A.sbd/B", "victim.txt", "A/B"),
]


@pytest.mark.parametrize(("kind", "link", "points", "folder"), LINKS)
def test_a_link_in_the_target_is_never_followed(
    tmp_path: Path, kind: str, link: str, points: str, folder: str
) -> None:
    outside = tmp_path / "outside"
    (outside / "outside-dir").mkdir(parents=True)
    (outside / "victim.txt").write_bytes(b"someone else's file\n")
    place = Place(kind, tmp_path)
    place.root.mkdir()
    (place.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside / points, place.root / link)
    before = _tree(outside)
    with pytest.raises(TargetError) as caught:
        place.write([_out("m1", folder)])
    assert _tree(outside) == before  # nothing created, written or cut outside the target
    message = str(caught.value)
    assert f"{place.root / link} is a symbolic link (to {outside / points})" in message
    assert os.path.islink(place.root / link)
    place.ws.close()


def test_a_maildirfolder_link_is_left_alone_and_never_written_through(tmp_path: Path) -> None:
    """Maildir++ only needs the name there; a link in its place is not ours to replace or follow."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"someone else's file\n")
    place = Place("maildir", tmp_path)
    (place.root / ".Work").mkdir(parents=True)
    os.symlink(victim, place.root / ".Work" / "maildirfolder")
    place.write([_out("m1", "Work")])
    assert victim.read_bytes() == b"someone else's file\n"
    assert os.path.islink(place.root / ".Work" / "maildirfolder")
    assert place.found() == {"m1": [".Work"]}
    place.ws.close()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_link_in_the_target_stops_the_cli_with_one_line(tmp_path: Path, kind: str, capsys) -> None:  # type: ignore[no-untyped-def]
    from .support.builders import build_scenario

    s = build_scenario(tmp_path / "src")
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "-q", "gather", "--account", ACCOUNT, *map(str, s.locations)]) in (
        0,
        3,
    )
    root = tmp_path / "target"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / ("cur" if kind == "maildir" else "INBOX"))
    capsys.readouterr()
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"{kind}:{root}"]) == 1
    )
    err = capsys.readouterr().err
    assert "is a symbolic link" in err and str(tmp_path / "outside") in err
    assert os.listdir(tmp_path / "outside") == []


def test_an_mbox_with_other_hard_links_is_left_alone(tmp_path: Path) -> None:
    place = Place("mbox", tmp_path)
    place.root.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"From a@b Mon Jun 18 09:00:00 2012\n" + _raw("old1"))
    os.link(victim, place.root / "INBOX")
    before = victim.read_bytes()
    with pytest.raises(TargetError, match="has other hard links"):
        place.write([_out("m1")])
    assert victim.read_bytes() == before
    place.ws.close()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_root_named_through_a_link_is_followed(tmp_path: Path, kind: str) -> None:
    """The user named that path: a link there (a bigger disk mounted elsewhere) is where they want it."""
    real = tmp_path / "bigger-disk" / "taro"
    real.mkdir(parents=True)
    os.symlink(real, tmp_path / "target")
    place = Place(kind, tmp_path)
    place.write([_out("m1"), _out("m2", "Work")])
    assert os.path.islink(tmp_path / "target")
    assert {m: len(w) for m, w in place.found().items()} == {"m1": 1, "m2": 1}
    assert any(real.iterdir())
    place.ws.close()


# --- folder names: one rule, every target ---------------------------------------------------------

NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
GROUPS = [  # folders in one group land in one folder; different groups never share one
    ["INBOX", "Inbox", "inbox"],
    ["INBOX/Projects", "inbox/Projects"],
    ["Projects"],
    ["a.b"],
    ["a_b"],
    ["a\\b"],
    ["a/b"],
    ["a b "],
    ["a b"],
    [NFC, NFD],
    ["~tilde"],
    ["_tilde"],
    ["ctl\x01x"],
    ["ctlx"],
    ["Work"],
    ["Work.lock"],
    ["x.sbd"],
    ["x"],
]


@pytest.mark.parametrize("place", KINDS, indirect=True)
def test_folders_stay_apart_unless_they_are_the_same_folder(place: Place) -> None:
    items = [_out(f"g{g}-{i}", folder) for g, group in enumerate(GROUPS) for i, folder in enumerate(group)]
    place.write(items)
    found = place.found()
    assert all(len(w) == 1 for w in found.values()), found
    assert len(found) == len(items)  # every message restored
    groups: dict[int, set[str]] = {}
    for marker, (where,) in found.items():
        groups.setdefault(int(marker[1:].split("-")[0]), set()).add(where)
    assert all(len(places) == 1 for places in groups.values()), groups
    assert len({next(iter(p)) for p in groups.values()}) == len(GROUPS), groups


def test_gather_keeps_folder_names_apart_that_are_not_the_same_folder() -> None:
    def folder(name: str) -> str:
        return Copy(raw=b"x", folder=name, source="s", position="1").folder

    assert folder("a\\b") != folder("a/b")
    assert folder("a b ") != folder("a b")
    assert folder(NFD) == folder(NFC) == NFC
    assert folder("Inbox") == folder("inbox") == folder("INBOX") == "INBOX"
    assert folder("Inbox/Sub") == "INBOX/Sub" != folder("Sub")


# --- a folder the IMAP server refuses ------------------------------------------------------------

LONG = "x" * 150 + "/" + "y" * 150  # 301 characters on the server: more than Dovecot's 254


def test_a_folder_the_server_refuses_costs_that_folder_only(imap_account: Any, tmp_path: Path) -> None:
    place = Place("imap", tmp_path, imap_account)
    items = [_out("m1"), _out("m2", "~tilde"), _out("m3", LONG), _out("m4", "Work"), _out("m5", "ctl\x07x")]
    for _run in range(2):  # a rerun fails the same way, and only there
        target = place.write(items)
        assert len(target.problems) == 1
        assert "refused folder" in target.problems[0] and "1 message(s)" in target.problems[0]
        found = place.found()
        assert sorted(found) == ["m1", "m2", "m4", "m5"]
        assert all(len(w) == 1 for w in found.values())
    place.ws.close()


def test_a_refused_folder_is_a_problem_line_and_exit_3(new_imap_account, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    account = new_imap_account()
    src = tmp_path / "src"
    (src / LONG.split("/")[0]).mkdir(parents=True)
    for rel, tag in ((LONG, "deep"), ("Inbox", "top")):
        (src / rel).write_bytes(b"From a@b Mon Jun 18 10:00:00 2012\n" + _raw(tag))
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "-q", "gather", "--account", ACCOUNT, str(src)]) == 0
    password = tmp_path / "pw"
    password.write_text(account.password + "\n")
    password.chmod(0o600)
    restore = [
        "--workspace",
        str(ws),
        "--password-file",
        str(password),
        "restore",
        "--account",
        ACCOUNT,
        "--to",
        account.url(),
    ]
    capsys.readouterr()
    assert main(restore) == 3
    err = capsys.readouterr().err
    assert "not restored" in err and "refused folder" in err and "xxxxx" in err
    assert sorted(Place("imap", tmp_path / "look", account).found()) == ["top"]


def test_a_dot_lock_left_by_a_process_that_is_gone_is_taken_over(tmp_path: Path) -> None:
    """A killed restore (or a crashed client) leaves its ``pid:host`` dot-lock: a rerun goes on."""
    import socket

    place = Place("mbox", tmp_path)
    place.write([_out("m1")])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (place.root / "INBOX.lock").write_text(f"{gone.pid}:{socket.gethostname()}\n")
    target = MboxTarget(str(place.root), lock_wait=0.3)
    target.write([_out("m1"), _out("m2")], place.ws.journal(target.description))
    assert sorted(place.found()) == ["m1", "m2"]
    assert sorted(os.listdir(place.root)) == ["INBOX"]
    (place.root / "INBOX.lock").write_text(f"{os.getpid()}:{socket.gethostname()}\n")  # alive: left alone
    with pytest.raises(TargetError, match="locked by another program"):
        target.write([_out("m3")], place.ws.journal(target.description))
    assert (place.root / "INBOX.lock").exists()
    place.ws.close()


def test_a_link_left_in_maildir_tmp_under_our_own_name_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"someone else's file\n")
    place = Place("maildir", tmp_path)
    item = _out("m1")
    flags_name = f"{int(item.date.timestamp())}.M{item.key}.mailrecover:2,"
    (place.root / "tmp").mkdir(parents=True)
    os.symlink(victim, place.root / "tmp" / flags_name)
    place.write([item])
    assert victim.read_bytes() == b"someone else's file\n"
    assert place.found() == {"m1": ["."]}
    place.ws.close()


def test_an_mbox_replaced_by_another_program_mid_restore_gets_the_rest(tmp_path: Path) -> None:
    """A client compacting by writing a new file and renaming it over the old one, between two of
    our messages: the next message goes into the new file, not into the old one nobody sees."""
    place = Place("mbox", tmp_path)
    inbox = place.root / "INBOX"
    compacted = b"From a@b Mon Jun 18 09:00:00 2012\n" + _raw("old1") + b"\n"

    def items() -> Iterator[Outgoing]:
        yield _out("m1")
        (place.root / "INBOX.new").write_bytes(inbox.read_bytes() + compacted)
        os.replace(place.root / "INBOX.new", inbox)
        yield _out("m2")

    place.write(items())
    assert {m: len(w) for m, w in place.found().items()} == {"m1": 1, "old1": 1, "m2": 1}
    place.ws.close()


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_folder_path_too_long_for_one_name_still_merges_only_its_spellings(
    tmp_path: Path, kind: str
) -> None:
    deep = "/".join(["Projekt-" + NFC * 20] * 6)  # Maildir++ must cut and tag it
    place = Place(kind, tmp_path)
    place.write([_out("n1", deep), _out("n2", unicodedata.normalize("NFD", deep)), _out("n3", deep + "x")])
    found = place.found()
    assert found["n1"] == found["n2"] != found["n3"]
    place.ws.close()
