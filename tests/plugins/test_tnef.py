"""Outlook's TNEF (winmail.dat): unpacked beside the copy that holds it, wherever it is found."""

from __future__ import annotations

import email
import email.policy
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest
from mailrecover_outlook.tnef import TnefPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Problem
from mailrecover.plugin import ReadContext
from mailrecover.tnef import holds_tnef, unpack

from ..support.builders import snapshot
from .client_stores import OWNER, message, restored_maildir
from .contract import Sample, SourcePluginContract

CORPUS_FILES = [
    "mimekit_body.tnef",
    "mimekit_garbage-at-end.tnef",
    "mimekit_long-filename.tnef",
    "tika_testWINMAIL.dat",
]


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    """One TNEF attribute (MS-OXTNEF 2.1.3): level, id, type, length, data, checksum."""
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def tnef_stream(subject: str, body: str, attachments: list[tuple[str, bytes]]) -> bytes:
    """A TNEF stream as Outlook writes one: version, code page, class, subject, date sent,
    a plain body, then per attachment its rendering, title and data."""
    sent = struct.pack("<7H", 2012, 6, 11, 9, 30, 0, 1)
    out = [
        b"\x78\x9f\x3e\x22",
        b"\x01\x00",
        _attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000)),
        _attribute(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0)),
        _attribute(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\0"),
        _attribute(1, 0x8004, 0x0001, subject.encode("cp1252") + b"\0"),
        _attribute(1, 0x8005, 0x0003, sent),
        _attribute(1, 0x800C, 0x0002, body.encode("cp1252") + b"\0"),
    ]
    for name, data in attachments:
        out += [
            _attribute(2, 0x9002, 0x0006, b"\x01\x00" + b"\xff" * 12),
            _attribute(2, 0x8010, 0x0001, name.encode("cp1252") + b"\0"),
            _attribute(2, 0x800F, 0x0006, data),
        ]
    return b"".join(out)


def with_winmail(n: int, stream: bytes, nl: str = "\n") -> bytes:
    """A message as Exchange sends it to the outside: a short text part and winmail.dat."""
    import base64

    b64 = base64.encodebytes(stream).decode()
    head = message(n).split(b"Content-Type:", 1)[0].decode()
    return (
        (
            f'{head}Content-Type: multipart/mixed; boundary="EXCH"\n\n'
            "--EXCH\nContent-Type: text/plain; charset=us-ascii\n\nSee attached.\n"
            '--EXCH\nContent-Type: application/ms-tnef; name="winmail.dat"\nContent-Transfer-Encoding: base64\n'
            f'Content-Disposition: attachment; filename="winmail.dat"\n\n{b64}--EXCH--\n'
        )
        .replace("\n", nl)
        .encode()
    )


def _parts(raw: bytes) -> list[tuple[str, str | None, bytes]]:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [
        (p.get_content_type(), p.get_filename(), p.get_payload(decode=True) or b"")
        for p in msg.walk()
        if not p.is_multipart()
    ]


ATTACHMENTS = [("report.pdf", b"%PDF-1.4 figures\n"), ("notes.txt", b"plain notes\r\n")]


class TestTnefFileContract(SourcePluginContract):
    def make_plugin(self):
        return TnefPlugin()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        (root / "winmail.dat").write_bytes(tnef_stream("Figures", "See the figures.", ATTACHMENTS))
        return Sample(str(root / "winmail.dat"), 1)

    def build_damaged(self, root: Path) -> str:
        pytest.skip("one file, one message: damage costs the file (test_damaged_file_is_one_problem)")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "winmail.dat").write_bytes(b"\x78\x9f\x3e\x22" + data)
        return str(root / "winmail.dat")


def test_damaged_file_is_one_problem(tmp_path):
    """An attachment attribute before any attachment starts: tnefparse cannot read it."""
    path = tmp_path / "winmail.dat"
    path.write_bytes(b"\x78\x9f\x3e\x22\x01\x00" + _attribute(2, 0x800F, 0x0006, b"x" * 40))
    (problem,) = list(TnefPlugin().read(str(path), ReadContext()))
    assert isinstance(problem, Problem) and problem.source == str(path)
    assert problem.reason.startswith("not a TNEF file: damaged TNEF stream")


