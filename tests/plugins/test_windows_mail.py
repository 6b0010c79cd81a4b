"""The ``windows-live-mail`` plugin on Windows Live Mail and Windows Mail (Vista) folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailrecover_windows_mail.plugin import WindowsMailPlugin, oeaccount_addresses

from mailrecover.cli import main
from mailrecover.model import Copy, Problem, ProblemKind
from mailrecover.plugin import load_plugins

from ..support.builders import snapshot
from .client_stores import OWNER, build_windows_mail, by_message_id, message, read_untouched, restored_maildir
from .contract import Sample, SourcePluginContract


def _read(location, folder: str = "INBOX") -> list:
    return read_untouched(WindowsMailPlugin(), location, folder)


class TestWindowsMailContract(SourcePluginContract):
    def make_plugin(self):
        return WindowsMailPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(build_windows_mail(root).live), 6)

    def build_damaged(self, root: Path) -> str:
        store = build_windows_mail(root)
        inbox = store.live / "pop.example.co.jp (taro)" / "Inbox"
        (inbox / "0A1B2C99.eml").write_bytes(b"\x00\x00\x00\x00 zeroed by a crash")
        return str(store.live)

    def build_large(self, root: Path, nbytes: int) -> str:
        inbox = root / "Windows Live Mail" / "acct" / "Inbox"
        inbox.mkdir(parents=True)
        body = ("w" * 75 + "\n") * 600
        total, n = 0, 0
        while total < nbytes:
            n += 1
            data = message(n, body=body, nl="\r\n")
            (inbox / f"{n:08X}.eml").write_bytes(data)
            total += len(data)
        return str(root / "Windows Live Mail")

    def build_hostile(self, root: Path, data: bytes) -> str:
        account = root / "Windows Live Mail" / "acct"
        (account / "Inbox").mkdir(parents=True)
        (account / "Inbox" / "1.eml").write_bytes(data)
        (account / "account{1}.oeaccount").write_bytes(data)
        return str(root / "Windows Live Mail")


def test_folders_without_account_and_owner_from_settings(tmp_path):
    store = build_windows_mail(tmp_path)
    found = _read(store.live)
    assert [f for f in found if isinstance(f, Problem)] == []
    copies = by_message_id(found)
    assert {mid: c.folder for mid, c in copies.items()} == store.expected  # Backup/ not read
    assert all(c.account_hints == (OWNER,) for c in copies.values())
    # the client writes each file as the mail arrives, but copies reset that: a file time, no more
    assert all(
        c.flags == frozenset() and c.internal_date is None and c.file_time is not None
        for c in copies.values()
    )
    assert copies["<301.test@example.org>"].raw == message(301, nl="\r\n")


def test_windows_mail_on_vista(tmp_path):
    store = build_windows_mail(tmp_path)
    copies = by_message_id(_read(store.vista))
    assert {mid: c.folder for mid, c in copies.items()} == {
        "<311.test@example.org>": "INBOX",
        "<312.test@example.org>": "Sent Items",
    }
    assert all(c.account_hints == (OWNER,) for c in copies.values())


def test_the_description_says_flags_are_not_read():
    plugin = WindowsMailPlugin()
    assert "ESE" in plugin.description and "flags" in plugin.description


@pytest.mark.parametrize(
    "part, folders",
    [
        ("pop.example.co.jp (taro)", {"INBOX", "INBOX/Projects", "Sent Items", "Deleted Items"}),
        ("pop.example.co.jp (taro)/Inbox", {"INBOX", "INBOX/Projects"}),
        ("Storage Folders/Drafts", {"Drafts"}),
    ],
)
def test_any_part_of_a_store_keeps_its_names(tmp_path, part, folders):
    store = build_windows_mail(tmp_path)
    location = store.live / part
    assert WindowsMailPlugin().detect(str(location)) >= 80
    copies = [c for c in _read(location, folder="elsewhere") if isinstance(c, Copy)]
    assert {c.folder for c in copies} == folders
    assert {c.account_hints for c in copies} == {(OWNER,)}


def test_detect_outbids_the_generic_plugins(tmp_path):
    store = build_windows_mail(tmp_path)
    plugins = load_plugins()
    for location in (store.live, store.vista, store.live / "pop.example.co.jp (taro)"):
        scores = {name: p.detect(str(location)) for name, p in plugins.items()}
        assert max(scores, key=scores.__getitem__) == "windows-live-mail", (location, scores)


def test_oeaccount_in_utf16_and_damaged(tmp_path):
    store = build_windows_mail(tmp_path)
    assert oeaccount_addresses(str(store.live / "pop.example.co.jp (taro)")) == (OWNER,)
    (tmp_path / "bad.oeaccount").write_bytes(b"\xff\xfe\x00\xd8")
    assert oeaccount_addresses(str(tmp_path)) == ()


def test_a_file_that_is_not_a_message_is_reported(tmp_path):
    store = build_windows_mail(tmp_path)
    bad = store.live / "pop.example.co.jp (taro)" / "Inbox" / "0A1B2C99.eml"
    bad.write_bytes(b"\x00" * 100)
    problems = [f for f in _read(store.live) if isinstance(f, Problem)]
    assert [(p.kind, p.source) for p in problems] == [(ProblemKind.NOT_MAIL, str(bad))]


@pytest.mark.parametrize("layout", ["windows", "macos", "linux"])
def test_discover_finds_stores_in_a_fake_home(tmp_path, monkeypatch, layout):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    if layout != "windows":
        (home / "Library" / "Mail").mkdir(parents=True)
        (home / ".thunderbird").mkdir()
        assert list(WindowsMailPlugin().discover()) == []
        return
    monkeypatch.setenv("LOCALAPPDATA", str(home / "AppData" / "Local"))
    assert list(WindowsMailPlugin().discover()) == []
    store = build_windows_mail(home / "AppData" / "Local")
    stores = list(WindowsMailPlugin().discover())
    assert [(s.plugin, s.location, s.hints) for s in stores] == [
        ("windows-live-mail", str(store.live), (OWNER,)),
        ("windows-live-mail", str(store.vista), (OWNER,)),
    ]


def test_gather_and_restore_through_the_command_line(tmp_path):
    build_windows_mail(tmp_path / "sources")
    before = snapshot(tmp_path / "sources")
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(tmp_path / "sources")]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = restored_maildir(target)
    assert {mid: folder for mid, (folder, _flags, _raw) in restored.items()} == {
        "<301.test@example.org>": "",
        "<302.test@example.org>": "",
        "<303.test@example.org>": ".INBOX.Projects",
        "<304.test@example.org>": ".Sent Items",
        "<305.test@example.org>": ".Deleted Items",
        "<306.test@example.org>": ".Drafts",
        "<311.test@example.org>": "",
        "<312.test@example.org>": ".Sent Items",
    }
    assert snapshot(tmp_path / "sources") == before
