"""Outlook .pst/.ost and .msg plugins against real files and the reference converters."""

from __future__ import annotations

import email
import email.policy
import hashlib
import shutil
import struct
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailrecover_outlook._build import build_message
from mailrecover_outlook._mapi import MapiObject, flags_of
from mailrecover_outlook.msg import MsgPlugin
from mailrecover_outlook.pst import PstPlugin, SpecialFolders, walk_folders

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Item, ItemKind, Problem, ProblemKind
from mailrecover.plugin import ReadContext
from mailrecover.pluginkit import folder_role
from mailrecover.rfc822 import decode_header_value, header_fields

from ..support.builders import snapshot
from .contract import Sample, SourcePluginContract

PSTS = sorted(
    [
        "gopst_32-bit",
        "javalibpst_dist-list",
        "javalibpst_passworded",
        "pstsdk_sample1",
        "pstsdk_submessage",
        "pstsdk_test_ansi",
        "pstsdk_test_unicode",
        "rubymsg_attachAndInline",
        "rubymsg_msgInMsg",
        "tika_testPST_variousBodyTypes",
    ]
)
# Posts (IPM.Post) are mail to us; the reference converter leaves them out.
POSTS = {
    "pstsdk_test_ansi": {"Folder": [("Post", {}, "Post")]},
    "pstsdk_test_unicode": {"INBOX": [("Test", {}, "Test")], "Folder": [("Post", {}, "Post")]},
}
# Contacts, distribution lists and appointments are kept as items, no longer skipped.
ITEMS = {
    "gopst_32-bit": {ItemKind.EVENT: 1},
    "javalibpst_dist-list": {ItemKind.EVENT: 1, ItemKind.CONTACT: 1, ItemKind.GROUP: 1},
    "javalibpst_passworded": {ItemKind.CONTACT: 1, ItemKind.GROUP: 1},
}


def _read(plugin, path: Path) -> list:
    return list(plugin.read(str(path), ReadContext()))


def _parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def _subject(raw: bytes) -> str:
    values = [v for name, v in header_fields(raw) if name == "subject"]
    return decode_header_value(values[0]) if values else ""


def _attachments(msg) -> dict[str, str]:
    """Named attachments of the message itself (not of messages it embeds): name → sha1."""
    found = {}
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.get_content_type() == "message/rfc822":
            continue
        if part.is_multipart():
            stack.extend(part.iter_parts())
            continue
        name = part.get_filename()
        if name and name != "rtf-body.rtf":
            found[name] = hashlib.sha1(part.get_payload(decode=True) or b"").hexdigest()
    return found


def _text(msg) -> str:
    """The plain-text body, whitespace folded ("" when there is none or it is blank)."""
    body = msg.get_body(("plain",))
    return " ".join(body.get_content().split()) if body is not None else ""


def _summary(raw: bytes) -> tuple[str, dict[str, str], str]:
    msg = _parse(raw)
    return _subject(raw), _attachments(msg), _text(msg)


def _readpst(pst: Path, out: Path) -> dict[str, list[tuple[str, dict[str, str], str]]]:
    """Mail the reference converter finds: folder (our naming) → [(subject, attachments, text)]."""
    out.mkdir()
    # one job: with its parallel jobs readpst wrote one message file fewer in 3 of 8 runs here
    subprocess.run(
        ["readpst", "-q", "-j", "0", "-D", "-M", "-t", "e", "-o", str(out), str(pst)],
        check=True,
        capture_output=True,
    )
    found: dict[str, list[tuple[str, dict[str, str], str]]] = defaultdict(list)
    for path in sorted(out.rglob("*")):
        if not path.is_file():
            continue
        parts = path.relative_to(out).parts[1:-1]  # the first part is the store's own name
        folder = "/".join([folder_role(parts[0]) or parts[0], *parts[1:]]) if parts else "INBOX"
        found[folder].append(_summary(path.read_bytes()))
    return found


@pytest.fixture
def pst_dir(corpus: Path) -> Path:
    return corpus / "pst"


