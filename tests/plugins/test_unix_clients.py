"""Evolution, KMail, Claws Mail / Sylpheed and mutt: found in a home by ``discover``, read
with the flags each client keeps."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from mailrecover_local.mh import MHPlugin, parse_marks

from mailrecover.cli import main
from mailrecover.model import Copy, Flag
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from .client_stores import message

LOCAL = {"maildir", "mbox", "mh", "evolution", "kmail"}


def _maildir(path: Path, n: int, flags: str = "S") -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    (path / "cur" / f"1339372800.M{n}P1.host:2,{flags}").write_bytes(message(n))
    return path


def _mbox(path: Path, n: int, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"From jiro@example.org Mon Jun 11 09:00:00 2012\n" + message(n, extra=extra) + b"\n")
    return path


def _mh(path: Path, numbers: list[int], marks: list[tuple[int, int]] | None, order: str = "<") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (path / str(n)).write_bytes(message(n))
    if marks is not None:
        (path / ".claws_mark").write_bytes(
            struct.pack(f"{order}I", 2) + b"".join(struct.pack(f"{order}II", n, bits) for n, bits in marks)
        )
    return path


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "nobody-here")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def test_discover_finds_each_unix_client_in_its_usual_place(tmp_path, monkeypatch, capsys):
    home = _home(tmp_path, monkeypatch)
    expected = {
        ("evolution", _maildir(home / ".local/share/evolution/mail/local", 1)),  # Evolution 3
        (
            "kmail",
            _maildir(home / ".local/share/local-mail/inbox", 2).parent,
        ),  # KMail (Akonadi): folders inside
        ("mbox", _mbox(home / ".evolution/mail/local/Inbox", 3, "X-Evolution: 00000001-0010")),  # Evolution 2
        ("mh", _mh(home / "Mail" / "inbox", [4], [(4, 0)])),  # Claws Mail's default mailbox
        ("mh", _mh(home / "Claws" / "queue", [5], [])),  # a second Claws mailbox, named in its config
        ("maildir", _maildir(home / ".mail" / "work", 6)),  # mutt with Maildirs
        ("mbox", _mbox(home / "mail" / "archive", 7)),  # mutt with mbox folders
        ("mbox", _mbox(home / "mbox", 8)),  # mutt's read mail
    }
    (home / ".claws-mail").mkdir()
    (home / ".claws-mail" / "folderlist.xml").write_text(
        '<?xml version="1.0"?><folderlist><folder type="mh" name="Mailbox" path="Mail"/>'
        f'<folder type="mh" name="Other" path="{home / "Claws"}"/><folder type="news" path="News"/></folderlist>'
    )
    before = snapshot(home)
    capsys.readouterr()
    assert main(["--json", "discover"]) == 0
    stores = json.loads(capsys.readouterr().out)
    found = {(s["plugin"], s["location"]) for s in stores if s["plugin"] in LOCAL}
    assert found == {(plugin, str(path)) for plugin, path in expected}
    assert snapshot(home) == before


@pytest.mark.parametrize("order", ["<", ">"])
def test_claws_marks_give_the_flags(tmp_path, order):
    # NEW|UNREAD; read; read+marked+replied; read+forwarded; read+deleted; 6 is not in the file
    folder = _mh(
        tmp_path / "inbox", [1, 2, 3, 4, 5, 6], [(1, 0x3), (2, 0x0), (3, 0x14), (4, 0x20), (5, 0x8)], order
    )
    assert MHPlugin().detect(str(folder)) >= 85
    found = list(MHPlugin().read(str(folder), ReadContext(folder="inbox")))
    flags = {Path(c.source).name: c.flags for c in found if isinstance(c, Copy)}
    assert flags == {
        "1": frozenset(),
        "2": {Flag.SEEN},
        "3": {Flag.SEEN, Flag.FLAGGED, Flag.ANSWERED},
        "4": {Flag.SEEN, Flag.FORWARDED},
        "5": {Flag.SEEN, Flag.DELETED},
        "6": frozenset(),
    }


def test_marks_file_cut_short_keeps_the_whole_records():
    data = struct.pack("<III", 2, 7, 0) + b"\x01\x02"
    assert parse_marks(data) == {7: frozenset({Flag.SEEN})}
    assert parse_marks(b"") == {}
