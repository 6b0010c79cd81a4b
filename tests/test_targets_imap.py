"""The IMAP target against a real Dovecot: exact bytes, flags, dates, folders, exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailrecover.errors import TargetError
from mailrecover.imapconn import ConnectionSettings, parse_imap_url
from mailrecover.model import Flag
from mailrecover.targets import Outgoing
from mailrecover.targets.imap import ImapTarget, open_imap_target
from mailrecover.workspace import Workspace

from .support.dovecot import Account
from .support.mailgen import JST, message
from .support.tcpproxy import Proxy

BASE = datetime(2012, 6, 1, 9, 0, tzinfo=JST)


def _out(n: int, folder: str = "INBOX", flags: frozenset[Flag] = frozenset(), **kw: int) -> Outgoing:
    raw = message(n, japanese=n % 2 == 1, **kw)
    return Outgoing(key=f"k{n}", folder=folder, flags=flags, date=BASE + timedelta(hours=n), raw=raw)


def _target(account: Account, *, port: int | None = None, **options: object) -> ImapTarget:
    url = parse_imap_url(account.url(port=port))
    cert = account.server.cert
    settings = ConnectionSettings(ca_file=str(cert) if cert else None)
    return ImapTarget(url, password=lambda prompt: account.password, settings=settings, **options)  # type: ignore[arg-type]


def _journal(tmp_path: Path, name: str = "t") -> tuple[Workspace, object]:
    ws = Workspace(tmp_path / "ws")
    return ws, ws.journal(name)


def _imap_flags(flags: frozenset[Flag]) -> frozenset[bytes]:
    names = {
        Flag.SEEN: b"\\Seen",
        Flag.ANSWERED: b"\\Answered",
        Flag.FLAGGED: b"\\Flagged",
        Flag.DRAFT: b"\\Draft",
        Flag.FORWARDED: b"$Forwarded",
    }
    return frozenset(names[f] for f in flags if f in names)


def _expected(
    items: list[Outgoing], rename: dict[str, str]
) -> dict[str, list[tuple[bytes, frozenset[bytes], datetime]]]:
    out: dict[str, list[tuple[bytes, frozenset[bytes], datetime]]] = {}
    for o in items:
        body = o.raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        out.setdefault(rename.get(o.folder, o.folder), []).append((body, _imap_flags(o.flags), o.date))
    return out


def _on_server(account: Account) -> dict[str, list[tuple[bytes, frozenset[bytes], datetime]]]:
    return {k: v for k, v in account.messages().items() if v}


PLAN = [
    _out(1),
    _out(2, flags=frozenset({Flag.SEEN, Flag.ANSWERED})),
    _out(3, flags=frozenset({Flag.FLAGGED, Flag.FORWARDED, Flag.SEEN})),
    _out(4, "仕事/見積もり", frozenset({Flag.SEEN})),
    _out(5, "仕事/見積もり", attachment=40_000),
    _out(6, "送信済み", frozenset({Flag.SEEN})),
    _out(7, "Drafts", frozenset({Flag.DRAFT})),
    _out(8, "Recovered Deleted/INBOX", frozenset({Flag.SEEN})),
    Outgoing(
        key="lf",
        folder="INBOX",
        flags=frozenset(),
        date=datetime(2011, 3, 11, 14, 46, tzinfo=UTC),
        raw=b"From: a@example.net\nSubject: LF only\nMessage-ID: <lf@example.net>\n\nbare LF lines\n",
    ),
]


def test_restores_bytes_flags_dates_and_japanese_folders(imap_account: Account, tmp_path: Path) -> None:
    ws, journal = _journal(tmp_path)
    target = _target(imap_account)
    assert target.write(PLAN, journal) == len(PLAN)  # type: ignore[arg-type]
    rename = {"仕事/見積もり": "仕事.見積もり", "Recovered Deleted/INBOX": "Recovered Deleted.INBOX"}
    assert _on_server(imap_account) == _expected(PLAN, rename)
    assert {c.folder: (c.planned, c.on_server, c.missing) for c in target.checks}["仕事.見積もり"] == (
        2,
        2,
        0,
    )
    assert all(journal.state(o.key) == "done" for o in PLAN)  # type: ignore[attr-defined]
    ws.close()


def test_a_second_run_sends_nothing(imap_account: Account, tmp_path: Path) -> None:
    ws, journal = _journal(tmp_path)
    _target(imap_account).write(PLAN, journal)  # type: ignore[arg-type]
    before = _on_server(imap_account)
    assert _target(imap_account).write(PLAN, journal) == 0  # type: ignore[arg-type]
    assert _on_server(imap_account) == before
    ws.close()


def test_special_use_folders_receive_sent_drafts_and_trash(imap_tls_account: Account, tmp_path: Path) -> None:
    ws, journal = _journal(tmp_path)
    plan = [
        _out(1, "Sent"),
        _out(2, "送信済み"),
        _out(3, "Drafts"),
        _out(4, "Trash"),
        _out(5, "Sent/2011"),
        _out(6, "INBOX/Junk"),
    ]
    _target(imap_tls_account).write(plan, journal)  # type: ignore[arg-type]
    server = _on_server(imap_tls_account)
    assert {k: len(v) for k, v in server.items()} == {
        "Sent Messages": 2,
        "Drafts": 1,
        "Deleted Messages": 1,
        "Sent Messages.2011": 1,
        "Junk": 1,
    }
    ws.close()


def test_a_server_keeping_folders_under_inbox_gets_them_there_and_gives_them_back(tmp_path: Path) -> None:
    """Courier and Cyrus put every folder under the ``INBOX.`` namespace."""
    from mailrecover_imap.imap import ImapPlugin

    from mailrecover.model import Copy
    from mailrecover.plugin import ReadContext

    from .support.dovecot import Dovecot

    server = Dovecot(prefix="INBOX.", accounts=1, quota_accounts=0).start()
    try:
        account = server.account()
        ws, journal = _journal(tmp_path)
        plan = [_out(1), _out(2, "Sent"), _out(3, "仕事/見積もり")]
        _target(account).write(plan, journal)  # type: ignore[arg-type]
        assert sorted(_on_server(account)) == ["INBOX", "INBOX.Sent", "INBOX.仕事.見積もり"]
        ctx = ReadContext(password=lambda prompt: account.password)
        back = [c for c in ImapPlugin().read(account.url(), ctx) if isinstance(c, Copy)]
        assert sorted(c.folder for c in back) == ["INBOX", "Sent", "仕事/見積もり"]
        ws.close()
    finally:
        server.stop()


def test_pending_messages_already_on_the_server_are_not_sent_again(
    imap_account: Account, tmp_path: Path
) -> None:
    """A crash after the server's OK but before the journal said done."""
    ws, journal = _journal(tmp_path)
    plan = [_out(n) for n in range(1, 11)]
    client = imap_account.client()
    for o in plan[:4]:
        client.append("INBOX", o.raw, (), o.date)
    client.logout()
    for o in plan[:6]:  # 1-4 reached the server, 5-6 did not
        journal.mark(o.key, "pending")  # type: ignore[attr-defined]
    assert _target(imap_account).write(plan, journal) == 6  # type: ignore[arg-type]
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


