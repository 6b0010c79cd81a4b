"""The plain local formats: mbox, Maildir, MH and .eml, on built stores and real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mailrecover_local.eml import EmlPlugin
from mailrecover_local.maildir import MaildirPlugin, maildir_flags
from mailrecover_local.mbox import MboxPlugin, split_mbox
from mailrecover_local.mh import MHPlugin, parse_sequences

from mailrecover.merge import summarize
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext

from ..builders import snapshot
from .client_stores import message
from .contract import Sample, SourcePluginContract

MSG = b"From: a@example.com\nSubject: %s\nMessage-ID: <%s@example.com>\n\nbody %s\n"


def _read(plugin, path: Path, folder: str = "") -> tuple[list[Copy], list[Problem]]:
    found = list(plugin.read(str(path), ReadContext(folder=folder)))
    return [f for f in found if isinstance(f, Copy)], [f for f in found if isinstance(f, Problem)]


# --- mbox ---------------------------------------------------------------------------


def _mbox(path: Path, messages: int, body: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for n in range(1, messages + 1):
            f.write(b"From jiro@example.org Mon Jun 18 12:00:00 2012\n" + message(n, body=body) + b"\n")


class TestMboxContract(SourcePluginContract):
    def make_plugin(self):
        return MboxPlugin()

    def build_store(self, root: Path) -> Sample:
        _mbox(root / "Archive.mbox", 6)
        return Sample(str(root / "Archive.mbox"), 6)

    def build_damaged(self, root: Path) -> str:
        _mbox(root / "Archive.mbox", 3)
        with (root / "Archive.mbox").open("ab") as f:
            f.write(b"From jiro@example.org Mon Jun 18 12:00:00 2012\nSubject: cut")  # the disk filled
        return str(root / "Archive.mbox")

    def build_large(self, root: Path, nbytes: int) -> str:
        box = root / "Archive.mbox"
        _mbox(box, nbytes // 45_000 + 1, body=("m" * 75 + "\n") * 600)
        return str(box)

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "Archive.mbox").write_bytes(data)
        return str(root / "Archive.mbox")


def test_mbox_crlf_thunderbird_separators_and_state(tmp_path):
    box = tmp_path / "Inbox"
    box.write_bytes(
        b"From - Mon Jun 18 12:00:00 2012\r\nX-Mozilla-Status: 0005\r\nX-Mozilla-Keys: $label1\r\n"
        b"From: a@example.com\r\nSubject: one\r\n\r\nbody one\r\n>From here\r\n\r\n"
        b"From - Mon Jun 18 12:01:00 2012\r\nX-Mozilla-Status: 0408\r\nFrom: b@example.com\r\n"
        b"Subject: two\r\n\r\nbody two\r\n\r\n"
    )
    copies, problems = _read(MboxPlugin(), box, "Local")
    assert problems == []
    assert [c.folder for c in copies] == ["Local/Inbox", "Local/Inbox"]
    assert copies[0].raw == b"From: a@example.com\r\nSubject: one\r\n\r\nbody one\r\nFrom here\r\n"
    assert copies[0].flags == {Flag.SEEN, Flag.FLAGGED}
    assert copies[0].keywords == ("$label1",)
    assert copies[1].flags == {Flag.DELETED} and copies[1].partial  # expunged; cut-short POP
    assert [c.position for c in copies] == ["0", str(box.read_bytes().index(b"From - Mon Jun 18 12:01"))]


def test_mbox_from_inside_body_is_not_a_separator(tmp_path):
    box = tmp_path / "saved.mbox"
    box.write_bytes(
        b"From a@example.com Mon Jun 18 12:00:00 2012\nFrom: a@example.com\nSubject: s\n\n"
        b"Para one.\n\nFrom the start it was hard.\nStill body.\n\n"
        b"From b@example.com Mon Jun 18 12:00:00 2012\nFrom: b@example.com\nSubject: t\n\nx\n"
    )
    copies, _ = _read(MboxPlugin(), box)
    assert len(copies) == 2 and copies[0].folder == "saved"
    assert b"From the start it was hard.\nStill body.\n" in copies[0].raw


def test_mbox_content_length_wins_over_unquoted_from_lines(tmp_path):
    body = b"line\n\nFrom: fake@example.com\nSubject: not a message\n\nstill the first body\n"
    box = tmp_path / "cl"
    box.write_bytes(
        b"From x Mon Jun 18 12:00:00 2012\nFrom: a@example.com\nSubject: one\nContent-Length: %d\n\n"
        % len(body) + body + b"\nFrom x Mon Jun 18 12:00:00 2012\nFrom: b@example.com\nSubject: two\n\nb\n"
    )
    copies, _ = _read(MboxPlugin(), box)
    assert [summarize(c.raw).subject for c in copies] == ["one", "two"]
    assert b"still the first body" in copies[0].raw
    assert b"Content-Length" not in copies[0].raw


def test_mbox_cut_off_last_message_is_kept_and_reported(tmp_path):
    box = tmp_path / "Inbox"
    box.write_bytes(b"From - x 2012\nFrom: a@example.com\nSubject: a\n\nwhole\n\n"
                    b"From - x 2012\nFrom: b@example.com\nSubject: b\n\nthis line is cu")
    copies, problems = _read(MboxPlugin(), box)
    assert [c.partial for c in copies] == [False, True]
    assert copies[1].raw.endswith(b"this line is cu")
    assert [p.kind for p in problems] == [ProblemKind.TRUNCATED]


def test_mbox_empty_and_garbage_files(tmp_path):
    (tmp_path / "Trash").write_bytes(b"")
    (tmp_path / "Junk").write_bytes(os.urandom(4096))
    assert _read(MboxPlugin(), tmp_path / "Trash") == ([], [])
    copies, problems = _read(MboxPlugin(), tmp_path / "Junk")
    assert copies == [] and [p.kind for p in problems] == [ProblemKind.NOT_MAIL]
    assert problems[0].source == str(tmp_path / "Junk")


def test_mbox_detect_leaves_index_files_alone(tmp_path):
    (tmp_path / "Inbox.msf").write_bytes(b"// <!-- <mdb:mork:z")
    (tmp_path / "prefs.js").write_bytes(b"user_pref();")
    (tmp_path / "Inbox").write_bytes(b"From - x\nFrom: a@b\n\nx\n")
    plugin = MboxPlugin()
    assert plugin.detect(str(tmp_path / "Inbox.msf")) == 0
    assert plugin.detect(str(tmp_path / "prefs.js")) == 0
    assert plugin.detect(str(tmp_path / "Inbox")) >= 90


MBOX_COUNTS = {
    "mimekit_content-length.mbox": 29,
    "mimekit_issue1189_takeout-style.mbox": 4,
    "mimekit_unmunged.mbox": 2,
    "tb_mailformed_subject.mbox": 1,
    "tb_mbox_mboxrd.mbox": 2,
    "tb_mbox_modern.mbox": 2,
    "tb_mbox_unquoted.mbox": 2,
    "tb_movemailspool.mbox": 3,
    "tika_complex.mbox": 3,
    "tika_testMBOX_complex.mbox": 1,
}


def test_mbox_reads_real_files(corpus):
    for name, count in MBOX_COUNTS.items():
        path = corpus / "mbox" / name
        before = snapshot(path.parent)
        copies, problems = _read(MboxPlugin(), path)
        assert problems == [], name
        assert len(copies) == count, name
        for c in copies:
            assert summarize(c.raw).from_addr or summarize(c.raw).message_id, (name, c.position)
        assert snapshot(path.parent) == before
    rd = _read(MboxPlugin(), corpus / "mbox" / "tb_mbox_mboxrd.mbox")[0]
    assert b"\nFrom (should be escaped).\n" in rd[0].raw


def test_split_mbox_refuses_what_is_not_an_mbox():
    with pytest.raises(ValueError):
        list(split_mbox(b"Subject: hi\n\nnot an mbox\n"))


# --- Maildir ------------------------------------------------------------------------

def _maildir(root: Path) -> None:
    for folder in (root, root / ".Work.Clients", root / ".&kAFP4Q-"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
    (root / "cur" / "1.M1:2,RS").write_bytes(MSG % (b"a", b"a", b"a"))
    (root / "new" / "2.M2").write_bytes(MSG % (b"b", b"b", b"b"))
    (root / "tmp" / "3.M3").write_bytes(MSG % (b"c", b"c", b"c"))
    (root / ".Work.Clients" / "cur" / "4.M4:2,FT").write_bytes(MSG % (b"d", b"d", b"d"))
    (root / ".&kAFP4Q-" / "cur" / "5.M5:2,").write_bytes(MSG % (b"e", b"e", b"e"))
    (root / "dovecot-uidlist").write_bytes(b"3 V1 N6\n")
    os.utime(root / "cur" / "1.M1:2,RS", (1340000000, 1340000000))


def test_maildir_folders_flags_and_unfinished_deliveries(tmp_path):
    root = tmp_path / "Maildir"
    _maildir(root)
    before = snapshot(tmp_path)
    copies, problems = _read(MaildirPlugin(), root)
    assert problems == []
    got = {summarize(c.raw).subject: (c.folder, c.flags, c.partial) for c in copies}
    assert got == {
        "a": ("INBOX", {Flag.ANSWERED, Flag.SEEN}, False),
        "b": ("INBOX", frozenset(), False),
        "c": ("INBOX", frozenset(), True),
        "d": ("Work/Clients", {Flag.FLAGGED, Flag.DELETED}, False),
        "e": ("送信", frozenset(), False),
    }
    first = next(c for c in copies if summarize(c.raw).subject == "a")
    # the name carries no delivery stamp: its file time is handed on as a file time, no more
    assert first.internal_date is None
    assert first.file_time is not None and first.file_time.timestamp() == 1340000000
    assert snapshot(tmp_path) == before


def test_maildir_flags_from_names():
    assert maildir_flags("1.M1:2,DFPRST") == set(Flag)
    assert maildir_flags("1.M1!2,S") == {Flag.SEEN}
    assert maildir_flags("1.M1") == frozenset()


# --- MH -----------------------------------------------------------------------------

def test_mh_folder_with_sequences(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    for n in (1, 2, 3):
        (inbox / str(n)).write_bytes(MSG % (b"%d" % n, b"%d" % n, b"%d" % n))
    (inbox / "sub" / "1").write_bytes(MSG % (b"s", b"s", b"s"))
    (inbox / ".mh_sequences").write_text("unseen: 2-3\nflagged: 1\nreplied: 3\nbroken: x-\n")
    assert MHPlugin().detect(str(inbox)) >= 80
    copies, problems = _read(MHPlugin(), inbox, "inbox")
    assert problems == []
    got = {summarize(c.raw).subject: (c.folder, c.flags) for c in copies}
    assert got == {
        "1": ("INBOX", {Flag.SEEN, Flag.FLAGGED}),
        "2": ("INBOX", frozenset()),
        "3": ("INBOX", {Flag.ANSWERED}),
        "s": ("INBOX/sub", {Flag.SEEN}),
    }


def test_parse_sequences_skips_bad_parts():
    assert parse_sequences("unseen: 1-3 7 x\nnothing\n") == {"unseen": {1, 2, 3, 7}}


# --- .eml ---------------------------------------------------------------------------

def test_eml_files(tmp_path):
    (tmp_path / "a.eml").write_bytes(b"From x Mon Jun 18 12:00:00 2012\n" + MSG % (b"a", b"a", b"a"))
    (tmp_path / "b.eml").write_bytes(b"\x00\x01 not mail at all")
    copies, problems = _read(EmlPlugin(), tmp_path / "a.eml", "Saved")
    assert [c.folder for c in copies] == ["Saved"] and copies[0].raw == MSG % (b"a", b"a", b"a")
    copies, problems = _read(EmlPlugin(), tmp_path / "b.eml")
    assert copies == [] and [p.kind for p in problems] == [ProblemKind.NOT_MAIL]


def test_eml_reads_real_files(corpus):
    before = snapshot(corpus / "eml")
    for path in sorted((corpus / "eml").iterdir()):
        copies, problems = _read(EmlPlugin(), path)
        assert len(copies) + len(problems) == 1, path.name
        if copies:
            assert copies[0].raw == path.read_bytes() or path.read_bytes().startswith(b"From ")
            summarize(copies[0].raw)  # never raises on what real programs wrote
    assert snapshot(corpus / "eml") == before