@pytest.mark.parametrize("name", PSTS)
def test_pst_mail_matches_the_reference_converter(pst_dir, tmp_path, name):
    if not shutil.which("readpst"):
        pytest.skip("readpst (Debian package pst-utils) is not installed")
    pst = pst_dir / f"{name}.pst"
    before = snapshot(pst_dir)
    found = _read(PstPlugin(), pst)
    copies = [f for f in found if isinstance(f, Copy)]
    ours: dict[str, list[tuple[str, dict[str, str], str]]] = defaultdict(list)
    for c in copies:
        ours[c.folder].append(_summary(c.raw))
    expected = _readpst(pst, tmp_path / "readpst")
    for folder, posts in POSTS.get(name, {}).items():
        expected[folder] += posts
    assert {f: sorted(v, key=str) for f, v in ours.items()} == {
        f: sorted(v, key=str) for f, v in expected.items()
    }
    assert all(c.reconstructed for c in copies)
    assert [(p.kind, p.reason) for p in found if isinstance(p, Problem)] == []
    assert Counter(f.kind for f in found if isinstance(f, Item)) == ITEMS.get(name, {})
    for c in copies:  # every copy is a well-formed message that parses without defects
        msg = _parse(c.raw)
        assert not msg.defects and all(not part.defects for part in msg.walk())
    assert snapshot(pst_dir) == before


def test_pst_reading_is_repeatable(pst_dir):
    first = [c.raw for c in _read(PstPlugin(), pst_dir / "pstsdk_sample1.pst") if isinstance(c, Copy)]
    second = [c.raw for c in _read(PstPlugin(), pst_dir / "pstsdk_sample1.pst") if isinstance(c, Copy)]
    assert first == second and len(first) == 1


def test_pst_transport_headers_flags_and_bodies(pst_dir):
    (c,) = [f for f in _read(PstPlugin(), pst_dir / "pstsdk_sample1.pst") if isinstance(f, Copy)]
    assert c.folder == "Sample1"
    assert c.flags == {Flag.SEEN, Flag.FLAGGED}  # PR_MESSAGE_FLAGS 1, PR_FLAG_STATUS 2
    assert c.raw.startswith(b"Received: from TK5EX14MBXC114.redmond.corp.microsoft.com")
    msg = _parse(c.raw)
    assert (
        msg["Message-ID"]
        == "<B2FDDB8BE384C94794441DB4A7F3D8B804AE624B@TK5EX14MBXC114.redmond.corp.microsoft.com>"
    )
    assert "ms-tnef" not in c.raw.decode("ascii", "replace")  # the old body's description is gone
    assert (
        msg.get_body(("plain",)).get_content().startswith("With a sample attachment. It\u2019s my daughter")
    )
    assert msg.get_body(("html",)) is not None
    (jpeg,) = [p for p in msg.iter_attachments()]
    assert jpeg.get_filename() == "leah_thumper.jpg" and jpeg.get_content_type() == "image/jpeg"
    assert jpeg.get_payload(decode=True)[:4] == b"\xff\xd8\xff\xe0"


def test_pst_forwarded_state_and_rtf_only_body(pst_dir):
    copies = [
        f for f in _read(PstPlugin(), pst_dir / "tika_testPST_variousBodyTypes.pst") if isinstance(f, Copy)
    ]
    assert [c.folder for c in copies] == ["INBOX/tmp"] * 4
    assert [Flag.FORWARDED in c.flags for c in copies] == [True, False, False, False]  # verb 104
    assert {a for c in copies for a in c.account_hints} == {"tallison@mitre.org"}
    rtf = _parse(copies[2].raw)
    parts = {p.get_content_type(): p for p in rtf.walk()}
    assert parts["application/rtf"].get_payload(decode=True).startswith(b"{\\rtf1")
    assert "Forwarded RTF" in parts["text/plain"].get_content()


def test_pst_embedded_message_is_a_message_part(pst_dir):
    (c,) = [f for f in _read(PstPlugin(), pst_dir / "pstsdk_submessage.pst") if isinstance(f, Copy)]
    (inner_part,) = [p for p in _parse(c.raw).walk() if p.get_content_type() == "message/rfc822"]
    inner = inner_part.get_content()
    assert inner["Subject"] == "This is an embedded message"
    assert (
        inner["Message-ID"]
        == "<B2FDDB8BE384C94794441DB4A7F3D8B804AF79A9@TK5EX14MBXC114.redmond.corp.microsoft.com>"
    )
    assert inner.get_body(("plain",)).get_content().startswith("This is the body of an embedded message")
    # its own header block is carried over untouched
    assert b"X-MS-TNEF-Correlator: <B2FDDB8BE384C94794441DB4A7F3D8B804AF79A9@" in c.raw


def test_japanese_store_root_is_not_a_folder(pst_dir):
    copies = [f for f in _read(PstPlugin(), pst_dir / "rubymsg_msgInMsg.pst") if isinstance(f, Copy)]
    (c,) = copies
    assert c.folder == "INBOX"  # filed directly under "Outlook データ ファイルのトップ"
    assert Flag.DRAFT in c.flags  # never sent
    msg = _parse(c.raw)
    assert msg["Subject"] == "I have attachments!" and msg["Date"]
    (inner_part,) = [p for p in msg.walk() if p.get_content_type() == "message/rfc822"]
    assert inner_part.get_content()["Subject"]  # the embedded message kept its own header
    assert set(_attachments(msg)) == {"green.png"}


