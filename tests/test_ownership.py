"""The ownership check: a backup contaminated with another customer's mail (the 2012 case)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.fingerprint import summarize
from mailrecover.merge import merge_account
from mailrecover.merged import ensure_merged
from mailrecover.model import Copy, Flag
from mailrecover.ownership import (
    Clue,
    add_aliases,
    delivery_clues,
    names_account,
    quarantine_details,
    verdict,
)
from mailrecover.restore import outgoing, restore
from mailrecover.targets import Outgoing
from mailrecover.workspace import Workspace
from mailrecover.workspace.store import save_copy

from .support.builders import ACCOUNT, LIST, OTHER, build_contaminated, snapshot


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
    raw = (
        b"Received: from a by mx.example.co.jp for <taro@example.co.jp>; Mon, 1 Jun 2012 1:00:00 +0000\n"
        b"Received: from b by lists.example for <ml@lists.example>; Mon, 1 Jun 2012 0:59:00 +0000\n"
        b"Subject: x\n\nbody\n"
    )
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
    assert _run(ws, "--json", "report", "--html", str(html)) == 3  # it lists quarantined mail
    a = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]
    assert a["quarantined"] == 4
    held = {q["message_id"]: q for q in a["quarantine"]}
    assert set(held) == set(contaminated.foreign.values())
    first = held["marker-foreign-1@example.org"]
    assert first["subject"] == "<script>alert('pwned')</script> 見積"
    assert {(e["field"], e["address"]) for e in first["evidence"]} == {
        ("Delivered-To", OTHER),
        ("Received … for", OTHER),
    }
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
    assert _run(ws, "report") == 3
    text = capsys.readouterr().out
    assert "4 quarantined: delivered to other mailboxes, held back" in text
    assert "<marker-foreign-exim@example.org>" in text and "hanako@third.example (Envelope-To)" in text


def test_include_quarantined_restores_them_knowingly(contaminated, tmp_path, capsys):
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(contaminated.root))
    target = tmp_path / "Maildir"
    capsys.readouterr()
    status = _run(
        ws, "--json", "restore", "--include-quarantined", "--account", ACCOUNT, "--to", f"maildir:{target}"
    )
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


def test_an_fml_list_post_without_delivered_to_stays_and_with_another_owner_is_held(tmp_path):
    """fml names its list by X-ML-Name (its domain from To); the hop into it names kaigi@…, which
    is not a person."""
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    hop = b"Received: from x by fml.example.co.jp for <kaigi@example.co.jp>; Mon, 4 Jun 2012 1:00:00 +0900\n"
    post = b"X-ML-Name: kaigi\nX-Mail-Count: 00123\nFrom: a@example.org\nTo: kaigi@example.co.jp\nSubject: kaigi\n"
    (md / "cur" / "1.M1.x:2,S").write_bytes(hop + post + b"Message-ID: <p1@x>\n\nmarker-fml-stays\n")
    (md / "cur" / "2.M2.x:2,S").write_bytes(
        f"Delivered-To: {OTHER}\n".encode() + hop + post + b"Message-ID: <p2@x>\n\nmarker-fml-held\n"
    )
    ws = tmp_path / "ws"
    _run(ws, "gather", "--account", ACCOUNT, str(md))
    target = tmp_path / "out"
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 3
    assert set(_restored(target)) == {"marker-fml-stays"}


def test_an_fml_list_name_alone_does_not_make_a_mailbox_of_that_name_a_list(tmp_path):
    """``X-ML-Name: jiro`` without the list's domain must not hide jiro's own delivery; with
    the list's address (here in To) the hop into the list is no evidence."""
    hop = "Received: from x by mx.example for <{}>; Mon, 4 Jun 2012 1:00:00 +0900\n"
    head = hop.format(OTHER) + f"Delivered-To: {OTHER}\nX-ML-Name: jiro\n"
    assert _judge(tmp_path / "name", head, ACCOUNT) == (
        f"delivered to {OTHER} (Received … for, Delivered-To), never to {ACCOUNT}"
    )
    list_hop = hop.format("kaigi@lists.example") + "X-ML-Name: kaigi\nTo: kaigi@lists.example\n"
    assert _judge(tmp_path / "list", list_hop, ACCOUNT) is None


