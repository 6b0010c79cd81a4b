"""The ``becky`` plugin on Becky! data folders as Japanese Windows leaves them."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from imapclient import imap_utf7
from mailrecover_becky.bmf import becky_flags, read_ini, split_bmf
from mailrecover_becky.plugin import BeckyPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind

from ..support.builders import snapshot
from .client_stores import OTHER, OWNER, build_becky, by_message_id, message, read_untouched, restored_maildir
from .contract import Sample, SourcePluginContract

S = Flag.SEEN


def _utf7(name: str) -> str:
    return imap_utf7.encode(name).decode("ascii")


def _read(location, folder: str = "INBOX") -> list:
    return read_untouched(BeckyPlugin(), location, folder)


class TestBeckyContract(SourcePluginContract):
    def make_plugin(self):
        return BeckyPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(build_becky(root).root), 9)

    def build_damaged(self, root: Path) -> str:
        becky = build_becky(root)
        inbox = becky.mailbox / "!!!!Inbox"
        (inbox / "#Attach" / "3f2a1b00.att").unlink()  # the attachment went missing
        (inbox / "00000003.bmf").write_bytes(b"\x00\x01\x02 not mail\r\n.\r\nSubject: cut\r\n\r\nno end")
        return str(becky.root)

    def build_large(self, root: Path, nbytes: int) -> str:
        inbox = root / "x.mb" / "!!!!Inbox"
        inbox.mkdir(parents=True)
        (root / "x.mb" / "Mailbox.ini").write_bytes(b"[Account]\r\nMailAddress=x@example.jp\r\n")
        body = (("z" * 75 + "\n") * 600).replace("\n", "\r\n").encode()
        with (inbox / "00000001.bmf").open("wb") as f:
            n = 0
            while f.tell() < nbytes:
                n += 1
                f.write(message(n, nl="\r\n").split(b"Body of")[0] + body + b".\r\n")
        return str(root / "x.mb")

    def build_hostile(self, root: Path, data: bytes) -> str:
        inbox = root / "x.mb" / "!!!!Inbox"
        inbox.mkdir(parents=True)
        (root / "x.mb" / "Mailbox.ini").write_bytes(data)
        (inbox / "00000001.bmf").write_bytes(data)
        (inbox / "Folder.lst").write_bytes(data)
        return str(root / "x.mb")


def test_folders_flags_owners_and_bytes(tmp_path):
    becky = build_becky(tmp_path)
    found = _read(becky.root)
    assert [f for f in found if isinstance(f, Problem)] == []
    copies = by_message_id(found)
    assert {mid: c.folder for mid, c in copies.items()} == becky.expected  # no #Templates, no .mb names
    flags = {mid.split(".")[0][1:]: c.flags for mid, c in copies.items()}
    assert flags["201"] == {S} and flags["202"] == {S, Flag.ANSWERED} and flags["203"] == frozenset()
    assert flags["206"] == {S, Flag.FORWARDED}
    assert {c.account_hints for c in copies.values()} == {(OWNER,), (OTHER,)}
    assert copies["<209.test@example.org>"].account_hints == (OTHER,)
    # dot-stuffing undone, Becky's own field gone, the rest exactly as sent
    assert copies["<203.test@example.org>"].raw == message(
        203, body=".hidden line\n.\nlast line\n", nl="\r\n"
    )
    assert not any(b"X-Becky-" in c.raw for c in copies.values())
    body = email.message_from_bytes(copies["<208.test@example.org>"].raw, policy=email.policy.default)
    assert body.get_content() == "会議は木曜日です。\r\n" or body.get_content() == "会議は木曜日です。\n"


def test_attachment_comes_back_from_attach_folder(tmp_path):
    becky = build_becky(tmp_path)
    raw = by_message_id(_read(becky.root))["<204.test@example.org>"].raw
    assert b"X-Becky-Include" not in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    pdf = next(p for p in msg.walk() if p.get_content_type() == "application/pdf")
    assert (
        pdf.get_content() == b"%PDF-1.4\n%\xc7\xec\x8f\xa2\n5 0 obj\n<</Length 6 0 R>>\nstream\nendstream\n"
    )


def test_missing_attachment_and_unterminated_message_are_problems(tmp_path):
    becky = build_becky(tmp_path)
    inbox = becky.mailbox / "!!!!Inbox"
    (inbox / "#Attach" / "3f2a1b00.att").unlink()
    (inbox / "00000003.bmf").write_bytes(b"Subject: cut\r\nMessage-ID: <cut@x>\r\n\r\nno end")
    found = _read(becky.mailbox)
    problems = sorted((Path(p.source).name, p.kind) for p in found if isinstance(p, Problem))
    assert problems == [("00000002.bmf", ProblemKind.DAMAGED), ("00000003.bmf", ProblemKind.TRUNCATED)]
    copies = by_message_id(f for f in found if isinstance(f, Copy) and b"<cut@x>" not in f.raw)
    assert copies["<204.test@example.org>"].partial
    assert b"X-Becky-Include: 3f2a1b00.att" in copies["<204.test@example.org>"].raw
    assert sum(isinstance(f, Copy) for f in found) == 9  # hanako's is not in taro's mailbox


@pytest.mark.parametrize(
    "part, folders",
    [
        ("4e4d186e.mb", {"INBOX", "INBOX/取引先", "Sent", "Trash", "仕事"}),
        ("4e4d186e.mb/!!!!Inbox", {"INBOX", "INBOX/取引先"}),
        ("4e4d186e.mb/!Trash/00000001.bmf", {"Trash"}),
    ],
)
def test_any_part_of_a_data_folder_keeps_its_names(tmp_path, part, folders):
    becky = build_becky(tmp_path)
    location = becky.root / part
    assert BeckyPlugin().detect(str(location)) >= 80
    copies = [c for c in _read(location, folder="elsewhere") if isinstance(c, Copy)]
    assert {c.folder for c in copies} == folders
    assert {c.account_hints for c in copies} == {(OWNER,)}


def test_folder_paths_named_by_real_filter_files(corpus, tmp_path):
    """Becky!'s own filter files name folders as ``11111111.mb\\!!!!Inbox\\Sub\\``: build them."""
    root = tmp_path / "Becky"
    wanted = {}
    for name in ("tb_becky_IFilter.def", "tb_becky_OFilter.def", "tb_becky_4e4d186e.bab"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((corpus / "becky" / name).read_bytes())
        for line in (corpus / "becky" / name).read_bytes().decode("cp932").splitlines():
            if line.startswith("!M:"):
                parts = [p for p in line[3:].split("\\") if p]
                folder = root.joinpath(*parts)
                folder.mkdir(parents=True, exist_ok=True)
                n = 500 + len(wanted)
                (folder / "00000001.bmf").write_bytes(message(n, nl="\r\n") + b".\r\n")
                wanted[f"<{n}.test@example.org>"] = parts
    (root / "11111111.mb" / "Mailbox.ini").write_bytes(b"[Account]\r\nMailAddress=taro@example.co.jp\r\n")
    found = _read(root)
    assert [f for f in found if isinstance(f, Problem)] == []
    folders = {mid: c.folder for mid, c in by_message_id(found).items()}
    assert sorted(folders.values()) == [
        "INBOX/From11_OR_12",
        "INBOX/Sub11_OR_12",
        "INBOX/Sub12+From11",
        "Sent/Sent/Sub21_OR_22",
        "Sent/Sent/To21",
        "Sent/Sent/To21_OR_22",
    ]
    assert len(wanted) == 6


def test_bmf_splitting_and_flags():
    data = b"Subject: a\r\nX-Becky-Status: 7,1\r\n\r\n..\r\n...x\r\n.\r\nSubject: b\r\n\r\nb\r\n.\r\n"
    messages = list(split_bmf(data))
    assert [m.raw for m in messages] == [b"Subject: a\r\n\r\n.\r\n..x\r\n", b"Subject: b\r\n\r\nb\r\n"]
    assert messages[0].flags == {S, Flag.FORWARDED, Flag.ANSWERED}
    assert [m.offset for m in messages] == [0, data.index(b"Subject: b")]
    assert becky_flags(b"zz") == frozenset() and becky_flags(b"1") == {S}


def test_ini_files_are_read_as_cp932(tmp_path):
    ini = tmp_path / "Mailbox.ini"
    ini.write_bytes(
        "[Account]\r\nName=山田太郎のメール\r\nbroken line\r\nMailAddress=taro@example.co.jp\r\n".encode(
            "cp932"
        )
    )
    assert read_ini(str(ini))["account"] == {"name": "山田太郎のメール", "mailaddress": "taro@example.co.jp"}


@pytest.mark.parametrize("layout", ["windows", "macos", "linux"])
def test_discover_finds_mailboxes_in_a_fake_home(tmp_path, monkeypatch, layout):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # no user-dirs file: ~/Documents
    assert list(BeckyPlugin().discover()) == []
    if layout != "windows":  # Becky! is a Windows program; a copied Documents folder still counts
        (home / "Library").mkdir(parents=True)
    becky = build_becky(home)
    stores = list(BeckyPlugin().discover())
    assert [(s.plugin, s.location, s.hints) for s in stores] == [
        ("becky", str(becky.mailbox), (OWNER,)),
        ("becky", str(becky.other), (OTHER,)),
    ]


@pytest.mark.parametrize("legacy_names", [False, True])
def test_gather_and_restore_through_the_command_line(tmp_path, legacy_names):
    becky = build_becky(tmp_path / "sources", legacy_names=legacy_names)
    before = snapshot(tmp_path / "sources")
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(becky.root)]) == 0
    # hanako's mailbox in the same data folder is held back: it was delivered to her
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 3
    restored = restored_maildir(target)
    assert {mid: (folder, flags) for mid, (folder, flags, _raw) in restored.items()} == {
        "<201.test@example.org>": ("", "S"),
        "<202.test@example.org>": ("", "RS"),
        "<203.test@example.org>": ("", ""),
        "<204.test@example.org>": ("", "S"),
        "<205.test@example.org>": (".INBOX." + _utf7("取引先"), "S"),
        "<206.test@example.org>": (".Sent", "PS"),
        "<207.test@example.org>": (".Trash", "S"),
        "<208.test@example.org>": ("." + _utf7("仕事"), "S"),
    }
    assert snapshot(tmp_path / "sources") == before