def test_a_cut_off_stream_gives_what_it_holds_and_says_what_is_lost(tmp_path):
    stream = tnef_stream("Figures", "See the figures.", ATTACHMENTS)
    cut = stream[: stream.index(b"plain notes") + 4]  # inside the second attachment's data
    src = tmp_path / "src"
    src.mkdir()
    (src / "Inbox.mbox").write_bytes(b"From x Mon Jun 11 09:30:00 2012\n" + with_winmail(1, cut))
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(src)]) == 3
    db = sqlite3.connect(ws / "workspace.db")
    ((kind, reason),) = db.execute("SELECT kind, reason FROM problems").fetchall()
    assert kind == "damaged" and reason.startswith(
        "its winmail.dat (TNEF) is cut off: the attribute at byte "
    )
    assert db.execute("SELECT position, partial, wrapped FROM copies ORDER BY id").fetchall() == [
        ("0", 0, 1),
        ("0#tnef", 1, 0),
    ]
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    names = [f for _, f, _ in _parts(restored_maildir(target)["<1.test@example.org>"][2])]
    assert names == [
        None,
        None,
        "report.pdf",
        "notes.txt",
    ]  # the part before the cut, and what is left of notes


def test_unpack_replaces_the_tnef_part_and_keeps_the_header():
    for nl in ("\n", "\r\n"):
        raw = with_winmail(1, tnef_stream("Figures", "See the figures.", ATTACHMENTS), nl)
        unpacked = unpack(raw)
        assert unpacked is not None and unpacked[1] == []
        rebuilt = unpacked[0]
        assert rebuilt.split(nl.encode() * 2, 1)[0] == raw.split(nl.encode() * 2, 1)[0]  # header as it was
        parts = _parts(rebuilt)
        assert [(t, f) for t, f, _ in parts] == [
            ("text/plain", None),
            ("text/plain", None),
            ("application/pdf", "report.pdf"),
            ("text/plain", "notes.txt"),
        ]
        assert parts[1][2] == b"See the figures."
        assert [d for _, f, d in parts if f] == [d for _, d in ATTACHMENTS]  # bytes exact, CRLF kept
        assert unpack(rebuilt) is None and unpack(message(2)) is None
        assert unpack(raw) == (rebuilt, [])  # the same bytes on every gather: gathering twice adds nothing


def test_gather_keeps_the_original_and_restores_the_unpacked_message(tmp_path):
    """A winmail.dat inside an mbox message (any plugin's copy) is unpacked by the core."""
    src = tmp_path / "src"
    src.mkdir()
    stream = tnef_stream("Figures", "See the figures.", ATTACHMENTS)
    (src / "Inbox.mbox").write_bytes(
        b"From x Mon Jun 11 09:30:00 2012\n" + with_winmail(1, stream) + b"\n"
        b"From x Mon Jun 11 09:31:00 2012\n" + message(2) + b"\n"
    )
    before = snapshot(src)
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(src)]) == 0
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = restored_maildir(target)
    assert set(restored) == {"<1.test@example.org>", "<2.test@example.org>"}
    names = [f for _, f, _ in _parts(restored["<1.test@example.org>"][2])]
    assert names == [None, None, "report.pdf", "notes.txt"]  # no winmail.dat left to puzzle over
    db = sqlite3.connect(ws / "workspace.db")
    rows = db.execute(
        "SELECT position, reconstructed, wrapped FROM copies WHERE message_id = "
        "'1.test@example.org' ORDER BY id"
    ).fetchall()
    assert rows == [("0", 0, 1), ("0#tnef", 1, 0)]  # the original kept beside its rebuild
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (2,)
    assert snapshot(src) == before
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(src)]) == 0
    assert db.execute("SELECT count(*) FROM copies").fetchone() == (3,)  # nothing new the second time


def test_a_tnef_part_that_cannot_be_read_costs_a_problem_and_keeps_the_copy(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "Inbox.mbox").write_bytes(
        b"From x Mon Jun 11 09:30:00 2012\n" + with_winmail(1, b"not tnef at all")
    )
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(src)]) == 3
    db = sqlite3.connect(ws / "workspace.db")
    assert db.execute("SELECT kind, reason FROM problems").fetchall() == [
        ("damaged", "its winmail.dat (TNEF) part cannot be unpacked: no TNEF signature; kept as found")
    ]
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    assert [f for _, f, _ in _parts(restored_maildir(target)["<1.test@example.org>"][2])] == [
        None,
        "winmail.dat",
    ]