@pytest.mark.parametrize("cut", [0, 512, 4096, 100_000])
def test_truncated_pst_is_one_problem(pst_dir, tmp_path, cut):
    path = tmp_path / "cut.pst"
    path.write_bytes((pst_dir / "pstsdk_sample1.pst").read_bytes()[:cut])
    found = _read(PstPlugin(), path)
    problems = [f for f in found if isinstance(f, Problem)]
    assert len(problems) == 1 and problems[0].kind in (ProblemKind.UNREADABLE, ProblemKind.DAMAGED)
    assert all(isinstance(f, Problem) for f in found)


def test_garbled_pst_is_one_problem(pst_dir, tmp_path):
    data = bytearray((pst_dir / "pstsdk_sample1.pst").read_bytes())
    for offset in range(0x400, len(data), 0x200):
        data[offset : offset + 64] = hashlib.sha512(str(offset).encode()).digest()
    path = tmp_path / "garbled.pst"
    path.write_bytes(bytes(data))
    found = _read(PstPlugin(), path)
    assert len(found) == 1 and isinstance(found[0], Problem)


@pytest.mark.parametrize(
    ("name", "start", "size"),
    [
        ("pstsdk_sample1", 0x5400, 64),  # the root folder cannot be built
        ("javalibpst_dist-list", 0x13400, 64),  # an orphan item cannot be built
        ("gopst_32-bit", 0x5400, 64),  # the root folder is missing
        ("tika_testPST_variousBodyTypes", 0x8400, 0x2000),  # a folder's name table is damaged
    ],
)
def test_damage_inside_a_pst_is_at_most_one_problem_line(pst_dir, tmp_path, name, start, size):
    data = bytearray((pst_dir / f"{name}.pst").read_bytes())
    data[start : start + size] = (hashlib.sha512(str(start).encode()).digest() * 200)[:size]
    path = tmp_path / "damaged.pst"
    path.write_bytes(bytes(data))
    found = _read(PstPlugin(), path)
    problems = [f for f in found if isinstance(f, Problem) and f.kind is not ProblemKind.SKIPPED]
    assert len(problems) == 1
    assert problems[0].kind in (ProblemKind.UNREADABLE, ProblemKind.DAMAGED)


# .msg ---------------------------------------------------------------------------------

MSG_MAIL = {
    "hiraoka_Attach_sample_eml_received": ("Attach sample.eml", []),
    "hiraoka_Hello__CJK": ("Hello +CJK", []),
    "hiraoka_attachAndInline": ("Attach and inline", ["attach.png", "image001.png"]),
    "hiraoka_msgInMsg": ("I have attachments!", ["green.png"]),
    "hiraoka_nonUnicodeCP932": ("日本語 Non Unicode タイトル", []),
    "msgextractor_strangeDate": ("MSG Test File", []),
    "poi_HTMLBodyBinary_CP1251": ("Subject öäü Subject", []),
    "poi_attachment_msg_pdf": ("test email", ["smbprn.00009008.KdcPjl.pdf"]),
    "poi_attachment_test_msg": ("test pièce jointe 1", ["test-unicode.doc", "pj1.txt"]),
    "poi_chinese-traditional": ("Alfresco MSG format testing ( MSG 格式測試 )", []),
    "poi_cyrillic_message": ('Автоматический ответ подсистемы обмена данными ФГУП "Почта России".', []),
    "poi_example_received_unicode": ("This is a test message please ignore", ["alfresco.gif"]),
    "poi_no_recipient_address": (
        "Welcome to Microsoft Office Outlook 2003",
        [f"{n}.jpg" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12)],
    ),
    "poi_outlook_30_msg": ("IN-SPIRE servers going down for a bit, back up around 8am", []),
    "poi_quick": ("Test the content transformer", []),
}


def _extract_msg_view(path: Path) -> tuple[str, list[tuple[str, bytes]], int]:
    """Subject, by-value attachments (name, bytes) and embedded-message count per extract-msg."""
    import extract_msg

    msg = extract_msg.openMsg(str(path), strict=False)
    try:
        files, embedded = [], 0
        for a in msg.attachments:
            if isinstance(a.data, bytes):
                files.append((a.longFilename or a.shortFilename, a.data))
            else:
                embedded += 1
        return msg.subject, files, embedded
    finally:
        msg.close()


