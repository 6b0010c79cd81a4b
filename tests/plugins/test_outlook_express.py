"""The Outlook Express .dbx reader against a real file, the reference extractor, and damage."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from mailrecover_outlook_express.dbx import DbxFile, DbxPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from ..support.dbx_builder import DbxMessage, FolderEntry, folders_dbx, message_dbx
from .contract import Sample, SourcePluginContract

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
    subprocess.run(
        ["undbx", "-v", "0", str(work / "f.dbx"), str(tmp_path / "out")], check=True, capture_output=True
    )
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


class TestOutlookExpressContract(SourcePluginContract):
    def make_plugin(self):
        return DbxPlugin()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        (root / "Inbox.dbx").write_bytes(message_dbx([DbxMessage(_mail(n)) for n in (1, 2, 3, 4)]))
        return Sample(str(root / "Inbox.dbx"), 4)

    def build_damaged(self, root: Path) -> str:
        root.mkdir(parents=True)
        data = bytearray(message_dbx([DbxMessage(_mail(n)) for n in (1, 2, 3)]))
        struct.pack_into("<I", data, data.find(_mail(2)[:60]) - 16, 0x1234)  # a chain pointing nowhere
        (root / "Inbox.dbx").write_bytes(bytes(data))
        return str(root / "Inbox.dbx")

    def build_large(self, root: Path, nbytes: int) -> str:
        root.mkdir(parents=True)
        big = [
            DbxMessage(_mail(n) + b"x" * 40_000 + b"\r\n", block=0x4000)
            for n in range(1, nbytes // 45_000 + 2)
        ]
        (root / "Inbox.dbx").write_bytes(message_dbx(big))
        return str(root / "Inbox.dbx")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "Inbox.dbx").write_bytes(data)
        (root / "Folders.dbx").write_bytes(data)
        return str(root / "Inbox.dbx")

    @pytest.mark.xfail(
        strict=True,
        reason="the .dbx reader follows the message tree, not the file's "
        "order, and keeps every page it read mapped and resident (heap use is bounded)",
    )
    def test_streams_without_holding_the_store(self, tmp_path: Path) -> None:
        super().test_streams_without_holding_the_store(tmp_path)


def test_flags_come_from_the_message_info(tmp_path):
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(
        message_dbx(
            [
                DbxMessage(_mail(1), flags=0x01),
                DbxMessage(_mail(2), flags=0x81),
                DbxMessage(_mail(3), flags=0xA1),
                DbxMessage(_mail(4), flags=0x80081),
                DbxMessage(_mail(5), flags=0x0),
            ]
        )
    )
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
    (store / "Folders.dbx").write_bytes(
        folders_dbx(
            [
                FolderEntry(0, 0xFFFFFFFF, "Outlook Express"),
                FolderEntry(1, 0, "ローカル フォルダ"),
                FolderEntry(2, 1, "受信トレイ", "受信トレイ.dbx", special=1),
                FolderEntry(3, 1, "削除済みアイテム", "削除済みアイテム.dbx", special=4),
                FolderEntry(4, 2, "取引先", "取引先.dbx"),
                FolderEntry(5, 4, "2012年", "2012年.dbx"),
            ]
        )
    )
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
        f"no object at 0x{second_chain:x} (marker does not match)); "
        "1 chain(s) of blocks without mail headers left out"  # the rest of the second's text
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
    assert problem.reason == (
        f"1 of 1 message lost (at {problem.position}: message chain loops at 0x{first:x}); "
        "1 chain(s) of blocks without mail headers left out"  # the third block, cut loose
    )


@pytest.mark.parametrize(
    ("cut", "kept"),
    [(100, 0), (0x24BC + 10, 0), (60000, 0), (0x1E254 + 8, 3), (300000, 16), (530000, 28)],
)  # 0x1e254: the tree's root; 3 messages lie wholly before it and are found by scanning
def test_a_truncated_real_file_is_one_problem_and_keeps_what_is_whole(real_dbx, tmp_path, cut, kept):
    path = tmp_path / "cut.dbx"
    data = real_dbx.read_bytes()
    path.write_bytes(data[:cut])
    found = _read(path)
    copies = _copies(found)
    assert len(copies) == kept
    whole = {c.raw for c in _copies(_read(real_dbx))}
    assert all(c.raw in whole for c in copies)  # what is kept is whole
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
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 0
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
    assert _copies(_read(path))[0].folder == name.decode("cp932", "replace")  # Japanese Windows by default


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


# --- the tree cut or damaged: the scan of block chains ------------------------------------

_SCANNED = "(found by scanning)"


def _tree_offset(data: bytes) -> int:
    return struct.unpack_from("<I", data, 0xE4)[0]


def _chain_end(data: bytes, start: object) -> int:
    """Where the last block of the (undamaged) chain at ``start`` ends."""
    assert isinstance(start, int)
    end = at = start
    while at:
        end = at + 16 + struct.unpack_from("<I", data, at + 4)[0]
        at = struct.unpack_from("<I", data, at + 12)[0]
    return end


def _five() -> list[DbxMessage]:
    return [DbxMessage(_mail(n), block=0x200 if n % 2 else 0x80) for n in range(1, 6)]


@pytest.mark.parametrize("into", [0, 4, 0x18, 0x18 + 12 * 3 + 5])
def test_a_file_cut_inside_its_tree_keeps_every_message(tmp_path, into):
    data = message_dbx(_five())
    tree = _tree_offset(data)
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(data[: tree + into])
    found = _read(path)
    copies = _copies(found)
    assert [c.raw for c in copies] == [_mail(n) for n in range(1, 6)]  # whole, in file order
    assert all(c.position.endswith(_SCANNED) and c.flags == frozenset() for c in copies)
    (problem,) = _problems(found)
    assert problem.kind is ProblemKind.TRUNCATED
    assert problem.reason == (
        f"file ends at {tree + into} of {len(data)} bytes: index damaged "
        f"(at 0x{tree:x}: index node damaged: object at 0x{tree:x} outside the file); "
        "5 messages recovered by scanning the file (flags unknown)"
    )


@pytest.mark.parametrize("damage", ["marker", "root pointer", "entry count"])
def test_a_damaged_tree_root_costs_the_flags_not_the_messages(tmp_path, damage):
    data = bytearray(message_dbx(_five()))
    tree = _tree_offset(data)
    if damage == "marker":
        struct.pack_into("<I", data, tree, 0xDEADBEEC)
    elif damage == "root pointer":
        struct.pack_into("<I", data, 0xE4, 0)
    else:
        data[tree + 0x11] = 0xFF  # 255 entries: runs past the end of the file
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    copies = _copies(found)
    assert [c.raw for c in copies] == [_mail(n) for n in range(1, 6)]
    assert {c.flags for c in copies} == {frozenset()}  # read (0x81) was in the lost records
    (problem,) = _problems(found)
    assert problem.kind is ProblemKind.DAMAGED
    assert problem.reason.endswith("; 5 messages recovered by scanning the file (flags unknown)")
    assert problem.reason.startswith("index damaged (")


def test_messages_the_tree_still_names_come_once_and_keep_their_flags(tmp_path):
    data = bytearray(message_dbx(_five()))
    # the second message's record (written after its chain, 12 bytes and 3 entries of 4)
    record = data.find(_mail(3)[:60]) - 16 - (12 + 4 * 3)
    assert struct.unpack_from("<I", data, record)[0] == record
    struct.pack_into("<I", data, record, 0)
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    copies = _copies(found)
    assert sorted(c.raw for c in copies) == sorted(_mail(n) for n in range(1, 6))
    by_raw = {c.raw: c for c in copies}
    assert by_raw[_mail(2)].position.endswith(_SCANNED) and by_raw[_mail(2)].flags == frozenset()
    assert all(by_raw[_mail(n)].flags == {Flag.SEEN} for n in (1, 3, 4, 5))
    (problem,) = _problems(found)
    assert problem.reason == (
        f"index damaged (at 0x{record:x}: no object at 0x{record:x} (marker does not match)); "
        "1 message recovered by scanning the file (flags unknown)"
    )


@pytest.mark.parametrize("tree", ["intact", "damaged"])
def test_deleted_messages_stay_deleted(tmp_path, tree):
    messages = _five()
    messages[1].deleted = messages[3].deleted = True
    data = bytearray(message_dbx(messages))
    assert _mail(2)[4:0x80] in data and _mail(4)[4:0x80] in data  # still in the file
    if tree == "damaged":
        struct.pack_into("<I", data, _tree_offset(data), 0)
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    assert [c.raw for c in _copies(found)] == [_mail(1), _mail(3), _mail(5)]
    if tree == "intact":
        assert _problems(found) == []
    else:
        (problem,) = _problems(found)
        assert problem.reason.endswith("; 3 messages recovered by scanning the file (flags unknown)")


def test_a_scanned_chain_that_loops_or_breaks_off_is_counted_not_kept(tmp_path):
    messages = [DbxMessage(_mail(n), block=0x40) for n in (1, 2, 3)]
    data = bytearray(message_dbx(messages))
    first = data.find(_mail(1)[:40]) - 16
    struct.pack_into("<I", data, first + 0x50 * 2 + 12, first + 0x50)  # block 3 → block 2
    third = data.find(_mail(3)[:60]) - 16
    struct.pack_into("<I", data, third + 12, len(data) + 0x1000)  # past the end of the file
    struct.pack_into("<I", data, _tree_offset(data), 0)
    path = tmp_path / "Inbox.dbx"
    path.write_bytes(bytes(data))
    found = _read(path)
    assert [c.raw for c in _copies(found)] == [_mail(2)]
    (problem,) = _problems(found)
    assert problem.reason == (
        f"2 of 3 messages lost (at 0x{_tree_offset(data):x}: index node damaged: no object at "
        f"0x{_tree_offset(data):x} (marker does not match)); "
        "1 message recovered by scanning the file (flags unknown); "
        "2 chain(s) found by scanning break off, not kept; "
        "2 chain(s) of blocks without mail headers left out"
    )


@pytest.mark.parametrize("damage", ["cut inside the tree", "tree root overwritten"])
def test_a_real_file_with_a_damaged_tree_matches_the_reference_recovery(real_dbx, tmp_path, damage):
    data = real_dbx.read_bytes()
    tree = _tree_offset(data)
    if damage == "cut inside the tree":
        damaged = data[: tree + 8]
    else:
        damaged = data[:tree] + b"\x00" * 0x18 + data[tree + 0x18 :]
    path = tmp_path / "Outbox.dbx"
    path.write_bytes(damaged)
    found = _read(path)
    copies = _copies(found)
    whole = _copies(_read(real_dbx))
    if damage == "cut inside the tree":  # the messages whose every block lies before the cut
        dbx = DbxFile(data)
        starts = {c.raw: dbx.indexed_info(int(c.position, 16))[4] for c in whole}
        expected = [raw for raw, start in starts.items() if _chain_end(data, start) <= tree]
    else:
        expected = [c.raw for c in whole]
    assert sorted(c.raw for c in copies) == sorted(expected)  # byte for byte
    assert len(copies) == (3 if damage == "cut inside the tree" else 28)
    assert all(c.position.endswith(_SCANNED) and c.flags == frozenset() for c in copies)
    assert {c.folder for c in copies} == {"Outbox"}
    (problem,) = _problems(found)
    assert f"{len(copies)} messages recovered by scanning the file (flags unknown)" in problem.reason
    if not shutil.which("undbx"):
        return
    subprocess.run(
        ["undbx", "-v", "0", "--recover", str(path), str(tmp_path / "out")], check=True, capture_output=True
    )
    reference = [p.read_bytes() for p in (tmp_path / "out").rglob("*.eml")]
    assert all(c.raw in reference for c in copies)
    # the reference also writes the message the cut runs through, as far as it goes
    assert len(reference) - len(copies) == (1 if damage == "cut inside the tree" else 0)