#: 0: everything on the one connection (reconnect and retry); 4: uploads on their own connections
CONNECTIONS = pytest.mark.parametrize("connections", [0, 4])


@CONNECTIONS
def test_a_connection_cut_mid_append_is_retried_without_duplicates(
    imap_account: Account, tmp_path: Path, connections: int
) -> None:
    ws, journal = _journal(tmp_path)
    plan = [_out(n, attachment=20_000) for n in range(1, 31)]
    with Proxy(imap_account.server.port, cut_after=150_000) as proxy:  # inside the first batch's literals
        target = _target(
            imap_account, port=proxy.port, batch_messages=10, backoff=0.05, connections=connections
        )
        assert target.write(plan, journal) == 30  # type: ignore[arg-type]
        assert proxy.cut_count == 1 and proxy.connections >= 2
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


@CONNECTIONS
def test_an_ok_lost_on_the_way_is_found_on_the_server(
    imap_account: Account, tmp_path: Path, connections: int
) -> None:
    """The server stored a batch, the connection died before its OK arrived."""
    ws, journal = _journal(tmp_path)
    plan = [_out(n) for n in range(1, 26)]
    swallowed = []

    def lose_second_ok(data: bytes) -> bool:
        if b"OK [APPENDUID" in data:
            swallowed.append(data)
            return len(swallowed) != 2
        return True

    with Proxy(imap_account.server.port, on_reply=lose_second_ok) as proxy:
        target = _target(
            imap_account, port=proxy.port, batch_messages=10, backoff=0.05, connections=connections
        )
        assert target.write(plan, journal) == 25  # type: ignore[arg-type]
        assert len(swallowed) > 2
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


