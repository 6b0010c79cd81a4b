"""The list-manager plugins, read directly: each artifact kind, the corpus, a hostile pickle."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailrecover_lists.address_list import AddressListPlugin
from mailrecover_lists.ezmlm import EzmlmPlugin
from mailrecover_lists.fml import FmlPlugin
from mailrecover_lists.mailman2 import Mailman2Plugin
from mailrecover_lists.mailman3 import Mailman3Plugin
from mailrecover_lists.majordomo import MajordomoPlugin

from mailrecover.cli import main
from mailrecover.model import Evidence, Problem
from mailrecover.plugin import CLAIM, ReadContext, load_plugins

from ..support.builders import snapshot
from ..support.lists_builders import (
    FML_HEADER,
    SUBSCRIBE,
    SUBSCRIBE_OLD,
    BounceRecord,
    build_fml,
    mailman2_pickle,
    s,
)


def _read(plugin, location: Path, **context) -> tuple[list[Evidence], list[Problem]]:
    root = location if location.is_dir() else location.parent
    before = snapshot(root)
    found = list(plugin.read(str(location), ReadContext(**context)))
    assert snapshot(root) == before, "reading changed the source"
    return [f for f in found if isinstance(f, Evidence)], [f for f in found if isinstance(f, Problem)]


def _facts(evidence: list[Evidence], *names: str) -> list[tuple[str, ...]]:
    return [(e.kind, *(e.fields.get(n, "") for n in names)) for e in evidence]


def test_every_list_plugin_is_registered():
    assert {"mailman2", "mailman3", "fml", "majordomo", "ezmlm", "address-list"} <= set(load_plugins())


# --- Mailman 2 ----------------------------------------------------------------------------


def test_mailman2_subscribe_logs_rotated_and_bound_to_the_list(tmp_path):
    logs = tmp_path / "mailman" / "logs"
    logs.mkdir(parents=True)
    with gzip.open(logs / "subscribe.1.gz", "wb") as f:
        f.write(SUBSCRIBE_OLD.encode())
    (logs / "subscribe").write_text(SUBSCRIBE + "garbage line\n")
    plugin = Mailman2Plugin()
    assert 0 < plugin.detect(str(tmp_path / "mailman")) < CLAIM  # walked: archives are mail
    assert plugin.detect(str(logs)) >= CLAIM
    evidence, problems = _read(plugin, tmp_path / "mailman", list_address="DEV@lists.example.org")
    facts = _facts(evidence, "list", "address", "as_written", "name", "digest", "how")
    assert facts[:5] == [
        (
            "subscribe",
            "dev@lists.example.org",
            "dave.mixed@example.com",
            "Dave.Mixed@Example.COM",
            "",
            "no",
            "via web confirmation",
        ),
        ("subscribe", "dev@lists.example.org", "erin@example.com", "", "", "no", "via email confirmation"),
        (
            "unsubscribe",
            "dev@lists.example.org",
            "erin@example.com",
            "",
            "",
            "",
            "via the member options page",
        ),
        ("address-change", "dev@lists.example.org", "bob@example.org", "", "", "", "changed"),
        ("subscribe", "dev@lists.example.org", "heidi@example.com", "", "", "no", "via web confirmation"),
    ]
    assert evidence[3].fields["old_address"] == "bob@example.net"
    assert facts[5] == (
        "unsubscribe",
        "dev@lists.example.org",
        "ivan@example.com",
        "",
        "",
        "",
        "auto-unsubscribed BYBOUNCE",
    )
    # another list in the same server-wide log keeps its own short name
    assert facts[6][:3] == ("subscribe", "other", "someone@example.com")
    older = facts[7:]
    assert (
        "subscribe",
        "dev@lists.example.org",
        "alice@example.com",
        "",
        "Alice Liddell",
        "no",
        "admin mass sub",
    ) in older
    assert (
        "subscribe",
        "dev@lists.example.org",
        "carol@example.jp",
        "",
        "Carol",
        "yes",
        "via web confirmation",
    ) in older
    assert len(older) == 5  # the pending line changes nothing
    assert evidence[0].time == datetime(2012, 2, 1, 8, 15, tzinfo=UTC)
    assert [(p.position, p.reason) for p in problems] == [("8", "not a subscribe log line")]


def test_mailman2_config_pck_members_digest_and_bounce_record(tmp_path):
    d = tmp_path / "lists" / "dev"
    d.mkdir(parents=True)
    config = {
        s("_internal_name"): s("dev"),
        s("host_name"): s("lists.example.org"),
        s("real_name"): s("Dev"),
        s("members"): {s("ann@example.com"): 0, s("bob@example.com"): s("Bob@Example.com")},
        s("digest_members"): {s("cy@example.jp"): 0},
        s("usernames"): {s("ann@example.com"): "Ann Ébert"},
        s("user_options"): {s("bob@example.com"): 2},  # DontReceiveOwnPosts: delivery stays on
        s("delivery_status"): {s("bob@example.com"): (4, 1331000000.0)},  # BYBOUNCE
        s("bounce_info"): {s("bob@example.com"): BounceRecord(score=5.0, date=(2012, 3, 1))},
    }
    (d / "config.pck").write_bytes(mailman2_pickle(config))
    plugin = Mailman2Plugin()
    assert plugin.detect(str(d)) >= 50 and plugin.detect(str(d / "config.pck")) >= 50
    evidence, problems = _read(plugin, d)
    assert problems == []
    facts = _facts(evidence, "list", "address", "as_written", "name", "digest", "nomail", "bouncing")
    assert facts == [
        ("member", "dev@lists.example.org", "ann@example.com", "", "Ann Ébert", "no", "", ""),
        (
            "member",
            "dev@lists.example.org",
            "bob@example.com",
            "Bob@Example.com",
            "",
            "no",
            "by bounce",
            "yes",
        ),
        ("member", "dev@lists.example.org", "cy@example.jp", "", "", "yes", "", ""),
        ("roster", "dev@lists.example.org", "", "", "", "", "", ""),
    ]
    assert evidence[-1].fields["count"] == "3"
    assert {e.fields["snapshot"] for e in evidence} == {f"{d / 'config.pck'}#config"}


HOSTILE = {
    "os.system": b"cos\nsystem\n(S'touch {path}'\ntR.",
    "builtins.open": b"c__builtin__\nopen\n(S'{path}'\nS'w'\ntR.",
    "a Mailman class": b"(iMailman.MailList\nMailList\n(dS'x'\nS'{path}'\nsb.",
}


@pytest.mark.parametrize("name", ["os.system", "builtins.open"])
def test_hostile_payloads_are_live(tmp_path, name):
    """The payloads below really run code when unpickled plainly: the refusal test means something."""
    proof = tmp_path / "proof"
    payload = HOSTILE[name].replace(b"{path}", str(proof).encode())
    subprocess.run(
        [sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
        input=payload,
        check=False,
        capture_output=True,
    )
    assert proof.exists()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_config_pck_is_one_problem_and_never_runs(tmp_path, name):
    marker = tmp_path / "created-by-pickle"
    d = tmp_path / "lists" / "dev"
    d.mkdir(parents=True)
    (d / "config.pck").write_bytes(HOSTILE[name].replace(b"{path}", str(marker).encode()))
    evidence, problems = _read(Mailman2Plugin(), d / "config.pck")
    assert not marker.exists()
    assert evidence == []
    assert len(problems) == 1 and problems[0].reason.startswith("refused: the pickle asks for")


def test_hostile_config_pck_through_gather_is_reported_and_the_rest_is_kept(tmp_path, capsys):
    marker = tmp_path / "created-by-pickle"
    lists = tmp_path / "mailman" / "lists"
    (lists / "evil").mkdir(parents=True)
    (lists / "evil" / "config.pck").write_bytes(HOSTILE["os.system"].replace(b"{path}", str(marker).encode()))
    (lists / "dev").mkdir()
    (lists / "dev" / "config.pck").write_bytes(
        mailman2_pickle({s("host_name"): s("lists.example.org"), s("members"): {s("ann@example.com"): 0}})
    )
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", str(tmp_path / "mailman")]) == 3
    assert "refused: the pickle asks for os.system" in capsys.readouterr().err
    assert not marker.exists()
    assert (
        main(["--workspace", str(ws), "members", "--list", "dev@lists.example.org", "--format", "fml"]) == 0
    )
    assert capsys.readouterr().out == "ann@example.com\n"


def test_hostile_global_hidden_behind_an_allowed_one_is_refused(tmp_path):
    marker = tmp_path / "created"
    payload = (
        b"(dS'bounce_info'\n(iMailman.Bouncer\n_BounceInfo\n(dbcos\nsystem\n(S'touch "
        + str(marker).encode()
        + b"'\ntRs."
    )
    (tmp_path / "config.pck").write_bytes(payload)
    evidence, problems = _read(Mailman2Plugin(), tmp_path / "config.pck")
    assert not marker.exists() and evidence == [] and "os.system" in problems[0].reason


def test_mailman2_list_members_output(tmp_path):
    path = tmp_path / "dev.list_members.txt"
    path.write_text("ann@example.com\nBob Smith <Bob@Example.com>\n\nnot an address\n")
    plugin = Mailman2Plugin()
    assert plugin.detect(str(path)) >= 50
    evidence, problems = _read(plugin, path, list_address="dev@lists.example.org")
    assert _facts(evidence, "list", "address", "name") == [
        ("member", "dev@lists.example.org", "ann@example.com", ""),
        ("member", "dev@lists.example.org", "bob@example.com", "Bob Smith"),
    ]
    assert [p.position for p in problems] == ["4"]


# --- Mailman 3 ----------------------------------------------------------------------------


def test_mailman3_rest_roster_json(tmp_path):
    entries = [
        {
            "email": "Ann@Example.com",
            "display_name": "Ann",
            "role": "member",
            "delivery_mode": "regular",
            "list_id": "dev.lists.example.org",
            "delivery_status": "enabled",
        },
        {
            "email": "cy@example.jp",
            "role": "member",
            "delivery_mode": "mime_digests",
            "list_id": "dev.lists.example.org",
        },
        {"email": "boss@example.org", "role": "owner", "list_id": "dev.lists.example.org"},
    ]
    path = tmp_path / "roster.json"
    path.write_text(json.dumps({"entries": entries, "start": 0, "total_size": 3, "http_etag": '"x"'}))
    plugin = Mailman3Plugin()
    assert plugin.detect(str(path)) >= 50
    evidence, problems = _read(plugin, path)
    assert problems == []
    assert _facts(evidence, "list", "address", "as_written", "name", "digest") == [
        ("member", "dev@lists.example.org", "ann@example.com", "Ann@Example.com", "Ann", "no"),
        ("member", "dev@lists.example.org", "cy@example.jp", "", "", "yes"),
        ("roster", "dev@lists.example.org", "", "", "", ""),
    ]
    assert evidence[-1].fields["count"] == "2"


def test_mailman3_partial_roster_page_is_no_complete_roster(tmp_path):
    path = tmp_path / "page1.json"
    path.write_text(
        json.dumps(
            {
                "entries": [{"email": "a@example.com", "role": "member", "list_id": "dev.lists.example.org"}],
                "total_size": 40,
            }
        )
    )
    evidence, _ = _read(Mailman3Plugin(), path, list_address="dev@lists.example.org")
    assert [e.kind for e in evidence] == ["member"]


def test_mailman3_members_output_needs_a_list(tmp_path):
    path = tmp_path / "members.txt"
    path.write_text("Anne Person <anne@example.com>\nbart@example.com\n")
    evidence, problems = _read(Mailman3Plugin(), path)
    assert evidence == [] and problems[0].reason == "which list is this? give --list"
    evidence, problems = _read(Mailman3Plugin(), path, list_address="ant@example.com")
    assert _facts(evidence, "address", "name") == [
        ("member", "anne@example.com", "Anne Person"),
        ("member", "bart@example.com", ""),
    ]


# --- fml ----------------------------------------------------------------------------------


def test_fml4_directory(tmp_path):
    d = build_fml(tmp_path)
    plugin = FmlPlugin()
    assert plugin.detect(str(d)) >= 50
    evidence, problems = _read(plugin, d)
    assert problems == []
    assert {e.fields["list"] for e in evidence} == {"elena@fml.example.jp"}
    by_source: dict[str, list[tuple[str, ...]]] = {}
    for e in evidence:
        by_source.setdefault(os.path.basename(e.source), []).append(
            (e.kind, e.fields.get("address", ""), e.fields.get("digest", ""), e.fields.get("nomail", ""))
        )
    assert by_source["members"] == [
        ("member", "taro@example.co.jp", "no", ""),
        ("member", "jiro@example.ne.jp", "yes", ""),
        ("member", "saburo@example.jp", "no", "off"),
        ("member", "shiro@example.jp", "no", "skip"),
        ("unsubscribe", "hanako@example.co.jp", "", ""),
        ("roster", "", "", ""),
    ]
    assert [k for k, *_ in by_source["actives"]] == ["member", "member", "member"]  # no roster
    bak = by_source["members.bak"]
    assert bak[:4] == [
        ("member", "taro@example.co.jp", "no", ""),
        ("member", "hanako@example.co.jp", "no", ""),
        ("member", "goro@example.jp", "no", ""),
        ("roster", "", "", ""),
    ]
    assert len(bak) == 10
    snapshots = [e for e in evidence if e.kind == "roster" and e.source.endswith(".bak")]
    assert [e.time for e in snapshots] == [
        datetime(2012, 2, 1, 10, tzinfo=UTC),
        datetime(2012, 3, 1, 10, tzinfo=UTC),
    ]
    log = [e for e in evidence if e.source.endswith("log")]
    assert [(e.kind, e.fields["address"], e.fields.get("old_address", "")) for e in log] == [
        ("subscribe", "goro@example.jp", ""),
        ("unsubscribe", "hanako@example.co.jp", ""),
        ("subscribe", "rokuro@example.jp", ""),
        ("unsubscribe", "jiro@example.ne.jp", ""),
        ("address-change", "taro@example.jp", "taro@example.co.jp"),
    ]
    assert log[2].time == datetime(2012, 4, 10, 9, tzinfo=UTC)


def test_fml_rejoined_address_is_not_reported_as_gone(tmp_path):
    d = tmp_path / "ml"
    d.mkdir()
    (d / "actives").write_text(FML_HEADER + "##BYE back@example.jp \nback@example.jp \n")
    evidence, _ = _read(FmlPlugin(), d / "actives", list_address="ml@example.jp")
    assert _facts(evidence, "address") == [("member", "back@example.jp")]


def test_fml8_member_files_and_log(tmp_path):
    d = tmp_path / "ml" / "elena"
    d.mkdir(parents=True)
    (d / "config.cf").write_text("ml_name = elena\nml_domain = fml.example.org\n")
    (d / "recipients").write_text("rudo@example.net\n")
    (d / "members").write_text("rudo@example.net\nkenken@example.net\n")
    (d / "log").write_text(
        "2004/03/20 17:25:39 add rudo@example.net to map=file:/var/spool/ml/elena/recipients\n"
        "2004/03/20 17:25:39 add rudo@example.net to map=file:/var/spool/ml/elena/members\n"
        "2004/03/20 17:26:00 add boss@example.net to map=file:/var/spool/ml/elena/members-admin\n"
        "2004/03/21 09:00:00 remove kenken@example.net from map=file:/var/spool/ml/elena/recipients\n"
        "2004/03/22 09:00:00 remove old@example.net from map=file:/var/spool/ml/elena/members\n"
    )
    evidence, problems = _read(FmlPlugin(), d)
    assert problems == []
    assert {e.fields["list"] for e in evidence} == {"elena@fml.example.org"}
    log = [(e.kind, e.fields["address"]) for e in evidence if e.source.endswith("log")]
    assert log == [
        ("subscribe", "rudo@example.net"),
        ("subscribe", "rudo@example.net"),
        ("unsubscribe", "old@example.net"),
    ]
    assert sorted(e.fields["address"] for e in evidence if e.kind == "member") == [
        "kenken@example.net",
        "rudo@example.net",
        "rudo@example.net",
    ]


# --- majordomo, ezmlm, address lists ----------------------------------------------------------


def test_majordomo_home(tmp_path):
    home = tmp_path / "majordomo"
    lists = home / "lists"
    lists.mkdir(parents=True)
    (home / "majordomo.cf").write_text('$whereami = "example.edu";\n')
    (lists / "chat").write_text("ann@example.com\nBob <bob@example.com>\ncy@example.org (Cy Young)\n")
    (lists / "chat.config").write_text("admin_passwd = x\n")
    (lists / "chat-digest").write_text("dee@example.com\n")
    (home / "Log").write_text(
        "Dec 30 10:00:00 lists majordomo[100] {ann@example.com} subscribe chat ann@example.com\n"
        "Jan 02 11:00:00 lists majordomo[101] {eve@example.com} unsubscribe chat eve@example.com\n"
        "Jan 02 11:00:01 lists majordomo[101] {eve@example.com} help\n"
    )
    os.utime(home / "Log", (datetime(2001, 1, 5, tzinfo=UTC).timestamp(),) * 2)
    plugin = MajordomoPlugin()
    assert plugin.detect(str(home)) >= 50
    evidence, problems = _read(plugin, home)
    assert problems == []
    assert _facts(evidence, "list", "address", "name", "digest") == [
        ("member", "chat@example.edu", "ann@example.com", "", "no"),
        ("member", "chat@example.edu", "bob@example.com", "Bob", "no"),
        ("member", "chat@example.edu", "cy@example.org", "Cy Young", "no"),
        ("roster", "chat@example.edu", "", "", ""),
        ("member", "chat@example.edu", "dee@example.com", "", "yes"),
        ("subscribe", "chat@example.edu", "ann@example.com", "", "no"),
        ("unsubscribe", "chat@example.edu", "eve@example.com", "", "no"),
    ]
    assert evidence[-2].time == datetime(2000, 12, 30, 10, tzinfo=UTC)
    assert evidence[-1].time == datetime(2001, 1, 2, 11, tzinfo=UTC)


def test_ezmlm_subscribers_and_log(tmp_path):
    d = tmp_path / "test"
    (d / "subscribers").mkdir(parents=True)
    (d / "digest" / "subscribers").mkdir(parents=True)
    (d / "outlocal").write_text("test\n")
    (d / "outhost").write_text("lists.example.com\n")
    (d / "subscribers" / "@").write_bytes(b"TAnn@example.com\0Tbob@example.com\0")
    (d / "subscribers" / "A").write_bytes(b"Tcy@example.org\0garbage\0")
    (d / "digest" / "subscribers" / "B").write_bytes(b"Tdee@example.com\0")
    (d / "Log").write_text("1485642996 +manual ann@example.com\n1485643000 - eve@example.com\n")
    evidence, problems = _read(EzmlmPlugin(), d)
    assert [p.reason for p in problems] == ["not a T<address> entry"]
    assert _facts(evidence, "list", "address", "as_written", "digest") == [
        ("member", "test@lists.example.com", "ann@example.com", "Ann@example.com", "no"),
        ("member", "test@lists.example.com", "bob@example.com", "", "no"),
        ("member", "test@lists.example.com", "cy@example.org", "", "no"),
        ("roster", "test@lists.example.com", "", "", ""),
        ("member", "test@lists.example.com", "dee@example.com", "", "yes"),
        ("subscribe", "test@lists.example.com", "ann@example.com", "", "no"),
        ("unsubscribe", "test@lists.example.com", "eve@example.com", "", "no"),
    ]


def test_ezmlm_corpus_list(corpus):
    d = corpus / "mlm" / "ezmlm_testlist"
    plugin = EzmlmPlugin()
    assert plugin.detect(str(d)) >= 50
    evidence, problems = _read(plugin, d)
    assert problems == []
    assert [(e.kind, e.fields["list"], e.fields["address"], e.fields["how"], e.time) for e in evidence] == [
        (
            "subscribe",
            "waffle-lovers@lists.syrup.info",
            "mahlon@laika.com",
            "ezmlm Log: manual",
            datetime.fromtimestamp(1485642996, UTC),
        ),
    ]
    evidence, _ = _read(plugin, d, list_address="test@lists.laika.com")
    assert evidence[0].fields["list"] == "test@lists.laika.com"


def test_corpus_list_files_are_not_claimed_by_other_list_plugins(corpus):
    d = corpus / "mlm" / "ezmlm_testlist"
    for plugin in (Mailman2Plugin(), FmlPlugin(), MajordomoPlugin(), Mailman3Plugin(), AddressListPlugin()):
        assert plugin.detect(str(d)) == 0
        assert plugin.detect(str(d / "Log")) == 0


def test_address_list_csv_and_text(tmp_path):
    csv_path = tmp_path / "kept.csv"
    csv_path.write_text(
        'Name,E-mail,joined\n"Smith, Ann",Ann@Example.com,2010\nBob,bob@example.com,2011\n'
        ",not-an-address,2012\n"
    )
    txt = tmp_path / "kept.txt"
    txt.write_text("# people\nann@example.com\nBob <bob@example.com>\n")
    plugin = AddressListPlugin()
    assert plugin.detect(str(csv_path)) > 0 and plugin.detect(str(txt)) > 0
    evidence, problems = _read(plugin, csv_path, list_address="club@example.org")
    assert _facts(evidence, "list", "address", "name") == [
        ("member", "club@example.org", "ann@example.com", "Smith, Ann"),
        ("member", "club@example.org", "bob@example.com", "Bob"),
    ]
    assert [p.position for p in problems] == ["4"]
    evidence, _ = _read(plugin, txt, list_address="club@example.org")
    assert _facts(evidence, "address", "name") == [
        ("member", "ann@example.com", ""),
        ("member", "bob@example.com", "Bob"),
    ]
    evidence, problems = _read(plugin, txt)
    assert evidence == [] and len(problems) == 1


def test_unreadable_gzip_log_is_one_problem(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "subscribe.2.gz").write_bytes(gzip.compress(SUBSCRIBE.encode())[:60])
    evidence, problems = _read(Mailman2Plugin(), logs)
    assert len(problems) == 1 and problems[0].reason.startswith("cannot read")


def test_mailman2_config_pck_member_options_roles_and_disabled_delivery(tmp_path):
    d = tmp_path / "lists" / "dev"
    d.mkdir(parents=True)
    members = ["ann", "bob", "cy", "dan", "eve", "fay"]
    config = {
        s("_internal_name"): s("dev"),
        s("host_name"): s("lists.example.org"),
        s("members"): {s(f"{n}@example.com"): 0 for n in members[:5]},
        s("digest_members"): {s("fay@example.com"): 0},
        # Mailman's flag values: DisableDelivery = 1 (old "nomail"), Moderate = 128, 2 = not-me-too
        s("user_options"): {s("ann@example.com"): 128, s("bob@example.com"): 1, s("cy@example.com"): 2},
        # MemberAdaptor codes: UNKNOWN 1, BYUSER 2, BYADMIN 3, BYBOUNCE 4, with the time it was set
        s("delivery_status"): {
            s("dan@example.com"): (3, 1331000000.0),
            s("eve@example.com"): (4, 1331100000.0),
            s("fay@example.com"): (2, 1331200000.0),
        },
        s("bounce_info"): {s("eve@example.com"): BounceRecord(score=5.0, date=(2012, 3, 1))},
        s("owner"): [s("boss@example.org")],
        s("moderator"): [s("mod@example.org"), s("mod2@example.org")],
        s("post_id"): 42,
    }
    (d / "config.pck").write_bytes(mailman2_pickle(config))
    evidence, problems = _read(Mailman2Plugin(), d)
    assert problems == []
    facts = _facts(
        evidence,
        "address",
        "digest",
        "nomail",
        "nomail_since",
        "moderated",
        "bouncing",
        "bounce_score",
        "role",
    )
    assert facts == [
        ("member", "ann@example.com", "no", "", "", "yes", "", "", ""),
        ("member", "bob@example.com", "no", "by user", "", "", "", "", ""),
        ("member", "cy@example.com", "no", "", "", "", "", "", ""),
        ("member", "dan@example.com", "no", "by admin", "2012-03-06T02:13:20+00:00", "", "", "", ""),
        ("member", "eve@example.com", "no", "by bounce", "2012-03-07T06:00:00+00:00", "", "yes", "5", ""),
        ("member", "fay@example.com", "yes", "by user", "2012-03-08T09:46:40+00:00", "", "", "", ""),
        ("role", "boss@example.org", "", "", "", "", "", "", "owner"),
        ("role", "mod@example.org", "", "", "", "", "", "", "moderator"),
        ("role", "mod2@example.org", "", "", "", "", "", "", "moderator"),
        ("roster", "", "", "", "", "", "", "", ""),
    ]
    assert evidence[-1].fields["post_id"] == "42"
    from mailrecover.members import reconstruct

    picture = reconstruct(evidence)["dev@lists.example.org"]
    assert picture.roles == {
        "owner": {"boss@example.org"},
        "moderator": {"mod@example.org", "mod2@example.org"},
    }
    m = picture.members
    assert set(m) == {f"{n}@example.com" for n in members}  # owners and moderators are no members
    assert [n for n in members if m[f"{n}@example.com"].bouncing] == ["eve"]
    assert m["eve@example.com"].label == "member-bouncing"
    assert (m["dan@example.com"].nomail, m["dan@example.com"].nomail_since) == (
        "by admin",
        "2012-03-06T02:13:20+00:00",
    )
    assert [n for n in members if m[f"{n}@example.com"].moderated] == ["ann"]
    assert m["fay@example.com"].digest is True


# --- list-manager files recognised by content, whatever survived beside them -----------------

_MAJORDOMO_LOG = (
    "Mar 13 11:52:13 lists.example.edu majordomo[1234] {ann@example.com} subscribe staff ann@example.com\n"
    "Mar 14 08:00:01 lists.example.edu majordomo[1240] {bob@example.com} unsubscribe staff bob@example.com\n"
)


def _partial_lists(root: Path) -> dict[str, Path]:
    """Each list manager's file left alone in a folder, none of the siblings that name it."""
    fml = root / "fml"
    fml.mkdir(parents=True)
    (fml / "members").write_text(FML_HEADER + "taro@example.co.jp \n##BYE hanako@example.co.jp \n")
    (fml / "log").write_text("12/04/10 09:00:00 Added: rokuro@example.jp\n")
    mj = root / "majordomo"
    mj.mkdir()
    (mj / "Log").write_text(_MAJORDOMO_LOG)
    mm = root / "mailman"
    mm.mkdir()
    (mm / "dev-config.pck.saved").write_bytes(
        mailman2_pickle(
            {
                s("_internal_name"): s("dev"),
                s("host_name"): s("lists.example.org"),
                s("members"): {s("cho@example.com"): 0},
                s("digest_members"): {},
                s("user_options"): {},
            }
        )
    )
    ez = root / "ezmlm"
    ez.mkdir()
    (ez / "Log").write_text("1485642996 +manual dan@example.com\n1485643000 -probe eve@example.com\n")
    return {"fml": fml, "majordomo": mj, "mailman": mm, "ezmlm": ez}


