"""Servers as administrators meet them: refusals in the server's own words, connection caps,
admin (master user) logins.  Each against a real Dovecot configured that way."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mailrecover.cli import main

from .conftest import MASTER
from .support.dovecot import Account, Dovecot
from .test_targets_imap import SOURCE, _journal, _on_server, _out, _password_file, _seed, _target


def _same(a: dict[str, list[object]], b: dict[str, list[object]]) -> bool:
    """The same messages (bytes, flags, dates) in the same folders, whatever the UID order."""
    return {k: Counter(v) for k, v in a.items()} == {k: Counter(v) for k, v in b.items()}


def _gathered(tmp_path: Path, source: Account, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A workspace holding ``source``'s mail; the start of a restore command line for it."""
    ws = tmp_path / "ws"
    monkeypatch.setenv("MAILRECOVER_PASSWORD", source.password)
    assert main(["--workspace", str(ws), "gather", "--account", source.user, source.url()]) == 0
    monkeypatch.delenv("MAILRECOVER_PASSWORD")
    return ["--workspace", str(ws)]


# --- refusals, word for word ------------------------------------------------------------------


def test_a_refused_login_shows_the_servers_own_words(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), new_imap_account()
    _seed(source, SOURCE[:2])
    ws = _gathered(tmp_path, source, monkeypatch)
    capsys.readouterr()
    wrong = _password_file(tmp_path, "not-the-password")
    status = main(
        [*ws, "--password-file", str(wrong), "restore", "--account", source.user, "--to", dest.url()]
    )
    err = capsys.readouterr().err
    assert status == 1 and "[AUTHENTICATIONFAILED] Authentication failed." in err, err
    assert f"login as {dest.user} refused" in err
    status = main([*ws, "--password-file", str(wrong), "gather", "--account", dest.user, dest.url()])
    err = capsys.readouterr().err
    assert status != 0 and "[AUTHENTICATIONFAILED] Authentication failed." in err, err
    assert _on_server(dest) == {}


@pytest.mark.parametrize(
    "host, reason",
    [
        ("127.0.0.1:1", "Connection refused"),
        ("no-such-host.invalid", "no-such-host.invalid:143: [Errno"),
    ],
)
def test_an_unreachable_server_fails_at_once_with_the_reason(
    host: str,
    reason: str,
    new_imap_account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # type: ignore[no-untyped-def]
    source = new_imap_account()
    _seed(source, SOURCE[:1])
    ws = _gathered(tmp_path, source, monkeypatch)
    capsys.readouterr()
    monkeypatch.setenv("MAILRECOVER_PASSWORD", "unused")
    status = main([*ws, "restore", "--account", source.user, "--to", f"imap://someone@{host}/"])
    err = capsys.readouterr().err
    assert status == 1 and reason in err, err
    assert "retrying" not in caplog.text and "connection lost" not in err  # told once, not six times


# --- connection caps --------------------------------------------------------------------------


def test_uploads_shrink_to_the_connections_the_server_allows(
    dovecot_capped: Dovecot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = dovecot_capped.account()
    plan = [_out(n) for n in range(1, 41)] + [_out(n, "Work") for n in range(41, 61)]
    _ws, journal = _journal(tmp_path)
    caplog.set_level(logging.WARNING)
    written = _target(account, batch_messages=5, connections=4).write(plan, journal)  # type: ignore[arg-type]
    assert written == 60
    got = _on_server(account)
    assert sorted(got) == ["INBOX", "Work"] and [len(got["INBOX"]), len(got["Work"])] == [40, 20]
    assert len({body for msgs in got.values() for body, _f, _d in msgs}) == 60  # each once
    assert "[LIMIT] Maximum number of connections" in caplog.text
    # fewer than asked: 1 besides the main one, or more when the server let logins that came at
    # the same moment in before counting them (Dovecot's count is not atomic under load)
    assert re.search(r"using [0-3] upload connection\(s\) besides the main one", caplog.text), caplog.text


def test_connections_option_keeps_under_the_cap(
    dovecot_capped: Dovecot,
    new_imap_account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), dovecot_capped.account()
    _seed(source, SOURCE)
    ws = _gathered(tmp_path, source, monkeypatch)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    caplog.set_level(logging.WARNING)
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url(), "--connections", "0"]) == 2
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url(), "--connections", "1"]) == 0
    assert "refuses more connections" not in caplog.text
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]


