"""The plain local formats: mbox, Maildir, MH and .eml, on built stores and real files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from mailrecover_local.eml import EmlPlugin
from mailrecover_local.maildir import MaildirPlugin
from mailrecover_local.mbox import MboxPlugin
from mailrecover_local.mh import MHPlugin, parse_sequences

from mailrecover.fingerprint import summarize
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext
from mailrecover.pluginkit import maildir_flags, split_mbox
from mailrecover.rfc822 import remove_fields

from ..support.builders import snapshot
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
        % len(body)
        + body
        + b"\nFrom x Mon Jun 18 12:00:00 2012\nFrom: b@example.com\nSubject: two\n\nb\n"
    )
    copies, _ = _read(MboxPlugin(), box)
    assert [summarize(c.raw).subject for c in copies] == ["one", "two"]
    assert b"still the first body" in copies[0].raw
    assert b"Content-Length" not in copies[0].raw


def test_mbox_cut_off_last_message_is_kept_and_reported(tmp_path):
    box = tmp_path / "Inbox"
    box.write_bytes(
        b"From - x 2012\nFrom: a@example.com\nSubject: a\n\nwhole\n\n"
        b"From - x 2012\nFrom: b@example.com\nSubject: b\n\nfirst line\nthis line is cu"
    )
    copies, problems = _read(MboxPlugin(), box)
    assert [c.partial for c in copies] == [False, True]
    assert copies[1].raw.endswith(b"this line is cu")
    assert [p.kind for p in problems] == [ProblemKind.TRUNCATED]


LAST = b"From a@b Mon Jun 11 09:00:00 2012\nFrom: a@example.com\nSubject: last\nMessage-ID: <last@x>\n"


@pytest.mark.parametrize(
    "last, cut",
    [
        (b"\n" + b"x" * (3 << 20), False),  # a one-line body that no writer ended: nothing shows a cut
        (b"\n" + b"y" * 100, False),
        (b"Content-Length: 6\n\nlength", False),  # as long as Content-Length says
        (
            b'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\n'
            + b"z" * (2 << 20)
            + b"\n--b1--",
            False,
        ),  # the final MIME boundary is there
        (
            b'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\nContent-Type: text/plain\n\nhalf a li',
            True,
        ),
        (b"\nline one\nline tw", True),  # lines were ended, the last one was not: the write stopped
        (b"X-Half: head", True),  # inside the header
        (b"Content-Length: 60\n\nshorter than it says", True),
    ],
    ids=[
        "one-line",
        "short-one-line",
        "content-length",
        "final-boundary",
        "inside-mime",
        "mid-line",
        "mid-header",
        "shorter-than-length",
    ],
)
def test_mbox_last_message_is_cut_off_only_on_evidence(tmp_path, monkeypatch, last, cut):
    """A giant one-line message ending the file without a newline was called cut off."""
    monkeypatch.setenv("MAILRECOVER_MAX_LINE_BYTES", "1M")  # lines longer than the line limit too
    box = tmp_path / "Archive.mbox"
    box.write_bytes(_junk_mbox(tmp_path / "x", b"") + LAST + last)
    copies, problems = _read(MboxPlugin(), box)
    assert [c.partial for c in copies] == [False, False, False, cut]
    assert copies[-1].raw == remove_fields((LAST + last).split(b"\n", 1)[1], {"content-length"})
    assert [p.kind for p in problems] == ([ProblemKind.TRUNCATED] if cut else [])


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


def _message_files(directory: Path, nbytes: int, name: str) -> None:
    """Message files of about ``nbytes`` in all under ``directory`` (``name`` % n names each)."""
    directory.mkdir(parents=True, exist_ok=True)
    total, n = 0, 0
    while total < nbytes:
        n += 1
        data = message(n, body=("m" * 75 + "\n") * 600)
        (directory / (name % n)).write_bytes(data)
        total += len(data)


class TestMaildirContract(SourcePluginContract):
    def make_plugin(self):
        return MaildirPlugin()

    def build_store(self, root: Path) -> Sample:
        _maildir(root / "Maildir")
        return Sample(str(root / "Maildir"), 5)

    def build_damaged(self, root: Path) -> str:
        _maildir(root / "Maildir")
        (root / "Maildir" / "cur" / "6.M6:2,S").write_bytes(b"")  # zeroed by a crash
        return str(root / "Maildir")

    def build_large(self, root: Path, nbytes: int) -> str:
        for sub in ("new", "tmp"):
            (root / "Maildir" / sub).mkdir(parents=True)
        _message_files(root / "Maildir" / "cur", nbytes, "%d.M1:2,S")
        return str(root / "Maildir")

    def build_hostile(self, root: Path, data: bytes) -> str:
        (root / "Maildir" / "cur").mkdir(parents=True)
        (root / "Maildir" / "cur" / "1.M1:2,S").write_bytes(data)
        return str(root / "Maildir")


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


def _mh(inbox: Path) -> None:
    (inbox / "sub").mkdir(parents=True)
    for n in (1, 2, 3):
        (inbox / str(n)).write_bytes(MSG % (b"%d" % n, b"%d" % n, b"%d" % n))
    (inbox / "sub" / "1").write_bytes(MSG % (b"s", b"s", b"s"))
    (inbox / ".mh_sequences").write_text("unseen: 2-3\nflagged: 1\n")
    (inbox / "sub" / ".mh_sequences").write_text("")


class TestMHContract(SourcePluginContract):
    def make_plugin(self):
        return MHPlugin()

    def build_store(self, root: Path) -> Sample:
        _mh(root / "inbox")
        return Sample(str(root / "inbox"), 4)

    def build_damaged(self, root: Path) -> str:
        _mh(root / "inbox")
        (root / "elsewhere").write_bytes(MSG % (b"x", b"x", b"x"))
        (root / "inbox" / "4").symlink_to(root / "elsewhere")  # never followed: a problem, not a copy
        return str(root / "inbox")

    def build_large(self, root: Path, nbytes: int) -> str:
        _message_files(root / "inbox", nbytes, "%d")
        (root / "inbox" / ".mh_sequences").write_text("unseen: 1\n")
        return str(root / "inbox")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "1").write_bytes(data)
        (root / ".mh_sequences").write_bytes(data)
        return str(root)


def test_parse_sequences_skips_bad_parts():
    assert parse_sequences("unseen: 1-3 7 x\nnothing\n") == {"unseen": {1, 2, 3, 7}}


# --- .eml ---------------------------------------------------------------------------


class TestEmlContract(SourcePluginContract):
    def make_plugin(self):
        return EmlPlugin()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        (root / "saved.eml").write_bytes(b"From x Mon Jun 18 12:00:00 2012\n" + MSG % (b"a", b"a", b"a"))
        return Sample(str(root / "saved.eml"), 1)

    def build_damaged(self, root: Path) -> str:
        _message_files(root / "export", 1, "%d.eml")
        (root / "export" / "2.eml").write_bytes(b"\x00\x01 not mail at all")
        return str(root / "export")  # as ``--plugin eml DIR`` reads it

    def build_large(self, root: Path, nbytes: int) -> str:
        _message_files(root / "export", nbytes, "%d.eml")
        return str(root / "export")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "saved.eml").write_bytes(data)
        return str(root / "saved.eml")


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
        assert (len(copies), problems) == (1, []), path.name
        data = path.read_bytes()
        cut = data[: len(data) - len(copies[0].raw)]  # only an exporter's From_ line or blank lines
        assert data.endswith(copies[0].raw) and (cut.startswith(b"From ") or not cut.strip()), path.name
        summarize(copies[0].raw)  # never raises on what real programs wrote
    assert snapshot(corpus / "eml") == before


# --- loose message files, single messages by content, mbox files with junk in front -------


def _gathered(
    location: Path, plugin: str | None = None
) -> tuple[list[tuple[str, str, str, str]], list[Problem], list[str]]:
    """(file name, folder, flags, subject) of each copy a gather stores, its problems and skips."""
    from mailrecover.gather import gather
    from mailrecover.workspace import Workspace

    before = snapshot(location if location.is_dir() else location.parent)
    with tempfile.TemporaryDirectory() as elsewhere, Workspace(Path(elsewhere) / "ws") as ws:
        result = gather(ws, [str(location)], account="taro@example.co.jp", plugin=plugin, jobs=1)
        rows = ws.db.execute(
            "SELECT source, folder, flags, subject FROM copies ORDER BY source, length(position), position"
        ).fetchall()
    assert snapshot(location if location.is_dir() else location.parent) == before
    got = [(os.path.basename(s), f, fl, sub) for s, f, fl, sub in rows]
    return got, result.problems, result.skipped


def test_loose_maildir_named_files_are_messages_of_their_directory(tmp_path):
    """Indexers' corpora and hand-made backups: ``inbox/01:2,`` with no cur/ or new/ around it,
    also beside the cur/ of a Maildir and in plain folders inside one."""
    root = tmp_path / "mail"
    for rel, subject in [
        ("inbox/01:2,", "a"),
        ("inbox/02:2,S", "b"),
        ("foo/03:2,RS", "c"),
        ("bar/baz/05:2,FS", "d"),
        ("bar/baz/06", "e"),
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(MSG % ((subject.encode(),) * 3))
    # a Maildir-named file is one message even with an mbox From_ line in front
    (root / "inbox" / "04:2,F").write_bytes(b"From a@b Mon Jun 11 09:00:00 2012\n" + MSG % ((b"l",) * 3))
    md = root / "md"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.M1:2,S").write_bytes(MSG % (b"f", b"f", b"f"))
    (md / "07:2,F").write_bytes(
        b"From a@b Mon Jun 11 09:00:00 2012\n" + MSG % (b"g", b"g", b"g")
    )  # beside cur/
    (md / "dovecot-uidlist").write_bytes(b"3 V1 N6\n")  # Maildir bookkeeping, not mail
    (md / "sub").mkdir()
    (md / "sub" / "08:2,R").write_bytes(MSG % (b"h", b"h", b"h"))
    (md / "sub" / "deep").mkdir()
    (md / "sub" / "deep" / "09:2,").write_bytes(MSG % (b"i", b"i", b"i"))
    (md / "foo" / "cur").mkdir(parents=True)
    (md / "foo" / "cur" / "2.M2:2,").write_bytes(MSG % (b"j", b"j", b"j"))
    (md / "foo" / "10:2,S").write_bytes(MSG % (b"k", b"k", b"k"))
    got, problems, skipped = _gathered(root)
    assert (problems, skipped) == ([], [str(md / "dovecot-uidlist")])  # accounted for, not read as mail
    assert sorted(got, key=lambda r: (r[3] == "l", r[3])) == [
        ("01:2,", "INBOX", "", "a"),
        ("02:2,S", "INBOX", "seen", "b"),
        ("03:2,RS", "foo", "answered,seen", "c"),
        ("05:2,FS", "bar/baz", "flagged,seen", "d"),
        ("06", "bar/baz", "", "e"),
        ("1.M1:2,S", "md", "seen", "f"),
        ("07:2,F", "md", "flagged", "g"),
        ("08:2,R", "md/sub", "answered", "h"),
        ("09:2,", "md/sub/deep", "", "i"),
        ("2.M2:2,", "md/foo", "", "j"),
        ("10:2,S", "md/foo", "seen", "k"),
        ("04:2,F", "INBOX", "flagged", "l"),
    ]


SINGLE = (
    b"Return-Path: <jiro@example.org>\nReceived: from mx.example.org by mail.example.co.jp;"
    b" Mon, 11 Jun 2012 09:00:00 +0900\nFrom: Jiro <jiro@example.org>\nTo: taro@example.co.jp\n"
    b"Subject: %s\nDate: Mon, 11 Jun 2012 09:00:00 +0900\nMessage-ID: <%s@example.org>\n\n"
    b"Hello.\n\nFrom the desk of Jiro.\n"
)


@pytest.mark.parametrize("name", ["1", "msg.txt", "no extension", "saved.mbox", "old.msg"])
@pytest.mark.parametrize("crlf", [False, True])
def test_a_single_message_is_found_by_its_content_whatever_its_name(tmp_path, name, crlf):
    raw = SINGLE % (b"one", b"one")
    raw = raw.replace(b"\n", b"\r\n") if crlf else raw
    folder = tmp_path / "Saved"
    folder.mkdir()
    (folder / name).write_bytes(raw)
    got, problems, skipped = _gathered(folder / name)
    assert (got, problems, skipped) == ([(name, "INBOX", "", "one")], [], [])
    if not name.isdigit():  # a folder of numbered files is an MH folder
        (tmp_path / "Saved" / "notes.txt").write_bytes(b"not a message\n")
        got, problems, skipped = _gathered(tmp_path)
        assert (got, problems, skipped) == ([(name, "Saved", "", "one")], [], [str(folder / "notes.txt")])
    plugin = EmlPlugin()
    copies, problems = _read(plugin, folder / name, "Saved")
    assert [(c.raw, c.folder) for c in copies] == [(raw, "Saved")] and problems == []


def test_text_files_and_mboxes_are_not_taken_for_single_messages(tmp_path):
    plugin = EmlPlugin()
    texts = {
        "notes": b"shopping list\nmilk\n",
        "todo.txt": b"TODO: call Jiro\nDONE: nothing\n\nlater\n",
        "PKG-INFO": b"Metadata-Version: 2.1\nName: x\nVersion: 1\n\nlong description\n",
        "part": b"Content-Type: text/plain\n\njust a MIME part\n",
        "Inbox": b"From jiro@example.org Mon Jun 11 09:00:00 2012\n" + SINGLE % (b"m", b"m"),
        "binary": bytes(range(256)) * 16,
        # a partial header in front of an mbox: an mbox with junk, not one message
        "Archive": b"X-Junk: left over\nSubject: half\n\nFrom jiro@example.org Mon Jun 11 09:00:00 2012\n"
        + SINGLE % (b"n", b"n"),
    }
    for name, data in texts.items():
        (tmp_path / name).write_bytes(data)
        assert plugin.detect(str(tmp_path / name)) < MboxPlugin().detect(str(tmp_path / name)) or (
            plugin.detect(str(tmp_path / name)) == 0
        ), name


def test_forced_eml_reads_every_message_file_of_a_directory(tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.eml").write_bytes(SINGLE % (b"a", b"a"))
    (folder / "2").write_bytes(SINGLE % (b"b", b"b"))
    (folder / "sub" / "c:2,S").write_bytes(b"From a@b Mon Jun 11 09:00:00 2012\n" + SINGLE % (b"c", b"c"))
    (folder / "readme.txt").write_bytes(b"these are my saved mails\n")
    got, problems, skipped = _gathered(folder, plugin="eml")
    assert sorted(got) == [
        ("2", "INBOX", "", "b"),
        ("a.eml", "INBOX", "", "a"),
        ("c:2,S", "sub", "seen", "c"),
    ]
    assert [(os.path.basename(p.source), p.kind) for p in problems] == [("readme.txt", ProblemKind.NOT_MAIL)]


def test_an_eml_starting_with_a_from_line_is_one_message_of_its_directory(tmp_path):
    """Phone carriers' and web mail exports: ``From `` line, then the message."""
    folder = tmp_path / "phone"
    folder.mkdir()
    one = SINGLE % (b"one", b"one")
    (folder / "au-email.eml").write_bytes(
        b"From jiro@example.org Mon Jun 11 09:00:00 2012\r\n" + one.replace(b"\n", b"\r\n")
    )
    (folder / "two.eml").write_bytes(
        b"From a@b Mon Jun 11 09:00:00 2012\n"
        + SINGLE % (b"2a", b"2a")
        + b"\nFrom a@b Mon Jun 11 09:01:00 2012\n"
        + SINGLE % (b"2b", b"2b")
    )
    got, problems, skipped = _gathered(tmp_path)
    assert (sorted(got), problems, skipped) == (
        [
            ("au-email.eml", "phone", "", "one"),
            ("two.eml", "phone", "", "2a"),
            ("two.eml", "phone", "", "2b"),
        ],
        [],
        [],
    )
    copies, _ = _read(EmlPlugin(), folder / "au-email.eml", "phone")
    assert copies[0].raw == one.replace(b"\n", b"\r\n")


