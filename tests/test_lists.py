"""List evidence read out of messages and delivery lines: the corpus bounces and list mail."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import getaddresses

import pytest

from mailrecover.listpost import list_post
from mailrecover.lists import (
    evidence_from_deliveries,
    evidence_from_message,
    is_list_address,
    list_of,
    message_evidence,
)
from mailrecover.model import Evidence
from mailrecover.pluginkit import split_mbox
from mailrecover.rfc822 import header_fields

from .support.lists_builders import deliveries, owner_mails


def _corpus_message(path) -> bytes:
    raw = path.read_bytes()
    return raw.split(b"\n", 1)[1] if raw.startswith(b"From ") else raw


def _facts(evidence):
    return [(e.kind, e.fields.get("list", ""), e.fields.get("address", "")) for e in evidence]


# Every message in the corpus's bounce folder, and what each must yield: (kind, list, failed
# address, permanent|temporary), written down from reading each file.  RFC 3464 reports are
# read field by field; the rest by flufl.bounce's detectors or this project's (``bounces``).
_P = "permanent"
CORPUS_BOUNCES = {
    # SMTP32/IMail text: "Delivery failed 10 attempts: info@example.net"
    "flanker_broken-mime.eml": [("bounce", "", "info@example.net", _P)],
    "flanker_complaint_yahoo.eml": [],  # an abuse complaint (ARF), no bounce
    # Action: failed with Status 4.0.0: given up after 5 days, the message is lost
    "flanker_delayed.eml": [("bounce", "info-mime@cs.example.com", "foo@example.com", _P)],
    "flanker_mailbox-full.eml": [("bounce", "", "user@aol.com", _P)],
    "flanker_office365.eml": [("bounce", "", "noname@example.com", _P)],
    "flanker_zed.eml": [
        ("bounce", "", "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com", _P)
    ],
    "mail_multi_address_bounce1.eml": [
        ("bounce", "", a + "@gmail.com", _P)
        for a in (
            "bbbbvhvbbvkjbhfbvbvjhb",
            "bscdbcjhasbcjhbdscbhbsdhcbj",
            "egyfefsdvsfvvhjsd",
            "kfhejkfbsjkjsbhds",
            "qfvhgsvhgsduiohncdhcvhsdfvsfygusd",
        )
    ],
    "mail_report_530.eml": [("bounce", "", "edwin@zzzzzzz.com", _P)],
    # bounced to Mailman 2.0's -admin address: the list is known, the original recipient reported
    "mailman2_dsn_01.eml": [("bounce", "jpython-interest@python.org", "userx@example.com", _P)],
    # InterScan VirusWall: "Exceeded Maximum Delivery Attempts" names no recipient
    "mailman2_dumbass_01.eml": [],
    # GroupWise / Exchange 5.5 "did not reach the following recipient(s)": to the list's -admin
    "mailman2_groupwise_01.eml": [("bounce", "mailman-users@python.org", "userx@example.edu", _P)],
    "mailman2_llnl_01.eml": [("bounce", "python-announce-list@python.org", "user1@example.gov", _P)],
    "mailman2_microsoft_01.eml": [("bounce", "pit-penguins@plaidworks.com", "userx@example.com", _P)],
    # Netscape Messaging Server: its delivery-status part names no recipient, its text two
    "mailman2_netscape_01.eml": [
        ("bounce", "kde-core-devel@master.kde.org", a, _P) for a in ("aaaaa@corel.com", "bbbbb@corel.com")
    ],
    "mailman2_newmailru_01.eml": [("bounce", "python-list@python.org", "zzzzz@newmail.ru", _P)],
    "mailman2_sina_01.eml": [
        ("bounce", "boost@lists.boost.org", a, _P) for a in ("userx@sina.com", "usery@sina.com")
    ],
    "mailman2_smtp32_01.eml": [("bounce", "mailman-users@python.org", "userx@example.ph", _P)],
    # qmail at Yahoo: "(#4.4.1) I'm not going to try again": final; sent to a person, no list named
    "mailman2_yahoo_01.eml": [("bounce", "", "userx@example.com", _P)],
    "sisimai_arf-01.eml": [],  # an abuse report, no bounce
    "sisimai_lhost-amazonses-01.eml": [("bounce", "", "shironeko@example.co.jp", _P)],
    # BIGLOBE: "The following addresses had delivery problems" / mailbox over its limit
    "sisimai_lhost-biglobe-01.eml": [("bounce", "", "postmaster@mxr.biglobe.ne.jp", _P)],
    "sisimai_lhost-courier-01.eml": [("bounce", "", "kijitora@example.co.jp", _P)],
    "sisimai_lhost-domino-02.eml": [("bounce", "", "kijitora@example.co.jp", _P)],
    "sisimai_lhost-exchange2007-04.eml": [("bounce", "", "neko-nyaan@cat.example.jp", _P)],
    "sisimai_lhost-exim-01.eml": [("bounce", "", "kijitora@example.ed.jp", _P)],
    # au EZweb: "<addr>" above "Each of the following recipients was rejected by a remote mail server."
    "sisimai_lhost-ezweb-01.eml": [
        ("bounce", "", "this-message-rejected-by-the-domain-filter@ezweb.ne.jp", _P)
    ],
    "sisimai_lhost-fml-03.eml": [],  # fml's "Loop Alert" to its own admin: no recipient failed
    "sisimai_lhost-gmail-01.eml": [("bounce", "", "userunknown@example.jp", _P)],
    # Google Groups refused the post: the group's own address is the failed recipient
    "sisimai_lhost-googlegroups-01.eml": [("bounce", "", "libsisimai@googlegroups.com", _P)],
    # KDDI au one net "メールエラー通知": 送信できませんでした, "Could not be delivered to: <addr>"
    "sisimai_lhost-kddi-01.eml": [("bounce", "", "kijitora@x0000000000000.dion.ne.jp", _P)],
    # Office 365's report without a delivery-status part: "Delivery has failed to these recipients"
    "sisimai_lhost-office365-01.eml": [("bounce", "", "kijitora@example.com", _P)],
    "sisimai_lhost-opensmtpd-01.eml": [("bounce", "", "apdugoaidugoaidugoaeiudggadi@gmail.com", _P)],
    "sisimai_lhost-postfix-01.eml": [("bounce", "", "kijitora@example.org", _P)],
    "sisimai_lhost-postfix-09.eml": [("bounce", "", "kijitora@example.ne.jp", _P)],
    "sisimai_lhost-qmail-01.eml": [("bounce", "", "kijitora@example.ne.jp", _P)],
    "sisimai_lhost-sendmail-01.eml": [("bounce", "", "userunknown@bouncehammer.jp", _P)],
    # old sendmail: "421 example.com (smtp)... Deferred" names a host, never the recipient
    "sisimai_lhost-v5sendmail-01.eml": [],
    "sisimai_rfc3464-01.eml": [("bounce", "", "userunknown@bouncehammer.jp", _P)],
    "sisimai_rfc3834-01.eml": [],  # a vacation auto-reply, no bounce
    # NTT docomo's sendmail DSN
    "sisimai_rhost-nttdocomo-01.eml": [("bounce", "", "azumakuniyuki@ntt.docomo.example.ne.jp", _P)],
}


def test_every_corpus_bounce_yields_exactly_its_failed_recipients(corpus):
    found = {}
    for path in sorted((corpus / "bounce").glob("*.eml")):
        evidence = evidence_from_message(_corpus_message(path), source=str(path))
        found[path.name] = [
            (*fact, e.fields.get("failure", "")) for fact, e in zip(_facts(evidence), evidence)
        ]
    assert found == CORPUS_BOUNCES


def test_corpus_dsn_keeps_status_and_final_recipient(corpus):
    [e] = evidence_from_message(_corpus_message(corpus / "bounce" / "mailman2_dsn_01.eml"))
    assert e.fields["status"] == "5.0.0"
    assert e.fields["final_recipient"] == "userx@sims-ms-daemon"
    assert e.time == datetime(2000, 10, 3, 21, 57, 2, tzinfo=UTC)


def test_corpus_bounce_mbox_is_read_message_by_message(corpus):
    data = (corpus / "bounce" / "sisimai_mbox-0").read_bytes()
    messages = list(split_mbox(data))
    assert len(messages) == 37
    bounced = [e for offset, _, raw, _ in messages for e in evidence_from_message(raw, position=str(offset))]
    assert all(e.kind == "bounce" and "@" in e.fields["address"] for e in bounced)
    assert len(bounced) == len({(e.position, e.fields["address"]) for e in bounced}) > 0


def test_corpus_list_post_names_list_and_author(corpus):
    evidence = evidence_from_message(_corpus_message(corpus / "mlm" / "mailman2_bad_01.eml"))
    assert ("post", "mailman-users@python.org", "zzzzz@alb-net.com") in _facts(evidence)
    assert evidence[0].fields["name"] == "Zzzzz TTTT"


def test_corpus_list_manager_replies_are_no_posts(corpus):
    # fml's "you are not a member" reply, from the list's -admin address: says nothing of members
    assert evidence_from_message(_corpus_message(corpus / "mlm" / "sisimai_lhost-fml-02.eml")) == []
    # a bounce forwarded to a Mailman 2.0 -admin address that has no readable report
    assert evidence_from_message(_corpus_message(corpus / "bounce" / "mailman2_dumbass_01.eml")) == []


def test_owner_notices_verp_bounce_and_received_post():
    mails = owner_mails()
    got = {
        name: _facts(evidence_from_message(raw, account="owner@example.org")) for name, raw in mails.items()
    }
    assert list(got.values()) == [
        [("subscribe", "dev@lists.example.org", "frank@example.com")],
        [("unsubscribe", "dev@lists.example.org", "heidi@example.com")],
        [("bounce", "dev@lists.example.org", "frank@example.com")],
        [
            ("post", "dev@lists.example.org", "grace@example.com"),
            ("received", "dev@lists.example.org", "owner@example.org"),
        ],
    ]


def _notice(subject: str, body: str, sender: str = "Majordomo@example.edu") -> bytes:
    return (
        f"From: {sender}\nTo: chat-approval@example.edu\nSubject: {subject}\n"
        f"Date: Tue, 2 Jan 2001 10:00:00 +0000\n\n{body}"
    ).encode()


def test_majordomo_and_fml_notices_and_bounce_actions():
    assert _facts(
        evidence_from_message(
            _notice(
                "SUBSCRIBE chat",
                "\tann@example.com has been added to chat.\n\tNo action is required on your part.\n",
            )
        )
    ) == [("subscribe", "chat@example.edu", "ann@example.com")]
    assert _facts(
        evidence_from_message(_notice("UNSUBSCRIBE chat", "ann@example.com has unsubscribed from chat.\n"))
    ) == [("unsubscribe", "chat@example.edu", "ann@example.com")]
    fml = (
        b"From: elena-admin@fml.example.jp\nTo: elena-admin@fml.example.jp\nX-ML-Name: elena\n"
        b"Subject: New added member: new@example.jp (elena ML)\n\n<new@example.jp> is added\n"
    )
    assert _facts(evidence_from_message(fml)) == [("subscribe", "elena", "new@example.jp")]
    action = _notice(
        "Bounce action notification",
        "This is a Mailman mailing list bounce action notice:\n\n    List:       Dev\n"
        "    Member:     zed@example.com\n    Action:     Subscription disabled.\n"
        "    Reason:     Excessive or fatal bounces.\n",
        sender="dev-bounces@lists.example.org",
    )
    [e] = evidence_from_message(action)
    assert (e.kind, e.fields["list"], e.fields["address"], e.fields["nomail"]) == (
        "bounce",
        "dev@lists.example.org",
        "zed@example.com",
        "by bounce",
    )


def test_wrapped_mailman_notice_with_its_reason():
    raw = _notice(
        "Long Name List subscription notification",
        "Dr. Bartholomew Quincy Longname-Smythe <bart.longname-smythe@example.com>\n"
        "has been successfully subscribed to Long Name List. (via web\nconfirmation)\n",
        sender="long-name-list-bounces@lists.example.org",
    )
    [e] = evidence_from_message(raw)
    assert (e.kind, e.fields["list"], e.fields["address"], e.fields["name"], e.fields["how"]) == (
        "subscribe",
        "long-name-list@lists.example.org",
        "bart.longname-smythe@example.com",
        "Dr. Bartholomew Quincy Longname-Smythe",
        "owner notice: via web confirmation",
    )


def test_fml_post_by_its_ml_name_and_count():
    raw = (
        b"Return-Path: <elena-admin@fml.example.jp>\nDelivered-To: hanako@example.co.jp\n"
        b"From: Taro <taro@example.jp>\nTo: elena@fml.example.jp\nSubject: [elena:00123] hello\n"
        b"Date: Sun, 15 Apr 2012 18:00:00 +0900\nX-ML-Name: elena\nX-Mail-Count: 00123\n"
        b"X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]\n\nhello\n"
    )
    evidence = evidence_from_message(raw)
    assert [(e.kind, e.fields["list"], e.fields["address"], e.fields["count"]) for e in evidence] == [
        ("post", "elena@fml.example.jp", "taro@example.jp", "00123"),
        ("received", "elena@fml.example.jp", "hanako@example.co.jp", "00123"),
    ]
    assert evidence[0].time == datetime(2012, 4, 15, 9, tzinfo=UTC)


def test_vacation_reply_to_a_verp_address_is_no_bounce():
    raw = (
        b"From: ann@example.com\nTo: dev-bounces+ann=example.com@lists.example.org\n"
        b"Subject: Away until May 5\nDate: Tue, 1 May 2012 10:00:00 +0000\n\nI am away.\n"
    )
    assert _facts(evidence_from_message(raw)) == [("auto-reply", "dev@lists.example.org", "ann@example.com")]


@pytest.mark.parametrize(
    "address,expected",
    [
        ("dev-bounces@lists.example.org", ("dev@lists.example.org", None, True)),
        ("dev-bounces+Ann=Example.com@lists.example.org", ("dev@lists.example.org", "ann@example.com", True)),
        (
            "test-return-12-ann=example.com@lists.example.com",
            ("test@lists.example.com", "ann@example.com", True),
        ),
        ("owner-chat@example.edu", ("chat@example.edu", None, False)),
        ("elena-admin@fml.example.jp", ("elena@fml.example.jp", None, False)),
        ("ann@example.com", None),
    ],
)
def test_list_of(address, expected):
    la = list_of(address)
    assert (la.list, la.member, la.strong) == expected if expected else la is None


@pytest.mark.parametrize(
    "address,is_own",
    [
        ("dev@lists.example.org", True),
        ("DEV-Owner@lists.example.org", True),
        ("dev-request@lists.example.org", True),
        ("dev-bounces+x=y.org@lists.example.org", True),
        ("dev-admin@lists.example.org", True),
        ("dev-join@lists.example.org", True),
        ("dev-leave@lists.example.org", True),
        ("dev-confirm+abc@lists.example.org", True),
        ("owner-dev@lists.example.org", True),
        ("dev-digest-request@lists.example.org", True),
        ("dev-return-12-ann=example.com@lists.example.org", True),
        ("dev@example.org", False),
        ("developer@lists.example.org", False),
        ("dev-team@lists.example.org", False),
    ],
)
def test_is_list_address(address, is_own):
    assert is_list_address(address, "dev@lists.example.org") is is_own


def _delivery(n, sender, recipient, status, mid="<m1@x>", qid="Q1", orig_to=""):
    fields = {"sender": sender, "recipient": recipient, "status": status, "message_id": mid, "queue_id": qid}
    if orig_to:
        fields["orig_to"] = orig_to
    return Evidence("delivery", "mail.log", str(n), datetime(2012, 5, 10, tzinfo=UTC), fields)


def test_deliveries_of_a_list_post():
    items = [
        _delivery(1, "dev-bounces@lists.example.org", "ann@example.com", "deferred"),
        _delivery(2, "dev-bounces@lists.example.org", "ann@example.com", "sent"),
        _delivery(3, "dev-bounces@lists.example.org", "box@example.net", "sent", orig_to="bob@example.com"),
        _delivery(4, "dev-bounces@lists.example.org", "cy@example.com", "bounced"),
        # a confirmation request to one would-be subscriber: not a post
        _delivery(5, "dev-bounces@lists.example.org", "dee@example.com", "sent", mid="<c@x>", qid="Q2"),
        # VERP: one message per member
        _delivery(
            6,
            "dev-bounces+eve=example.com@lists.example.org",
            "eve@example.com",
            "sent",
            mid="<m1@x>",
            qid="Q3",
        ),
        # plain mail between people
        _delivery(7, "ann@example.com", "fay@example.com", "sent", mid="<p@x>", qid="Q4"),
        # a post sent to the list
        _delivery(8, "ann@example.com", "dev@lists.example.org", "sent", mid="<m1@x>", qid="Q5"),
    ]
    got = sorted(
        (e.kind, e.fields["list"], e.fields["address"], e.position)
        for e in evidence_from_deliveries(items, {"dev@lists.example.org"})
    )
    assert got == [
        ("bounce", "dev@lists.example.org", "cy@example.com", "4"),
        ("delivered", "dev@lists.example.org", "ann@example.com", "2"),
        ("delivered", "dev@lists.example.org", "bob@example.com", "3"),
        ("delivered", "dev@lists.example.org", "eve@example.com", "6"),
        ("post", "dev@lists.example.org", "ann@example.com", "8"),
    ]


def test_a_post_sent_in_batches_or_one_verp_message_each_is_still_a_post():
    sender = "dev-bounces@lists.example.org"
    batches = [
        _delivery(1, sender, "ann@a.example", "sent", mid="<p@x>", qid="Q1"),
        _delivery(2, sender, "bob@b.example", "sent", mid="<p@x>", qid="Q2"),
    ]
    assert [e.fields["address"] for e in evidence_from_deliveries(batches)] == [
        "ann@a.example",
        "bob@b.example",
    ]
    lone = [_delivery(3, "dev-bounces+cy=c.example@lists.example.org", "cy@c.example", "sent", mid="<q@x>")]
    assert [(e.kind, e.fields["address"]) for e in evidence_from_deliveries(lone)] == [
        ("delivered", "cy@c.example")
    ]
    notice = [_delivery(4, sender, "owner@d.example", "sent", mid="<n@x>")]
    assert list(evidence_from_deliveries(notice)) == []


def test_owner_alias_sender_counts_only_for_a_known_list():
    items = [_delivery(n, "owner-chat@example.edu", r, "sent") for n, r in enumerate(("a@x.org", "b@x.org"))]
    assert list(evidence_from_deliveries(items)) == []
    assert len(list(evidence_from_deliveries(items, {"chat@example.edu"}))) == 2


def test_scenario_deliveries():
    items = [
        Evidence(
            "delivery",
            "mail.log",
            str(n),
            d.when,
            {
                "sender": d.sender,
                "recipient": d.recipient,
                "status": d.status,
                "message_id": d.message_id,
                "queue_id": d.queue_id,
                "orig_to": d.orig_to,
            },
        )
        for n, d in enumerate(deliveries())
    ]
    got = [(e.kind, e.fields["address"]) for e in evidence_from_deliveries(items, {"dev@lists.example.org"})]
    assert ("bounce", "frank@example.com") in got and ("delivered", "dave.mixed@example.com") in got
    # the owner notice went to one address (dev-owner@, expanded to two owners): no post
    assert [a for _, a in got if "owner" in a or "deputy" in a] == ["owner@example.org"]  # by the post


# --- one rule for "is this a list post, and which list" (listpost.list_post) -----------------

_ALL_FORMS = (
    b"List-Id: =?utf-8?q?Staff?= <staff.lists.example.co.jp>\n"
    b"List-Post: <mailto:staff@lists.example.co.jp?subject=x>, <mailto:staff2@lists.example.co.jp>\n"
    b"X-BeenThere: staff@lists.example.co.jp\nX-ML-Name: kaigi\n"
)
# (case, header lines, key, list-id, marks) -- None when the message names no list
LIST_FORMS = [
    (
        "List-Post alone",
        b"List-Post: <mailto:Staff@Lists.Example?subject=help>\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    (
        "X-BeenThere (Mailman)",
        b"X-BeenThere: staff@lists.example\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    (
        "X-Mailing-List (SmartList)",
        b"X-Mailing-List: <staff@lists.example> archive/latest/1234\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    (
        "Mailing-List (ezmlm)",
        b"Mailing-List: contact staff-help@lists.example; run by ezmlm\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    (
        "X-ML-Name with its domain in To (fml)",
        b"X-ML-Name: kaigi\nTo: kaigi@example.co.jp\n",
        "kaigi@example.co.jp",
        "",
        {"kaigi@example.co.jp"},
    ),
    (
        "X-ML-Name with its domain in Reply-To",
        b"X-ML-Name: Kaigi\nTo: a@b.example\nReply-To: kaigi@example.co.jp\n",
        "kaigi@example.co.jp",
        "",
        {"kaigi@example.co.jp"},
    ),
    (
        "X-ML-Name alone: a short name, no mark",
        b"X-ML-Name: kaigi\nTo: taro@example.co.jp\n",
        "kaigi",
        "",
        set(),
    ),
    (
        "Sender: the list's bounce address",
        b"Sender: staff-bounces@lists.example\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    (
        "Return-Path: a VERP address",
        b"Return-Path: <staff-bounces+taro=example.co.jp@lists.example>\n",
        "staff@lists.example",
        "",
        {"staff@lists.example"},
    ),
    ("Sender: owner-x is not sure enough", b"Sender: owner-staff@lists.example\n", None, "", set()),
    (
        "List-Id alone",
        b"List-Id: Staff <staff.lists.example.co.jp>\n",
        "staff@lists.example.co.jp",
        "staff.lists.example.co.jp",
        {"staff@lists.example.co.jp"},
    ),
    ("List-Id without a dot", b"List-Id: <staff>\n", None, "", set()),
    ("no list", b"To: taro@example.co.jp\n", None, "", set()),
    (
        "every form at once",
        _ALL_FORMS,
        "staff@lists.example.co.jp",
        "staff.lists.example.co.jp",
        {"staff@lists.example.co.jp", "staff2@lists.example.co.jp"},
    ),
]


@pytest.mark.parametrize(
    ("head", "key", "list_id", "marks"), [c[1:] for c in LIST_FORMS], ids=[c[0] for c in LIST_FORMS]
)
def test_one_rule_says_whether_a_message_is_a_list_post_and_which(head, key, list_id, marks):
    raw = head + b"From: a@example.org\nSubject: x\n\nbody\n"
    post = list_post(header_fields(raw))
    if key is None:
        assert post is None
        assert not [e for e in evidence_from_message(raw, account="taro@example.co.jp") if e.kind == "post"]
        return
    assert post is not None and (post.key, post.list_id, set(post.marks)) == (key, list_id, marks)
    assert all(post.names(m) for m in marks) and not post.names("a@example.org")
    # the list evidence files the post under the same list
    posts = [e for e in evidence_from_message(raw, account="taro@example.co.jp") if e.kind == "post"]
    assert [e.fields["list"] for e in posts] == [key]


def test_a_list_id_names_its_list_address():
    post = list_post(header_fields(b"List-Id: <ml.lists.example>\nList-Post: <mailto:other@x.example>\n\n"))
    assert post is not None and post.names("ml@lists.example") and not post.names("ml@example")


@pytest.mark.parametrize(
    ("hop", "member", "how"),
    [
        (
            "by mx.example.de (Postfix) with ESMTP id 4A1B for <member@example.de>;",
            "member@example.de",
            "Received",
        ),
        (
            "by mx.example.de with ESMTP for <member@example.de>, <other@example.de>;",
            "member@example.de",
            "Received",
        ),
        (
            "by ms.example.de (Sun Java(tm) System Messaging Server 6.3) with ESMTP id <0M5B@ms.example.de>"
            " for tp517810?example.de@ims-ms-daemon (ORCPT rfc822;Member@example.de);",
            "member@example.de",
            "ORCPT",
        ),
    ],
)
def test_the_member_a_list_post_reached_is_read_by_the_ownership_checks_rule(hop, member, how):
    raw = (
        f"Received: from lists.example (lists.example [192.0.2.5])\n {hop} Tue, 5 Jun 2012 10:00:00 +0200\n"
        "List-Post: <mailto:staff@lists.example>\nFrom: a@example.org\nSubject: x\n\nbody\n"
    ).encode()
    received = [e for e in evidence_from_message(raw) if e.kind == "received"]
    assert [(e.fields["address"], e.fields["how"]) for e in received] == [
        (member, f"list post delivered to the member ({how})")
    ]


# --- temporary failures kept apart from permanent ones ------------------------------------------


def _bounce(
    to: str,
    subject: str,
    body: str,
    sender: str = "MAILER-DAEMON@mx.example.net",
    content_type: str = "text/plain; charset=us-ascii",
) -> bytes:
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: Tue, 1 May 2012 10:00:00 +0900\n"
        f"Message-ID: <b1@mx.example.net>\nMIME-Version: 1.0\nContent-Type: {content_type}\n\n{body}"
    ).encode()


_DELAYED_DSN = (
    "--B\nContent-Type: text/plain\n\nStill trying.\n\n--B\nContent-Type: message/delivery-status\n\n"
    "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; ann@example.com\nAction: delayed\n"
    "Status: 4.4.7\n\n--B--\n"
)
_WARNING = (
    "Delivery to the following recipient has been delayed:\n\n     ann@example.com\n\n"
    "Message will be retried for 2 more day(s)\n"
)
_QMAIL_FAILED = (
    "Hi. This is the qmail-send program at mx.example.net.\nI'm afraid I wasn't able to deliver your "
    "message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<ann@example.com>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n"
)


@pytest.mark.parametrize(
    ("to", "subject", "body", "ctype", "kind", "failure"),
    [
        (
            "dev-bounces@lists.example.org",
            "Delivery Status Notification (Delay)",
            _DELAYED_DSN,
            "multipart/report; report-type=delivery-status; boundary=B",
            "deferred",
            "temporary",
        ),
        (
            "dev-bounces@lists.example.org",
            "Delayed Mail (still being retried)",
            _WARNING,
            "text/plain",
            "deferred",
            "temporary",
        ),
        (
            "dev-bounces@lists.example.org",
            "failure notice",
            _QMAIL_FAILED,
            "text/plain",
            "bounce",
            "permanent",
        ),
        (
            "dev-bounces+ann=example.com@lists.example.org",
            "Delayed Mail (still being retried)",
            _WARNING,
            "text/plain",
            "deferred",
            "temporary",
        ),
        (
            "dev-bounces+ann=example.com@lists.example.org",
            "failure notice",
            _QMAIL_FAILED,
            "text/plain",
            "bounce",
            "permanent",
        ),
    ],
)
def test_temporary_failures_are_kept_apart_from_permanent_ones(to, subject, body, ctype, kind, failure):
    [e] = evidence_from_message(_bounce(to, subject, body, content_type=ctype))
    assert (e.kind, e.fields["list"], e.fields["address"], e.fields["failure"]) == (
        kind,
        "dev@lists.example.org",
        "ann@example.com",
        failure,
    )


def test_only_a_permanent_failure_makes_a_member_bouncing():
    from mailrecover.members import reconstruct

    warned = evidence_from_message(_bounce("dev-bounces@lists.example.org", "Delayed Mail", _WARNING))
    assert [e.kind for e in warned] == ["deferred"]
    [m] = reconstruct(warned)["dev@lists.example.org"].members.values()
    assert (m.status, m.bouncing) == ("member", False)
    failed = evidence_from_message(_bounce("dev-bounces@lists.example.org", "failure notice", _QMAIL_FAILED))
    [m] = reconstruct(failed)["dev@lists.example.org"].members.values()
    assert (m.status, m.bouncing) == ("member", True)


def test_a_letter_quoting_a_bounce_text_is_no_bounce():
    letter = _bounce(
        "friend@example.org",
        "about the list",
        "It said:\nDelivery failed 3 attempts: ann@example.com\n",
        sender="Taro <taro@example.co.jp>",
    )
    assert evidence_from_message(letter) == []


def test_a_list_post_from_a_no_reply_sender_stays_a_post():
    post = (
        b"From: News <noreply@shop.example.com>\nTo: dev@lists.example.org\nSubject: May news\n"
        b"List-Post: <mailto:dev@lists.example.org>\nDate: Tue, 1 May 2012 10:00:00 +0900\n\n"
        b"Our mail system said: Delivery failed 3 attempts: ann@example.com\n"
    )
    assert _facts(evidence_from_message(post)) == [
        ("post", "dev@lists.example.org", "noreply@shop.example.com")
    ]


@pytest.mark.parametrize("gathered_before", [False, True], ids=["as gathered now", "gathered before 015"])
def test_a_post_found_in_a_mailbox_names_that_mailbox_for_each_account_it_was_gathered_for(
    tmp_path, gathered_before
):
    """One post's bytes gathered for its author, a member and a list address: the stored
    evidence names the member's mailbox only, as reading the bytes for each account does."""
    from mailrecover.fingerprint import summarize
    from mailrecover.lists import scan_workspace
    from mailrecover.model import Copy
    from mailrecover.workspace import Workspace
    from mailrecover.workspace.store import save_copy

    raw = (
        b"From: Ann <ann@example.com>\nTo: staff@lists.example\nSubject: minutes\n"
        b"List-Post: <mailto:staff@lists.example>\nMessage-ID: <m1@example.com>\n"
        b"Date: Tue, 5 Jun 2012 01:00:00 +0000\n\nhello\n"
    )
    accounts = ["ann@example.com", "bob@example.com", "staff-owner@lists.example"]
    with Workspace(tmp_path / "ws") as ws:
        for account in accounts:
            loc = ws.location(f"/{account}", "test", account)
            copy = Copy(raw=raw, folder="INBOX", source=f"/{account}/INBOX", position="1")
            save_copy(ws, loc, account, copy, summarize(raw))
        if gathered_before:
            ws.db.execute("UPDATE copies SET list_evidence = NULL")
        found = [(e.kind, e.fields["address"], e.source) for e in scan_workspace(ws)]
    assert found == [
        ("post", "ann@example.com", "/ann@example.com/INBOX"),
        ("post", "ann@example.com", "/bob@example.com/INBOX"),
        ("received", "bob@example.com", "/bob@example.com/INBOX"),
        ("post", "ann@example.com", "/staff-owner@lists.example/INBOX"),
    ]


