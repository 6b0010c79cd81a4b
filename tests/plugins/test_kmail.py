"""KMail's local folders (Akonadi's maildir resource): ``local-mail`` with subfolders in
``.<name>.directory``, flags from Akonadi's SQLite database beside it (built with Akonadi's
schema, in WAL mode, held open as a running Akonadi holds it)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from mailrecover_kmail.plugin import KMailPlugin, akonadi_flags, collection_path

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from ..support.unix_clients import KMailMessage, build_akonadi, build_kmail
from .client_stores import OWNER, by_message_id, message, restored_maildir
from .contract import Sample, SourcePluginContract

S, R, F, T, P = Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DELETED, Flag.FORWARDED

MESSAGES = [
    KMailMessage(("inbox",), "1339372801.R101.host:2,S", message(1), ("\\SEEN", "$TODO")),
    # changed in KMail, the file not renamed yet: Akonadi is the record
    KMailMessage(("inbox",), "1339372802.R102.host:2,S", message(2), ("\\SEEN", "$REPLIED", "\\FLAGGED")),
    # not known to Akonadi (delivered while it was not running): the name alone
    KMailMessage(("inbox",), "1339372803.R103.host", message(3), None, sub="new"),
    # renamed by another program since Akonadi last recorded it: Akonadi's next sync takes the name
    KMailMessage(
        ("inbox",),
        "1339372804.R104.host:2,RS",
        message(4),
        ("\\SEEN", "$TODO"),
        remote_id="1339372804.R104.host:2,S",
    ),
    KMailMessage(("sent-mail",), "1339372805.R105.host:2,S", message(5), ("\\SEEN", "$SENT")),
    KMailMessage(("inbox", "Projects"), "1339372806.R106.host:2,", message(6), ("\\SEEN", "$FORWARDED")),
    KMailMessage(
        ("inbox", "Projects", "2012"), "1339372807.R107.host:2,S", message(7), ("\\SEEN", "\\DELETED")
    ),
    KMailMessage(("trash",), "1339372808.R108.host:2,S", message(8), ("\\SEEN",)),
]
EXPECTED = {
    "<1.test@example.org>": ("INBOX", {S}, ("$TODO",)),
    "<2.test@example.org>": ("INBOX", {S, R, F}, ()),
    "<3.test@example.org>": ("INBOX", set(), ()),
    "<4.test@example.org>": ("INBOX", {R, S}, ("$TODO",)),
    "<5.test@example.org>": ("Sent", {S}, ("$SENT",)),
    "<6.test@example.org>": ("INBOX/Projects", {S, P}, ()),
    "<7.test@example.org>": ("INBOX/Projects/2012", {S, T}, ()),
    "<8.test@example.org>": ("Trash", {S}, ()),
}


@pytest.fixture
def kmail(tmp_path):
    """``<home>/.local/share`` with ``local-mail`` and a running Akonadi's ``akonadi/akonadi.db``."""
    data = tmp_path / "home" / ".local" / "share"
    local = build_kmail(data / "local-mail", MESSAGES)
    db = build_akonadi(data, local, MESSAGES)
    assert (data / "akonadi" / "akonadi.db-wal").stat().st_size > 0  # the flags are still in the WAL
    yield local
    db.close()


def _read(location: Path, watched: Path) -> tuple[dict[str, Copy], list[Problem]]:
    before = snapshot(watched)
    found = list(KMailPlugin().read(str(location), ReadContext(folder="")))
    assert snapshot(watched) == before
    return by_message_id(found), [f for f in found if isinstance(f, Problem)]


class TestKMailContract(SourcePluginContract):
    def make_plugin(self):
        return KMailPlugin()

    def build_store(self, root: Path) -> Sample:
        local = build_kmail(root / "local-mail", MESSAGES)
        build_akonadi(root, local, MESSAGES).close()
        return Sample(str(local), len(MESSAGES))

    def build_damaged(self, root: Path) -> str:
        local = build_kmail(root / "local-mail", MESSAGES)
        (root / "akonadi").mkdir()
        (root / "akonadi" / "akonadi.db").write_bytes(b"SQLite format 3\x00" + b"\xee" * 5000)
        (local / "inbox" / "cur" / "1339372809.R109.host:2,S").write_bytes(b"")
        return str(local)

    def build_large(self, root: Path, nbytes: int) -> str:
        body = ("m" * 75 + "\n") * 600
        messages = [
            KMailMessage(("inbox",), f"13393728{n:02d}.R{n}.host:2,S", message(n, body=body), ("\\SEEN",))
            for n in range(nbytes // 45_000 + 1)
        ]
        local = build_kmail(root / "local-mail", messages)
        build_akonadi(root, local, messages).close()
        return str(local)

    def build_hostile(self, root: Path, data: bytes) -> str:
        local = build_kmail(root / "local-mail", MESSAGES)
        (root / "akonadi").mkdir()
        (root / "akonadi" / "akonadi.db").write_bytes(data)
        return str(local)


def test_flags_come_from_akonadi_with_the_folders_of_kmail(kmail):
    copies, problems = _read(kmail, kmail.parent)
    assert problems == []
    assert {mid: (c.folder, set(c.flags), c.keywords) for mid, c in copies.items()} == EXPECTED


def test_helpers():
    assert akonadi_flags(["\\Seen", "$REPLIED", "$JUNK", "$TODO"]) == ({S, R}, ("$JUNK", "$TODO"))
    assert collection_path("inbox") == ("inbox",)
    assert collection_path(".inbox.directory/.Projects.directory/2012") == ("inbox", "Projects", "2012")


def test_gather_and_restore_carry_akonadi_flags_to_the_restored_names(kmail, tmp_path):
    before = snapshot(kmail.parent)
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(kmail)]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = {mid: (folder, flags) for mid, (folder, flags, _raw) in restored_maildir(target).items()}
    assert restored == {
        "<1.test@example.org>": ("", "S"),
        "<2.test@example.org>": ("", "FRS"),
        "<3.test@example.org>": ("", ""),
        "<4.test@example.org>": ("", "RS"),
        "<5.test@example.org>": (".Sent", "S"),
        "<6.test@example.org>": (".INBOX.Projects", "PS"),
        "<7.test@example.org>": (".Recovered Deleted.INBOX.Projects.2012", "S"),
        "<8.test@example.org>": (".Trash", "S"),
    }
    assert snapshot(kmail.parent) == before  # local-mail and akonadi/ (db, -wal, -shm) alike


