"""Cyrus IMAP as hosting providers run it: customers' mail restored and gathered through the
admin login (SASL PLAIN with an authorization identity), checked on a real Cyrus the test starts
(tests/support/cyrus.py), in Debian's namespace (``INBOX.Work``, '.') and in Cyrus 3's own
(``Work/2012`` beside INBOX)."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailrecover.cli import main

from .support.cyrus import ADMIN, DOMAIN, Cyrus, cyrus_missing
from .support.dovecot import Account
from .support.mailgen import message

#: The servers' own special folders, by SPECIAL-USE only: no name here is in mailrecover's table
#: of role names, so a restore that finds them found them by their flag.
SPECIAL = (
    ("送信済みメッセージ", "\\Sent"),
    ("Unfinished", "\\Drafts"),
    ("Wastebasket", "\\Trash"),
    ("Quarantine", "\\Junk"),
)


def _need_cyrus() -> None:
    why = cyrus_missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the Cyrus tests (.ci/apt-packages.txt, .ci/cyrus-imapd)")
        pytest.skip(why)


@pytest.fixture(scope="module", params=["debian", "upstream"])
def cyrus(request: pytest.FixtureRequest) -> Iterator[Cyrus]:
    """Accounts with the SPECIAL folders, in Debian's namespace and in Cyrus 3's."""
    _need_cyrus()
    server = Cyrus(accounts=12, upstream=request.param == "upstream", folders=SPECIAL).start()
    yield server
    server.stop()


#: The Maildir++ source: (folder directory, n, Maildir flags).  Message n arrived at STAMP + n hours.
STAMP = 1338512400  # 2012-06-01 01:00 UTC
SOURCE = [
    ("", 1, ""),
    ("", 2, "RS"),
    ("", 3, "F"),
    (".Work", 4, "S"),
    (".Work.2012", 5, ""),
    (".Sent", 6, "S"),
    (".Sent.2011", 7, "S"),
    (".Drafts", 8, "DS"),
    (".Trash", 9, "S"),
    (".Junk", 10, ""),
    (".&TtVOiw-", 11, "S"),  # 仕事, as Dovecot names it on disk (modified UTF-7)
]
#: Where each source folder belongs on the server, below its personal namespace ('/' between levels).
ON_SERVER = {
    "": "INBOX",
    ".Work": "Work",
    ".Work.2012": "Work/2012",
    ".Sent": "送信済みメッセージ",
    ".Sent.2011": "送信済みメッセージ/2011",
    ".Drafts": "Unfinished",
    ".Trash": "Wastebasket",
    ".Junk": "Quarantine",
    ".&TtVOiw-": "仕事",
}
_IMAP_FLAGS = {"S": b"\\Seen", "R": b"\\Answered", "F": b"\\Flagged", "D": b"\\Draft"}


def _build_maildir(root: Path) -> Path:
    for folder, n, flags in SOURCE:
        box = root / folder if folder else root
        for sub in ("cur", "new", "tmp"):
            (box / sub).mkdir(parents=True, exist_ok=True)
        name = f"{STAMP + 3600 * n}.M{n}P1.oldhost"
        where = box / ("cur" if flags else "new") / (f"{name}:2,{flags}" if flags else name)
        where.write_bytes(message(n, japanese=n % 2 == 0).replace(b"\r\n", b"\n"))
    return root


def _server_name(cyrus: Cyrus, path: str) -> str:
    return path if path == "INBOX" else cyrus.prefix + path.replace("/", cyrus.separator)


def _expected(cyrus: Cyrus) -> dict[str, list[tuple[bytes, frozenset[bytes], datetime]]]:
    want: dict[str, list[tuple[bytes, frozenset[bytes], datetime]]] = {}
    for folder, n, flags in SOURCE:
        body = message(n, japanese=n % 2 == 0)
        when = datetime.fromtimestamp(STAMP + 3600 * n, UTC)
        flagged = frozenset(_IMAP_FLAGS[f] for f in flags)
        want.setdefault(_server_name(cyrus, ON_SERVER[folder]), []).append((body, flagged, when))
    return want


def _held(account: Account) -> dict[str, list[tuple[bytes, frozenset[bytes], datetime]]]:
    """Each folder's messages as the customer sees them (their own login, not the admin's)."""
    return {name: sorted(msgs, key=lambda m: m[0]) for name, msgs in account.messages().items() if msgs}


def _admin_options(tmp_path: Path, ws: str) -> list[str]:
    """Global options for a run as the admin: ``--admin-user``, its password in a 0600 file."""
    secret = tmp_path / "admin-pw"
    secret.write_text(ADMIN[1] + "\n")
    secret.chmod(0o600)
    return ["--workspace", str(tmp_path / ws), "--admin-user", ADMIN[0], "--password-file", str(secret)]


def test_a_maildir_restored_into_a_customers_mailbox_through_the_admin_login(
    cyrus: Cyrus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = cyrus.account()
    maildir = _build_maildir(tmp_path / "Maildir")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "gather", "--account", customer.user, str(maildir)]) == 0
    restore = [*_admin_options(tmp_path, "ws"), "--json", "restore", "--account", customer.user]
    capsys.readouterr()
    assert main([*restore, "--to", customer.url()]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == len(SOURCE)
    want = {name: sorted(msgs, key=lambda m: m[0]) for name, msgs in _expected(cyrus).items()}
    assert _held(customer) == want

    assert main([*restore, "--to", customer.url()]) == 0  # a rerun adds nothing
    assert json.loads(capsys.readouterr().out)["written"] == 0
    assert _held(customer) == want
    out = capsys.readouterr()
    assert ADMIN[1] not in out.out + out.err


def test_gather_from_cyrus_through_the_admin_login_gets_every_message_once(
    cyrus: Cyrus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = cyrus.account()
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "gather", "--account", customer.user, str(_build_maildir(tmp_path / "Maildir"))]) == 0
    assert (
        main([*_admin_options(tmp_path, "ws"), "restore", "--account", customer.user, "--to", customer.url()])
        == 0
    )
    before = _held(customer)

    gather = [
        *_admin_options(tmp_path, "back"),
        "--json",
        "gather",
        "--account",
        customer.user,
        customer.url(),
    ]
    capsys.readouterr()
    assert main(gather) == 0
    assert json.loads(capsys.readouterr().out)["new_copies"] == len(SOURCE)
    assert main(gather) == 0  # again: nothing new
    assert json.loads(capsys.readouterr().out)["new_copies"] == 0
    assert _held(customer) == before  # read-only: not even \Seen moved

    assert main(["--workspace", str(tmp_path / "back"), "--json", "report"]) == 0
    folders = json.loads(capsys.readouterr().out)["accounts"][customer.user]["folders"]
    assert folders == {
        path: sum(1 for f, _n, _fl in SOURCE if ON_SERVER[f] == path) for path in ON_SERVER.values()
    }

    out = tmp_path / "out"
    restore = ["--workspace", str(tmp_path / "back"), "restore", "--account", customer.user]
    assert main([*restore, "--to", f"maildir:{out}"]) == 0
    found = [p.read_bytes() for p in out.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")]
    assert sorted(raw.replace(b"\r\n", b"\n") for raw in found) == sorted(
        message(n, japanese=n % 2 == 0).replace(b"\r\n", b"\n") for _f, n, _fl in SOURCE
    )


def _cyrus_says(cyrus: Cyrus, command: bytes) -> str:
    """Cyrus's own tagged answer to one command, read off the wire."""
    with socket.create_connection(("127.0.0.1", cyrus.port), timeout=10) as s:
        stream = s.makefile("rwb")
        stream.readline()
        stream.write(b"a1 " + command + b"\r\n")
        stream.flush()
        while True:
            line = stream.readline()
            if line.startswith(b"a1 "):
                return line[3:].rstrip(b"\r\n").decode()
            if not line:
                raise AssertionError("cyrus closed the connection")


