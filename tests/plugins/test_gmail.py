"""Gmail's Google Takeout mbox: labels become folders, flags and kept keywords."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailrecover_local.gmail import GmailTakeoutPlugin, file_labels, label_folders, parse_labels
from mailrecover_local.mbox import MboxPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem
from mailrecover.plugin import ReadContext, get_plugin

from ..support.builders import snapshot
from .client_stores import OWNER, message, restored_maildir
from .contract import Sample, SourcePluginContract

TAKEOUT = "All mail Including Spam and Trash.mbox"


def _takeout(path: Path, labelled: list[tuple[int, str]], body: str = "") -> Path:
    """A Takeout mbox: Gmail's From_ line, then X-GM-THRID and X-Gmail-Labels first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for n, labels in labelled:
            f.write(
                f"From 17{n:017d}@xxx Mon Jun 11 00:{n % 60:02d}:00 +0000 2012\n"
                f"X-GM-THRID: 14{n:017d}\nX-Gmail-Labels: {labels}\n".encode()
                + message(n, body=body).replace(b"\nFrom ", b"\n>From ")
                + b"\n"
            )
    return path


def _read(path: Path) -> tuple[dict[str, Copy], list[Problem]]:
    found = list(GmailTakeoutPlugin().read(str(path), ReadContext(folder="Takeout/Mail")))
    copies = {
        c.raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode(): c
        for c in found
        if isinstance(c, Copy)
    }
    return copies, [f for f in found if isinstance(f, Problem)]