def test_a_refused_message_falls_back_to_single_appends_for_its_batch(
    imap_account: Account, tmp_path: Path
) -> None:
    ws, journal = _journal(tmp_path)
    plan = [_out(n) for n in range(1, 8)] + [_out(99, attachment=3_000_000)]  # over the server's size limit
    with pytest.raises(TargetError, match="1 message.*refused"):
        _target(imap_account, batch_messages=50).write(plan, journal)  # type: ignore[arg-type]
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan[:7])
    assert journal.state("k99") != "done"  # type: ignore[attr-defined]
    ws.close()


def test_over_quota_stops_cleanly_and_resumes_when_there_is_room(new_imap_account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    account = new_imap_account(small_quota=True)
    client = account.client()
    client.create_folder("Old")
    client.append("Old", message(500, attachment=120_000), (), BASE)  # most of the 200 kB quota
    client.logout()
    ws, journal = _journal(tmp_path)
    plan = [_out(n, attachment=8_000) for n in range(1, 13)]  # ~150 kB: does not fit
    with pytest.raises(TargetError, match="over its quota"):
        _target(account, batch_messages=4).write(plan, journal)  # type: ignore[arg-type]
    client = account.client()
    client.delete_folder("Old")  # the administrator makes room
    client.logout()
    _target(account, batch_messages=4).write(plan, journal)  # type: ignore[arg-type]
    got = Counter(raw for raw, _f, _d in _on_server(account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


def test_a_late_arrival_from_an_interrupted_attempt_is_taken_out_again(
    imap_account: Account, tmp_path: Path
) -> None:
    """A killed client's last bytes can reach the server after the rerun looked: then the
    message that was sent again is there twice, and the surplus copy is removed."""
    ws, journal = _journal(tmp_path)
    plan = [_out(n) for n in range(1, 11)]
    for o in plan:
        journal.mark(o.key, "pending")  # type: ignore[attr-defined]
    late: list[int] = []

    def deliver_late(n: int) -> None:
        if n and not late:  # the first batch has been sent again: now the old attempt lands
            client = imap_account.client()
            client.append("INBOX", plan[0].raw, (), plan[0].date)
            client.logout()
            late.append(n)

    target = _target(imap_account, batch_messages=5, connections=0)
    assert target.write(plan, journal, deliver_late) == 10  # type: ignore[arg-type]
    assert late and [(c.removed, c.missing) for c in target.checks] == [(1, 0)]
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


def test_mail_already_in_the_mailbox_is_not_uploaded_again(imap_account: Account, tmp_path: Path) -> None:
    """A restore under another journal (another URL for the same server) finds what is there."""
    plan = [_out(n) for n in range(1, 9)]
    ws, journal = _journal(tmp_path, "first")
    _target(imap_account).write(plan[:5], journal)  # type: ignore[arg-type]
    other = ws.journal("imap://the-same-server-by-another-name/")
    assert _target(imap_account).write(plan, other) == 3  # type: ignore[arg-type]
    got = Counter(raw for raw, _f, _d in _on_server(imap_account)["INBOX"])
    assert got == Counter(o.raw for o in plan)
    ws.close()


def test_opening_the_target_connects_to_nothing() -> None:
    target = open_imap_target("imap://taro%40example.co.jp@127.0.0.1:1/")  # nothing listens on port 1
    assert target.description == "imap://taro%40example.co.jp@127.0.0.1:1/"


def test_a_folder_in_the_target_url_is_refused() -> None:
    with pytest.raises(TargetError, match="account only"):
        open_imap_target("imap://taro@127.0.0.1/INBOX")


# --- Through the command line: gather from one account, restore into another ----------------

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from mailrecover.cli import main  # noqa: E402

SOURCE = [  # (folder, n, flags)
    ("INBOX", 1, ()),
    ("INBOX", 2, ("\\Seen", "\\Answered")),
    ("INBOX", 3, ("\\Flagged",)),
    ("仕事", 4, ("\\Seen",)),
    ("仕事.見積もり", 5, ()),
    ("Sent", 6, ("\\Seen",)),
]


def _seed(account: Account, items: list[tuple[str, int, tuple[str, ...]]], **kw: int) -> None:
    client = account.client()
    for folder, n, flags in items:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.append(folder, message(n, japanese=n % 2 == 0, **kw), flags, BASE + timedelta(minutes=n))
    client.logout()


def _password_file(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "restore-password"
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def _all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_gather_then_restore_through_the_cli(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), new_imap_account()
    _seed(source, SOURCE)
    before = source.messages()
    ws = tmp_path / "ws"
    monkeypatch.setenv("MAILRECOVER_PASSWORD", source.password)
    assert main(["--workspace", str(ws), "gather", "--account", source.user, source.url()]) == 0
    first = capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "gather", "--account", source.user, source.url()]) == 0
    assert json.loads(capsys.readouterr().out)["new_copies"] == 0
    assert source.messages() == before  # not even \Seen moved

    monkeypatch.delenv("MAILRECOVER_PASSWORD")
    pw = _password_file(tmp_path, dest.password)
    restore = ["--workspace", str(ws), "--password-file", str(pw), "restore", "--account", source.user]
    assert (
        main([*restore, "--to", "imap://nobody@127.0.0.1:1/", "--dry-run"]) == 0
    )  # nothing there to ask: still a plan
    assert main([*restore, "--to", dest.url()]) == 0
    assert _on_server(dest) == _on_server(source)
    assert main([*restore, "--to", dest.url()]) == 0  # a rerun adds nothing
    assert _on_server(dest) == _on_server(source)

    out = capsys.readouterr()
    secrets = [source.password.encode(), dest.password.encode()]
    everything = (first.out + first.err + out.out + out.err).encode() + _all_bytes_under(ws)
    assert not any(s in everything for s in secrets)


def test_a_password_file_others_can_read_is_refused(
    imap_account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = _password_file(tmp_path, imap_account.password)
    pw.chmod(0o644)
    status = main(
        ["--workspace", str(tmp_path / "ws"), "--password-file", str(pw), "gather", imap_account.url()]
    )
    assert status == 2 and "chmod 600" in capsys.readouterr().err


def test_restore_killed_mid_upload_finishes_exactly_once_on_rerun(
    new_imap_account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    source, dest = new_imap_account(), new_imap_account()
    # more batches (of 200) than upload connections (4): killed at the second stored batch, at
    # most five were sent, so some were never sent, whatever the timing
    _seed(
        source,
        [("INBOX", n, ("\\Seen",) if n % 3 else ()) for n in range(1, 1211)]
        + [("仕事", n, ()) for n in range(1301, 1331)],
    )
    ws = tmp_path / "ws"
    monkeypatch.setenv("MAILRECOVER_PASSWORD", source.password)
    assert main(["--workspace", str(ws), "gather", "--account", source.user, source.url()]) == 0
    monkeypatch.setenv("MAILRECOVER_PASSWORD", dest.password)
    oks: list[bytes] = []
    child: list[subprocess.Popen[bytes]] = []

    def kill_at_second_ok(data: bytes) -> bool:
        if b"OK [APPENDUID" in data:
            oks.append(data)
            if len(oks) == 2:  # the server stored the batch; the journal still says pending
                child[0].send_signal(signal.SIGKILL)
                child[0].wait()
                return False
        return True

    def restore(port: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mailrecover",
                "--workspace",
                str(ws),
                "restore",
                "--account",
                source.user,
                "--to",
                dest.url(port=port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )

    with Proxy(dest.server.port, on_reply=kill_at_second_ok) as proxy:  # the same URL for both runs
        child.append(restore(proxy.port))
        child[0].communicate(timeout=120)
        assert child[0].returncode == -signal.SIGKILL
        # What the killed run had already handed to the network still reaches the server; a
        # rerun that starts before it lands finds it late (see the late-arrival test above).
        assert proxy.wait_idle()
        partial = sum(len(v) for v in _on_server(dest).values())
        assert 0 < partial < 1240  # the kill came mid-upload, after the server stored batches
        again = restore(proxy.port)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err.decode()
    got, want = _on_server(dest), _on_server(source)
    assert {k: Counter(v) for k, v in got.items()} == {k: Counter(v) for k, v in want.items()}, (
        f"rerun said: {err.decode()[-2000:]}\nserver log: {dest.server.log()[-3000:]}"
    )
    assert dest.password.encode() not in out + err + _all_bytes_under(ws)


def _expunge(account: Account, folder: str, raw: bytes) -> None:
    """What a user does in a mail client: delete one message for good."""
    client = account.client()
    try:
        client.select_folder(folder)
        body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        uids = [
            uid
            for uid, d in client.fetch(client.search("ALL"), ["BODY.PEEK[]"]).items()
            if d[b"BODY[]"] == body
        ]
        assert len(uids) == 1
        client.delete_messages(uids)
        client.expunge()
    finally:
        client.logout()


@pytest.mark.parametrize("uidplus", [True, False])
def test_a_message_expunged_after_the_restore_is_sent_again_once(
    imap_account: Account, tmp_path: Path, uidplus: bool
) -> None:
    ws, journal = _journal(tmp_path)
    plan = [_out(n) for n in range(1, 7)] + [_out(n, "Archive") for n in range(7, 10)]
    assert _target(imap_account).write(plan, journal) == len(plan)  # type: ignore[arg-type]
    if not uidplus:  # a server that gave no UIDs: the journal knows no more than "done"
        for o in plan:
            journal.mark(o.key, "done", "")  # type: ignore[attr-defined]
    _expunge(imap_account, "INBOX", plan[2].raw)
    _expunge(imap_account, "Archive", plan[7].raw)
    target = _target(imap_account)
    assert target.write(plan, journal) == 2  # type: ignore[arg-type]
    assert target.verification.repaired == 2 and target.verification.missing == 0
    assert target.verification.present == target.verification.planned == len(plan)
    got = {k: Counter(raw for raw, _f, _d in v) for k, v in _on_server(imap_account).items()}
    want = {k: Counter(raw for raw, _f, _d in v) for k, v in _expected(plan, {}).items()}
    assert got == want  # every message exactly once
    assert _target(imap_account).write(plan, journal) == 0  # type: ignore[arg-type]
    ws.close()


def test_an_expunged_message_is_back_after_a_rerun_and_report_shows_the_check(
    new_imap_account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from .support.builders import ACCOUNT, build_scenario

    dest = new_imap_account()
    s = build_scenario(tmp_path / "src", damaged=False)
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "-q", "gather", "--account", ACCOUNT, *map(str, s.locations)]) == 0
    pw = _password_file(tmp_path, dest.password)
    restore = [
        "--workspace",
        str(ws),
        "-q",
        "--password-file",
        str(pw),
        "restore",
        "--account",
        ACCOUNT,
        "--to",
        dest.url(),
    ]
    assert main(restore) == 0
    before = {k: Counter(raw for raw, _f, _d in v) for k, v in _on_server(dest).items()}
    victim = next(iter(before["INBOX"]))
    _expunge(dest, "INBOX", victim)
    assert main(restore) == 0
    after = {k: Counter(raw for raw, _f, _d in v) for k, v in _on_server(dest).items()}
    assert after == before and after["INBOX"][victim] == 1
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report"]) == 0
    planned = sum(sum(c.values()) for c in before.values())
    [(target, last)] = json.loads(capsys.readouterr().out)["accounts"][ACCOUNT]["verified"].items()
    assert target.startswith("imap://") and last["by"] == "restore"
    assert (last["planned"], last["present"], last["missing"], last["repaired"]) == (planned, planned, 0, 1)