@pytest.mark.parametrize(
    "value",
    [
        b"ml-bounces+ann=example.com@lists.example",
        b"ML-Bounces+Ann=Example.COM@Lists.Example",
        b"Ann <ml-return-12-ann=example.com@lists.example>",
        b"owner-ml@lists.example",
        b"ML-OWNER@lists.example",
        b"ml-admin@lists.example, bob@example.com",
        b"ml-request@lists.example",
        b"ml-confirm+abc@lists.example",
        b"=?utf-8?b?bWwtYm91bmNlcytidW49ZXhhbXBsZS5jb21AbGlzdHMuZXhhbXBsZQ==?=",
        "Ann <ml-bounces@リスト.example>".encode(),
    ],
)
def test_every_list_address_in_a_delivery_field_is_looked_at(value):
    """The plain search that spares the address parsing of a To or Delivered-To never passes
    over an address ``list_of`` would call a list's own, whatever its case or encoding."""
    from mailrecover.lists import _may_name_a_list
    from mailrecover.rfc822 import decode_header_value

    named = [a for _, a in getaddresses([decode_header_value(value)]) if list_of(a)]
    assert named and _may_name_a_list(value)


def test_the_evidence_summarize_stores_is_what_the_message_alone_gives_also_past_the_header_limit():
    """Gather hands ``message_evidence`` the Subject it decoded; the evidence is the same as
    read from the bytes alone, also when the header is too big to be read whole (then the
    Subject past the cut is read from the whole header, as before)."""
    from mailrecover.fingerprint import summarize
    from mailrecover.limits import current

    limits = current()
    mails = list(owner_mails().values())
    mails.append(_notice("=?UTF-8?B?QmFkIGFkZHJlc3NlcyBpbiBjaGF0?=", "Failed address: a@example.edu\n"))
    padding = b"".join(b"X-Pad-%d: %s\n" % (n, b"p" * 70) for n in range(limits.max_header_bytes // 60))
    mails += [padding + raw for raw in mails]  # every Subject past the limit
    for raw in mails:
        assert list(summarize(raw, limits).list_evidence or ()) == message_evidence(raw), raw[:80]
