"""Hostile IMAP servers: gather stops with a clear problem, in bounded time and memory,
and keeps what it fetched before the server went wrong.

The first tests check the scripted server itself with the standard library's client; the
ones against the ``imap`` gather plugin skip until that plugin is registered.
"""

from __future__ import annotations

import imaplib
import tracemalloc
from pathlib import Path

import pytest

from mailrecover.gather import gather
from mailrecover.model import Problem, ProblemKind
from mailrecover.plugin import load_plugins
from mailrecover.workspace import Workspace

from .support.hostile_imap import BAD_UTF7_FOLDERS, HostileIMAP

ACCOUNT = "taro@example.co.jp"
MAILS = [
    b"From: hanako@example.com\r\nTo: taro@example.co.jp\r\nSubject: mail %d\r\n"
    b"Message-ID: <m%d@example.com>\r\nDate: Mon, 18 Jun 2012 10:%02d:00 +0900\r\n\r\nbody of mail %d\r\n"
    % (i, i, i, i)
    for i in range(5)
]
HOSTILE = ("short-literal", "huge-literal", "endless", "endless-line", "lying-size")


def _client(server: HostileIMAP) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", server.port, timeout=5)
    c.login(server.user, server.password)
    return c


def test_the_honest_server_serves_every_message_exactly() -> None:
    with HostileIMAP("honest", MAILS) as server:
        c = _client(server)
        c.select("INBOX", readonly=True)
        _, data = c.fetch("1:*", "(UID BODY.PEEK[])")
        c.logout()
    assert [d[1] for d in data if isinstance(d, tuple)] == MAILS
    assert not server.state.gave_up and not server.state.misbehaved


@pytest.mark.parametrize("behaviour", HOSTILE)
def test_each_hostile_server_serves_the_good_mail_then_misbehaves(behaviour: str) -> None:
    with HostileIMAP(behaviour, MAILS, good=2, cap_bytes=4 << 20, cap_seconds=30) as server:
        c = _client(server)
        c.select("INBOX", readonly=True)
        _, data = c.fetch("1:2", "(UID BODY.PEEK[])")
        assert [d[1] for d in data if isinstance(d, tuple)] == MAILS[:2]
        with pytest.raises((imaplib.IMAP4.error, OSError, MemoryError)):
            c.fetch("3", "(UID BODY.PEEK[])")
    assert server.state.misbehaved


def test_the_server_bounds_itself_when_the_client_does_not() -> None:
    with HostileIMAP("endless", MAILS, good=0, cap_bytes=256 << 10, cap_seconds=30) as server:
        c = _client(server)
        c.select("INBOX", readonly=True)
        with pytest.raises(imaplib.IMAP4.abort):  # the standard client keeps reading: the server hangs up
            c.fetch("1", "(UID BODY.PEEK[])")
    assert server.state.gave_up and server.state.sent <= 256 << 10


def test_bad_utf7_folder_names_are_listed_as_raw_bytes() -> None:
    with HostileIMAP("bad-utf7", MAILS) as server:
        c = _client(server)
        _, names = c.list()
        c.logout()
    listed = b"\n".join(n if isinstance(n, bytes) else b"".join(n) for n in names)
    assert all(name in listed for name in BAD_UTF7_FOLDERS)


# --- the imap gather plugin -------------------------------------------------------------

needs_imap = pytest.mark.skipif("imap" not in load_plugins(), reason="the imap plugin has not landed yet")