JUNK = {
    "stray line": b"this file was saved by hand\n",
    "noise": (bytes(range(1, 256)).replace(b"\n", b"") * 20)[:3000] + b"\n",
    "partial header": b"ived: from mx.example.org\n\tby mail.example.co.jp; Mon, 11 Jun 2012\nSubject: cut\n",
}


def _junk_mbox(path: Path, junk: bytes, crlf: bool = False) -> bytes:
    box = junk
    for n in (1, 2, 3):
        box += (
            b"From - Mon Jun 11 09:00:00 2012\nX-Mozilla-Status: 0001\n"
            + SINGLE % (b"%d" % n, b"%d" % n)
            + b"\n"
        )
    box = box.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") if crlf else box
    path.write_bytes(box)
    return box


@pytest.mark.parametrize("kind", sorted(JUNK))
@pytest.mark.parametrize("crlf", [False, True])
def test_junk_before_the_first_from_line_costs_a_problem_not_the_mbox(tmp_path, kind, crlf):
    box = _junk_mbox(tmp_path / "Inbox", JUNK[kind], crlf)
    junk = box.index(b"From - ")
    copies, problems = _read(MboxPlugin(), tmp_path / "Inbox")
    assert [summarize(c.raw).subject for c in copies] == ["1", "2", "3"]
    assert copies[0].position == str(junk) and all(Flag.SEEN in c.flags for c in copies)
    assert [(p.kind, p.position) for p in problems] == [(ProblemKind.DAMAGED, f"0-{junk}")]
    assert f"{junk} bytes" in problems[0].reason