def test_a_rerun_refused_for_too_many_connections_waits_and_finishes(
    dovecot_capped: Dovecot, new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), dovecot_capped.account()
    _seed(source, SOURCE)
    ws = _gathered(tmp_path, source, monkeypatch)
    held = [dest.client(), dest.client()]  # a killed run's connections, still counted by the server
    env = os.environ | {"MAILRECOVER_PASSWORD": dest.password}
    child = subprocess.Popen(
        [sys.executable, "-m", "mailrecover", *ws, "restore", "--account", source.user, "--to", dest.url()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    said = []
    assert child.stderr is not None
    for line in child.stderr:  # the server refuses the first login; once said, the old sessions end
        said.append(line.decode())
        if "refuses more connections for now" in said[-1]:
            break
    for client in held:
        client.logout()
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, "".join(said) + err.decode()
    assert "[LIMIT] Maximum number of connections from user+IP exceeded" in said[-1]
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]


# --- admin (master user) logins ------------------------------------------------------------------


def test_gather_and_restore_as_an_admin_acting_as_the_customer(
    dovecot_master: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dest = dovecot_master.account(), dovecot_master.account()
    _seed(source, SOURCE)
    admin_pw = _password_file(tmp_path, MASTER[1])
    ws = ["--workspace", str(tmp_path / "ws"), "--admin-user", MASTER[0], "--password-file", str(admin_pw)]
    assert main([*ws, "gather", "--account", source.user, source.url()]) == 0
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url()]) == 0
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url()]) == 0  # rerun: nothing twice
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    out = capsys.readouterr()
    assert MASTER[1] not in out.out + out.err


def test_a_refused_admin_login_tries_both_forms_and_shows_each_reason(
    dovecot_master: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = dovecot_master.account()
    wrong = _password_file(tmp_path, "not-the-admin-password")
    status = main(
        [
            "--workspace",
            str(tmp_path / "ws"),
            "--admin-user",
            MASTER[0],
            "--password-file",
            str(wrong),
            "gather",
            "--account",
            dest.user,
            dest.url(),
        ]
    )
    err = capsys.readouterr().err
    assert status != 0
    assert "SASL PLAIN: [AUTHENTICATIONFAILED]" in err, err
    assert f"LOGIN {dest.user}*{MASTER[0]}: [AUTHENTICATIONFAILED]" in err, err


def test_without_an_authorization_identity_the_customer_star_admin_form_logs_in(
    dovecot_master_no_plain: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = dovecot_master_no_plain
    source, dest = server.account(), server.account()
    _seed(source, SOURCE)
    admin_pw = _password_file(tmp_path, MASTER[1])
    ws = ["--workspace", str(tmp_path / "ws"), "--admin-user", MASTER[0], "--password-file", str(admin_pw)]
    assert main([*ws, "gather", "--account", source.user, source.url()]) == 0
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url()]) == 0
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]  # the customer's own mailbox
    assert sum(len(v) for v in _on_server(source).values()) == len(SOURCE)  # the source untouched
    logins = re.findall(r"Login: user=<([^>]+)>, method=(\w+)", server.log())
    assert (source.user, "LOGIN") in logins and (dest.user, "LOGIN") in logins, logins
    assert all(user != MASTER[0] for user, _m in logins)  # acting as the customer, never as itself
    assert MASTER[1] not in "".join(capsys.readouterr())
    wrong = ["--workspace", str(tmp_path / "ws2"), "--admin-user", MASTER[0], "--password-file"]
    status = main(
        [*wrong, str(_password_file(tmp_path, "not-it")), "gather", "--account", dest.user, dest.url()]
    )
    err = capsys.readouterr().err
    assert status != 0 and f"SASL LOGIN {dest.user}*{MASTER[0]}: [AUTHENTICATIONFAILED]" in err, err


# --- selective restore --------------------------------------------------------------------------

from datetime import datetime, timedelta  # noqa: E402

from .support.mailgen import JST, message  # noqa: E402

