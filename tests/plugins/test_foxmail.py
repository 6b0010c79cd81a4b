"""Foxmail ``.box`` mailboxes: built boxes and the real one in the corpus."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from mailrecover_foxmail.plugin import SEPARATOR, FoxmailPlugin
from mailrecover_local.mbox import MboxPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from .client_stores import OWNER, message, restored_maildir
from .contract import Sample, SourcePluginContract


def _box(path: Path, numbers: range, body: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(SEPARATOR + b"S\n" + message(n, body=body) for n in numbers))
    return path


def _read(path: Path, folder: str = "") -> tuple[list[Copy], list[Problem]]:
    found = list(FoxmailPlugin().read(str(path), ReadContext(folder=folder)))
    return [f for f in found if isinstance(f, Copy)], [f for f in found if isinstance(f, Problem)]


class TestFoxmailContract(SourcePluginContract):
    def make_plugin(self):
        return FoxmailPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(_box(root / "in.box", range(1, 7))), 6)

    def build_damaged(self, root: Path) -> str:
        path = _box(root / "in.box", range(1, 4))
        path.write_bytes(b"\x00junk before\n" + path.read_bytes() + SEPARATOR + b"S\n")
        return str(path)

    def build_large(self, root: Path, nbytes: int) -> str:
        return str(_box(root / "in.box", range(nbytes // 45_000 + 1), body=("m" * 75 + "\n") * 600))

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "in.box").write_bytes(SEPARATOR + data)
        return str(root / "in.box")


def test_messages_are_split_at_the_separators_byte_for_byte(tmp_path):
    path = _box(tmp_path / "Clients.box", range(1, 4))
    copies, problems = _read(path, "acct@example.co.jp")
    assert problems == []
    assert [c.raw for c in copies] == [message(n) for n in range(1, 4)]
    assert [c.position for c in copies] == [
        str(m.start()) for m in re.finditer(re.escape(SEPARATOR), path.read_bytes())
    ]
    assert {c.folder for c in copies} == {"acct@example.co.jp/Clients"}


def test_standard_boxes_become_special_folders_and_trash_is_deleted(tmp_path):
    folders = {}
    for name in ("in.box", "out.box", "sent.box", "trash.box"):
        (copy,), _ = _read(_box(tmp_path / name, range(1, 2)), "acct")
        folders[name] = (copy.folder, copy.flags)
    assert folders == {
        "in.box": ("INBOX", frozenset()),
        "out.box": ("Outbox", frozenset()),
        "sent.box": ("Sent", frozenset()),
        "trash.box": ("Trash", {Flag.DELETED}),
    }


def test_corpus_box_holds_five_messages(corpus, tmp_path):
    path = corpus / "foxmail" / "tika_testFOXMAIL.box"
    data = path.read_bytes()
    before = snapshot(path.parent)
    plugin = FoxmailPlugin()
    assert plugin.detect(str(path)) > MboxPlugin().detect(str(path))
    copies, problems = _read(path)
    assert problems == []
    # an independent count: header blocks naming a Message-ID, each right after a separator line
    ids = re.findall(rb"(?m)^Message-ID: <([^>]+)>", data)
    assert len(copies) == len(ids) == data.count(SEPARATOR) == 5
    assert [re.search(rb"(?m)^Message-ID: <([^>]+)>", c.raw).group(1) for c in copies] == ids
    assert sum(len(c.raw) + len(SEPARATOR) + 2 for c in copies) == len(data)  # every byte accounted for
    assert copies[1].raw.startswith(b"X-Uidl: GmailId12a6707d170a511c&&pop.gmail.com\n")
    assert snapshot(path.parent) == before
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(path.parent)]) == 0
    db = sqlite3.connect(ws / "workspace.db")
    assert db.execute("SELECT count(*), count(DISTINCT message_id) FROM copies").fetchone() == (5, 5)
    assert db.execute("SELECT count(*) FROM skipped").fetchone() == (0,)


def test_gather_and_restore_an_account_folder(tmp_path):
    account = tmp_path / "Foxmail" / "mail" / "taro"
    _box(account / "in.box", range(1, 3))
    _box(account / "sent.box", range(3, 4))
    _box(account / "trash.box", range(4, 5))
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(account)]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = {mid: folder for mid, (folder, _flags, _raw) in restored_maildir(target).items()}
    assert restored == {
        "<1.test@example.org>": "",
        "<2.test@example.org>": "",
        "<3.test@example.org>": ".Sent",
        "<4.test@example.org>": ".Recovered Deleted.Trash",
    }


def test_discover_finds_boxes_beside_the_program(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PROGRAMFILES", str(tmp_path / "Program Files"))
    inbox = _box(tmp_path / "Program Files" / "Foxmail" / "mail" / "taro" / "in.box", range(1, 2))
    sent = _box(home / "Foxmail" / "MailBox" / "hanako" / "sent.box", range(1, 2))
    (inbox.parent / "in.ind").write_bytes(b"\x00" * 64)
    stores = sorted((s.location, s.hints) for s in FoxmailPlugin().discover())
    assert stores == sorted([(str(inbox), ("taro",)), (str(sent), ("hanako",))])