@pytest.mark.parametrize("kind", sorted(JUNK))
def test_junk_before_the_first_from_line_through_thunderbird(tmp_path, kind):
    (tmp_path / "Local Folders").mkdir()
    _junk_mbox(tmp_path / "Local Folders" / "Inbox", JUNK[kind])
    (tmp_path / "Local Folders" / "Inbox.msf").write_bytes(b"")
    _junk_mbox(tmp_path / "saved.box", JUNK[kind])
    for location, plugin in (
        (tmp_path / "Local Folders", None),
        (tmp_path / "saved.box", "thunderbird"),
        (tmp_path / "Local Folders" / "Inbox", "thunderbird"),
    ):
        got, problems, _ = _gathered(location, plugin)
        assert [r[3] for r in got] == ["1", "2", "3"], (location, plugin)
        assert [(p.kind, p.position) for p in problems] == [(ProblemKind.DAMAGED, f"0-{len(JUNK[kind])}")]


def test_split_mbox_finds_the_start_after_junk_only_where_a_message_starts():
    from mailrecover.pluginkit import mbox_start

    assert mbox_start(b"From a@b Mon Jun 11 09:00:00 2012\nFrom: a@b\n\nx\n") == 0
    assert mbox_start(b"noise\nFrom a@b Mon Jun 11 09:00:00 2012\nFrom: a@b\nSubject: s\n\nx\n") == 6
    with pytest.raises(ValueError):
        mbox_start(b"noise\nFrom the start, I said no.\nAnd more text.\n")
    with pytest.raises(ValueError):
        list(
            split_mbox(b"noise\nFrom a@b Mon Jun 11 09:00:00 2012\nFrom: a@b\n\nx\n")
        )  # junk is the caller's


