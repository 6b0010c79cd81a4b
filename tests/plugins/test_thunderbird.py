"""The ``thunderbird`` plugin on profiles laid out as Thunderbird writes them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mailrecover_local.mbox import MboxPlugin
from mailrecover_thunderbird.plugin import ThunderbirdPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, load_plugins

from ..support.builders import snapshot
from .client_stores import OWNER, build_thunderbird, message, message_id, read_untouched, restored_maildir
from .contract import HOSTILE, Sample, SourcePluginContract

S, R, F = Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED


def _copies(location: Path | str, folder: str = "INBOX") -> list[Copy]:
    found = read_untouched(ThunderbirdPlugin(), location, folder)
    assert [f for f in found if isinstance(f, Problem)] == []
    return [f for f in found if isinstance(f, Copy)]


def _mid(c: Copy) -> int:
    return int(message_id(c.raw)[1:].split(".")[0])


class TestThunderbirdContract(SourcePluginContract):
    def make_plugin(self):
        return ThunderbirdPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(build_thunderbird(root).root), 15)

    def build_damaged(self, root: Path) -> str:
        tb = build_thunderbird(root)
        local = tb.profile / "Mail" / "Local Folders"
        (local / "Junk").write_bytes(b"\x00\x13garbage" * 500)
        sent = tb.profile / "Mail" / "pop.example.co.jp" / "Sent"
        sent.write_bytes(sent.read_bytes() + b"From - Mon Jun 11 09:30:00 2012\r\nSubject: cut")
        return str(tb.root)

    def build_large(self, root: Path, nbytes: int) -> str:
        inbox = root / "profile" / "Mail" / "Local Folders" / "Inbox"
        inbox.parent.mkdir(parents=True)
        (inbox.parent / "Inbox.msf").write_bytes(b"")
        body = ("x" * 75 + "\n") * 600
        with inbox.open("wb") as f:
            n = 0
            while f.tell() < nbytes:
                n += 1
                f.write(
                    b"From - Mon Jun 11 09:30:00 2012\nX-Mozilla-Status: 0001\n"
                    + message(n, body=body)
                    + b"\n"
                )
        return str(root / "profile")

    def build_hostile(self, root: Path, data: bytes) -> str:
        folder = root / "profile" / "Mail" / "Local Folders"
        folder.mkdir(parents=True)
        (folder / "Inbox").write_bytes(data)
        (folder / "Inbox.msf").write_bytes(data)
        return str(root / "profile")


def test_whole_profile_root_folders_flags_and_hints(tmp_path):
    tb = build_thunderbird(tmp_path)
    copies = _copies(tb.root)
    got = sorted((_mid(c), c.folder, c.flags, c.partial) for c in copies)
    assert got == [
        (1, "INBOX", {S}, False),
        (1, "INBOX", {S}, False),  # Local Folders and the POP account
        (2, "INBOX", {S, R}, False),
        (3, "INBOX", {S, Flag.DELETED}, False),  # expunged, still in the file
        (4, "INBOX", {S}, False),  # the whole offline IMAP copy
        (4, "INBOX", {S}, True),  # the POP download cut short
        (5, "INBOX", {F}, False),
        (6, "INBOX/Projects", {S}, False),
        (7, "Sent", {S}, False),
        (8, "INBOX", set(), False),
        (9, "INBOX/Projects", {S, F}, False),
        (10, "Trash", {S, Flag.DELETED}, False),
        (11, "INBOX", {S, Flag.DELETED}, False),  # X-Mozilla-Status2 IMAP-deleted
        (12, "INBOX", set(), False),
        (13, "Drafts", {Flag.DRAFT}, False),  # X-Mozilla-Draft-Info
    ]
    assert all(c.account_hints == (OWNER,) for c in copies)
    assert not any(b"X-Mozilla-" in c.raw or b"X-Account-Key" in c.raw for c in copies)
    assert not any("Feeds" in c.source for c in copies)  # feed articles are not mail


def test_bytes_are_the_message_exactly(tmp_path):
    tb = build_thunderbird(tmp_path)
    by_source = {(Path(c.source).parent.name, _mid(c)): c for c in _copies(tb.root)}
    crlf = "\r\n"
    assert by_source["pop.example.co.jp", 2].raw == message(2, "Re: meeting", nl=crlf)
    # mboxrd quoting undone; CRLF kept as the file has it
    assert by_source["pop.example.co.jp", 5].raw.endswith(b"\r\n\r\nFrom the desk of Jiro:\r\nhello\r\n")
    # an offline IMAP copy that never quoted its From line is taken as one message
    assert by_source["imap.example.co.jp", 12].raw.endswith(b"\n\nFrom here on it is unquoted\n")


def test_maildir_store_reads_the_same(tmp_path):
    mbox = build_thunderbird(tmp_path / "a")
    maildir = build_thunderbird(tmp_path / "b", maildir_local=True)

    def local(tb):
        return sorted(
            (_mid(c), c.folder, c.flags, c.raw) for c in _copies(tb.root) if "Local Folders" in c.source
        )

    assert local(maildir) == local(mbox)
    assert len(local(mbox)) == 4
    # storeContractID decides what a plain file beside the folders is: in a maildir store, not a folder
    for tb in (mbox, maildir):
        (tb.profile / "Mail" / "Local Folders" / "Archives").write_bytes(b"\x00leftover")
    assert [p.kind for p in read_untouched(ThunderbirdPlugin(), mbox.root) if isinstance(p, Problem)] == [
        ProblemKind.NOT_MAIL
    ]
    assert len(_copies(maildir.root)) == 15


@pytest.mark.parametrize(
    "part, folders",
    [
        ("Profiles/k3x9q2.default", {"INBOX", "INBOX/Projects", "Sent", "Drafts", "Trash"}),
        ("Profiles/k3x9q2.default/Mail", {"INBOX", "INBOX/Projects", "Sent", "Drafts", "Trash"}),
        ("Profiles/k3x9q2.default/ImapMail", {"INBOX"}),
        ("Profiles/k3x9q2.default/Mail/Local Folders", {"INBOX", "INBOX/Projects", "Trash"}),
        ("Profiles/k3x9q2.default/Mail/pop.example.co.jp/Inbox.sbd", {"INBOX/Projects"}),
        ("Profiles/k3x9q2.default/Mail/pop.example.co.jp/Sent", {"Sent"}),
    ],
)
def test_any_part_of_a_profile_keeps_names_and_owner(tmp_path, part, folders):
    tb = build_thunderbird(tmp_path)
    location = tb.root / part
    assert ThunderbirdPlugin().detect(str(location)) >= 80
    copies = _copies(location, folder="elsewhere")
    assert {c.folder for c in copies} == folders
    assert all(c.account_hints == (OWNER,) for c in copies)


def test_detect_outbids_the_generic_plugins(tmp_path):
    tb = build_thunderbird(tmp_path)
    plugins = load_plugins()
    for location in [
        tb.root,
        tb.profile,
        tb.profile / "Mail",
        tb.profile / "Mail" / "Local Folders",
        tb.profile / "Mail" / "pop.example.co.jp" / "Inbox",
    ]:
        scores = {name: p.detect(str(location)) for name, p in plugins.items()}
        assert max(scores, key=scores.__getitem__) == "thunderbird", (location, scores)
        assert scores["thunderbird"] >= 80


def test_profiles_ini_problems_and_unlisted_profiles(tmp_path):
    tb = build_thunderbird(tmp_path)
    old = tb.root / "Profiles" / "old.default"
    shutil.copytree(tb.profile / "Mail" / "Local Folders", old / "Mail" / "Local Folders")
    ini = tb.root / "profiles.ini"
    ini.write_bytes(
        ini.read_bytes() + b"\r\n[Profile1]\r\nName=gone\r\nIsRelative=1\r\nPath=Profiles/gone.x\r\n"
    )
    found = read_untouched(ThunderbirdPlugin(), tb.root)
    problems = [f for f in found if isinstance(f, Problem)]
    assert [(p.kind, "gone.x" in p.reason) for p in problems] == [(ProblemKind.DAMAGED, True)]
    old_copies = [f for f in found if isinstance(f, Copy) and "old.default" in f.source]
    assert len(old_copies) == 4 and all(c.account_hints == () for c in old_copies)


def test_without_prefs_js_accounts_are_found_by_their_folders(tmp_path):
    tb = build_thunderbird(tmp_path)
    (tb.profile / "prefs.js").unlink()
    copies = _copies(tb.root)
    assert len(copies) == 15  # the Feeds folder is still left alone
    assert {c.folder for c in copies} == {"INBOX", "INBOX/Projects", "Sent", "Drafts", "Trash"}
    assert all(c.account_hints == () for c in copies)


def test_garbage_named_like_a_folder_is_reported(tmp_path):
    tb = build_thunderbird(tmp_path)
    junk = tb.profile / "Mail" / "Local Folders" / "Junk"
    junk.write_bytes(b"\x00garbage")
    found = read_untouched(ThunderbirdPlugin(), tb.root)
    problems = [f for f in found if isinstance(f, Problem)]
    assert [(p.kind, p.source) for p in problems] == [(ProblemKind.NOT_MAIL, str(junk))]
    assert sum(isinstance(f, Copy) for f in found) == 15


@pytest.mark.parametrize("layout", ["windows", "macos", "linux"])
def test_discover_finds_profiles_in_a_fake_home(tmp_path, monkeypatch, layout):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(home / "AppData" / "Local"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert list(ThunderbirdPlugin().discover()) == []
    place = {
        "windows": home / "AppData" / "Roaming",
        "macos": home / "Library",
        "linux": home,
    }[layout]
    tb = build_thunderbird(place)
    if layout == "linux":
        tb.root.rename(home / ".thunderbird")
        tb.profile = home / ".thunderbird" / tb.profile.relative_to(tb.root)
    stores = list(ThunderbirdPlugin().discover())
    assert [(s.plugin, s.location, s.hints) for s in stores] == [("thunderbird", str(tb.profile), (OWNER,))]
    assert stores[0].size == sum(
        p.stat().st_size for p in (tb.profile / "Mail").rglob("*") if p.is_file()
    ) + sum(p.stat().st_size for p in (tb.profile / "ImapMail").rglob("*") if p.is_file())


def test_gather_and_restore_through_the_command_line(tmp_path, capsys):
    build_thunderbird(tmp_path / "sources")
    before = snapshot(tmp_path / "sources")
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(tmp_path / "sources")]) == 0
    target = tmp_path / "restored"
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = restored_maildir(target)
    assert {mid: (folder, flags) for mid, (folder, flags, _raw) in restored.items()} == {
        "<1.test@example.org>": ("", "S"),
        "<2.test@example.org>": ("", "RS"),
        "<3.test@example.org>": (".Recovered Deleted.INBOX", "S"),
        "<4.test@example.org>": ("", "S"),
        "<5.test@example.org>": ("", "F"),
        "<6.test@example.org>": (".INBOX.Projects", "S"),
        "<7.test@example.org>": (".Sent", "S"),
        "<8.test@example.org>": ("", ""),
        "<9.test@example.org>": (".INBOX.Projects", "FS"),
        "<10.test@example.org>": (".Recovered Deleted.Trash", "S"),
        "<11.test@example.org>": (".Recovered Deleted.INBOX", "S"),
        "<12.test@example.org>": ("", ""),
        "<13.test@example.org>": (".Drafts", "D"),
    }
    assert not any(b"X-Mozilla-" in raw for _f, _fl, raw in restored.values())
    assert b"and the rest of it, whole." in restored["<4.test@example.org>"][2]  # whole beats partial
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report"]) == 0
    report = json.loads(capsys.readouterr().out)["accounts"][OWNER]
    assert report["copies"] == 15 and report["messages"] == 13 and report["quarantined"] == 0
    assert snapshot(tmp_path / "sources") == before


def test_another_persons_profile_is_quarantined(tmp_path, capsys):
    tb = build_thunderbird(tmp_path / "sources")
    ws = tmp_path / "ws"
    status = main(["--workspace", str(ws), "gather", "--account", "someone@example.com", str(tb.root)])
    assert status in (0, 3)
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report"]) in (0, 3)
    report = json.loads(capsys.readouterr().out)["accounts"]["someone@example.com"]
    # every copy was filed under taro's accounts, the sent mail too: none is someone's
    assert report["quarantined"] == report["messages"] == 13


def test_real_thunderbird_mbox_files_as_folders(corpus, tmp_path):
    """Thunderbird's and other clients' own mbox files, filed as Local Folders: same split as
    the mbox reader, client fields gone, folder named after the file."""
    local = tmp_path / "profile" / "Mail" / "Local Folders"
    local.mkdir(parents=True)
    sources = sorted((corpus / "mbox").iterdir())
    for f in sources:
        shutil.copyfile(f, local / f.stem)
        (local / f"{f.stem}.msf").write_bytes(b"")
    copies = _copies(tmp_path / "profile")
    by_folder: dict[str, int] = {}
    for c in copies:
        by_folder[c.folder] = by_folder.get(c.folder, 0) + 1
        assert b"\nX-Mozilla-" not in c.raw and not c.raw.startswith(b"X-Mozilla-")
        assert b"\nX-Account-Key:" not in c.raw
    expected = {
        f.stem: sum(isinstance(x, Copy) for x in MboxPlugin().read(str(f), ReadContext())) for f in sources
    }
    assert by_folder == expected and sum(expected.values()) == 49
    spool = [c for c in copies if c.folder == "tb_movemailspool"]
    # X-Mozilla-Status 0001, 0000 on a real draft (X-Mozilla-Draft-Info, FCC, BCC), 0001
    assert [sorted(c.flags) for c in spool] == [[S], [Flag.DRAFT], [S]]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_settings_files_cost_at_most_a_problem(tmp_path, data):
    tb = build_thunderbird(tmp_path)
    (tb.root / "profiles.ini").write_bytes(data)
    (tb.profile / "prefs.js").write_bytes(data)
    copies = [f for f in read_untouched(ThunderbirdPlugin(), tb.root) if isinstance(f, Copy)]
    assert len(copies) == 15  # the profile is still found beside profiles.ini, its folders read


def test_a_garbled_profiles_ini_costs_one_line(tmp_path):
    """configparser's error spans lines; the problem the plugin reports must not."""
    root = tmp_path / "Thunderbird"
    root.mkdir()
    (root / "profiles.ini").write_bytes(b"\x00garbage without a section\n[Profile0\nPath=x\n")
    findings = list(ThunderbirdPlugin().read(str(root), ReadContext()))
    problems = [f for f in findings if isinstance(f, Problem)]
    assert problems and all("\n" not in p.reason and p.reason.strip() for p in problems)
    assert any("profiles.ini" in p.reason for p in problems)