def test_the_client_account_a_copy_was_filed_under_is_evidence(tmp_path):
    """A shared PC's mail client held jiro's account too: what was filed only there is his."""
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location(str(tmp_path / "profile"), "test", ACCOUNT)

        def filed(mid: str, hints: tuple[str, ...], position: str) -> None:
            raw = f"From: a@example.org\nSubject: {mid}\nMessage-ID: <{mid}@x>\n\nmarker-{mid}\n".encode()
            copy = Copy(
                raw=raw,
                folder="INBOX",
                source=str(tmp_path / "profile"),
                position=position,
                account_hints=hints,
            )
            save_copy(
                ws, loc, ACCOUNT, copy, summarize(copy.raw)
            )  # what gather does with each copy a plugin yields

        filed("his", ("Jiro Suzuki <Jiro@Other-Customer.example>",), "1")
        filed("mine", (f"Taro <{ACCOUNT}>",), "2")
        filed("both", ("jiro@other-customer.example",), "3")
        filed("both", (ACCOUNT,), "4")
        recorder = _Recorder()
        result = restore(ws, ACCOUNT, recorder)
        details = quarantine_details(ws, ACCOUNT)
    assert {_marker(i.raw) for i in recorder.items} == {"marker-mine", "marker-both"}
    assert result.held_back == [
        ("his@x", "his", f"delivered to {OTHER} (client account), never to {ACCOUNT}")
    ]
    assert [(e["field"], e["address"], e["position"]) for e in details[0]["evidence"]] == [
        ("client account", OTHER, "1")
    ]


@pytest.mark.parametrize(
    ("theirs_delivered_to", "restored"),
    [
        ((OTHER, ACCOUNT), b"marker-whole\n"),  # delivered to both: taro's too, and whole
        ((OTHER,), b"line "),  # only jiro's: taro's own copy, cut off as it is (the module's price)
    ],
)
def test_the_owners_cut_off_copy_loses_only_to_a_whole_copy_of_his_own(
    tmp_path, theirs_delivered_to, restored
):
    body = b"".join(b"line %d\n" % i for i in range(100)) + b"marker-whole\n"
    head = (
        b"From: a@example.org\nSubject: report\nDate: Mon, 4 Jun 2012 10:00:00 +0000\nMessage-ID: <r@x>\n\n"
    )
    theirs = b"".join(f"Delivered-To: {a}\n".encode() for a in theirs_delivered_to)
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location(str(tmp_path / "backup"), "test", ACCOUNT)
        for position, raw, partial in (
            ("mine", f"Delivered-To: {ACCOUNT}\n".encode() + head + body[:40], True),
            ("theirs", theirs + head + body, False),
        ):
            save_copy(
                ws,
                loc,
                ACCOUNT,
                Copy(
                    raw=raw,
                    folder="INBOX",
                    source=str(tmp_path / "backup"),
                    position=position,
                    partial=partial,
                ),
                summarize(raw),
            )
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
_SENT_HEAD = (
    f"From: Taro <{ACCOUNT}>\nTo: {HANAKO}\nSubject: estimate\n"
    "Date: Tue, 5 Jun 2012 10:00:00 +0900\nMessage-ID: <estimate@example.co.jp>\n"
)
_BODY = "\nPlease find the estimate.\nmarker-estimate\n"
_HANAKOS_DELIVERY = (
    f"Return-Path: <{ACCOUNT}>\nDelivered-To: {HANAKO}\n"
    "Received: from mx.example.co.jp (mx.example.co.jp [192.0.2.1])\n"
    f"\tby mx.other-customer.example (Postfix) with ESMTP id 4A1B2C\n\tfor <{HANAKO}>; "
    "Tue, 5 Jun 2012 10:00:02 +0900\n"
    "Received: from [192.0.2.9] by mx.example.co.jp (Postfix) with ESMTPSA id 99AA;"
    " Tue, 5 Jun 2012 10:00:01 +0900\n"
)