@pytest.fixture
def quick_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The imap plugin as registered, but giving up on a silent server after 5 s, not 60."""
    from mailrecover.imapconn import ConnectionSettings

    plugins = load_plugins()
    monkeypatch.setitem(plugins, "imap", type(plugins["imap"])(ConnectionSettings(timeout=5.0)))


def _gather(server: HostileIMAP, ws_path: Path) -> tuple[list[Problem], list[bytes], int]:
    tracemalloc.start()
    try:
        with Workspace(ws_path) as ws:
            result = gather(ws, [server.url], account=ACCOUNT, password=lambda prompt: server.password)
            kept = [ws.raw(b) for (b,) in ws.db.execute("SELECT blob FROM copies ORDER BY id")]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result.problems, kept, peak


#: Enough good mail before the bad message that a reader fetching in batches has finished
#: at least one batch before it: those messages were fetched before the damage.
MANY = [MAILS[0].replace(b"mail 0", b"mail %d" % i).replace(b"<m0@", b"<many%d@" % i) for i in range(1200)]


@needs_imap
@pytest.mark.parametrize("behaviour", HOSTILE)
def test_gather_stops_on_a_hostile_server_and_keeps_what_came_before(
    behaviour: str, tmp_path: Path, quick_timeout: None
) -> None:
    with HostileIMAP(behaviour, MANY + MAILS, good=len(MANY), cap_bytes=64 << 20, cap_seconds=30) as server:
        problems, kept, peak = _gather(server, tmp_path / "ws")
    assert server.state.misbehaved
    assert not server.state.gave_up, "the plugin kept reading until the server itself gave up"
    assert kept and kept == MANY[: len(kept)]  # what was fetched before the damage is kept, exactly
    assert not [p for p in problems if p.reason.startswith("plugin imap stopped: ")], "the plugin crashed"
    serious = [
        p
        for p in problems
        if p.kind in (ProblemKind.UNREADABLE, ProblemKind.DAMAGED, ProblemKind.TRUNCATED, ProblemKind.LIMIT)
    ]
    assert serious and all(p.source and p.reason.strip() and "\n" not in p.reason for p in serious)
    assert peak < 128 << 20, f"{peak >> 20} MiB traced while the server flooded"


@needs_imap
def test_gather_reads_folders_with_invalid_utf7_names(tmp_path: Path, quick_timeout: None) -> None:
    with HostileIMAP("bad-utf7", MAILS[:1]) as server:
        problems, kept, _ = _gather(server, tmp_path / "ws")
    assert not server.state.gave_up
    assert MAILS[0] in kept
    # every folder is read (its one message kept) or reported as one that cannot be selected
    unselectable = [p for p in problems if "cannot be selected" in p.reason]
    assert len(kept) + len(unselectable) == 1 + len(BAD_UTF7_FOLDERS)
    assert not [p for p in problems if p.reason.startswith("plugin imap stopped: ")]


SERIOUS = (ProblemKind.UNREADABLE, ProblemKind.DAMAGED, ProblemKind.TRUNCATED, ProblemKind.LIMIT)
#: Lies about one message that leave the others readable: only the liar may be lost.  With a
#: response budget above its 10 MB, the short literal is waited for until the server falls silent.
ONE_LIAR = [
    ("lying-size", ""),
    ("short-literal", ""),
    ("short-literal", "16M"),
    ("huge-literal", ""),
    ("endless-line", ""),
]


@needs_imap
@pytest.mark.parametrize(("behaviour", "budget"), ONE_LIAR)
def test_one_lying_message_in_a_batch_costs_only_itself(
    behaviour: str, budget: str, tmp_path: Path, quick_timeout: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILRECOVER_MAX_RESPONSE_BYTES", budget)  # '': the default
    mails = MANY[:20]
    with HostileIMAP(behaviour, mails, liars={8}, cap_bytes=64 << 20, cap_seconds=30) as server:
        problems, kept, _ = _gather(server, tmp_path / "ws")
    assert server.state.misbehaved and not server.state.gave_up
    assert kept == mails[:7] + mails[8:]  # every other message of the batch, exact bytes
    serious = [p for p in problems if p.kind in SERIOUS]
    assert [p.position for p in serious] == ["42:8"]
    assert "\n" not in serious[0].reason and "the message could not be fetched" in serious[0].reason
    assert server.state.commands.count("UID FETCH") == 1 + 1 + 20  # sizes, the batch, each alone


@needs_imap
def test_too_many_liars_leave_the_rest_of_the_folder_for_a_rerun(
    tmp_path: Path, quick_timeout: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILRECOVER_MAX_FETCH_FAILURES", "2")
    mails = MANY[:10]
    with HostileIMAP("lying-size", mails, liars={3, 4, 5, 6}, cap_seconds=30) as server:
        problems, kept, _ = _gather(server, tmp_path / "ws")
        assert kept == mails[:2]
        assert [p.position for p in problems if p.kind in SERIOUS] == ["42:3", "42:4", "42:5", ""]
        assert "MAILRECOVER_MAX_FETCH_FAILURES" in problems[-1].reason
        assert "other 5 messages were not fetched" in problems[-1].reason
        server.liars = {5}  # the rerun starts again at the batch that failed
        problems, kept, _ = _gather(server, tmp_path / "ws")
    assert sorted(kept) == sorted(mails[:4] + mails[5:])
    assert [p.position for p in problems if p.kind in SERIOUS] == ["42:5"]


@needs_imap
def test_an_endless_answer_ends_the_folder_but_not_the_account(tmp_path: Path, quick_timeout: None) -> None:
    others = {b"Archive": MANY[:3]}
    with HostileIMAP(
        "endless", MANY[:10], liars={4}, other_folders=others, cap_bytes=64 << 20, cap_seconds=30
    ) as server:
        problems, kept, peak = _gather(server, tmp_path / "ws")
    assert not server.state.gave_up
    assert kept[:3] == MANY[:3] and sorted(kept[3:]) == sorted(
        MANY[:3]
    )  # INBOX up to the flood, Archive whole
    assert [p.position for p in problems if p.kind in SERIOUS] == ["42:4", ""]
    assert "MAILRECOVER_MAX_RESPONSE_BYTES" in problems[0].reason
    assert peak < 64 << 20