def test_real_eml_files_are_messages_of_the_folder_they_lie_in(corpus):
    """Four corpus .eml files start with an mbox From_ line; they became folders named after
    themselves, and two with an empty line in front were 'not mail'."""
    names = sorted(p.name for p in (corpus / "eml").iterdir())
    got, problems, skipped = _gathered(corpus / "eml")
    assert (sorted(r[0] for r in got), problems, skipped) == (names, [], [])
    assert {r[1] for r in got} == {"INBOX"}


def test_a_message_without_its_from_line_before_an_mbox_is_kept(tmp_path):
    """What stands before the first From_ line may be a whole message that lost its separator
    (a file cut at its start, an .eml and an mbox concatenated): kept, and reported."""
    lost = SINGLE % (b"lost", b"lost")
    box = _junk_mbox(tmp_path / "Inbox", lost + b"\n")
    junk = box.index(b"From - ")
    for plugin in (MboxPlugin(), EmlPlugin()):  # eml declines: an mbox follows
        assert (plugin.detect(str(tmp_path / "Inbox")) >= 40) == (plugin.name == "mbox")
    copies, problems = _read(MboxPlugin(), tmp_path / "Inbox")
    assert [summarize(c.raw).subject for c in copies] == ["lost", "1", "2", "3"]
    assert copies[0].raw == lost and copies[0].position == "0" and not copies[0].partial
    assert [(p.kind, p.position) for p in problems] == [(ProblemKind.DAMAGED, f"0-{junk}")]
    assert "kept" in problems[0].reason
