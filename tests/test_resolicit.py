"""Asking people again: who is uncertain on a list, the invitation drafts, the resend requests."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.members import reconstruct
from mailrecover.model import Evidence
from mailrecover.resolicit import INVITATION_FIELDS, RESEND_FIELDS, uncertain

from .support.builders import snapshot
from .support.lists_builders import BounceRecord, mailman2_pickle, s

LIST = "dev@lists.example.org"


def _run(ws: Path, *args: str) -> int:
    return main(["--workspace", str(ws), *args])


def _ev(
    kind: str,
    address: str,
    when: datetime,
    source: str = "/var/lib/mailman/logs/subscribe",
    manager: str = "mailman2",
    **fields: str,
) -> Evidence:
    return Evidence(kind, source, "1", when, {"list": LIST, "address": address, "manager": manager, **fields})


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_uncertain_names_weak_and_old_evidence_with_the_reasons():
    evidence = [
        _ev("subscribe", "sure@example.com", _utc(2012, 5, 1)),
        _ev("post", "poster@example.com", _utc(2012, 5, 2), manager="mail"),
        _ev("received", "mailonly@example.com", _utc(2012, 5, 3), manager="mail"),
        _ev(
            "subscribe",
            "rotated@example.com",
            _utc(2012, 1, 3),
            source="/var/lib/mailman/logs/subscribe.1.gz",
        ),
        _ev("subscribe", "old@example.com", _utc(2010, 1, 3)),
        _ev("subscribe", "bouncer@example.com", _utc(2012, 1, 3)),
        _ev("bounce", "bouncer@example.com", _utc(2012, 5, 4), manager="mail"),
        _ev("subscribe", "gone@example.com", _utc(2012, 1, 3)),
        _ev("unsubscribe", "gone@example.com", _utc(2012, 2, 3)),
        _ev("subscribe", "ghost@example.com", _utc(2012, 1, 3)),
        _ev("unsubscribe", "ghost@example.com", _utc(2012, 2, 3)),
        _ev(
            "member",
            "ghost@example.com",
            _utc(2012, 3, 3),
            source="/lists/dev/config.pck",
            snapshot="x#config",
        ),
    ]
    found = {m.address: reasons for m, reasons in uncertain(reconstruct(evidence)[LIST])}
    assert set(found) == {
        "poster@example.com",
        "mailonly@example.com",
        "rotated@example.com",
        "old@example.com",
        "bouncer@example.com",
        "ghost@example.com",
    }
    assert found["poster@example.com"] == ["only seen posting to the list: never recorded as a member"]
    assert found["mailonly@example.com"] == ["only seen in list mail, in no list manager's file"]
    assert found["rotated@example.com"] == ["only in a rotated log"]
    assert found["old@example.com"] == ["last seen 2010-01-03, long before the list's newest record"]
    assert found["bouncer@example.com"] == ["mail to this address bounced"]
    assert found["ghost@example.com"] == [
        "sources disagree: 2012-02-03 unsubscribed, but still on a member list of 2012-03-03"
    ]


def _mailman_tree(root: Path) -> Path:
    """A Mailman 2 list: an owner, a sure member, a bounce-disabled one, one only in a rotated log."""
    var = root / "mailman"
    d = var / "lists" / "dev"
    d.mkdir(parents=True)
    (d / "config.pck").write_bytes(
        mailman2_pickle(
            {
                s("_internal_name"): s("dev"),
                s("host_name"): s("lists.example.org"),
                s("members"): {s("ann@example.com"): 0, s("eve@example.com"): 0, s("rok@example.jp"): 0},
                s("usernames"): {s("rok@example.jp"): "山田 六郎", s("eve@example.com"): "Eve\x1b[2J"},
                s("delivery_status"): {s("eve@example.com"): (4, 1331100000.0)},
                s("bounce_info"): {s("eve@example.com"): BounceRecord(score=5.0)},
                s("owner"): [s("boss@example.org")],
            }
        )
    )
    (var / "logs").mkdir()
    (var / "logs" / "subscribe.1").write_text(
        "Jan 10 10:00:00 2012 (1) dev: new rok@example.jp, admin mass sub\n"
    )
    (var / "logs" / "subscribe").write_text(
        "Mar 10 10:00:00 2012 (1) dev: new ann@example.com, via web confirmation\n"
    )
    t = _utc(2012, 6, 1).timestamp()
    os.utime(d / "config.pck", (t, t))
    return var


@pytest.fixture
def lists_ws(tmp_path, capsys):
    src = _mailman_tree(tmp_path / "src")
    before = snapshot(src)
    ws = tmp_path / "ws"
    assert _run(ws, "gather", str(src)) == 0
    capsys.readouterr()
    yield ws
    assert snapshot(src) == before


def test_members_uncertain_lists_each_address_with_why(lists_ws, capsys):
    assert _run(lists_ws, "members", "--list", LIST, "--uncertain") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["address"], r["status"]) for r in rows] == [("eve@example.com", "member-bouncing")]
    assert rows[0]["reasons"] == "mail to this address bounced (delivery stopped for bounces)"
    assert _run(lists_ws, "--json", "members", "--list", LIST, "--uncertain") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["reasons"] == ["mail to this address bounced (delivery stopped for bounces)"]


def _open(path: Path) -> email.message.Message:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)


def _text(msg: email.message.Message) -> tuple[str, str]:
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return subject, payload.decode(msg.get_content_charset() or "ascii")


def test_invitation_drafts_are_ready_to_send_iso_2022_jp_with_every_placeholder_filled(
    lists_ws, tmp_path, capsys
):
    out = tmp_path / "drafts"
    assert _run(lists_ws, "members", "--list", LIST, "--draft-invitations", str(out), "--all") == 0
    assert "3 drafts written" in capsys.readouterr().out
    emls = sorted(out.glob("*.eml"))
    assert [p.name for p in emls] == [
        "0001-eve@example.com.eml",
        "0002-ann@example.com.eml",
        "0003-rok@example.jp.eml",
    ]
    tokens = {r["address"]: r for r in csv.DictReader(io.StringIO((out / "tokens.csv").read_text()))}
    for path in emls:
        msg = _open(path)
        assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "iso-2022-jp"
        assert (
            msg["Content-Transfer-Encoding"] == "7bit" and max(path.read_bytes()) < 0x80
        )  # as Japanese mailers expect
        subject, body = _text(msg)
        to = email.utils.parseaddr(str(email.header.make_header(email.header.decode_header(msg["To"]))))
        address = to[1]
        token = tokens[address]["token"]
        assert msg["X-Mailrecover-Token"] == token and tokens[address]["file"] == path.name
        assert subject.startswith(
            "【dev】メーリングリスト登録確認のお願い / Please confirm your subscription to dev@lists.example.org"
        )
        assert subject.endswith(f"[{token}]")
        assert msg["From"] == "boss@example.org" and msg["Reply-To"] == "boss@example.org"
        assert "$" not in body and "${" not in subject
        assert f"確認番号: {token}" in body and f"Confirmation code: {token}" in body
        assert '"subscribe" to dev-request@lists.example.org' in body
        assert "\x1b" not in body and "\x1b" not in str(msg["To"])
    subject, body = _text(_open(out / "0003-rok@example.jp.eml"))
    assert (
        body.startswith("山田 六郎 様\n")
        and "  2012-01-10 subscribed\n  2012-06-01 on the member list\n" in body
    )
    assert "/src/" not in body  # where the owner found a record is no business of the person asked
    assert "everyone on the list is being asked" in body
    _, body = _text(_open(out / "0001-eve@example.com.eml"))
    assert "  - mail to this address bounced (delivery stopped for bounces)" in body
    # the owner's edited drafts are never overwritten
    assert _run(lists_ws, "members", "--list", LIST, "--draft-invitations", str(out)) == 1
    assert "exists already" in capsys.readouterr().err


def test_own_template_every_placeholder_and_unknown_ones_refused(lists_ws, tmp_path, capsys):
    template = tmp_path / "mine.txt"
    template.write_text(
        "Subject: Still with ${list_name}? ✓\n\n" + "".join(f"{k}=[${{{k}}}]\n" for k in INVITATION_FIELDS)
    )
    out = tmp_path / "drafts"
    assert (
        _run(
            lists_ws, "members", "--list", LIST, "--draft-invitations", str(out), "--template", str(template)
        )
        == 0
    )
    [path] = out.glob("*.eml")
    msg = _open(path)
    assert msg.get_content_charset() == "utf-8"  # ✓ is not in ISO-2022-JP
    subject, body = _text(msg)
    assert subject.startswith("Still with dev? ✓ [")
    values = dict(line.split("=", 1) for line in body.splitlines() if "=[" in line)
    assert set(values) == set(INVITATION_FIELDS)
    assert all(v.startswith("[") and len(v) > 2 for v in values.values()), values
    assert values["address"] == "[eve@example.com]" and values["status"] == "[member-bouncing]"

    template.write_text("Subject: hi\n\nDear ${nmae}\n")
    assert (
        _run(
            lists_ws,
            "members",
            "--list",
            LIST,
            "--draft-invitations",
            str(tmp_path / "d2"),
            "--template",
            str(template),
        )
        == 2
    )
    assert "unknown placeholder '${nmae}'" in capsys.readouterr().err
    assert not (tmp_path / "d2").exists()


def _postfix_log(path: Path) -> None:
    """Three messages delivered to taro, their subjects logged by header_checks WARN."""
    lines = []
    mails = [
        ("A1", "a1@example.net", "alice@example.net", "Dec 30 09:00:0{}", "会議のお知らせ"),
        ("A2", "a2@example.net", "alice@example.net", "Dec 31 10:00:0{}", "Minutes, May"),
        ("B1", "b1@example.org", "bob@example.org", "Dec 31 11:00:0{}", "kept one"),
    ]
    for qid, mid, sender, stamp, subject in mails:
        q = f"{qid}AAAAAAAA"
        lines += [
            f"{stamp.format(0)} mx postfix/smtpd[1]: {q}: client=mx.example.net[198.51.100.20]",
            f"{stamp.format(0)} mx postfix/cleanup[2]: {q}: message-id=<{mid}>",
            f"{stamp.format(0)} mx postfix/cleanup[2]: {q}: warning: header Subject: {Header(subject, 'iso-2022-jp').encode()}"
            f" from mx.example.net[198.51.100.20]; from=<{sender}> to=<taro@example.jp> proto=ESMTP helo=<mx>",
            f"{stamp.format(1)} mx postfix/qmgr[3]: {q}: from=<{sender}>, size=1000, nrcpt=1 (queue active)",
            f"{stamp.format(2)} mx postfix/local[4]: {q}: to=<taro@example.jp>, relay=local, delay=1, "
            "delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
            f"{stamp.format(3)} mx postfix/qmgr[3]: {q}: removed",
        ]
    path.write_text("\n".join(lines) + "\n")
    t = _utc(2026, 1, 2).timestamp()
    os.utime(path, (t, t))


def test_resend_requests_one_per_sender_with_dates_and_subjects(tmp_path, capsys):
    logs = tmp_path / "log"
    logs.mkdir()
    _postfix_log(logs / "mail.log")
    kept = tmp_path / "kept.eml"
    kept.write_bytes(
        b"From: bob@example.org\nTo: taro@example.jp\nSubject: kept one\n"
        b"Date: Wed, 31 Dec 2025 11:00:00 +0900\nMessage-ID: <b1@example.org>\n\nhello\n"
    )
    ws = tmp_path / "ws"
    assert _run(ws, "gather", "--account", "taro@example.jp", str(kept)) == 0
    assert _run(ws, "gather", str(logs)) == 0
    capsys.readouterr()
    out = tmp_path / "requests"
    assert _run(ws, "report", "--account", "taro@example.jp", "--draft-resend-requests", str(out)) == 0
    [path] = sorted(out.glob("*.eml"))  # bob's one message was recovered: nobody to ask
    msg = _open(path)
    assert (msg["From"], msg["To"]) == ("taro@example.jp", "alice@example.net")
    assert msg.get_content_charset() == "iso-2022-jp"
    subject, body = _text(msg)
    assert subject == "メール再送のお願い / Could you resend your mail to taro@example.jp?"
    year = body.split("  ")[1][:4]
    assert f"  {year}-12-30 09:00  会議のお知らせ\n  {year}-12-31 10:00  Minutes, May\n" in body
    assert "2 通" in body and "these 2 messages" in body and "$" not in body
    assert _run(ws, "report", "--draft-resend-requests", str(tmp_path / "r2")) == 2


def test_resend_template_placeholders_are_documented_ones(tmp_path):
    from mailrecover.errors import UsageError
    from mailrecover.resolicit import load_template

    t = tmp_path / "t.txt"
    t.write_text("Subject: ${account}\n\n" + " ".join(f"${{{k}}}" for k in RESEND_FIELDS))
    assert load_template(str(t), RESEND_FIELDS).subject == "${account}"
    with pytest.raises(UsageError):
        load_template(str(t), {"account": ""})
