"""The ``apple-mail`` plugin: built Library/Mail trees and Apple Mail's own files from the corpus."""

from __future__ import annotations

import email
import email.policy
import shutil
import unicodedata
from pathlib import Path

import pytest
from mailrecover_apple.emlx import leaves, plist_flags
from mailrecover_apple.plugin import AppleMailPlugin

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem, ProblemKind
from mailrecover.plugin import CLAIM

from ..support.builders import snapshot
from .client_stores import (
    OWNER,
    build_apple_mail,
    by_message_id,
    emlx,
    message,
    message_id,
    read_untouched,
    restored_maildir,
)
from .contract import Sample, SourcePluginContract

S = Flag.SEEN
#: Message file id -> {section number: attachment file} for the corpus partials that have them.
PARTS_WITH_FILES = ["114892", "114894", "136153", "207046", "229417", "465622"]


def _read(location) -> list:
    return read_untouched(AppleMailPlugin(), location)


def _copies(found) -> list[Copy]:
    return [f for f in found if isinstance(f, Copy)]


def _payloads(raw: bytes, numbers) -> dict[str, bytes]:
    """Section number -> decoded body of the leaf parts numbered."""
    out = {}
    for leaf in leaves(raw):
        if leaf.number in numbers:
            part = email.message_from_bytes(raw[leaf.start : leaf.end], policy=email.policy.compat32)
            out[leaf.number] = part.get_payload(decode=True)
    return out


def _attachment_files(corpus_dir: Path, ident: str) -> dict[str, bytes]:
    base = corpus_dir / "Attachments" / ident
    return {d.name: next(d.iterdir()).read_bytes() for d in sorted(base.iterdir())}


class TestAppleMailContract(SourcePluginContract):
    def make_plugin(self):
        return AppleMailPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(build_apple_mail(root).version), 6)

    def build_damaged(self, root: Path) -> str:
        store = build_apple_mail(root)
        messages = next(store.version.rglob("Messages"))
        (messages / "201.emlx").write_bytes(b"not an emlx file\n")
        (messages / "202.emlx").write_bytes(emlx(message(202))[:-120])  # plist cut short
        shutil.rmtree(next(store.version.rglob("Attachments")))
        return str(store.version)

    def build_large(self, root: Path, nbytes: int) -> str:
        messages = root / "V10" / "acct" / "INBOX.mbox" / "Messages"
        messages.mkdir(parents=True)
        body = ("y" * 75 + "\n") * 600
        total, n = 0, 0
        while total < nbytes:
            n += 1
            data = emlx(message(n, body=body))
            (messages / f"{n}.emlx").write_bytes(data)
            total += len(data)
        return str(root / "V10")

    def build_hostile(self, root: Path, data: bytes) -> str:
        messages = root / "V10" / "acct" / "INBOX.mbox" / "Messages"
        messages.mkdir(parents=True)
        (messages / "1.emlx").write_bytes(data)
        (messages / "2.partial.emlx").write_bytes(b"40\n" + data)
        return str(root / "V10")


def test_folders_flags_dates_and_the_partial_made_whole(tmp_path):
    store = build_apple_mail(tmp_path)
    copies = {mid[1:].split(".")[0]: c for mid, c in by_message_id(_read(store.library)).items()}
    got = {k: (c.folder, c.flags, c.partial) for k, c in copies.items()}
    assert got == {
        "101": ("INBOX", {S}, False),
        "102": ("INBOX", {S, Flag.ANSWERED, Flag.FLAGGED}, False),
        "103": ("INBOX", {S}, False),
        "104": ("Work/Projects", {S, Flag.FORWARDED}, False),
        "105": ("Deleted Messages", {S, Flag.DELETED}, False),
        "106": ("Archive", {Flag.DRAFT}, False),
    }
    assert all(c.internal_date and c.internal_date.timestamp() == 1339372800 for c in copies.values())
    assert copies["101"].raw == message(101)  # length line and plist gone, nothing else
    whole = copies["103"].raw
    assert _payloads(whole, {"2"}) == {"2": store.attachment}
    assert b"X-Apple-Content-Length" not in whole


def test_section_numbers_and_hostile_nesting():
    raw = (
        b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/plain\n\none\n"
        b"--a\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\ntwo.one\n--b\n\ntwo.two\n--b--\n"
        b"--a--\n"
    )
    assert [(leaf.number, raw[leaf.body : leaf.end]) for leaf in leaves(raw)] == [
        ("1", b"one"),
        ("2.1", b"two.one"),
        ("2.2", b"two.two"),
    ]
    deep = b"".join(b"Content-Type: multipart/mixed; boundary=x%d\n\n--x%d\n" % (i, i) for i in range(5000))
    assert len(list(leaves(deep))) == 1


def test_other_folders_named_like_apple_ones_are_not_claimed(tmp_path):
    """A Mailman archive keeps ``list.mbox/list.mbox``; a backup may have a ``V2`` folder."""
    archive = tmp_path / "archives" / "private" / "dev.mbox"
    archive.mkdir(parents=True)
    (archive / "dev.mbox").write_bytes(b"From a@example.com  Thu May 10 09:00:00 2012\nSubject: x\n\nx\n")
    (tmp_path / "backup" / "V2" / "docs").mkdir(parents=True)
    for path in (archive, archive.parent, tmp_path / "backup" / "V2", tmp_path / "backup"):
        assert AppleMailPlugin().detect(str(path)) < CLAIM, path