def _store(
    ws: Workspace,
    position: str,
    raw: str,
    folder: str = "INBOX",
    flags: frozenset = frozenset(),
    partial: bool = False,
) -> None:
    """A copy gathered for taro, as gather stores each copy a plugin yields."""
    source = f"/rescue/{position}"
    loc = ws.location(source, "test", ACCOUNT)
    save_copy(
        ws,
        loc,
        ACCOUNT,
        Copy(raw=raw.encode(), folder=folder, source=source, position=position, flags=flags, partial=partial),
        summarize(raw.encode()),
    )


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
    head = (
        f"From: {HANAKO}\nTo: {ACCOUNT}, jiro@example.co.jp\nSubject: minutes\n"
        "Date: Tue, 5 Jun 2012 11:00:00 +0900\nMessage-ID: <minutes@other-customer.example>\n"
    )
    mine = f"Delivered-To: {ACCOUNT}\n" + head + _BODY
    theirs = (
        _HANAKOS_DELIVERY.replace(HANAKO, "jiro@example.co.jp") + head + _BODY
    )  # more Received: ranks higher
    for order in ([("a", mine), ("b", theirs)], [("a", theirs), ("b", mine)]):
        items, result = _restore_copies(tmp_path / order[0][1][:5], order)
        assert result.quarantined == 0
        assert [i.raw for i in items] == [mine.encode()]


def test_a_foreign_copy_alone_is_still_quarantined_even_from_the_account(tmp_path):
    """hanako's delivered copy of taro's mail, with no copy of taro's own: not taro's to restore."""
    items, result = _restore_copies(
        tmp_path, [("contaminated/hanako", _HANAKOS_DELIVERY + _SENT_HEAD + _BODY)]
    )
    assert items == [] and result.quarantined == 1
    assert (
        result.held_back[0][2] == f"delivered to {HANAKO} (Delivered-To, Received … for), never to {ACCOUNT}"
    )


def test_a_copy_without_evidence_that_taro_did_not_write_does_not_outweigh_a_foreign_one(tmp_path):
    """hanako's mail twice in the contaminated area: delivered, and as a header-less export."""
    head = (
        f"From: sender@example.org\nTo: {HANAKO}\nSubject: invoice\n"
        "Date: Tue, 5 Jun 2012 12:00:00 +0900\nMessage-ID: <invoice@example.org>\n"
    )
    copies = [("export", head + _BODY), ("delivered", _HANAKOS_DELIVERY + head + _BODY)]
    items, result = _restore_copies(tmp_path, copies)
    assert items == [] and result.quarantined == 1


# --- real delivery headers, and the verdict each must give (issue 16) -----------------------

_D = "Tue, 5 Jun 2012 10:00:00 +0900 (JST)"
_SENDER = "from mail.sender.example (mail.sender.example [192.0.2.7])"


def _postfix(rcpt: str = "") -> str:
    return f"Received: {_SENDER}\n\tby mx.example.co.jp (Postfix) with ESMTP id 4A1B2C3D\n" + (
        f"\tfor <{rcpt}>; {_D}\n" if rcpt else f"\t; {_D}\n"
    )


def _sendmail(rcpt: str = "") -> str:
    return (
        f"Received: {_SENDER}\n\t(authenticated bits=0)\n"
        "\t(version=TLSv1/SSLv3 cipher=DHE-RSA-AES256-SHA bits=256 verify=NO)\n"
        "\tby mx.example.co.jp (8.14.4/8.14.4) with ESMTP id q54A0xYZ012345"
        + (f"\n\tfor <{rcpt}>; {_D}\n" if rcpt else f"; {_D}\n")
    )