@pytest.mark.parametrize("name", sorted(MSG_MAIL))
def test_every_msg_note_yields_one_copy_matching_extract_msg(corpus, name):
    path = corpus / "msg" / f"{name}.msg"
    before = snapshot(corpus / "msg")
    found = _read(MsgPlugin(), path)
    (c,) = found
    assert isinstance(c, Copy) and c.reconstructed and c.folder == "INBOX"
    msg = _parse(c.raw)
    subject, attachments = MSG_MAIL[name]
    assert msg["Subject"] == subject
    inner = [
        q for e in msg.walk() if e.get_content_type() == "message/rfc822" for q in e.get_content().walk()
    ]
    named = [p for p in msg.walk() if p.get_filename() not in (None, "rtf-body.rtf")]
    ours = {p.get_filename(): p.get_payload(decode=True) for p in named if not any(q is p for q in inner)}
    assert sorted(ours) == sorted(attachments)
    ref_subject, ref_files, ref_embedded = _extract_msg_view(path)
    assert dict(ref_files) == ours  # same names, same bytes
    if name not in (
        "hiraoka_nonUnicodeCP932",
        "poi_chinese-traditional",
    ):  # its ANSI decoding is wrong
        assert ref_subject == subject
    assert sum(p.get_content_type() == "message/rfc822" for p in msg.iter_attachments()) == ref_embedded
    assert not msg.defects
    assert snapshot(corpus / "msg") == before


def test_msg_keeps_original_transport_headers(corpus):
    (c,) = _read(MsgPlugin(), corpus / "msg" / "poi_outlook_30_msg.msg")
    msg = _parse(c.raw)
    # the header block exactly as the server delivered it, first field first
    assert c.raw.startswith(
        b"x-mimeole: Produced By Microsoft Exchange V6.5\r\nContent-class: urn:content-classes:message\r\n"
    )
    assert msg["From"] == '"Cramer, Nick" <nick.cramer@pnl.gov>'
    assert len(msg["To"].addresses) == 18


def test_msg_sent_item_gets_headers_from_properties(corpus):
    (c,) = _read(MsgPlugin(), corpus / "msg" / "poi_attachment_test_msg.msg")
    msg = _parse(c.raw)
    assert msg["From"].addresses[0].addr_spec == "nicolas1.23456@free.fr"
    assert msg["To"].addresses[0].addr_spec == "nicolas1.23456@free.fr"
    assert msg["Date"].datetime.year == 2009
    assert msg["Subject"] == "test pièce jointe 1"
    assert msg["Message-ID"] is None  # the item never had one: none is made up
    assert c.flags == {Flag.SEEN}


def test_msg_embedded_message(corpus):
    (c,) = _read(MsgPlugin(), corpus / "msg" / "poi_attachment_msg_pdf.msg")
    (inner,) = [p.get_content() for p in _parse(c.raw).walk() if p.get_content_type() == "message/rfc822"]
    assert inner["Subject"]
    assert inner.get_body(("plain", "html")) is not None


def test_msg_appointment_is_kept_as_a_calendar_item(corpus):
    (item,) = _read(MsgPlugin(), corpus / "msg" / "hiraoka_A_schedule.msg")
    assert isinstance(item, Item) and item.kind is ItemKind.EVENT
    assert (item.folder, item.summary, item.location, item.body) == (
        "Calendar",
        "A schedule",
        "A place",
        "A message body.",
    )
    assert (item.start, item.end) == (
        datetime(2021, 10, 13, 9, 30, tzinfo=UTC),
        datetime(2021, 10, 13, 10, 0, tzinfo=UTC),
    )  # 18:30-19:00 in Tokyo, the zone it names
    assert item.timezone == "(UTC+09:00) 大阪、札幌、東京" and not item.all_day


def test_msg_task_is_still_skipped_with_its_class(corpus, tmp_path):
    """Only contacts, lists and calendar items are kept; any other non-mail class is named."""
    data = (corpus / "msg" / "hiraoka_A_schedule.msg").read_bytes()
    cls = "IPM.Appointment".encode("utf-16-le")
    assert data.count(cls) == 1
    path = tmp_path / "task.msg"
    path.write_bytes(data.replace(cls, "IPM.Task\0\0\0\0\0\0\0".encode("utf-16-le")))
    found = _read(MsgPlugin(), path)
    assert [(f.kind, f.reason) for f in found] == [(ProblemKind.SKIPPED, "IPM.Task item skipped (not mail)")]


