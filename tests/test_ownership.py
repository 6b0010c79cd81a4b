"""The ownership check: a backup contaminated with another customer's mail (the 2012 case)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.merge import merge_account
from mailrecover.gather import _store_copy
from mailrecover.model import Copy, Flag
from mailrecover.ownership import (
    Clue,
    delivery_clues,
    list_marks,
    names_account,
    quarantine_details,
    verdict,
)
from mailrecover.restore import ensure_merged, outgoing, restore
from mailrecover.rfc822 import header_fields
from mailrecover.targets import Outgoing
from mailrecover.workspace import Workspace

from .builders import ACCOUNT, LIST, OTHER, build_contaminated, snapshot


@pytest.mark.parametrize(
    ("address", "mine"),
    [
        ("taro@example.co.jp", True),
        ("Taro@EXAMPLE.co.jp", True),
        ("taro+shop@example.co.jp", True),  # a subaddress
        ("example.co.jp-taro@example.co.jp", True),  # qmail's virtual-domain form
        ("taro@localhost", True),  # fetchmail, local delivery
        ("taro@mail.example.co.jp", False),  # a subdomain may be another customer
        ("taro@example.com", False),
        ("jiro@example.co.jp", False),
        ("taroo@example.co.jp", False),
        ("example.co.jp-jiro@example.co.jp", False),
    ],
)
def test_which_addresses_name_the_account(address, mine):
    assert names_account(address, ACCOUNT) is mine


def test_verdict_needs_evidence_against_and_none_for():
    assert verdict(ACCOUNT, []) is None  # no evidence: stays
    assert verdict(ACCOUNT, [Clue("Delivered-To", OTHER), Clue("Delivered-To", ACCOUNT)]) is None
    reason = verdict(ACCOUNT, [Clue("Delivered-To", OTHER), Clue("Received … for", OTHER)])
    assert reason == f"delivered to {OTHER} (Delivered-To, Received … for), never to {ACCOUNT}"


def test_only_the_last_hop_received_is_evidence():
    raw = (b"Received: from a by mx.example.co.jp for <taro@example.co.jp>; Mon, 1 Jun 2012 1:00:00 +0000\n"
           b"Received: from b by lists.example for <ml@lists.example>; Mon, 1 Jun 2012 0:59:00 +0000\n"
           b"Subject: x\n\nbody\n")  # fmt: skip
    assert delivery_clues(raw) == [Clue("Received … for", ACCOUNT)]


@pytest.fixture
def contaminated(tmp_path: Path):
    return build_contaminated(tmp_path / "sources")


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


def _marker(raw: bytes) -> str:
    found = re.findall(rb"^(marker-[\w-]+)\r?$", raw, re.M)
    assert len(found) == 1, found
    return found[0].decode()


def _restored(root: Path) -> dict[str, tuple[str, bytes]]:
    """marker -> (folder directory name, raw) of every message in a Maildir++ tree."""
    found: dict[str, tuple[str, bytes]] = {}
    for dirpath, _dirs, files in os.walk(root):
        here = Path(dirpath)
        if here.name != "cur":
            continue
        folder = "INBOX" if here.parent == root else here.parent.name
        for name in files:
            raw = (here / name).read_bytes()
            marker = _marker(raw)
            assert marker not in found, f"{marker} restored twice"
            found[marker] = (folder, raw)
    return found


def test_contaminated_backup_restores_exactly_the_owners_mail(contaminated, tmp_path, capsys):
    before = snapshot(contaminated.root)
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", ACCOUNT, str(contaminated.root)) == 0
    target = tmp_path / "new" / "Maildir"
    capsys.readouterr()

    status = _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}")
    out = capsys.readouterr().out
    assert status == 3
    assert "4 messages held back: delivered to other mailboxes" in out
    restored = _restored(target)
    assert {m: f for m, (f, _raw) in restored.items()} == contaminated.own
    # the mail sent to both is restored from taro's copy: no trace of jiro's delivery
    shared = restored[contaminated.shared_marker][1]
    assert shared.startswith(f"Delivered-To: {ACCOUNT}\n".encode())
    assert f"Delivered-To: {OTHER}".encode() not in shared
    # list mail: the list's own address is no evidence either way (see ownership's docstring)
    assert "marker-list-delivered" in restored and "marker-list-only" in restored

    capsys.readouterr()
    assert _run(ws, "--json", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 3
    again = json.loads(capsys.readouterr().out)
    assert again["written"] == 0 and again["quarantined"] == 4
    assert {h["message_id"] for h in again["held_back"]} == set(contaminated.foreign.values())
    assert snapshot(contaminated.root) == before


def test_reports_name_the_quarantined_mail_with_evidence(contaminated, tmp_path, capsys):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(contaminated.root))
    html = tmp_path / "report.html"
    capsys.readouterr()
    assert _run(ws, "--json", "report", "--html", str(html)) == 0
    a = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert a["quarantined"] == 4
    held = {q["message_id"]: q for q in a["quarantine"]}
    assert set(held) == set(contaminated.foreign.values())
    first = held["marker-foreign-1@example.org"]
    assert first["subject"] == "<script>alert('pwned')</script> 見積"
    assert {(e["field"], e["address"]) for e in first["evidence"]} == {
        ("Delivered-To", OTHER), ("Received … for", OTHER)}  # fmt: skip
    assert all(e["source"].startswith(str(contaminated.root)) for e in first["evidence"])
    exim = held["marker-foreign-exim@example.org"]["evidence"]
    assert [(e["field"], e["address"]) for e in exim] == [("Envelope-To", "hanako@third.example")]
    listed = held["marker-foreign-list@example.org"]["evidence"]
    assert [(e["field"], e["address"]) for e in listed] == [("Delivered-To", OTHER)]  # the list is neutral
    assert LIST not in json.dumps(held)

    page = html.read_text(encoding="utf-8")
    for mid in contaminated.foreign.values():
        assert mid in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; 見積" in page
    assert "<script" not in page
    assert f"Delivered-To: <b>{OTHER}</b>" in page

    capsys.readouterr()
    assert _run(ws, "report") == 0
    text = capsys.readouterr().out
    assert "4 quarantined: delivered to other mailboxes, held back" in text
    assert "<marker-foreign-exim@example.org>" in text and "hanako@third.example (Envelope-To)" in text


def test_include_quarantined_restores_them_knowingly(contaminated, tmp_path, capsys):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(contaminated.root))
    target = tmp_path / "Maildir"
    capsys.readouterr()
    status = _run(ws, "--json", "restore", "--include-quarantined", "--account", ACCOUNT,
                  "--to", f"maildir:{target}")  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["quarantined"] == 0 and result["held_back"] == []
    assert {h["message_id"] for h in result["included_quarantined"]} == set(contaminated.foreign.values())
    assert set(_restored(target)) == set(contaminated.own) | set(contaminated.foreign)


class _Recorder:
    """A target that keeps what it is handed: stands for any target, IMAP included."""

    description = "recorder:"

    def __init__(self) -> None:
        self.items: list[Outgoing] = []

    def write(self, items, journal, progress=lambda n: None) -> int:
        self.items.extend(items)
        return len(self.items)


def test_no_target_can_receive_unchecked_or_quarantined_mail(contaminated, tmp_path):
    ws_path = tmp_path / "ws"
    _run(ws_path, "gather", "--account", ACCOUNT, str(contaminated.root))
    with Workspace(ws_path) as ws:
        merge_account(ws.db, ACCOUNT)  # merged, then killed before the check ran
        assert list(outgoing(ws, ACCOUNT)) == []  # unchecked mail never leaves
        recorder = _Recorder()
        result = restore(ws, ACCOUNT, recorder)
    markers = {_marker(i.raw) for i in recorder.items}
    assert markers == set(contaminated.own)
    assert result.quarantined == len(contaminated.foreign) == 4


def test_a_message_names_its_own_list_in_several_ways():
    fields = header_fields(
        b"List-Id: =?utf-8?q?Staff?= <staff.lists.example.co.jp>\n"
        b"List-Post: <mailto:staff@lists.example.co.jp?subject=x>\n"
        b"X-BeenThere: staff@lists.example.co.jp\n"
        b"X-ML-Name: kaigi\n"
        b"Subject: x\n\nbody\n"
    )
    assert list_marks(fields) == {"id:staff.lists.example.co.jp", "staff@lists.example.co.jp", "name:kaigi"}
    assert list_marks(header_fields(b"Subject: no list\n\nbody\n")) == frozenset()


def test_an_fml_list_post_without_delivered_to_stays_and_with_another_owner_is_held(tmp_path):
    """fml names its list only by X-ML-Name; the hop into it names kaigi@…, which is not a person."""
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    hop = b"Received: from x by fml.example.co.jp for <kaigi@example.co.jp>; Mon, 4 Jun 2012 1:00:00 +0900\n"
    post = b"X-ML-Name: kaigi\nX-Mail-Count: 00123\nFrom: a@example.org\nSubject: kaigi\n"
    (md / "cur" / "1.M1.x:2,S").write_bytes(hop + post + b"Message-ID: <p1@x>\n\nmarker-fml-stays\n")
    (md / "cur" / "2.M2.x:2,S").write_bytes(
        f"Delivered-To: {OTHER}\n".encode() + hop + post + b"Message-ID: <p2@x>\n\nmarker-fml-held\n")
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(md))
    target = tmp_path / "out"
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 3
    assert set(_restored(target)) == {"marker-fml-stays"}


def test_the_client_account_a_copy_was_filed_under_is_evidence(tmp_path):
    """A shared PC's mail client held jiro's account too: what was filed only there is his."""
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location(str(tmp_path / "profile"), "test", ACCOUNT)

        def filed(mid: str, hints: tuple[str, ...], position: str) -> None:
            raw = f"From: a@example.org\nSubject: {mid}\nMessage-ID: <{mid}@x>\n\nmarker-{mid}\n".encode()
            copy = Copy(raw=raw, folder="INBOX", source=str(tmp_path / "profile"), position=position,
                        account_hints=hints)  # fmt: skip
            _store_copy(ws, loc, ACCOUNT, copy)  # what gather does with each copy a plugin yields

        filed("his", ("Jiro Suzuki <Jiro@Other-Customer.example>",), "1")
        filed("mine", (f"Taro <{ACCOUNT}>",), "2")
        filed("both", ("jiro@other-customer.example",), "3")
        filed("both", (ACCOUNT,), "4")
        recorder = _Recorder()
        result = restore(ws, ACCOUNT, recorder)
        details = quarantine_details(ws, ACCOUNT)
    assert {_marker(i.raw) for i in recorder.items} == {"marker-mine", "marker-both"}
    assert result.held_back == [("his@x", "his", f"delivered to {OTHER} (client account), never to {ACCOUNT}")]
    assert [(e["field"], e["address"], e["position"]) for e in details[0]["evidence"]] == [
        ("client account", OTHER, "1")]  # fmt: skip


@pytest.mark.parametrize(("theirs_delivered_to", "restored"), [
    ((OTHER, ACCOUNT), b"marker-whole\n"),  # delivered to both: taro's too, and whole
    ((OTHER,), b"line "),  # only jiro's: taro's own copy, cut off as it is (the module's price)
])  # fmt: skip
def test_the_owners_cut_off_copy_loses_only_to_a_whole_copy_of_his_own(tmp_path, theirs_delivered_to, restored):
    body = b"".join(b"line %d\n" % i for i in range(100)) + b"marker-whole\n"
    head = b"From: a@example.org\nSubject: report\nDate: Mon, 4 Jun 2012 10:00:00 +0000\nMessage-ID: <r@x>\n\n"
    theirs = b"".join(f"Delivered-To: {a}\n".encode() for a in theirs_delivered_to)
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location(str(tmp_path / "backup"), "test", ACCOUNT)
        for position, raw, partial in (
            ("mine", f"Delivered-To: {ACCOUNT}\n".encode() + head + body[:40], True),
            ("theirs", theirs + head + body, False),
        ):
            _store_copy(ws, loc, ACCOUNT, Copy(raw=raw, folder="INBOX", source=str(tmp_path / "backup"),
                                                position=position, partial=partial))  # fmt: skip
        recorder = _Recorder()
        restore(ws, ACCOUNT, recorder)
    assert len(recorder.items) == 1 and recorder.items[0].raw.endswith(restored)


def test_a_verdict_made_by_older_rules_is_made_again_before_restoring(contaminated, tmp_path):
    """Stored verdicts hold between runs; a workspace from before a change of the rules
    (here: one whose verdicts wrongly let foreign mail through) is checked again."""
    ws_path = tmp_path / "ws"
    _run(ws_path, "gather", "--account", ACCOUNT, str(contaminated.root))
    with Workspace(ws_path) as ws:
        ensure_merged(ws, ACCOUNT)
        ws.db.execute("UPDATE messages SET status = 'ok', reason = ''")  # what older rules decided
        ws.db.execute("DELETE FROM migrations WHERE name = '004_recheck_ownership'")
    with Workspace(ws_path) as ws:  # the migration runs on opening
        recorder = _Recorder()
        result = restore(ws, ACCOUNT, recorder)
    assert {_marker(i.raw) for i in recorder.items} == set(contaminated.own)
    assert result.quarantined == len(contaminated.foreign) == 4


# --- ownership is a property of copies (issue 24, item 4) ----------------------------------

HANAKO = "hanako@other-customer.example"
_SENT_HEAD = (f"From: Taro <{ACCOUNT}>\nTo: {HANAKO}\nSubject: estimate\n"
              "Date: Tue, 5 Jun 2012 10:00:00 +0900\nMessage-ID: <estimate@example.co.jp>\n")  # fmt: skip
_BODY = "\nPlease find the estimate.\nmarker-estimate\n"
_HANAKOS_DELIVERY = (f"Return-Path: <{ACCOUNT}>\nDelivered-To: {HANAKO}\n"
                     "Received: from mx.example.co.jp (mx.example.co.jp [192.0.2.1])\n"
                     f"\tby mx.other-customer.example (Postfix) with ESMTP id 4A1B2C\n\tfor <{HANAKO}>; "
                     "Tue, 5 Jun 2012 10:00:02 +0900\n"
                     "Received: from [192.0.2.9] by mx.example.co.jp (Postfix) with ESMTPSA id 99AA;"
                     " Tue, 5 Jun 2012 10:00:01 +0900\n")  # fmt: skip


def _store(ws: Workspace, position: str, raw: str, folder: str = "INBOX",
           flags: frozenset = frozenset(), partial: bool = False) -> None:  # fmt: skip
    """A copy gathered for taro, as gather stores each copy a plugin yields."""
    source = f"/rescue/{position}"
    loc = ws.location(source, "test", ACCOUNT)
    _store_copy(ws, loc, ACCOUNT, Copy(raw=raw.encode(), folder=folder, source=source, position=position,
                                        flags=flags, partial=partial))  # fmt: skip


def _restore_copies(tmp_path: Path, copies: list[tuple]) -> tuple[list[Outgoing], object]:
    with Workspace(tmp_path / "ws") as ws:
        for args in copies:
            _store(ws, *args)
        recorder = _Recorder()
        result = restore(ws, ACCOUNT, recorder)
        assert ws.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1  # one mail, merged
    return recorder.items, result


@pytest.mark.parametrize("sent_first", [True, False])
def test_own_sent_copy_is_restored_whatever_a_foreign_delivered_copy_says(tmp_path, sent_first):
    """taro's Sent copy and hanako's delivered copy (from a contaminated area) of one mail."""
    sent = ("taro/Sent", _SENT_HEAD + _BODY, "Sent", frozenset({Flag.SEEN}))
    theirs = ("contaminated/hanako", _HANAKOS_DELIVERY + _SENT_HEAD + _BODY)
    items, result = _restore_copies(tmp_path, [sent, theirs] if sent_first else [theirs, sent])
    assert result.quarantined == 0 and result.held_back == []
    assert len(items) == 1
    assert items[0].raw == (_SENT_HEAD + _BODY).encode()  # taro's own copy: nothing of hanako's delivery
    assert items[0].folder == "Sent"


def test_own_draft_is_restored_whatever_a_foreign_copy_says(tmp_path):
    draft = ("taro/Drafts", _SENT_HEAD + _BODY, "Drafts", frozenset({Flag.DRAFT}))
    theirs = ("contaminated/hanako", _HANAKOS_DELIVERY + _SENT_HEAD + _BODY)
    items, result = _restore_copies(tmp_path, [theirs, draft])
    assert result.quarantined == 0
    assert [i.raw for i in items] == [(_SENT_HEAD + _BODY).encode()]
    assert Flag.DRAFT in items[0].flags


def test_own_delivered_copy_is_restored_not_the_better_ranked_foreign_one(tmp_path):
    head = (f"From: {HANAKO}\nTo: {ACCOUNT}, jiro@example.co.jp\nSubject: minutes\n"
            "Date: Tue, 5 Jun 2012 11:00:00 +0900\nMessage-ID: <minutes@other-customer.example>\n")
    mine = f"Delivered-To: {ACCOUNT}\n" + head + _BODY
    theirs = _HANAKOS_DELIVERY.replace(HANAKO, "jiro@example.co.jp") + head + _BODY  # more Received: ranks higher
    for order in ([("a", mine), ("b", theirs)], [("a", theirs), ("b", mine)]):
        items, result = _restore_copies(tmp_path / order[0][1][:5], order)
        assert result.quarantined == 0
        assert [i.raw for i in items] == [mine.encode()]


def test_a_foreign_copy_alone_is_still_quarantined_even_from_the_account(tmp_path):
    """hanako's delivered copy of taro's mail, with no copy of taro's own: not taro's to restore."""
    items, result = _restore_copies(tmp_path, [("contaminated/hanako", _HANAKOS_DELIVERY + _SENT_HEAD + _BODY)])
    assert items == [] and result.quarantined == 1
    assert result.held_back[0][2] == f"delivered to {HANAKO} (Delivered-To, Received … for), never to {ACCOUNT}"


def test_a_copy_without_evidence_that_taro_did_not_write_does_not_outweigh_a_foreign_one(tmp_path):
    """hanako's mail twice in the contaminated area: delivered, and as a header-less export."""
    head = (f"From: sender@example.org\nTo: {HANAKO}\nSubject: invoice\n"
            "Date: Tue, 5 Jun 2012 12:00:00 +0900\nMessage-ID: <invoice@example.org>\n")
    items, result = _restore_copies(tmp_path, [("export", head + _BODY), ("delivered", _HANAKOS_DELIVERY + head + _BODY)])
    assert items == [] and result.quarantined == 1