def _exim(rcpt: str = "") -> str:
    return (
        "Received: from mail.sender.example ([192.0.2.7])\n\tby mx.example.co.jp with esmtp (Exim 4.80)\n"
        "\t(envelope-from <a@sender.example>)\n\tid 1SbXYZ-0001ab-Cd"
        + (f"\n\tfor {rcpt}; {_D}\n" if rcpt else f"; {_D}\n")
    )


_QMAIL = (
    "Received: (qmail 12345 invoked by uid 89); 5 Jun 2012 01:00:00 -0000\n"
    "Received: from unknown (HELO mail.sender.example) (192.0.2.7)\n"
    "  by mx.example.co.jp with SMTP; 5 Jun 2012 01:00:00 -0000\n"
)
_SUN = "Sun Java(tm) System Messaging Server 6.3-7.04 (built Sep 26 2008; 64bit)"


def _sun(mailbox: str, orcpt: str = "", store_hop: bool = True) -> str:
    """iPlanet's store hop (no ``for``) over the hop that names the store's internal mailbox."""
    return (
        "Return-path: <a@sender.example>\n"
        + (
            f"Received: from ims-ms-daemon.post.example.de by post.example.de\n ({_SUN})\n"
            f" id <0M5B00A01@post.example.de>; Tue, 05 Jun 2012 10:00:01 +0200 (CEST)\n"
            if store_hop
            else ""
        )
        + f"Received: from mail.sender.example ([192.0.2.7])\n by post.example.de ({_SUN})\n"
        f" with ESMTP id <0M5B00A02@post.example.de> for {mailbox}"
        + (f" (ORCPT {orcpt})" if orcpt else "")
        + "; Tue, 05 Jun 2012 10:00:00 +0200 (CEST)\n"
    )


_ORACLE = "Oracle Communications Messaging Server 7.0.5.38.0 64bit (built Feb 26 2016)"


def _oracle(rcpt: str) -> str:
    return (
        f"Received: from mr28p00im-smtpin041.example.com ([17.110.71.40])\n by ms42013.example.com\n"
        f" ({_ORACLE}) with ESMTP id <0OQG00ITK7QVOV40@ms42013.example.com> for\n {rcpt}; {_D}\n"
        f"Original-recipient: rfc822;{rcpt}\n"
    )


_EXCHANGE = (
    "Received: from EXCH01.corp.example.co.jp (10.0.0.1) by EXCH02.corp.example.co.jp\n"
    " (10.0.0.2) with Microsoft SMTP Server (TLS) id 15.1.2176.2 via Mailbox Transport;\n"
    f" {_D}\nReceived: from mail.sender.example (192.0.2.7) by EXCH01.corp.example.co.jp\n"
    f" (10.0.0.1) with Microsoft SMTP Server id 15.1.2176.2 via Frontend Transport; {_D}\n"
)
_M365 = (
    "Received: from TY2PR01MB1234.jpnprd01.prod.outlook.com (2603:1096:404:11::12) by\n"
    f" TY2PR01MB5678.jpnprd01.prod.outlook.com with HTTPS; {_D}\n"
    "Received: from mail.sender.example ([192.0.2.7]) by exch.example.co.jp with\n"
    f" Microsoft SMTPSVC(6.0.3790.4675); {_D}\n"
)


def _gmail(mailbox: str) -> str:
    return (
        f"Delivered-To: {mailbox}\n"
        f"Received: by 2002:a05:6a10:a0d1:0:0:0:0 with SMTP id x17csp123456pxb;\n        {_D}\n"
        f"Received: from mail.sender.example (mail.sender.example. [192.0.2.7])\n"
        f"        by mx.google.com with ESMTPS id a1si123456pgb.123.2012.06.05.01.00.00\n"
        f"        for <{mailbox}>\n"
        f"        (version=TLS1_2 cipher=ECDHE-RSA-AES128-GCM-SHA256 bits=128/128);\n        {_D}\n"
    )


def _lmtp(rcpt: str, delivered: str = "") -> str:
    return (
        "Return-Path: <a@sender.example>\n"
        + (f"Delivered-To: {delivered}\n" if delivered else "")
        + "Received: from mx.example.co.jp\n\tby mail.example.co.jp with LMTP\n"
        f"\tid GAuPLTTd1l9ObgAA1p2xrw\n\t(envelope-from <a@sender.example>)\n\tfor <{rcpt}>; {_D}\n"
    )