@pytest.mark.parametrize("cut", [0, 100, 5000, 20000, 51000])
def test_truncated_msg_is_one_problem(corpus, tmp_path, cut):
    path = tmp_path / "cut.msg"
    path.write_bytes((corpus / "msg" / "poi_attachment_test_msg.msg").read_bytes()[:cut])
    (problem,) = _read(MsgPlugin(), path)
    assert isinstance(problem, Problem) and problem.kind is ProblemKind.UNREADABLE
    assert problem.reason.startswith("not a readable .msg file: ")


def test_garbled_msg_streams_still_give_one_line_at_most(corpus, tmp_path):
    data = (corpus / "msg" / "poi_attachment_test_msg.msg").read_bytes()
    for start in range(0x200, len(data), 0x1000):
        garbled = bytearray(data)
        garbled[start : start + 0x200] = (hashlib.sha512(str(start).encode()).digest() * 8)[:0x200]
        path = tmp_path / f"g{start}.msg"
        path.write_bytes(bytes(garbled))
        found = _read(MsgPlugin(), path)
        assert sum(isinstance(f, Problem) for f in found) <= 1
        assert len(found) == 1 or (len(found) == 2 and isinstance(found[0], Problem))


def test_gather_and_restore_outlook_files_through_the_command_line(corpus, tmp_path):
    source = tmp_path / "outlook"
    source.mkdir()
    for name in ("pstsdk_sample1", "tika_testPST_variousBodyTypes", "gopst_32-bit"):
        shutil.copy(corpus / "pst" / f"{name}.pst", source / f"{name}.pst")
    for name in ("poi_quick", "hiraoka_A_schedule"):
        shutil.copy(corpus / "msg" / f"{name}.msg", source / f"{name}.msg")
    before = snapshot(source)
    ws = tmp_path / "ws"
    account = "tallison@mitre.org"
    assert main(["--workspace", str(ws), "gather", "--account", account, str(source)]) == 0
    target = tmp_path / "Maildir"
    assert main(["--workspace", str(ws), "restore", "--account", account, "--to", f"maildir:{target}"]) == 0
    counts = {
        d.name: len(list(d.glob("cur/*")) + list(d.glob("new/*")))
        for d in [target, *target.glob(".*")]
        if d.is_dir()
    }
    # INBOX/tmp is a child of INBOX, which Maildir++ writes as ".INBOX.tmp" (as Dovecot does)
    assert counts == {"Maildir": 1, ".Sample1": 1, ".INBOX.tmp": 4}
    assert snapshot(source) == before


# folder roles ---------------------------------------------------------------------------


class _Folder:
    """A folder as the PST reader sees one: a name, a node id, subfolders."""

    def __init__(self, name: str, identifier: int, *children: _Folder):
        self.name, self.identifier, self._children = name, identifier, list(children)

    @property
    def sub_folders(self) -> list[_Folder]:
        if self.name == "壊れた":
            raise OSError("libpff_folder_get_sub_folders: unable to read")
        return self._children


def test_japanese_folder_tree_gets_roles_and_the_wastebasket_is_deleted():
    root = _Folder(
        "",
        290,
        _Folder("SPAM Search Folder 2", 8739),
        _Folder(
            "Outlook データ ファイルのトップ",
            32802,
            _Folder("受信トレイ", 32900, _Folder("取引先", 33000, _Folder("2012年", 33100))),
            _Folder("送信済みアイテム", 32910),
            _Folder("削除済みアイテム", 32866, _Folder("古い案件", 33200)),
            _Folder("下書き", 32920),
            _Folder("Sent", 32930),  # a user's own folder that only looks like a role: still Sent
            _Folder("壊れた", 32940),
        ),
        _Folder("検索ルート", 32834, _Folder("検索結果", 33300)),
        _Folder("Freebusy Data", 33314),
    )
    problems: list[tuple[str, str]] = []
    special = SpecialFolders(mail_tree=32802, wastebasket=32866, sent=32910, search=32834)
    places = [(p.name, p.deleted, p.mail_tree) for p in walk_folders(root, special, problems)]
    assert places == [
        ("SPAM Search Folder 2", False, False),
        ("INBOX", False, True),  # the store's top: mail filed directly there
        ("INBOX", False, True),
        ("INBOX/取引先", False, True),
        ("INBOX/取引先/2012年", False, True),
        ("Sent", False, True),
        ("Trash", True, True),
        ("Trash/古い案件", True, True),
        ("Drafts", False, True),
        ("Sent", False, True),
        ("壊れた", False, True),
        ("Freebusy Data", False, False),
    ]
    assert problems == [("壊れた", "subfolders unreadable: libpff_folder_get_sub_folders: unable to read")]