@pytest.mark.parametrize(("marker", "kind"), [("ibdata1", "MySQL"), ("PG_VERSION", "PostgreSQL")])
def test_a_server_database_is_named_in_one_line_and_the_names_give_the_flags(tmp_path, marker, kind, capsys):
    data = tmp_path / "share"
    local = build_kmail(data / "local-mail", MESSAGES)
    (data / "akonadi" / "db_data").mkdir(parents=True)
    (data / "akonadi" / "db_data" / marker).write_text("x")
    copies, problems = _read(local, data)
    assert len(problems) == 1 and problems[0].source == str(data / "akonadi" / "db_data")
    assert f"in its {kind} database" in problems[0].reason and "file names" in problems[0].reason
    assert len(copies) == len(MESSAGES)
    assert copies["<2.test@example.org>"].flags == {S} and copies["<4.test@example.org>"].flags == {R, S}
    ws = tmp_path / "ws"
    capsys.readouterr()
    assert (
        main(["--workspace", str(ws), "gather", "--account", OWNER, str(local)]) == 0
    )  # a notice, not a failure
    notices = [line for line in capsys.readouterr().err.splitlines() if "Akonadi" in line]
    assert (
        len(notices) == 1
        and f"{kind} database" in notices[0]
        and str(data / "akonadi" / "db_data") in notices[0]
    )


def test_a_damaged_or_linked_database_is_one_problem(tmp_path):
    data = tmp_path / "share"
    local = build_kmail(data / "local-mail", MESSAGES)
    (data / "akonadi").mkdir()
    (data / "akonadi" / "akonadi.db").write_bytes(b"\x00" * 3000)
    copies, problems = _read(local, data)
    assert [Path(p.source).name for p in problems] == ["akonadi.db"] and len(copies) == len(MESSAGES)
    # a link is never followed, not even to a good database
    good = tmp_path / "good"
    build_akonadi(good, local, MESSAGES).close()
    (data / "akonadi" / "akonadi.db").unlink()
    (data / "akonadi" / "akonadi.db").symlink_to(good / "akonadi" / "akonadi.db")
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "--json", "gather", "--account", OWNER, str(local)]) == 3
    db = sqlite3.connect(ws / "workspace.db")
    reasons = [r for (r,) in db.execute("SELECT reason FROM problems")]
    assert len(reasons) == 1 and "not followed" in reasons[0]
    # nor a linked folder on the way to it
    shutil.rmtree(data / "akonadi")
    (data / "akonadi").symlink_to(good / "akonadi")
    ws = tmp_path / "ws2"
    assert main(["--workspace", str(ws), "--json", "gather", "--account", OWNER, str(local)]) == 3
    db = sqlite3.connect(ws / "workspace.db")
    reasons = [r for (r,) in db.execute("SELECT reason FROM problems")]
    assert len(reasons) == 1 and "not followed" in reasons[0]
    assert db.execute("SELECT count(*) FROM copies").fetchone() == (len(MESSAGES),)


def test_discover_names_kmail_in_its_place(kmail, monkeypatch, capsys):
    home = kmail.parent.parent.parent
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    capsys.readouterr()
    assert main(["--json", "discover"]) == 0
    stores = json.loads(capsys.readouterr().out)
    assert [s["plugin"] for s in stores if s["location"] == str(kmail)] == ["kmail"]


def test_discover_follows_xdg_data_home(tmp_path, monkeypatch, capsys):
    home, data = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    local = build_kmail(data / "local-mail", MESSAGES[:1])
    capsys.readouterr()
    assert main(["--json", "discover"]) == 0
    stores = json.loads(capsys.readouterr().out)
    assert [s["plugin"] for s in stores if s["location"] == str(local)] == ["kmail"]