HANAKO_JP = "hanako@example.co.jp"  # the same hosting customer's domain, another mailbox
OWNER_DE = "owner@example.de"
# (case, header lines, account, addresses the verdict must name against it; () = restored)
DELIVERY_FORMS = [
    ("postfix for", _postfix(ACCOUNT), ACCOUNT, ()),
    ("postfix for other", _postfix(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
    (
        "postfix local: Delivered-To, X-Original-To alias",
        f"X-Original-To: info@example.co.jp\nDelivered-To: {ACCOUNT}\n" + _postfix(),
        ACCOUNT,
        (),
    ),
    (
        "postfix +tag",
        "X-Original-To: taro+shop@example.co.jp\nDelivered-To: taro+shop@example.co.jp\n"
        + _postfix("taro+shop@example.co.jp"),
        ACCOUNT,
        (),
    ),
    ("postfix several recipients: no for", _postfix(), ACCOUNT, ()),
    (
        "postfix several recipients, delivered to other",
        f"Delivered-To: {HANAKO_JP}\n" + _postfix(),
        ACCOUNT,
        (HANAKO_JP,),
    ),
    ("sendmail for", _sendmail(ACCOUNT), ACCOUNT, ()),
    ("sendmail for other", _sendmail(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
    ("sendmail without for", _sendmail(), ACCOUNT, ()),
    ("sendmail +tag", _sendmail("Taro+Orders@Example.CO.JP"), ACCOUNT, ()),
    ("exim for, Envelope-to", f"Envelope-to: {ACCOUNT}\n" + _exim(ACCOUNT), ACCOUNT, ()),
    ("exim for other", _exim(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
    ("exim Envelope-to other, no for", f"Envelope-to: {HANAKO_JP}\n" + _exim(), ACCOUNT, (HANAKO_JP,)),
    ("qmail virtual domain", "Delivered-To: example.co.jp-taro@example.co.jp\n" + _QMAIL, ACCOUNT, ()),
    (
        "qmail virtual domain other",
        "Delivered-To: example.co.jp-hanako@example.co.jp\n" + _QMAIL,
        ACCOUNT,
        ("example.co.jp-hanako@example.co.jp",),
    ),
    ("qmail: an earlier hop's for is no evidence", _QMAIL + _postfix(HANAKO_JP), ACCOUNT, ()),
    (
        "sun ims-ms internal name with ORCPT, the topmost hop (issue 16)",
        _sun("tp517810?post.example.de@ims-ms-daemon", "rfc822;Owner@example.de", False),
        OWNER_DE,
        (),
    ),
    (
        "sun ims-ms internal name with ORCPT of another, the topmost hop",
        _sun("tp517811?post.example.de@ims-ms-daemon", "rfc822;hanako@example.de", False),
        OWNER_DE,
        ("hanako@example.de",),
    ),
    (
        "sun ims-ms internal name with ORCPT",
        _sun("tp517810?post.example.de@ims-ms-daemon", "rfc822;Owner@example.de"),
        OWNER_DE,
        (),
    ),
    (
        "sun ims-ms internal name with ORCPT of another",
        _sun("tp517811?post.example.de@ims-ms-daemon", "rfc822;hanako@example.de"),
        OWNER_DE,
        ("hanako@example.de",),
    ),
    ("sun ims-ms internal name alone", _sun("tp517810?post.example.de@ims-ms-daemon"), OWNER_DE, ()),
    ("sun old sims-ms-daemon", _sun("Owner@sims-ms-daemon", "rfc822;Owner@example.de"), OWNER_DE, ()),
    (
        "a sender's HELO posing as the store's hop: the hop below stays no evidence",
        f"Delivered-To: {HANAKO_JP}\nReceived: from ims-ms-daemon (mail.evil.example [192.0.2.66])\n"
        f"\tby mx.example.co.jp ({_SUN}) with ESMTP id 4A1B; {_D}\n" + _postfix(ACCOUNT),
        ACCOUNT,
        (HANAKO_JP,),
    ),
    (
        "sun ORCPT without type",
        _sun("tp517810?post.example.de@ims-ms-daemon", "Owner@example.de"),
        OWNER_DE,
        (),
    ),
    ("oracle for, Original-recipient", _oracle(ACCOUNT), ACCOUNT, ()),
    ("oracle for other", _oracle(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
    ("exchange: no for", _EXCHANGE, ACCOUNT, ()),
    ("microsoft 365 / SMTPSVC: no for", _M365, ACCOUNT, ()),
    ("gmail", _gmail("taro@gmail.com"), "taro@gmail.com", ()),
    ("gmail other", _gmail("hanako@gmail.com"), "taro@gmail.com", ("hanako@gmail.com",)),
    (
        "gmail forwarded from the account",
        _gmail("taro.fwd@gmail.com") + f"Delivered-To: {ACCOUNT}\n" + _postfix(ACCOUNT),
        ACCOUNT,
        (),
    ),
    ("dovecot lmtp", _lmtp(ACCOUNT, ACCOUNT), ACCOUNT, ()),
    ("dovecot lmtp +tag", _lmtp("taro+shop@example.co.jp", "taro+shop@example.co.jp"), ACCOUNT, ()),
    ("dovecot lmtp other", _lmtp(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
    ("dovecot lmtp quoted local part", _lmtp('"taro"@example.co.jp'), ACCOUNT, ()),
    ("dovecot lmtp trailing dot", _lmtp("taro@example.co.jp."), ACCOUNT, ()),
    (
        "several recipients in one for, one is the account",
        f"Received: {_SENDER}\n\tby mx.example.co.jp with ESMTP\n\tfor <{HANAKO_JP}>, <{ACCOUNT}>; {_D}\n",
        ACCOUNT,
        (),
    ),
    (
        "several recipients in one for, none is the account",
        f"Received: {_SENDER}\n\tby mx.example.co.jp with ESMTP\n\tfor <{HANAKO_JP}>, jiro@example.co.jp; {_D}\n",
        ACCOUNT,
        (HANAKO_JP, "jiro@example.co.jp"),
    ),
    (
        "list post named by X-Mailing-List: the hop into the list is no evidence",
        _postfix("staff@lists.example") + "X-Mailing-List: <staff@lists.example> archive/latest/12\n",
        ACCOUNT,
        (),
    ),
    (
        "list post delivered to another member",
        f"Delivered-To: {HANAKO_JP}\n"
        + _postfix("staff@lists.example")
        + "List-Post: <mailto:staff@lists.example>\n",
        ACCOUNT,
        (HANAKO_JP,),
    ),
    ("a header block after a UTF-8 byte order mark", "\ufeff" + _postfix(HANAKO_JP), ACCOUNT, (HANAKO_JP,)),
]


def _judged(head: str) -> bytes:
    return (
        head + "From: sender@example.org\nTo: someone@example.org\nSubject: x\n"
        "Date: Tue, 5 Jun 2012 01:00:00 +0000\nMessage-ID: <x@example.org>\n\nmarker-x\n"
    ).encode()


def _judge(tmp_path: Path, head: str, account: str, aliases: tuple[str, ...] = ()) -> str | None:
    """The verdict the check stores for one copy gathered for ``account``: None when restored."""
    raw = _judged(head)
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location("/rescue", "test", account)
        save_copy(
            ws, loc, account, Copy(raw=raw, folder="INBOX", source="/rescue", position="1"), summarize(raw)
        )
        if aliases:
            add_aliases(ws, account, aliases)
        recorder = _Recorder()
        result = restore(ws, account, recorder)
    assert len(recorder.items) + result.quarantined == 1
    return result.held_back[0][2] if result.held_back else None


@pytest.mark.parametrize(
    ("head", "account", "against"), [c[1:] for c in DELIVERY_FORMS], ids=[c[0] for c in DELIVERY_FORMS]
)
def test_real_delivery_headers_give_the_right_verdict(tmp_path, head, account, against):
    reason = _judge(tmp_path, head, account)
    if not against:
        assert reason is None
    else:
        assert reason is not None and reason.endswith(f", never to {account}")
        assert sorted(re.findall(r"([^\s,]+@[^\s,]+) \(", reason)) == sorted(against)


@pytest.mark.parametrize("gathered_before", [False, True], ids=["as gathered now", "gathered before 015"])
@pytest.mark.parametrize(
    ("head", "account", "against"), [c[1:] for c in DELIVERY_FORMS], ids=[c[0] for c in DELIVERY_FORMS]
)
def test_the_check_weighs_the_clues_gather_stored_without_reading_the_copy(
    tmp_path, monkeypatch, head, account, against, gathered_before
):
    """Gather reads a copy's header once and stores its clues: the check never reads the copy
    again, and a copy gathered before they were stored is read from its bytes, to the same verdict."""
    raw = _judged(head)
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location("/rescue", "test", account)
        save_copy(
            ws, loc, account, Copy(raw=raw, folder="INBOX", source="/rescue", position="1"), summarize(raw)
        )
        if gathered_before:
            ws.db.execute("UPDATE copies SET clues = NULL")
        else:

            def read_again(self: Workspace, blob: str) -> bytes:
                raise AssertionError(f"copy {blob} read again")

            monkeypatch.setattr(Workspace, "raw", read_again)
        ensure_merged(ws, account)
        [(status, reason)] = ws.db.execute("SELECT status, reason FROM messages").fetchall()
    assert status == ("quarantined" if against else "ok")
    assert sorted(re.findall(r"([^\s,]+@[^\s,]+) \(", reason)) == sorted(against)


# --- aliases: addresses the administrator says are the account's (issue 24) ------------------

OLD_DOMAIN = "taro@old-hosting.example"
ALIAS_FORMS = [
    (
        "an old domain the customer moved from",
        f"Delivered-To: {OLD_DOMAIN}\n" + _postfix(OLD_DOMAIN),
        OLD_DOMAIN,
    ),
    (
        "info@ delivered to taro, only in X-Original-To",
        "X-Original-To: info@example.co.jp\n" + _postfix("info@example.co.jp"),
        "info@example.co.jp",
    ),
    ("a host name of the domain", "Delivered-To: taro@mail.example.co.jp\n", "taro@mail.example.co.jp"),
    ("an alias's +tag", "Delivered-To: info+shop@example.co.jp\n", "Info@Example.co.jp."),
]


@pytest.mark.parametrize(("head", "alias"), [c[1:] for c in ALIAS_FORMS], ids=[c[0] for c in ALIAS_FORMS])
def test_an_alias_counts_as_the_account_and_nothing_else_does(tmp_path, head, alias):
    assert _judge(tmp_path / "without", head, ACCOUNT) is not None  # someone else's, until said otherwise
    assert _judge(tmp_path / "with", head, ACCOUNT, (alias,)) is None
    assert _judge(tmp_path / "other", head, ACCOUNT, ("someone@else.example",)) is not None


def test_aliases_are_kept_shown_and_a_new_one_has_the_check_run_again(tmp_path, capsys):
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    for n, (head, _alias) in enumerate([(c[1], c[2]) for c in ALIAS_FORMS[:3]]):
        (md / "cur" / f"{n}.M{n}.x:2,S").write_text(
            head + f"From: a@example.org\nSubject: {n}\nMessage-ID: <{n}@x>\n\nmarker-alias-{n}\n"
        )
    ws, target = tmp_path / "ws", tmp_path / "out"
    assert (
        _run(ws, "gather", "--account", ACCOUNT, "--alias", f'"taro"@{OLD_DOMAIN.split("@")[1]}.', str(md))
        == 0
    )
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 3  # two held back
    assert set(_restored(target)) == {"marker-alias-0"}
    capsys.readouterr()
    assert (
        _run(
            ws,
            "--json",
            "restore",
            "--account",
            ACCOUNT,
            "--to",
            f"maildir:{target}",
            "--alias",
            "info@example.co.jp",
            "--alias",
            "taro@mail.example.co.jp",
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["written"] == 2
    assert set(_restored(target)) == {"marker-alias-0", "marker-alias-1", "marker-alias-2"}
    assert _run(ws, "--json", "report") == 0
    aliases = ["info@example.co.jp", "taro@mail.example.co.jp", OLD_DOMAIN]  # in order
    assert json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]["aliases"] == aliases
    assert _run(ws, "report") == 0
    assert f"also known as {', '.join(aliases)}" in capsys.readouterr().out


def test_an_alias_that_is_no_address_is_a_usage_error(tmp_path, capsys):
    md = tmp_path / "Maildir"
    md.mkdir()
    assert (
        _run(tmp_path / "ws", "gather", "--account", ACCOUNT, "--alias", "old-domain.example", str(md)) == 2
    )
    assert "--alias 'old-domain.example': not a mail address" in capsys.readouterr().err
    assert _run(tmp_path / "ws", "gather", "--alias", OLD_DOMAIN, str(md)) == 2
    assert (
        _run(
            tmp_path / "ws",
            "restore",
            "--account",
            "nobody@example.co.jp",
            "--alias",
            OLD_DOMAIN,
            "--to",
            f"maildir:{tmp_path / 'out'}",
        )
        == 2
    )
    assert "holds no mail of 'nobody@example.co.jp'" in capsys.readouterr().err
    with Workspace(tmp_path / "ws") as ws:
        assert ws.db.execute("SELECT count(*) FROM aliases").fetchone()[0] == 0


# --- evasions closed (issue 24) ------------------------------------------------------------


def test_a_saved_message_with_a_byte_order_mark_is_judged_on_its_first_field(tmp_path):
    """Windows tools save .eml files with a UTF-8 BOM: it must not hide the Delivered-To after it."""
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "a.eml").write_bytes(
        b"\xef\xbb\xbfDelivered-To: " + OTHER.encode() + b"\r\nFrom: a@example.org\r\n"
        b"Subject: bom\r\nMessage-ID: <bom@x>\r\n\r\nmarker-bom\r\n"
    )
    ws, target = tmp_path / "ws", tmp_path / "out"
    assert _run(ws, "gather", "--account", ACCOUNT, str(saved)) == 0
    assert _run(ws, "restore", "--account", ACCOUNT, "--to", f"maildir:{target}") == 3
    assert _restored(target) == {}


def test_copies_summarised_by_an_older_gather_are_read_again(tmp_path):
    """Migration 007: a copy whose stored delivery addresses missed ``for <a>, <b>;`` (older
    rules stored none) has its header read again by the next check, and the result kept."""
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.M1.x:2,S").write_text(
        f"Received: {_SENDER}\n\tby mx.example for <{OTHER}>, <{HANAKO}>; {_D}\n"
        "From: a@example.org\nSubject: two\nMessage-ID: <two@x>\n\nmarker-two\n"
    )
    ws_path = tmp_path / "ws"
    _run(ws_path, "gather", "--account", ACCOUNT, str(md))
    with Workspace(ws_path) as ws:
        ensure_merged(ws, ACCOUNT)
        ws.db.execute("UPDATE copies SET delivered_to = '[]'")  # what older rules found
        ws.db.execute("UPDATE messages SET status = 'ok', reason = ''")
        ws.db.execute("DROP TABLE aliases")
        ws.db.execute("DELETE FROM migrations WHERE name = '007_aliases'")
    with Workspace(ws_path) as ws:  # the migration runs on opening
        result = restore(ws, ACCOUNT, _Recorder())
        stored = ws.db.execute("SELECT delivered_to FROM copies").fetchone()[0]
    assert result.quarantined == 1
    assert json.loads(stored) == [OTHER, HANAKO]  # kept: the next check reads no header again