def test_english_store_without_store_ids_is_named_by_its_top_folder():
    root = _Folder(
        "",
        290,
        _Folder(
            "Top of Personal Folders",
            1,
            _Folder("Inbox", 2),
            _Folder("Deleted Items", 3),
            _Folder("Sent Items", 4),
        ),
    )
    places = [(p.name, p.deleted) for p in walk_folders(root, SpecialFolders(), [])]
    assert places == [("INBOX", False), ("INBOX", False), ("Trash", True), ("Sent", False)]


def test_embedded_message_that_cannot_be_reached_is_reported_not_dropped(pst_dir, monkeypatch):
    import mailrecover_outlook._pff as pff

    monkeypatch.setattr(pff, "embedded_supported", lambda: False)  # as with an older pypff
    found = _read(PstPlugin(), pst_dir / "pstsdk_submessage.pst")
    problems = [f for f in found if isinstance(f, Problem)]
    (c,) = [f for f in found if isinstance(f, Copy)]
    assert [(p.kind, p.reason) for p in problems] == [
        (
            ProblemKind.DAMAGED,
            "kept without embedded message 'This is an embedded message'",
        )
    ]
    assert _parse(c.raw)["Subject"] == "This is a message which has an embedded message attached"


def test_msg_received_item_names_the_mailbox_it_was_delivered_to(corpus):
    (c,) = _read(MsgPlugin(), corpus / "msg" / "poi_example_received_unicode.msg")
    assert c.account_hints == ("mike.farman@alfresco.com",)
    (sent,) = _read(MsgPlugin(), corpus / "msg" / "poi_attachment_test_msg.msg")
    assert sent.account_hints == ()


def test_the_same_item_from_a_pst_and_a_msg_merges_into_one_message(corpus, tmp_path, capsys):
    import json

    source = tmp_path / "both"
    source.mkdir()
    shutil.copy(corpus / "pst" / "rubymsg_msgInMsg.pst", source / "store.pst")
    shutil.copy(corpus / "msg" / "hiraoka_msgInMsg.msg", source / "saved.msg")
    ws = tmp_path / "ws"
    account = "xmailuser@xmailserver.test"
    assert main(["--workspace", str(ws), "gather", "--account", account, str(source)]) == 0
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report", "--account", account]) == 0
    summary = json.loads(capsys.readouterr().out)["accounts"][account]
    assert (summary["copies"], summary["messages"], summary["duplicates"]) == (2, 1, 1)


# properties to MIME, on items made here ----------------------------------------------------


class _Item(MapiObject):
    """An Outlook item held in memory: properties by id, recipients, attachments."""

    def __init__(self, props: dict[int, object], recipients=(), attachments=(), inner=None):
        self.props = {k: _encode(v) for k, v in props.items()}
        self._recipients, self._attachments, self._inner = (
            list(recipients),
            list(attachments),
            inner,
        )

    def raw(self, prop_id):
        return self.props.get(prop_id)

    def recipients(self):
        return iter(self._recipients)

    def attachments(self):
        return iter(self._attachments)

    def embedded(self):
        return self._inner