#: (folder, n): message n arrived on 2012-06-(1+n) at 10:00 JST (01:00 UTC), by every account of it.
SPREAD = [("INBOX", n) for n in range(1, 7)] + [
    ("Work", 7),
    ("Work", 8),
    ("Work.2012", 9),
    ("Work.2012", 10),
    ("Junk", 11),
]


def _arrived(n: int) -> datetime:
    return datetime(2012, 6, 1, 10, 0, tzinfo=JST) + timedelta(days=n)


def _seed_spread(account: Account) -> dict[int, bytes]:
    client = account.client()
    ids = {}
    for folder, n in SPREAD:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        raw = re.sub(
            rb"(?m)^(Received: .*; |Date: ).*$",
            lambda m, n=n: m.group(1) + _arrived(n).strftime("%a, %d %b %Y %H:%M:%S %z").encode(),
            message(n),
        )
        client.append(folder, raw, (), _arrived(n))
        ids[n] = re.search(rb"(?m)^Message-ID: (<[^>]+>)", raw).group(1)  # type: ignore[union-attr]
    client.logout()
    return ids


def _restored_ids(target: str, dest: Account | None) -> Counter[bytes]:
    """Every Message-ID the target holds, with how often."""
    if dest is not None:
        found = [body for msgs in _on_server(dest).values() for body, _f, _d in msgs]
    else:
        found = [p.read_bytes() for p in Path(target.partition(":")[2]).rglob("*") if p.is_file()]
    return Counter(i for raw in found for i in re.findall(rb"(?m)^Message-ID: (<[^>]+>)", raw))