@pytest.mark.parametrize("who", ["wrong admin password", "a customer is no admin"])
def test_a_refused_admin_login_shows_cyrus_own_reasons(
    who: str, cyrus: Cyrus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customer, other = cyrus.account(), cyrus.account()
    admin, password = (
        (ADMIN[0], "not-the-admin-password") if who.startswith("wrong") else (other.user, other.password)
    )
    plain = base64.b64encode(f"{customer.user}\0{admin}\0{password}".encode())
    said_plain = _cyrus_says(cyrus, b"AUTHENTICATE PLAIN " + plain)
    said_login = _cyrus_says(cyrus, f'LOGIN "{customer.user}*{admin}" "{password}"'.encode())
    assert said_plain.startswith("NO ") and said_login.startswith("NO "), (said_plain, said_login)
    secret = tmp_path / "pw"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    ws = ["--workspace", str(tmp_path / "ws"), "--admin-user", admin, "--password-file", str(secret)]
    status = main([*ws, "gather", "--account", customer.user, customer.url()])
    err = capsys.readouterr().err
    assert status != 0
    assert f"SASL PLAIN: {said_plain[3:]}" in err, (said_plain, err)
    assert f"LOGIN {customer.user}*{admin}: {said_login[3:]}" in err, (said_login, err)
    assert password not in err
    assert _held(customer) == {}


def test_gather_takes_the_customers_own_folders_not_others_shared_with_them(
    cyrus: Cyrus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cyrus lists a colleague's folders shared with the customer (``user.colleague.Projects``,
    ``Other Users/colleague/Projects``) and shared folders (``support``) beside the customer's
    own: their mail is not the customer's, and restoring it into the customer's new mailbox
    would hand it to the wrong person."""
    customer, colleague = cyrus.account(), cyrus.account()
    client = colleague.client()
    projects = cyrus.prefix + "Projects"
    client.create_folder(projects)
    client.append(projects, message(201), (), None)
    client.append("INBOX", message(202), (), None)
    client.setacl(projects, customer.user, "lrs")
    client.setacl("INBOX", customer.user, "lrs")
    client.logout()
    admin = cyrus.admin_client()
    admin.create_folder(f"support@{DOMAIN}")  # in Cyrus's shared namespace, in the customers' domain
    admin.setacl(f"support@{DOMAIN}", ADMIN[0], "lrswipkxtea")
    admin.setacl(f"support@{DOMAIN}", customer.user, "lrs")
    admin.append(f"support@{DOMAIN}", message(203), (), None)
    admin.logout()
    client = customer.client()
    client.append("INBOX", message(204), (), None)
    own = {"INBOX", *(_server_name(cyrus, name) for name, _use in SPECIAL)}
    others = sorted(name for _flags, _sep, name in client.list_folders() if name not in own)
    client.logout()
    assert len(others) == 3, others  # the colleague's INBOX and Projects, support

    admin_run = _admin_options(tmp_path, "ws")
    gather = ["gather", "--account", customer.user]
    capsys.readouterr()
    assert main([*admin_run, "--json", *gather, customer.url()]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["new_copies"], done["folders"]) == (1, {"INBOX": 1})
    reasons = sorted(p["reason"] for p in done["problems"] if p["kind"] == "skipped")
    assert len(reasons) == len(done["problems"]) == 3, done["problems"]
    assert all(f"{name!r} is another user's or a shared folder" in r for name, r in zip(others, reasons)), (
        reasons
    )
    assert main([*admin_run, *gather, customer.url()]) == 0  # said on stderr too, one line per folder
    assert capsys.readouterr().err.count("not this account's own") == 3

    theirs = others[-1].removeprefix(cyrus.prefix).replace(cyrus.separator, "/")  # the colleague's Projects
    assert main([*admin_run, "--json", *gather, customer.url(folder=theirs)]) == 0  # even when asked
    done = json.loads(capsys.readouterr().out)
    assert done["new_copies"] == 0 and [p["kind"] for p in done["problems"]] == ["skipped"], done


@pytest.fixture(scope="module", params=["debian", "upstream"])
def cyrus_bare(request: pytest.FixtureRequest) -> Iterator[Cyrus]:
    """A Cyrus whose accounts have only their INBOX."""
    _need_cyrus()
    server = Cyrus(accounts=2, upstream=request.param == "upstream").start()
    yield server
    server.stop()


def test_a_shared_folder_named_like_a_role_does_not_receive_the_customers_mail(
    cyrus_bare: Cyrus, tmp_path: Path
) -> None:
    """A domain's shared ``Junk`` (listed as ``Junk`` beside ``INBOX.…`` in Debian's namespace) is
    everyone's: the customer's junk goes to a Junk of their own, made in their namespace."""
    cyrus = cyrus_bare
    customer = cyrus.account()
    admin = cyrus.admin_client()
    admin.create_folder(f"Junk@{DOMAIN}")
    admin.setacl(f"Junk@{DOMAIN}", customer.user, "lrswi")
    admin.logout()
    maildir = tmp_path / "Maildir"
    for folder, n in (("", 1), (".Junk", 10)):
        for sub in ("cur", "new", "tmp"):
            (maildir / folder / sub).mkdir(parents=True, exist_ok=True)
        (maildir / folder / "new" / f"{STAMP + 3600 * n}.M{n}P1.oldhost").write_bytes(message(n))
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "gather", "--account", customer.user, str(maildir)]) == 0
    restore = [*_admin_options(tmp_path, "ws"), "restore", "--account", customer.user, "--to", customer.url()]
    assert main(restore) == 0
    held = {name: len(msgs) for name, msgs in customer.messages().items()}
    assert held == {
        "INBOX": 1,
        _server_name(cyrus, "Junk"): 1,
        ("Junk" if cyrus.prefix else "Shared Folders/Junk"): 0,
    }