def test_apple_flag_bits():
    assert plist_flags(0) == frozenset()
    assert plist_flags(1 | 2 | 4 | 16 | 64 | 256) == {
        S,
        Flag.DELETED,
        Flag.ANSWERED,
        Flag.FLAGGED,
        Flag.DRAFT,
        Flag.FORWARDED,
    }
    assert plist_flags(8 | 32 | 128 | 512 | (3 << 10)) == frozenset()  # encrypted, recent, … are not flags


def test_corpus_partials_are_made_whole_byte_for_byte(corpus):
    base = corpus / "emlx" / "partial-emlx-converter"
    before = snapshot(corpus / "emlx")
    found = _read(base)
    copies = {Path(c.source).name.split(".")[0]: c for c in _copies(found)}
    assert len(copies) == 10
    for ident in PARTS_WITH_FILES:
        c = copies[ident]
        assert not c.partial and b"X-Apple-Content-Length" not in c.raw, ident
        files = _attachment_files(base, ident)
        assert _payloads(c.raw, files) == files, ident
    problems = [f for f in found if isinstance(f, Problem)]
    assert sorted((Path(p.source).name, p.kind) for p in problems) == [
        ("114893.partial.emlx", ProblemKind.DAMAGED),
        ("114895.partial.emlx", ProblemKind.DAMAGED),
    ]
    assert all("2.2, 2.4, 2.6, 2.8" in p.reason for p in problems)
    assert copies["114893"].partial and copies["114895"].partial
    assert snapshot(corpus / "emlx") == before


def test_corpus_flags_and_dates(corpus):
    copies = {Path(c.source).name: c for c in _copies(_read(corpus / "emlx"))}
    assert len(copies) == 13
    assert copies["136153.partial.emlx"].flags == {S, Flag.ANSWERED}
    assert copies["tika_testEMLX.emlx"].flags == frozenset()
    assert copies["114892.partial.emlx"].internal_date.timestamp() == 1517000478


def test_corpus_partials_survive_gather_and_restore(corpus, tmp_path):
    base = corpus / "emlx" / "partial-emlx-converter"
    before = snapshot(corpus / "emlx")
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(base)]) == 3  # two lack files
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "restore",
                "--account",
                OWNER,
                "--include-quarantined",
                "--to",
                f"maildir:{target}",
            ]
        )
        == 0
    )
    restored = restored_maildir(target)
    assert len(restored) == 7  # 114892…114895 are one mail
    by_id = {}
    for ident in PARTS_WITH_FILES:
        mid = message_id((base / "Messages" / f"{ident}.partial.emlx").read_bytes())
        by_id.setdefault(mid, _attachment_files(base, ident))
    for mid, files in by_id.items():
        assert _payloads(restored[mid][2], files) == files, mid
    assert snapshot(corpus / "emlx") == before


def test_mail_before_lion_and_decomposed_names(tmp_path, monkeypatch):
    """Mail 4 keeps accounts straight in ~/Library/Mail; a Mac writes names decomposed (NFD)."""
    mail = tmp_path / "Library" / "Mail"
    projects = unicodedata.normalize("NFD", "プロジェクト")
    assert projects != "プロジェクト"
    files = {
        mail / "IMAP-taro@imap.example.co.jp" / "INBOX.mbox" / "Messages" / "1.emlx": emlx(message(401), 1),
        mail / "Mailboxes" / f"{projects}.mbox" / "Messages" / "2.emlx": emlx(message(402), 1),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    assert AppleMailPlugin().detect(str(mail)) >= 80
    assert sorted(c.folder for c in _copies(_read(mail))) == ["INBOX", "プロジェクト"]
    for path in files:  # handed one message file or its Messages folder: still named by its mailbox
        assert [c.folder for c in _copies(_read(path)) + _copies(_read(path.parent))] == [
            "INBOX" if "INBOX" in str(path) else "プロジェクト"
        ] * 2
    monkeypatch.setenv("HOME", str(tmp_path))
    assert [s.location for s in AppleMailPlugin().discover()] == [str(mail)]


@pytest.mark.parametrize("layout", ["macos", "windows", "linux"])
def test_discover_finds_mail_versions_in_a_fake_home(tmp_path, monkeypatch, layout):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(home / "AppData" / "Local"))
    if layout != "macos":  # Apple Mail lives only in a Mac home
        (home / "AppData" / "Roaming").mkdir(parents=True)
        (home / ".thunderbird").mkdir()
        assert list(AppleMailPlugin().discover()) == []
        return
    store = build_apple_mail(home / "Library")
    stores = list(AppleMailPlugin().discover())
    assert [(s.plugin, s.location) for s in stores] == [("apple-mail", str(store.version))]
    assert stores[0].size == sum(p.stat().st_size for p in store.version.rglob("*") if p.is_file())