@pytest.mark.parametrize(
    ("kind", "plugin", "expected"),
    [
        (
            "fml",
            "fml",
            {
                ("member", "taro@example.co.jp"),
                ("unsubscribe", "hanako@example.co.jp"),
                ("subscribe", "rokuro@example.jp"),
            },
        ),
        # a server-wide Log: --list binds only the lines of the list it names (tested elsewhere)
        ("majordomo", "majordomo", {("subscribe", "ann@example.com"), ("unsubscribe", "bob@example.com")}),
        ("mailman", "mailman2", {("member", "cho@example.com")}),
        ("ezmlm", "ezmlm", {("subscribe", "dan@example.com"), ("unsubscribe", "eve@example.com")}),
    ],
)
def test_partial_list_directory_is_read_by_content_with_list(tmp_path, capsys, kind, plugin, expected):
    where = _partial_lists(tmp_path / "in")[kind]
    list_address = "staff@lists.example.org" if kind == "majordomo" else "ml@lists.example.org"
    before = snapshot(where)
    ws = tmp_path / "ws"
    code = main(["--workspace", str(ws), "--json", "gather", "--list", list_address, str(where)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "not-mail" not in out.err and "not mail" not in out.err
    assert snapshot(where) == before
    for f in (p for p in where.iterdir() if p.is_file()):
        assert max(load_plugins().values(), key=lambda p: p.detect(str(f))).name == plugin, f.name
    from mailrecover.members import from_workspace
    from mailrecover.workspace import Workspace

    with Workspace(ws) as w:
        pictures = from_workspace(w)
    assert set(pictures) == {list_address}
    facts = {(e.kind, addr) for addr, m in pictures[list_address].members.items() for e in m.events}
    assert facts == expected


def test_list_files_and_mail_are_never_taken_for_each_other(tmp_path, corpus):
    from mailrecover_lists import _sniff

    files = _partial_lists(tmp_path)
    kinds = {_sniff.kind_of(str(p)) for d in files.values() for p in d.iterdir() if p.is_file()}
    assert kinds == {"fml-members", "fml-log", "majordomo-log", "mailman2-config", "ezmlm-log"}
    assert _sniff.kind_of(str(corpus / "mlm" / "ezmlm_testlist" / "Log")) == "ezmlm-log"
    from mailrecover.pluginkit import looks_like_message

    for d in files.values():
        for p in d.iterdir():
            assert not looks_like_message(str(p)), p
    for mail in sorted((corpus / "bounce").glob("*.eml")) + sorted((corpus / "mlm").glob("*.eml")):
        assert _sniff.kind_of(str(mail)) == "", mail.name
        assert all(
            p.detect(str(mail)) == 0
            for n, p in load_plugins().items()
            if n in ("fml", "majordomo", "mailman2", "ezmlm")
        ), mail.name
