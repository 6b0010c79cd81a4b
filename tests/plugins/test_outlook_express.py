"""The Outlook Express .dbx reader against a real file, the reference extractor, and damage."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from mailrecover_outlook_express.dbx import DbxPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext

from ..builders import snapshot
from ..dbx_builder import DbxMessage, FolderEntry, folders_dbx, message_dbx

ACCOUNT = "marcusvoneves@gmail.com"


def _read(path: Path) -> list[Copy | Problem]:
    return list(DbxPlugin().read(str(path), ReadContext()))  # type: ignore[arg-type]


def _copies(found: list) -> list[Copy]:
    return [f for f in found if isinstance(f, Copy)]


def _problems(found: list) -> list[Problem]:
    return [f for f in found if isinstance(f, Problem)]


def _mail(n: int) -> bytes:
    head = f"From: a@example.jp\r\nTo: b@example.jp\r\nSubject: test {n}\r\n"
    return (head + f"Message-ID: <m{n}@example.jp>\r\n\r\n" + f"body {n}\r\n" * (40 * n)).encode()


@pytest.fixture
def real_dbx(corpus: Path) -> Path:
    return corpus / "dbx" / "iped_test_OutlookDBX.dbx"


def test_every_message_matches_the_reference_extractor_byte_for_byte(real_dbx, tmp_path):
    if not shutil.which("undbx"):
        pytest.skip("undbx (Debian package undbx) is not installed")
    before = snapshot(real_dbx.parent)
    work = tmp_path / "ref"
    work.mkdir()
    shutil.copy(real_dbx, work / "f.dbx")  # the extractor may leave state beside its input
    subprocess.run(["undbx", "-v", "0", str(work / "f.dbx"), str(tmp_path / "out")], check=True,
                   capture_output=True)  # fmt: skip
    reference = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*.eml"))
    assert len(reference) == 28

    found = _read(real_dbx)
    copies = _copies(found)
    assert _problems(found) == []
    assert sorted(c.raw for c in copies) == reference
    assert len({c.position for c in copies}) == 28
    # the file names itself "Outbox"; messages there are unsent (draft) and two were opened
    assert {c.folder for c in copies} == {"Outbox"}
    assert sum(Flag.SEEN in c.flags for c in copies) == 2
    assert all(Flag.DRAFT in c.flags and not c.partial for c in copies)
    assert all(c.internal_date and c.internal_date.year == 2025 for c in copies)
    assert snapshot(real_dbx.parent) == before


def test_flags_come_from_the_message_info(tmp_path):
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(message_dbx([
        DbxMessage(_mail(1), flags=0x01), DbxMessage(_mail(2), flags=0x81),
        DbxMessage(_mail(3), flags=0xA1), DbxMessage(_mail(4), flags=0x80081),
        DbxMessage(_mail(5), flags=0x0),
    ]))  # fmt: skip
    copies = _copies(_read(path))
    assert [c.flags for c in copies] == [
        frozenset(),
        {Flag.SEEN},
        {Flag.SEEN, Flag.FLAGGED},
        {Flag.SEEN, Flag.ANSWERED},
        frozenset(),
    ]
    assert [c.raw for c in copies] == [_mail(n) for n in range(1, 6)]
    assert [c.partial for c in copies] == [False, False, False, False, True]  # 5: headers only
    assert {c.folder for c in copies} == {"INBOX"}


def test_folder_names_come_from_folders_dbx(tmp_path):
    store = tmp_path / "Outlook Express"
    store.mkdir()
    (store / "Folders.dbx").write_bytes(folders_dbx([
        FolderEntry(0, 0xFFFFFFFF, "Outlook Express"),
        FolderEntry(1, 0, "ローカル フォルダ"),
        FolderEntry(2, 1, "受信トレイ", "受信トレイ.dbx", special=1),
        FolderEntry(3, 1, "削除済みアイテム", "削除済みアイテム.dbx", special=4),
        FolderEntry(4, 2, "取引先", "取引先.dbx"),
        FolderEntry(5, 4, "2012年", "2012年.dbx"),
    ]))  # fmt: skip
    for name, n in (("受信トレイ", 1), ("削除済みアイテム", 2), ("取引先", 3), ("2012年", 4)):
        (store / f"{name}.dbx").write_bytes(message_dbx([DbxMessage(_mail(n))], own_name=name))
    by_file = {}
    for name in ("受信トレイ", "削除済みアイテム", "取引先", "2012年"):
        (copy,) = _copies(_read(store / f"{name}.dbx"))
        by_file[name] = (copy.folder, Flag.DELETED in copy.flags)
    assert by_file == {
        "受信トレイ": ("INBOX", False),
        "削除済みアイテム": ("Trash", True),
        "取引先": ("INBOX/取引先", False),
        "2012年": ("INBOX/取引先/2012年", False),
    }
    assert _read(store / "Folders.dbx") == []  # the folder list itself holds no mail


def test_without_folders_dbx_the_file_names_its_folder(tmp_path):
    (tmp_path / "Sent Items.dbx").write_bytes(message_dbx([DbxMessage(_mail(1))], own_name=""))
    (tmp_path / "x.dbx").write_bytes(message_dbx([DbxMessage(_mail(1))], own_name="下書き"))
    assert _copies(_read(tmp_path / "Sent Items.dbx"))[0].folder == "Sent"
    assert _copies(_read(tmp_path / "x.dbx"))[0].folder == "Drafts"


def test_a_broken_chain_costs_that_message_only(tmp_path):
    data = bytearray(message_dbx([DbxMessage(_mail(n)) for n in (1, 2, 3)]))
    # point the second message's first block somewhere that is not a block
    second_chain = data.find(_mail(2)[:60]) - 16
    struct.pack_into("<I", data, second_chain, 0x1234)
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    assert [c.raw for c in _copies(found)] == [_mail(1), _mail(3)]
    (problem,) = _problems(found)
    assert problem.kind is ProblemKind.DAMAGED
    assert problem.reason == (
        f"1 of 3 messages lost (at {problem.position}: "
        f"no object at 0x{second_chain:x} (marker does not match))"
    )


def test_a_looping_chain_is_caught(tmp_path):
    data = bytearray(message_dbx([DbxMessage(_mail(3), block=0x40)]))
    first = data.find(_mail(3)[:40]) - 16
    struct.pack_into("<I", data, first + 12 + 0x50, first)  # second block points back to the first
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    assert _copies(found) == []
    (problem,) = _problems(found)
    assert (
        problem.reason
        == f"1 of 1 messages lost (at {problem.position}: message chain loops at 0x{first:x})"
    )


@pytest.mark.parametrize(
    ("cut", "kept"), [(100, 0), (0x24BC + 10, 0), (60000, 0), (300000, 16), (530000, 28)]
)
def test_a_truncated_real_file_is_one_problem_and_keeps_what_is_whole(
    real_dbx, tmp_path, cut, kept
):
    path = tmp_path / "cut.dbx"
    data = real_dbx.read_bytes()
    path.write_bytes(data[:cut])
    found = _read(path)
    copies = _copies(found)
    assert len(copies) == kept
    whole = {c.position: c.raw for c in _copies(_read(real_dbx))}
    assert all(whole[c.position] == c.raw for c in copies)  # what is kept is whole
    problems = _problems(found)
    if kept == 28:  # cut only in the unused space at the end
        assert problems == []
    else:
        (problem,) = problems
        assert problem.kind is ProblemKind.TRUNCATED


def test_garbage_is_one_problem(tmp_path):
    path = tmp_path / "garbage.dbx"
    path.write_bytes(hashlib.sha512(b"x").digest() * 400)
    found = _read(path)
    assert [p.kind for p in found] == [ProblemKind.NOT_MAIL]


def test_gather_and_restore_through_the_command_line(real_dbx, tmp_path, capsys):
    source = tmp_path / "store"
    source.mkdir()
    shutil.copy(real_dbx, source / "Outbox.dbx")
    before = snapshot(source)
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(source)]) == 0
    target = tmp_path / "Maildir"
    assert (
        main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"])
        == 0
    )
    restored = sorted(p.read_bytes() for p in (target / ".Outbox").glob("*/*"))
    assert len(restored) == 28
    assert restored == sorted(c.raw for c in _copies(_read(source / "Outbox.dbx")))
    assert snapshot(source) == before


def test_ansi_code_page_can_be_chosen(tmp_path, monkeypatch):
    path = tmp_path / "x.dbx"
    data = bytearray(message_dbx([DbxMessage(_mail(1))]))
    name = "Входящие проекты".encode("cp1251")
    data[0x24BC + 0x105 : 0x24BC + 0x105 + len(name)] = name
    path.write_bytes(bytes(data))
    monkeypatch.setenv("MAILRECOVER_PST_CODEPAGE", "1251")
    assert _copies(_read(path))[0].folder == "Входящие проекты"
    monkeypatch.delenv("MAILRECOVER_PST_CODEPAGE")
    assert _copies(_read(path))[0].folder == name.decode(
        "cp932", "replace"
    )  # Japanese Windows by default


def test_progress_adds_up_to_the_file_size(real_dbx):
    done: list[int] = []
    list(DbxPlugin().read(str(real_dbx), ReadContext(advance=done.append)))
    assert sum(done) == real_dbx.stat().st_size and all(n >= 0 for n in done)


def test_discover_finds_the_stores_of_every_identity(tmp_path, monkeypatch):
    store = tmp_path / "Identities" / "{0A1B}" / "Microsoft" / "Outlook Express"
    store.mkdir(parents=True)
    for name in ("Inbox.dbx", "Folders.dbx", "notes.txt"):
        (store / name).write_bytes(message_dbx([]))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    assert [s.location for s in DbxPlugin().discover()] == [str(store / "Inbox.dbx")]