def _reference_names(path: Path) -> list[str]:
    """The attachments Debian's ``tnef`` lists (it reads the file, writes nothing with -t)."""
    done = subprocess.run(["tnef", "-t", str(path)], capture_output=True, text=True)
    return [line.split("\t")[0] for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_files_unpack_as_the_reference_tool_lists_them(corpus, name):
    path = corpus / "tnef" / name
    before = snapshot(path.parent)
    plugin = TnefPlugin()
    assert plugin.detect(str(path)) >= 50
    (copy,) = list(plugin.read(str(path), ReadContext()))
    assert isinstance(copy, Copy) and copy.reconstructed
    unpacked = unpack(copy.raw)
    assert unpacked is not None
    rebuilt, notes = unpacked
    assert notes == (
        [("has 1 stray bytes after its last attribute (at byte 4183)", False)]
        if name == "mimekit_garbage-at-end.tnef"
        else []
    )  # as the reference tool says
    files = [f for _, f, _ in _parts(rebuilt) if f and f != "body.rtf"]
    expected = {
        "mimekit_body.tnef": [],
        "mimekit_garbage-at-end.tnef": [],
        "mimekit_long-filename.tnef": ["allproductsmar2000.dat"],
        "tika_testWINMAIL.dat": ["quick.doc", "quick.html", "quick.pdf", "quick.txt", "quick.xml"],
    }
    assert files == expected[name]
    if shutil.which("tnef"):
        assert files == _reference_names(path)
    assert snapshot(path.parent) == before


def test_corpus_folder_is_gathered_not_skipped(corpus, tmp_path):
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(corpus / "tnef")]) == 3
    db = sqlite3.connect(ws / "workspace.db")
    assert [r[0] for r in db.execute("SELECT source FROM problems")] == [
        str(corpus / "tnef" / "mimekit_garbage-at-end.tnef")
    ]
    assert db.execute("SELECT count(*) FROM skipped").fetchone() == (0,)
    assert db.execute("SELECT reconstructed, wrapped, count(*) FROM copies GROUP BY 1, 2").fetchall() == [
        (1, 0, 4),
        (1, 1, 4),
    ]  # four files kept as found, four unpacked
    assert main(["--workspace", str(ws), "report", "--account", OWNER]) in (0, 3)


def test_discover_finds_saved_winmail_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    (home / "Downloads").mkdir(parents=True)
    (home / "Desktop").mkdir()
    (home / "Downloads" / "winmail.dat").write_bytes(tnef_stream("a", "b", []))
    (home / "Desktop" / "winmail (2).dat").write_bytes(tnef_stream("a", "b", []))
    (home / "Downloads" / "winmail-not.dat").write_bytes(b"something else")
    found = sorted(s.location for s in TnefPlugin().discover())
    assert found == sorted(
        [str(home / "Downloads" / "winmail.dat"), str(home / "Desktop" / "winmail (2).dat")]
    )


def test_no_cut_or_flipped_byte_of_a_stream_raises(tmp_path):
    """tnefparse reads some properties only when they are asked for, so damage can surface
    after the stream was accepted: every cut and every flipped byte must end as a copy or a
    problem line, from the bare-file plugin and from the core's unpacking alike."""
    stream = tnef_stream("Figures", "See the figures.", ATTACHMENTS)
    damaged = [stream[:n] for n in range(6, len(stream))]
    damaged += [stream[:n] + bytes([stream[n] ^ 0xFF]) + stream[n + 1 :] for n in range(6, len(stream))]
    path = tmp_path / "winmail.dat"
    for data in damaged:
        path.write_bytes(data)
        findings = list(TnefPlugin().read(str(path), ReadContext()))
        assert findings and all(isinstance(f, (Copy, Problem)) for f in findings)
        try:
            unpack(with_winmail(1, data))
        except ValueError:
            pass  # the one way unpack says a stream cannot be read


def test_a_damaged_length_in_a_real_stream_costs_at_most_that_property(corpus, tmp_path):
    """tnefparse decodes a property's value only when it is read, so a wrong length field
    surfaced as a crash after the stream was accepted (the fuzz run found it at byte 3500 of
    this file), and it loops over a property list's count past the list's end (0xFF at byte
    151 spun for minutes): every 32-bit field set to 0xff must still end, and end as a copy
    or a problem."""
    data = (corpus / "tnef" / "mimekit_garbage-at-end.tnef").read_bytes()
    path = tmp_path / "winmail.dat"
    for at in range(22, len(data) - 4):
        path.write_bytes(data[:at] + b"\xff\x00\x00\x00" + data[at + 4 :])
        findings = list(TnefPlugin().read(str(path), ReadContext()))
        assert findings and all(isinstance(f, (Copy, Problem)) for f in findings), at


@pytest.mark.parametrize(
    "mention",
    [b"application/ms-tnef", b"APPLICATION/MS-TNEF", b"Application/Ms-Tnef", b"winmail.dat", b"WINMAIL.DAT"],
)
@pytest.mark.parametrize("at", [0, (1 << 20) - 5, (1 << 20) + 3, 3 << 20])
def test_the_look_for_tnef_finds_each_mention_wherever_it_lies_in_a_big_message(mention, at):
    """The look before any parsing finds each spelling of a TNEF part anywhere, also across
    the windows a giant message is searched in, and nothing where there is none."""
    filler = b"x" * ((4 << 20) - len(mention))
    raw = b"Subject: s\n\n" + filler[:at] + mention + filler[at:]
    assert holds_tnef(raw)
    assert not holds_tnef(raw.replace(mention, b"-" * len(mention)))
    assert not holds_tnef(b"Subject: s\n\nms-tNEF is no spelling a client writes\n")  # as before