@pytest.mark.parametrize("kind", ["maildir", "mbox", "imap"])
def test_a_selective_restore_then_a_full_one_adds_only_the_rest(
    kind: str,
    new_imap_account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    source = new_imap_account()
    ids = _seed_spread(source)
    ws = _gathered(tmp_path, source, monkeypatch)
    dest = new_imap_account() if kind == "imap" else None
    target = dest.url() if dest else f"{kind}:{tmp_path / 'out'}"
    if dest:
        monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    restore = [*ws, "--json", "restore", "--account", source.user, "--to", target]
    select = [
        "--folder",
        "INBOX",
        "--folder",
        "Work",
        "--exclude-folder",
        "Work/*",
        "--since",
        "2012-06-04",
        "--before",
        "2012-06-09",
    ]
    capsys.readouterr()
    assert main([*restore, *select, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["folders"] == {"INBOX": 4, "Work": 1}
    assert main([*restore, *select]) == 0
    assert _restored_ids(target, dest) == Counter(ids[n] for n in (3, 4, 5, 6, 7))
    if dest:
        assert sorted(k for k, v in _on_server(dest).items() if v) == ["INBOX", "Work"]
    assert main([*restore, "--exclude-folder", "Junk"]) == 0
    assert _restored_ids(target, dest) == Counter(ids[n] for n in range(1, 11))
    assert main(restore) == 0  # the full restore adds only what is missing
    assert _restored_ids(target, dest) == Counter(ids.values())


def test_bad_selection_dates_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "--workspace",
            str(tmp_path / "ws"),
            "restore",
            "--account",
            "a@example.co.jp",
            "--to",
            f"maildir:{tmp_path / 'out'}",
            "--since",
            "last week",
        ]
    )
    assert status == 2 and "--since 'last week'" in capsys.readouterr().err


# --- folders: mapping and special folders by role --------------------------------------------------

from mailrecover.model import Flag  # noqa: E402
from mailrecover.targets import Outgoing  # noqa: E402

ROLE_SOURCES = [
    "Sent",
    "送信済み",
    "Gesendet",
    "[Gmail]/Sent Mail",
    "Trash",
    "Bin",
    "Papierkorb",
    "Deleted Items",
    "Junk",
    "Spam",
    "Courrier indésirable",
    "Drafts",
    "Borradores",
    "Work",
    "Sent/2011",
]
ROLE_EXPECTED = {
    "dovecot_gmail": {
        "[Gmail]/Sent Mail": 4,
        "[Gmail]/Trash": 4,
        "[Gmail]/Spam": 3,
        "[Gmail]/Drafts": 2,
        "Work": 1,
        "[Gmail]/Sent Mail/2011": 1,
    },
    "dovecot_m365": {
        "Sent Items": 4,
        "Deleted Items": 4,
        "Junk Email": 3,
        "Drafts": 2,
        "Work": 1,
        "Sent Items.2011": 1,
    },
}


@pytest.mark.parametrize("server", sorted(ROLE_EXPECTED))
def test_special_folders_go_to_the_servers_own_by_role(
    server: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    account = request.getfixturevalue(server).account()
    plan = [
        Outgoing(key=f"k{n}", folder=folder, flags=frozenset({Flag.SEEN}), date=_arrived(n), raw=message(n))
        for n, folder in enumerate(ROLE_SOURCES, 1)
    ]
    _ws, journal = _journal(tmp_path)
    assert _target(account).write(plan, journal) == len(plan)  # type: ignore[arg-type]
    got = {name: len(msgs) for name, msgs in account.messages().items() if msgs}
    assert got == ROLE_EXPECTED[server]


MAPPED_SOURCE = [("INBOX", 1), ("Work.old", 2), ("Work.new", 3), ("Sent", 4)]


@pytest.mark.parametrize("kind", ["maildir", "mbox", "imap"])
def test_folder_map_and_under_for_every_target(
    kind: str,
    new_imap_account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    source = new_imap_account()
    _seed(source, [(f, n, ()) for f, n in MAPPED_SOURCE])
    ws = _gathered(tmp_path, source, monkeypatch)
    dest = new_imap_account() if kind == "imap" else None
    out = tmp_path / "out"
    target = dest.url() if dest else f"{kind}:{out}"
    if dest:
        monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    restore = [
        *ws,
        "restore",
        "--account",
        source.user,
        "--to",
        target,
        "--folder-map",
        r"^Work/(.*)$=Archive/\1",
        "--folder-map",
        "^Archive/old$=Archive/2011",
        "--under",
        "Recovered/2012/",
    ]
    capsys.readouterr()
    assert main([*restore, "--dry-run"]) == 0
    shown = capsys.readouterr().out
    assert "  Work/old -> Recovered/2012/Archive/2011" in shown and "  Sent -> Recovered/2012/Sent" in shown
    assert main(restore) == 0
    want = [
        "Recovered/2012/Archive/2011",
        "Recovered/2012/Archive/new",
        "Recovered/2012/INBOX",
        "Recovered/2012/Sent",
    ]
    if dest:
        got = sorted(k.replace(".", "/") for k, v in _on_server(dest).items() if v)
    elif kind == "maildir":
        got = sorted(p.parent.name[1:].replace(".", "/") for p in out.glob(".*/cur") if any(p.iterdir()))
    else:
        got = sorted(
            str(p.relative_to(out)).replace(".sbd", "")
            for p in out.rglob("*")
            if p.is_file() and not p.name.endswith(".msf") and p.stat().st_size
        )
    assert got == want


def test_a_bad_folder_map_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "--workspace",
            str(tmp_path / "ws"),
            "restore",
            "--account",
            "a@example.co.jp",
            "--to",
            f"maildir:{tmp_path / 'out'}",
            "--folder-map",
            r"^Work/(.*)$=Archive/\2",
        ]
    )
    assert status == 2 and "invalid group reference" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- OAuth (Dovecot's oauth2 passdb asking a local introspection endpoint) -------------------------


@pytest.mark.parametrize(
    "server, mechanism", [("dovecot_oauth", "OAUTHBEARER"), ("dovecot_xoauth2", "XOAUTH2")]
)
def test_gather_and_restore_with_an_oauth_token(
    server: str, mechanism: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    dovecot, oauth = request.getfixturevalue(server)
    source, dest = dovecot.account(), dovecot.account()
    _seed(source, SOURCE)
    oauth.tokens |= {f"src-{mechanism}": source.user, f"dst-{mechanism}": dest.user}
    ws = ["--workspace", str(tmp_path / "ws")]
    src_token, dst_token = tmp_path / "src-token", tmp_path / "dst-token"
    for path, token in ((src_token, f"src-{mechanism}"), (dst_token, f"dst-{mechanism}")):
        path.write_text(token + "\n")
        path.chmod(0o600)
    assert (
        main([*ws, "--oauth-token-file", str(src_token), "gather", "--account", source.user, source.url()])
        == 0
    )
    assert (
        main(
            [
                *ws,
                "--oauth-token-file",
                str(dst_token),
                "restore",
                "--account",
                source.user,
                "--to",
                dest.url(),
            ]
        )
        == 0
    )
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    assert f"user=<{dest.user}>, method={mechanism}" in dovecot.log()


def test_a_token_command_runs_again_when_its_token_is_refused(
    dovecot_oauth, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    dovecot, oauth = dovecot_oauth
    source, dest = dovecot.account(), dovecot.account()
    _seed(source, SOURCE[:3])
    ws = _gathered(tmp_path, source, monkeypatch)
    oauth.tokens["fresh-token-2"] = dest.user  # the first token the command prints has expired
    runs = tmp_path / "runs"
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib\n"
        f"p = pathlib.Path({str(runs)!r})\n"
        "n = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\n"
        "print('expired-token-1' if n == 0 else f'fresh-token-{n + 1}')\n"
    )
    caplog.set_level(logging.WARNING)
    command = f"{sys.executable} {script}"
    assert (
        main([*ws, "--oauth-token-command", command, "restore", "--account", source.user, "--to", dest.url()])
        == 0
    )
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    assert runs.read_text() == "xx"  # once, then once more after the refusal; not per connection
    assert "the token was refused" in caplog.text and "invalid_token" in caplog.text


def test_a_refused_token_shows_the_servers_words(
    dovecot_oauth, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    dovecot, _oauth = dovecot_oauth
    dest = dovecot.account()
    token = tmp_path / "token"
    token.write_text("nobody-knows-this-token\n")
    token.chmod(0o600)
    status = main(
        ["--workspace", str(tmp_path / "ws"), "--oauth-token-file", str(token), "gather", dest.url()]
    )
    err = capsys.readouterr().err
    assert (
        status != 0 and "[AUTHENTICATIONFAILED] Authentication failed." in err and "invalid_token" in err
    ), err
    assert "nobody-knows-this-token" not in err


def test_a_selective_restore_is_recorded_as_such(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mailrecover.workspace import Workspace

    source = new_imap_account()
    _seed_spread(source)
    ws = _gathered(tmp_path, source, monkeypatch)
    restore = [*ws, "restore", "--account", source.user, "--to", f"maildir:{tmp_path / 'out'}"]
    notes = []
    for extra in (["--folder", "Work"], []):
        assert main([*restore, *extra]) == 0
        with Workspace(tmp_path / "ws") as w:
            notes.append(w.db.execute("SELECT planned, note FROM verifications").fetchone())
    assert notes == [(4, "a selective restore: only part of the account was planned"), (11, "")]


# --- Gmail: one message, several labels ------------------------------------------------------------

from mailrecover.workspace import Workspace  # noqa: E402

from .plugins.client_stores import OWNER  # noqa: E402
from .plugins.client_stores import message as client_message  # noqa: E402
from .plugins.test_gmail import TAKEOUT, _takeout  # noqa: E402

#: Takeout labels of messages 1-4; message 3 was also found filed in a folder "Projects" elsewhere.
LABELLED = [
    (1, "Inbox,Work,Opened"),
    (2, "Sent,Work/Clients,Important,Opened"),
    (3, "Inbox,Opened"),
    (4, "Category Promotions,Unread,Inbox"),
    (5, "Trash,Work,Opened"),  # in the bin: labelled nowhere else, as Gmail keeps it
    (6, "Inbox,Work,Spam"),
]
#: Where each message is on Gmail: its folder and every other label, one message each time.
ON_GMAIL = {
    "INBOX": [1, 3, 4],
    "Work": [1],
    "Work/Clients": [2],
    "[Gmail]/Sent Mail": [2],
    "Projects": [3],
    "[Gmail]/Trash": [5],
    "[Gmail]/Spam": [6],
}


def _labelled_workspace(tmp_path: Path) -> list[str]:
    """A workspace with ``LABELLED`` from a Takeout mbox, message 3 also from an mbox "Projects"."""
    src = tmp_path / "src"
    _takeout(src / TAKEOUT, LABELLED)
    (src / "Projects").write_bytes(
        b"From jiro@example.org Mon Jun 11 00:03:00 2012\n" + client_message(3) + b"\n"
    )
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "gather", "--account", OWNER, str(src / TAKEOUT), str(src / "Projects")]) == 0
    return ws


def _folders(account: Account) -> dict[str, list[int]]:
    """Each folder's messages, by the n of their Message-ID ``<n.test@example.org>``."""
    return {
        name: sorted(int(re.search(rb"Message-ID: <(\d+)\.", raw).group(1)) for raw, _f, _d in msgs)  # type: ignore[union-attr]
        for name, msgs in account.messages().items()
        if msgs
    }


def _events(server: Dovecot, account: Account) -> Counter[str]:
    """What Dovecot's mail_log saw for ``account``: 'save' (an APPEND) and 'copy' per folder."""
    seen: Counter[str] = Counter()
    for line in server.log().splitlines():
        if f"imap({account.user})" in line and (
            m := re.search(r": (save|copy from [^:]+): box=([^,]+),", line)
        ):
            seen[f"{m.group(1).split()[0]} {m.group(2)}"] += 1
    return seen


def test_a_message_in_several_folders_is_uploaded_once_and_labelled_on_gmail(
    dovecot_gmail: Dovecot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ws = _labelled_workspace(tmp_path)
    dest = dovecot_gmail.account()
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    restore = [*ws, "restore", "--account", OWNER, "--to", dest.url()]
    assert main(restore) == 0
    assert _folders(dest) == ON_GMAIL
    assert "3 labels added" in capsys.readouterr().out
    # one APPEND per message, in its own folder; every other folder by COPY (a label on Gmail)
    assert _events(dovecot_gmail, dest) == Counter(
        {"save Work": 1, "save Work/Clients": 1, "save Projects": 1, "save INBOX": 1}
        | {"save [Gmail]/Trash": 1, "save [Gmail]/Spam": 1}
        | {"copy INBOX": 2, "copy [Gmail]/Sent Mail": 1}
    )
    before = _events(dovecot_gmail, dest)
    assert main(restore) == 0  # a rerun: nothing sent, no label added twice
    assert _folders(dest) == ON_GMAIL and _events(dovecot_gmail, dest) == before

    # killed between a COPY and its journal entry: the labels are found there, not copied again
    with Workspace(Path(ws[1])) as w:
        journal = w.journal(dest.url())
        labels = [k for (k,) in w.db.execute("SELECT key FROM journal WHERE key LIKE '% label:%'")]
        assert len(labels) == 3
        journal.mark_many((k, "pending", "") for k in labels)
    assert main(restore) == 0
    assert _folders(dest) == ON_GMAIL and _events(dovecot_gmail, dest) == before

    # a label taken off on the server since: put back by one COPY, nothing uploaded again
    client = dest.client()
    client.select_folder("INBOX")
    client.delete_messages(client.search(["HEADER", "Message-ID", "<1.test@example.org>"]))
    client.expunge()
    client.logout()
    capsys.readouterr()
    assert main(["--json", *restore]) == 0
    assert json.loads(capsys.readouterr().out)["labels_added"] == 1
    assert _folders(dest) == ON_GMAIL
    assert _events(dovecot_gmail, dest) == before + Counter({"copy INBOX": 1})


def test_a_restore_killed_right_after_a_label_was_added_adds_no_label_twice(
    dovecot_gmail: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from .support.tcpproxy import Proxy

    ws = _labelled_workspace(tmp_path)
    dest = dovecot_gmail.account()
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    child: list[subprocess.Popen[bytes]] = []

    def kill_at_first_copy(data: bytes) -> bool:
        if b"[COPYUID" in data:  # the server added the label; the journal still says pending
            child[0].send_signal(signal.SIGKILL)
            child[0].wait()
            return False
        return True

    def restore(port: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "mailrecover", *ws, "restore", "--account", OWNER]
        return subprocess.Popen(
            [*command, "--to", dest.url(port=port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )

    with Proxy(dovecot_gmail.port, on_reply=kill_at_first_copy) as proxy:  # the same URL for both runs
        child.append(restore(proxy.port))
        child[0].communicate(timeout=120)
        assert child[0].returncode == -signal.SIGKILL
        assert proxy.wait_idle()
        assert sum(n for e, n in _events(dovecot_gmail, dest).items() if e.startswith("copy")) == 1
        proxy.on_reply = None
        again = restore(proxy.port)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err.decode()
    assert _folders(dest) == ON_GMAIL
    events = _events(dovecot_gmail, dest)
    assert sum(n for e, n in events.items() if e.startswith("save")) == len(LABELLED)  # each uploaded once
    assert sum(n for e, n in events.items() if e.startswith("copy")) == 3  # each label added once
    assert b"2 labels added" in out


def test_without_labels_on_the_server_each_message_goes_to_its_folder_once(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    ws = _labelled_workspace(tmp_path)
    dest = new_imap_account()
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    assert main([*ws, "restore", "--account", OWNER, "--to", dest.url()]) == 0
    assert _folders(dest) == {
        "INBOX": [4],
        "Work": [1],
        "Work.Clients": [2],
        "Projects": [3],
        "Trash": [5],
        "Spam": [6],
    }


# --- --max-rate ------------------------------------------------------------------------------------

from mailrecover.throttle import Throttle  # noqa: E402


class _Counted(Throttle):
    """A real bucket that also notes what each connection took from it (never waits long:
    the rate is high); the test asserts bytes, not time."""

    def __init__(self) -> None:
        super().__init__(64 << 20)
        self.taken: list[int] = []

    def take(self, nbytes: int) -> None:
        self.taken.append(nbytes)
        super().take(nbytes)


def test_every_uploaded_byte_passes_the_one_shared_bucket(new_imap_account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dest = new_imap_account()
    plan = [_out(n, folder) for n, folder in enumerate(["INBOX", "Work", "INBOX", "Sent"] * 10, 1)]
    bucket = _Counted()
    _ws, journal = _journal(tmp_path)
    target = _target(dest, throttle=bucket, connections=3, batch_messages=4)
    assert target.write(plan, journal) == len(plan)  # type: ignore[arg-type]
    sent = sum(len(o.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) for o in plan)
    assert sum(bucket.taken) == sent and len(bucket.taken) > 3  # many batches, one bucket
    assert sum(len(v) for v in _on_server(dest).values()) == len(plan)


def test_a_restore_under_max_rate_brings_every_message_once(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), new_imap_account()
    _seed(source, SOURCE)
    ws = _gathered(tmp_path, source, monkeypatch)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    restore = [*ws, "restore", "--account", source.user, "--to", dest.url(), "--max-rate", "512K"]
    assert main(restore) == 0
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    assert main(restore) == 0  # a rerun: nothing twice
    assert _same(_on_server(dest), _on_server(source))  # type: ignore[arg-type]
    capsys.readouterr()
    assert main([*ws, "restore", "--account", source.user, "--to", dest.url(), "--max-rate", "fast"]) == 2
    assert "--max-rate: 'fast': expected bytes per second" in capsys.readouterr().err
    local = [
        *ws,
        "restore",
        "--account",
        source.user,
        "--to",
        f"maildir:{tmp_path / 'md'}",
        "--max-rate",
        "1M",
    ]
    assert main(local) == 2
    assert "--max-rate: only an IMAP target uploads" in capsys.readouterr().err
    assert not (tmp_path / "md").exists()


# --- restore --dry-run: the folder mapping, asked of the server ------------------------------------

#: Folders of the gathered mailbox (a plain Dovecot: '.' between levels).
DRY_SOURCE = [
    ("INBOX", 1),
    ("Sent", 2),
    ("Trash", 3),
    ("Junk", 4),
    ("Papierkorb", 5),
    ("Work", 6),
    ("Old", 7),
]
_BY_USE = "folder, by SPECIAL-USE"
_BY_NAME = "folder, by its name (no SPECIAL-USE)"
DRY_EXPECTED = {
    "dovecot_gmail": [
        "  INBOX -> INBOX: exists",
        f"  Junk -> [Gmail]/Spam: the server's \\Junk {_BY_USE}",
        "  Old -> Recovered/2012/Old: --folder-map/--under made it Recovered/2012/Old; new folder",
        f"  Papierkorb -> [Gmail]/Trash: the server's \\Trash {_BY_USE}",
        f"  Sent -> [Gmail]/Sent Mail: the server's \\Sent {_BY_USE}",
        f"  Trash -> [Gmail]/Trash: the server's \\Trash {_BY_USE}",
        "  Work -> Projects: --folder-map/--under made it Projects; new folder",
    ],
    "dovecot_m365_special": [
        "  INBOX -> INBOX: exists",
        f"  Junk -> Junk Email: the server's \\Junk {_BY_USE}",
        "  Old -> Recovered.2012.Old: --folder-map/--under made it Recovered/2012/Old; new folder",
        f"  Papierkorb -> Deleted Items: the server's \\Trash {_BY_USE}",
        f"  Sent -> Sent Items: the server's \\Sent {_BY_USE}",
        f"  Trash -> Deleted Items: the server's \\Trash {_BY_USE}",
        "  Work -> Projects: --folder-map/--under made it Projects; new folder",
    ],
    "dovecot_m365": [
        "  INBOX -> INBOX: exists",
        f"  Junk -> Junk Email: the server's \\Junk {_BY_NAME}",
        "  Old -> Recovered.2012.Old: --folder-map/--under made it Recovered/2012/Old; new folder",
        f"  Papierkorb -> Deleted Items: the server's \\Trash {_BY_NAME}",
        f"  Sent -> Sent Items: the server's \\Sent {_BY_NAME}",
        f"  Trash -> Deleted Items: the server's \\Trash {_BY_NAME}",
        "  Work -> Projects: --folder-map/--under made it Projects; new folder",
    ],
}


def _folder_names(account: Account) -> set[str]:
    client = account.client()
    try:
        return {name for _f, _d, name in client.list_folders()}
    finally:
        client.logout()


@pytest.mark.parametrize("server", sorted(DRY_EXPECTED))
def test_a_dry_run_shows_where_each_folder_goes_on_the_server_and_why(
    server: str,
    request: pytest.FixtureRequest,
    new_imap_account,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    source = new_imap_account()
    _seed(source, [(f, n, ()) for f, n in DRY_SOURCE])
    ws = _gathered(tmp_path, source, monkeypatch)
    dest = request.getfixturevalue(server).account()
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    before = _folder_names(dest)
    restore = [*ws, "restore", "--account", source.user, "--to", dest.url(), "--dry-run"]
    maps = ["--folder-map", "^Work$=Projects", "--folder-map", "^Old$=Recovered/2012/Old"]
    capsys.readouterr()
    assert main([*restore, *maps]) == 0
    out = capsys.readouterr().out
    shown = out.split("folders on the server (source -> the server's folder: why):\n", 1)[1].splitlines()
    assert shown[: len(DRY_EXPECTED[server])] == DRY_EXPECTED[server], out
    assert _folder_names(dest) == before and _on_server(dest) == {}  # a dry run creates nothing
    assert main(["--json", *restore, *maps]) == 0
    placement = json.loads(capsys.readouterr().out)["placement"]
    assert placement["Sent"]["to"] == DRY_EXPECTED[server][4].split(" -> ")[1].split(":")[0]
    # and the restore itself puts the mail where the dry run said
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    assert main([*restore[:-1], *maps]) == 0
    assert {k for k, v in _on_server(dest).items() if v} == {
        line.split(" -> ")[1].split(": ")[0] for line in DRY_EXPECTED[server]
    }


def test_a_dry_run_to_a_server_that_cannot_be_asked_still_shows_the_plan(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    source = new_imap_account()
    _seed(source, [(f, n, ()) for f, n in DRY_SOURCE[:2]])
    ws = _gathered(tmp_path, source, monkeypatch)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", "x")
    capsys.readouterr()
    assert (
        main([*ws, "restore", "--account", source.user, "--to", "imap://nobody@127.0.0.1:1/", "--dry-run"])
        == 0
    )
    out = capsys.readouterr().out
    assert "would write 2 messages" in out and "the server could not be asked where folders would go (" in out