def _encode(value: object) -> tuple[int, bytes]:
    if isinstance(value, bool):
        return 0x000B, bytes([value, 0])
    if isinstance(value, int):
        return 0x0003, struct.pack("<i", value)
    if isinstance(value, datetime):
        ticks = int((value - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
        return 0x0040, struct.pack("<Q", ticks)
    if isinstance(value, str):
        return 0x001F, value.encode("utf-16-le")
    assert isinstance(value, bytes)
    return 0x0102, value


def _recipient(kind: int, name: str, addr: str) -> _Item:
    return _Item({0x0C15: kind, 0x3001: name, 0x3002: "SMTP", 0x3003: addr})


def test_sent_item_without_transport_headers_gets_them_from_properties():
    sent = _Item(
        {
            0x001A: "IPM.Note",
            0x0037: "\x01\x04Re: 見積書の件",
            0x0042: "山田 太郎",
            0x0064: "SMTP",
            0x0065: "taro@example.co.jp",
            0x0039: datetime(2012, 6, 20, 1, 2, 3, tzinfo=UTC),
            0x1035: "<abc@example.co.jp>",
            0x1042: "<prev@example.co.jp>",
            0x1000: "お世話になっております。\r\n",
            0x0E07: 1,
            0x1081: 103,
        },
        recipients=[
            _recipient(1, "佐藤 花子", "hanako@example.jp"),
            _recipient(2, "Ops", "ops@example.jp"),
            _recipient(3, "", "audit@example.jp"),
        ],
        attachments=[_Item({0x3705: 1, 0x3707: "見積書.pdf", 0x3701: b"%PDF-1.4 test"})],
    )
    msg = _parse(build_message(sent))
    assert msg["Subject"] == "Re: 見積書の件"
    assert (msg["From"].addresses[0].display_name, msg["From"].addresses[0].addr_spec) == (
        "山田 太郎",
        "taro@example.co.jp",
    )
    assert [a.addr_spec for a in msg["To"].addresses] == ["hanako@example.jp"]
    assert msg["To"].addresses[0].display_name == "佐藤 花子"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["ops@example.jp"]
    assert [a.addr_spec for a in msg["Bcc"].addresses] == ["audit@example.jp"]
    assert msg["Date"].datetime == datetime(2012, 6, 20, 1, 2, 3, tzinfo=UTC)
    assert (msg["Message-ID"], msg["In-Reply-To"]) == (
        "<abc@example.co.jp>",
        "<prev@example.co.jp>",
    )
    assert msg.get_body(("plain",)).get_content() == "お世話になっております。\r\n"
    (pdf,) = msg.iter_attachments()
    assert (pdf.get_filename(), pdf.get_content_type(), pdf.get_payload(decode=True)) == (
        "見積書.pdf",
        "application/pdf",
        b"%PDF-1.4 test",
    )
    assert flags_of(sent) == {Flag.SEEN, Flag.ANSWERED}
    assert build_message(sent) == build_message(sent)  # same item, same bytes
    assert all(len(line) <= 998 for line in build_message(sent).split(b"\r\n"))


@pytest.mark.parametrize(
    ("props", "flags"),
    [
        ({0x0E07: 0}, set()),
        ({0x0E07: 1}, {Flag.SEEN}),
        ({0x0E07: 9}, {Flag.SEEN, Flag.DRAFT}),
        ({0x0E07: 1, 0x1090: 2}, {Flag.SEEN, Flag.FLAGGED}),
        ({0x0E07: 1, 0x1090: 1}, {Flag.SEEN}),  # follow-up complete is no longer flagged
        ({0x1081: 102}, {Flag.ANSWERED}),
        ({0x1081: 104}, {Flag.FORWARDED}),
        ({0x1080: 261}, {Flag.ANSWERED}),
    ],
)
def test_flags_from_mapi_properties(props, flags):
    assert flags_of(_Item(props)) == flags


def test_rtf_only_item_keeps_the_rtf_and_its_text():
    from compressed_rtf import compress

    rtf = (
        rb"{\rtf1\ansi\ansicpg932{\fonttbl{\f0 MS Gothic;}}"
        rb"\f0 \'93\'fa\'96\'7b\'8c\'ea\par second line}"
    )
    item = _Item({0x001A: "IPM.Note", 0x0037: "rtf", 0x1009: compress(rtf)})
    msg = _parse(build_message(item))
    assert msg.get_body(("plain",)).get_content() == "日本語\r\nsecond line\r\n"
    (part,) = msg.iter_attachments()
    assert part.get_content_type() == "application/rtf" and part.get_payload(decode=True) == rtf


def test_html_wrapped_in_rtf_comes_back_as_html():
    from compressed_rtf import compress

    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\fromhtml1 {\*\htmltag19 <html>}{\*\htmltag2 \par }"
        rb"{\*\htmltag50 <body>}\htmlrtf {\htmlrtf0 Hello \'e9t\'e9\htmlrtf }\htmlrtf0 "
        rb"{\*\htmltag58 </body>}{\*\htmltag27 </html>}}"
    )
    item = _Item({0x001A: "IPM.Note", 0x0037: "html", 0x1009: compress(rtf)})
    msg = _parse(build_message(item))
    assert msg.get_body(("html",)).get_content() == "<html>\r\n<body>Hello été</body></html>\r\n"


def test_signed_item_gets_its_signed_body_back_whole():
    signed_body = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";\n'
        b' micalg=sha-256; boundary="sig"\n\n'
        b"--sig\nContent-Type: text/plain\n\nsigned text\n"
        b"--sig\nContent-Type: application/pkcs7-signature\n\nMIIB\n--sig--\n"
    )
    item = _Item(
        {
            0x001A: "IPM.Note.SMIME.MultipartSigned",
            0x0037: "signed",
            0x1000: "signed text",
            0x007D: "From: a@example.jp\r\nTo: b@example.jp\r\nSubject: signed\r\n"
            'Content-Type: multipart/signed; boundary="old"\r\n',
        },
        attachments=[
            _Item({0x3705: 1, 0x3704: "smime.p7m", 0x370E: "multipart/signed", 0x3701: signed_body})
        ],
    )
    raw = build_message(item)
    assert raw.endswith(signed_body.replace(b"\n", b"\r\n"))  # the signed bytes, untouched
    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/signed" and raw.count(b"Content-Type: multipart/signed") == 1
    assert [p.get_content_type() for p in msg.iter_parts()] == [
        "text/plain",
        "application/pkcs7-signature",
    ]


