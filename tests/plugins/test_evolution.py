"""Evolution 3's local mail: Maildir++ with each message's state from ``folders.db``, built
with both of Evolution's schemas (a table per folder before 3.58, ``messages_<id>`` since)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mailrecover_evolution.plugin import EvolutionPlugin, evolution_flags, folder_full_name

from mailrecover.cli import main
from mailrecover.model import Copy, Flag, Problem
from mailrecover.plugin import ReadContext

from ..support.builders import snapshot
from ..support.unix_clients import EVOLUTION_BITS as B
from ..support.unix_clients import EvolutionMessage, build_evolution
from .client_stores import OWNER, by_message_id, message, restored_maildir
from .contract import Sample, SourcePluginContract

S, R, F, D, T, P = Flag.SEEN, Flag.ANSWERED, Flag.FLAGGED, Flag.DRAFT, Flag.DELETED, Flag.FORWARDED


def _store(root: Path, schema: str = "3.58") -> Path:
    """One message per case, Message-ID ``<n.test@example.org>``."""
    return build_evolution(
        root,
        [
            # the name's info part and the database agree; forwarded, junk and labels only in the database
            EvolutionMessage(
                ".",
                "1339372801.101_1.host:2,S",
                message(1),
                B["seen"] | B["forwarded"] | B["junk"],
                "$Labelwork",
            ),
            # the name was changed by another program: its letters win, as in Evolution
            EvolutionMessage(".", "1339372802.101_2.host:2,RS", message(2), B["seen"]),
            # not yet moved out of new/: everything from the database
            EvolutionMessage(".", "1339372803.101_3.host", message(3), B["seen"] | B["flagged"], sub="new"),
            # a copy that lost the info part of its name: everything from the database
            EvolutionMessage(".", "1339372804.101_4.host", message(4), B["seen"] | B["deleted"]),
            # no row: the name alone
            EvolutionMessage(".", "1339372805.101_5.host:2,F", message(5), None),
            # subfolders: escaped dots, an Inbox child
            EvolutionMessage(
                ".Work_2Eold.2012", "1339372806.101_6.host:2,DS", message(6), B["draft"] | B["seen"]
            ),
            EvolutionMessage("..Lists", "1339372807.101_7.host", message(7), B["answered"] | B["seen"]),
            EvolutionMessage(".Sent", "1339372808.101_8.host:2,S", message(8), B["seen"], "$Labelimportant"),
        ],
        schema=schema,
    )


def _read(location: Path) -> tuple[dict[str, Copy], list[Problem]]:
    before = snapshot(location)
    found = list(EvolutionPlugin().read(str(location), ReadContext(folder="INBOX")))
    assert snapshot(location) == before
    return by_message_id(found), [f for f in found if isinstance(f, Problem)]


class TestEvolutionContract(SourcePluginContract):
    def make_plugin(self):
        return EvolutionPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(_store(root)), 8)

    def build_damaged(self, root: Path) -> str:
        _store(root)
        (root / "folders.db").write_bytes(b"\x00not a database\n" * 200)
        (root / "cur" / "1339372809.101_9.host:2,S").write_bytes(b"")
        return str(root)

    def build_large(self, root: Path, nbytes: int) -> str:
        body = ("m" * 75 + "\n") * 600
        return str(
            build_evolution(
                root,
                [
                    EvolutionMessage(".", f"13393728{n:02d}.7_{n}.host:2,S", message(n, body=body), B["seen"])
                    for n in range(nbytes // 45_000 + 1)
                ],
            )
        )

    def build_hostile(self, root: Path, data: bytes) -> str:
        _store(root)
        (root / "folders.db").write_bytes(data)
        return str(root)


@pytest.mark.parametrize("schema", ["3.58", "3.56"])
def test_flags_come_from_folders_db_and_the_names_as_evolution_reads_them(tmp_path, schema):
    copies, problems = _read(_store(tmp_path / "local", schema))
    assert problems == []
    state = {mid: (c.folder, set(c.flags), c.keywords) for mid, c in copies.items()}
    assert state == {
        "<1.test@example.org>": ("INBOX", {S, P}, ("$Junk", "$Labelwork")),
        "<2.test@example.org>": ("INBOX", {S, R}, ()),
        "<3.test@example.org>": ("INBOX", {S, F}, ()),
        "<4.test@example.org>": ("INBOX", {S, T}, ()),
        "<5.test@example.org>": ("INBOX", {F}, ()),
        "<6.test@example.org>": ("Work.old/2012", {D, S}, ()),
        "<7.test@example.org>": ("INBOX/Lists", {R, S}, ()),
        "<8.test@example.org>": ("Sent", {S}, ("$Labelimportant",)),
    }


def test_a_plain_folder_inside_keeps_the_maildir_reading(tmp_path):
    local = _store(tmp_path / "local")
    (local / "saved" / "cur").mkdir(parents=True)
    (local / "saved" / "cur" / "1339372809.1_9.host:2,S").write_bytes(message(9))
    copies, problems = _read(local)
    assert problems == [] and len(copies) == 9
    assert (copies["<9.test@example.org>"].folder, copies["<9.test@example.org>"].flags) == (
        "INBOX/saved",
        {S},
    )


def test_flag_rules_and_folder_names():
    assert evolution_flags(B["seen"] | B["answered"], "1.2.h:2,S") == {S}
    assert evolution_flags(B["seen"] | B["answered"], "1.2.h") == {S, R}
    assert evolution_flags(B["forwarded"], "1.2.h!2,FS") == {P, F, S}  # the Windows separator
    assert folder_full_name(".") == "Inbox"
    assert folder_full_name("..A.B") == "Inbox/A/B"
    assert folder_full_name(".a_5Fb_2Ec") == "a_b.c"


def test_gather_and_restore_carry_the_database_flags_to_the_restored_names(tmp_path, capsys):
    local = _store(tmp_path / "home" / ".local/share/evolution/mail/local")
    before = snapshot(local)
    ws, target = tmp_path / "ws", tmp_path / "restored"
    assert main(["--workspace", str(ws), "gather", "--account", OWNER, str(local)]) == 0
    assert "1 file skipped" in capsys.readouterr().out  # folders.db, named with why
    assert main(["--workspace", str(ws), "restore", "--account", OWNER, "--to", f"maildir:{target}"]) == 0
    restored = {mid: (folder, flags) for mid, (folder, flags, _raw) in restored_maildir(target).items()}
    assert restored == {
        "<1.test@example.org>": ("", "PS"),
        "<2.test@example.org>": ("", "RS"),
        "<3.test@example.org>": ("", "FS"),
        "<4.test@example.org>": (".Recovered Deleted.INBOX", "S"),  # deleted: kept apart
        "<5.test@example.org>": ("", "F"),
        "<6.test@example.org>": (
            ".Work_old~e2681fc8.2012",
            "DS",
        ),  # a dot inside a name, cleaned by the target
        "<7.test@example.org>": (".INBOX.Lists", "RS"),
        "<8.test@example.org>": (".Sent", "S"),
    }
    assert snapshot(local) == before


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (
            lambda db: db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000),
            "cannot read Evolution's database",
        ),
        (lambda db: db.write_bytes(b""), "cannot read Evolution's database"),
        (lambda db: db.unlink(), "folders.db is missing"),
    ],
)
def test_a_damaged_or_missing_database_is_one_problem_and_the_mail_is_read(tmp_path, spoil, reason):
    local = _store(tmp_path / "local")
    spoil(local / "folders.db")
    copies, problems = _read(local)
    assert [(Path(p.source).name, reason in p.reason) for p in problems] == [("folders.db", True)]
    assert "flags come from the Maildir file names" in problems[0].reason
    assert len(copies) == 8
    assert copies["<3.test@example.org>"].flags == frozenset()  # in new/: no letters to go by
    assert copies["<2.test@example.org>"].flags == {S, R}


def test_a_linked_database_is_not_followed(tmp_path):
    local = _store(tmp_path / "local")
    elsewhere = tmp_path / "elsewhere.db"
    (local / "folders.db").rename(elsewhere)
    (local / "folders.db").symlink_to(elsewhere)
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "--json", "gather", "--account", OWNER, str(local)]) == 3
    copies, problems = _read(local)
    assert len(copies) == 8 and copies["<3.test@example.org>"].flags == frozenset()
    assert [Path(p.source).name for p in problems] == ["folders.db"]
    assert "not followed" in problems[0].reason


def test_discover_names_evolution_in_its_place(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    local = _store(home / ".local/share/evolution/mail/local")
    capsys.readouterr()
    assert main(["--json", "discover"]) == 0
    stores = json.loads(capsys.readouterr().out)
    assert [s["plugin"] for s in stores if s["location"] == str(local)] == ["evolution"]
    assert EvolutionPlugin().detect(str(local)) > 90  # over the plain maildir plugin