class TestGmailTakeoutContract(SourcePluginContract):
    def make_plugin(self):
        return GmailTakeoutPlugin()

    def build_store(self, root: Path) -> Sample:
        path = _takeout(root / TAKEOUT, [(n, "Inbox,Opened") for n in range(1, 7)])
        return Sample(str(path), 6)

    def build_damaged(self, root: Path) -> str:
        path = _takeout(root / TAKEOUT, [(1, "Inbox"), (2, "Sent")])
        with path.open("ab") as f:
            f.write(b"From 1@xxx Mon Jun 11 00:00:00 +0000 2012\nX-Gmail-Labels: Inbox\nSubject: cu")
        return str(path)

    def build_large(self, root: Path, nbytes: int) -> str:
        labelled = [(n, "Inbox,Opened") for n in range(nbytes // 45_000 + 1)]
        return str(_takeout(root / TAKEOUT, labelled, body=("m" * 75 + "\n") * 600))

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / TAKEOUT).write_bytes(data)
        return str(root / TAKEOUT)


@pytest.mark.parametrize(
    ("value", "labels"),
    [
        (b"Inbox,Opened,Important,Category Updates", ["Inbox", "Opened", "Important", "Category Updates"]),
        (b'Inbox,"Clients, old",Opened', ["Inbox", "Clients, old", "Opened"]),
        (b'"say \\"hi\\", twice",Sent', ['say "hi", twice', "Sent"]),
        (b"=?UTF-8?B?5Y+W5byV5YWI?=,Inbox", ["取引先", "Inbox"]),
        ("仕事/顧客,Opened".encode(), ["仕事/顧客", "Opened"]),
        (b"", []),
    ],
)
def test_labels_are_split_on_commas_outside_quotes(value, labels):
    assert parse_labels(value) == labels


@pytest.mark.parametrize(
    ("labels", "folder", "flags", "kept"),
    [
        (
            ["Inbox", "Opened", "Important", "Category Updates"],
            "INBOX",
            {Flag.SEEN},
            ("Important", "Category Updates"),
        ),
        (["Inbox", "Unread"], "INBOX", set(), ()),
        (["Sent", "Opened"], "Sent", {Flag.SEEN}, ()),
        (["Sent", "Inbox", "Opened"], "Sent", {Flag.SEEN}, ("Inbox",)),
        (
            ["Inbox", "Work", "Work/Clients/ACME", "Starred", "Opened"],
            "Work/Clients/ACME",
            {Flag.SEEN, Flag.FLAGGED},
            ("Inbox", "Work"),
        ),
        (["Trash", "Work", "Opened"], "Trash", {Flag.SEEN}, ("Work",)),
        (["Spam", "Unread", "Category Promotions"], "Spam", set(), ("Category Promotions",)),
        (["Draft", "Opened"], "Drafts", {Flag.SEEN, Flag.DRAFT}, ()),
        (["Archived", "Opened"], "Archive", {Flag.SEEN}, ("Archived",)),
        (["Category Social", "Opened"], "Archive", {Flag.SEEN}, ("Category Social",)),
        (["Chat"], "Chats", {Flag.SEEN}, ()),
        ([], "Archive", {Flag.SEEN}, ()),
    ],
)
def test_one_folder_per_message_the_most_specific(labels, folder, flags, kept):
    assert file_labels(labels) == (folder, frozenset(flags), kept)


@pytest.mark.parametrize(
    "labels, others",
    [
        (["Inbox", "Work/Clients", "Important", "Opened"], ("INBOX",)),
        (["Sent", "Work", "Inbox", "Category Social", "Starred"], ("Sent", "INBOX")),
        (["Trash", "Work"], ("Work",)),
        (["Inbox", "Archived", "Unread"], ()),
        (["Chat", "Inbox"], ("Chats",)),
    ],
)
def test_the_other_labels_are_the_folders_it_is_also_in(labels, others):
    folder = file_labels(labels)[0]
    assert label_folders(labels, folder) == others


def test_takeout_is_recognised_by_content_whatever_its_name(tmp_path):
    labelled = [(1, "Inbox,Opened")]
    for name in (TAKEOUT, "gmail-backup", "export.mbox", "Inbox"):
        path = _takeout(tmp_path / name, labelled)
        assert GmailTakeoutPlugin().detect(str(path)) > MboxPlugin().detect(str(path)) >= 50, name
    plain = tmp_path / "plain.mbox"
    plain.write_bytes(b"From a@b Mon Jun 11 00:00:00 2012\n" + message(1))
    assert GmailTakeoutPlugin().detect(str(plain)) == 0
    assert get_plugin("gmail-takeout").name == "gmail-takeout"


def test_labels_become_folders_flags_and_keywords(tmp_path):
    path = _takeout(
        tmp_path / TAKEOUT,
        [
            (1, "Inbox,Opened,Important,Category Updates"),
            (2, "Sent,Opened"),
            (3, 'Inbox,"Clients, old",Unread,Starred'),
            (4, "Trash,Opened"),
            (5, "Opened,Archived"),
        ],
    )
    before = snapshot(tmp_path)
    copies, problems = _read(path)
    assert problems == []
    got = {mid: (c.folder, c.flags, c.keywords) for mid, c in copies.items()}
    assert {mid: c.labels for mid, c in copies.items() if c.labels} == {"<3.test@example.org>": ("INBOX",)}
    assert got == {
        "<1.test@example.org>": ("INBOX", {Flag.SEEN}, ("Important", "Category Updates")),
        "<2.test@example.org>": ("Sent", {Flag.SEEN}, ()),
        "<3.test@example.org>": ("Clients, old", {Flag.FLAGGED}, ("Inbox",)),
        "<4.test@example.org>": ("Trash", {Flag.SEEN}, ()),
        "<5.test@example.org>": ("Archive", {Flag.SEEN}, ("Archived",)),
    }
    for c in copies.values():
        assert b"X-Gmail-Labels" not in c.raw and b"X-GM-THRID" in c.raw  # state out, thread id kept
        assert c.internal_date is not None and c.internal_date.utcoffset().total_seconds() == 0
    assert snapshot(tmp_path) == before


def test_gather_and_restore_files_each_message_once(tmp_path):
    """Through the command line a Takeout found in a folder of other files is read by this
    plugin, not as one mbox folder named after the file (Sent mail included)."""
    src = tmp_path / "Takeout" / "Mail"
    _takeout(
        src / TAKEOUT,
        [
            (1, "Inbox,Opened"),
            (2, "Sent,Opened"),
            (3, "Inbox,Work,Work/ACME,Unread"),
            (4, "Spam,Unread"),
        ],
    )
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(tmp_path / "Takeout")]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = {mid: (folder, flags) for mid, (folder, flags, _raw) in restored_maildir(target).items()}
    assert restored == {
        "<1.test@example.org>": ("", "S"),
        "<2.test@example.org>": (".Sent", "S"),
        "<3.test@example.org>": (".Work.ACME", ""),
        "<4.test@example.org>": (".Spam", ""),
    }


def test_discover_finds_unpacked_takeouts_in_downloads_and_documents(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DOCUMENTS_DIR", str(home / "Documents"))
    found = [
        _takeout(home / "Downloads" / "Takeout" / "Mail" / TAKEOUT, [(1, "Inbox")]),
        _takeout(home / "Documents" / "Takeout 2" / "メール" / "すべてのメール.mbox", [(1, "Inbox")]),
    ]
    plain = home / "Downloads" / "Takeout" / "Mail" / "other.mbox"
    plain.write_bytes(b"From a@b Mon Jun 11 00:00:00 2012\n" + message(1))
    stores = list(GmailTakeoutPlugin().discover())
    assert sorted(s.location for s in stores) == sorted(str(p) for p in found)