def test_odd_property_values_still_give_a_well_formed_header():
    item = _Item(
        {
            0x001A: "IPM.Note",
            0x0037: "line one\r\nline two",
            0x0042: 'Mr. "Quote\r\nBreak',
            0x0064: "SMTP",
            0x0065: "broken@@example",
            0x1035: "<a b@c>",
            0x1000: "x",
        },
        recipients=[
            _recipient(1, "Tests Chang@FT (張毓倫)", "tests.chang@fengttt.com"),
            _recipient(1, "", ""),
        ],
    )
    raw = build_message(item)
    head = raw[: raw.index(b"\r\n\r\n")]
    assert all(line.startswith((b" ", b"\t")) or b":" in line for line in head.split(b"\r\n"))
    names = [line.split(b":")[0] for line in head.split(b"\r\n") if not line.startswith((b" ", b"\t"))]
    assert names == [
        b"From",
        b"To",
        b"Subject",
        b"Message-ID",
        b"MIME-Version",
        b"Content-Type",
        b"Content-Transfer-Encoding",
    ]
    msg = _parse(raw)
    assert msg["Subject"] == "line one  line two"
    assert msg["To"].addresses[0].addr_spec == "tests.chang@fengttt.com"


def test_pst_progress_adds_up_to_the_file_size(pst_dir):
    for name in ("pstsdk_sample1", "tika_testPST_variousBodyTypes", "gopst_32-bit"):
        done: list[int] = []
        list(PstPlugin().read(str(pst_dir / f"{name}.pst"), ReadContext(advance=done.append)))
        assert sum(done) == (pst_dir / f"{name}.pst").stat().st_size and min(done) >= 0


def test_pst_discover_looks_in_the_usual_places(pst_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"
    files = home / "Documents" / "Outlook Files"
    files.mkdir(parents=True)
    shutil.copy(pst_dir / "pstsdk_sample1.pst", files / "taro.pst")
    (files / "readme.txt").write_text("not a store")
    local = tmp_path / "local" / "Microsoft" / "Outlook"
    local.mkdir(parents=True)
    shutil.copy(pst_dir / "pstsdk_sample1.pst", local / "taro@example.co.jp.ost")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    found = [(s.plugin, s.location) for s in PstPlugin().discover()]
    assert found == [
        ("outlook-pst", str(local / "taro@example.co.jp.ost")),
        ("outlook-pst", str(files / "taro.pst")),
    ]


# --- the plugin contract -----------------------------------------------------------------


class _CorpusContract(SourcePluginContract):
    """Outlook stores cannot be written here (no PST or OLE writer): the contract reads copies
    of corpus files, and is skipped with the corpus."""

    corpus: Path

    @pytest.fixture(autouse=True)
    def _corpus(self, corpus: Path) -> None:
        self.corpus = corpus

    def _copy(self, root: Path, relative: str, name: str) -> str:
        root.mkdir(parents=True)
        shutil.copy(self.corpus / relative, root / name)
        return str(root / name)

    def build_large(self, root: Path, nbytes: int) -> None:
        return None  # no store of that size to read: the corpus files are small

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / self.hostile_name).write_bytes(data)
        return str(root / self.hostile_name)

    hostile_name = ""


class TestPstContract(_CorpusContract):
    hostile_name = "Outlook.pst"

    def make_plugin(self):
        return PstPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(self._copy(root, "pst/tika_testPST_variousBodyTypes.pst", "Outlook.pst"), 4)

    def build_damaged(self, root: Path) -> str:
        path = Path(self._copy(root, "pst/tika_testPST_variousBodyTypes.pst", "Outlook.pst"))
        data = bytearray(path.read_bytes())
        data[0x6200 : 0x6200 + 64] = (hashlib.sha512(b"25088").digest() * 2)[:64]  # one item's node
        path.write_bytes(bytes(data))
        return str(path)


class TestMsgContract(_CorpusContract):
    hostile_name = "item.msg"

    def make_plugin(self):
        return MsgPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(self._copy(root, "msg/poi_quick.msg", "item.msg"), 1)

    def build_damaged(self, root: Path) -> str:
        raise NotImplementedError

    def test_bad_input_costs_a_problem_not_the_run(self, tmp_path: Path) -> None:
        pytest.skip("one item per .msg file: damage costs that item only (test_truncated_msg_is_one_problem)")
