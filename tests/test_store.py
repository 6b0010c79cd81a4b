"""The workspace's query layer (``mailrecover/workspace/store.py``): each save_* and its readers,
on an in-memory database made by the migrations, or on a workspace where bytes are kept."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from mailrecover import workspace
from mailrecover.fingerprint import summarize
from mailrecover.model import Copy, Evidence, Flag, Problem, ProblemKind
from mailrecover.workspace import Workspace, migrations, store

ACCOUNT = "taro@example.co.jp"
WHEN = datetime(2012, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def db():
    """A fresh schema in memory, made by the migrations as a workspace makes it."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for _name, step in migrations.MIGRATIONS:
        step(conn)
    yield conn
    conn.close()


def _raw(n: int, message_id: str | None = None, body: str = "") -> bytes:
    mid = f"Message-ID: <{message_id}>\n" if message_id else ""
    return (
        f"From: sender{n}@example.org\nTo: {ACCOUNT}\nSubject: mail {n}\n"
        f"Date: Sun, 4 Mar 2012 05:06:0{n % 10} +0000\n{mid}\n{body or f'body {n}'}\n"
    ).encode()


def test_the_migrations_are_their_own_module_in_their_shipped_order():
    assert workspace.MIGRATIONS is migrations.MIGRATIONS
    assert [name for name, _ in migrations.MIGRATIONS][:9] == [
        "001_core",
        "002_delivery_lookup",
        "003_speed",
        "004_recheck_ownership",
        "005_journal_by_key",
        "007_aliases",
        "006_arrival_times",
        "009_log_times",
        "008_verifications",
    ]
    assert all(step.__name__ == f"_m{name}" for name, step in migrations.MIGRATIONS)


def test_evidence_is_stored_once_and_read_back_by_kind_and_address(db):
    fields = {
        "message_id": "<a@x>",
        "sender": "s@example.org",
        "recipient": "Taro@Example.co.jp",
        "status": "sent",
        "size": "1200",
        "relay": "local",
    }
    delivery = Evidence("delivery", "/var/log/mail.log", "7", WHEN, fields)
    member = Evidence("subscribe", "/var/lib/mailman/logs/subscribe", "1", None, {"address": "太郎@例え.jp"})
    assert not store.logs_gathered(db)
    loc = 1
    db.execute("INSERT INTO locations VALUES (1, '/var/log', 'postfix-log', '', '', 'then', 'then')")
    for e in (delivery, member, delivery):  # the same record twice: kept once
        store.save_evidence(db, loc, "", "dev@lists.example.org", e)
    assert store.logs_gathered(db)
    assert store.evidence_counts(db) == {"delivery": 1, "subscribe": 1}
    assert list(store.all_evidence(db)) == [delivery, member]
    records = list(store.delivery_records(db, "recipient", ACCOUNT))
    assert records == [
        (1, WHEN.isoformat(), "<a@x>", "s@example.org", "Taro@Example.co.jp", "sent", "1200", "local")
    ]
    assert list(store.delivery_records(db, "sender", ACCOUNT)) == []
    assert store.named_in_logs(db, ACCOUNT) and store.named_in_logs(db, "s@example.org")
    assert not store.named_in_logs(db, "other@example.org")
    assert list(store.delivery_subjects(db, "recipient", ACCOUNT)) == []  # this log kept no subject
    kept = Evidence(
        "delivery", "/var/log/mail.log", "8", WHEN, {**fields, "message_id": "<b@x>", "subject": "件名"}
    )
    store.save_evidence(db, loc, "", "", kept)
    assert list(store.delivery_subjects(db, "recipient", ACCOUNT)) == [("<b@x>", "件名")]


def test_problems_and_skipped_files_are_kept_once_per_account(db):
    bad = Problem(ProblemKind.UNREADABLE, "/rescue/x.pst", "12", "cut short")
    for _ in range(2):
        store.save_problem(db, None, ACCOUNT, bad)
        store.save_skipped(db, "/rescue/notes.txt", ACCOUNT)
    store.save_problem(db, None, "other@example.org", bad)
    assert store.count_problems(db, ACCOUNT) == 1
    assert list(store.problems(db, ACCOUNT)) == [("unreadable", "/rescue/x.pst", "12", "cut short", ACCOUNT)]
    assert len(list(store.problems(db))) == 2
    assert store.count_skipped(db) == 1 and store.skipped_paths(db) == ["/rescue/notes.txt"]


def test_a_copy_is_stored_once_and_found_again(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location("/rescue/Inbox", "mbox", ACCOUNT)
        assert not store.has_copies(ws.db, ACCOUNT) and not store.location_has_copies(ws.db, ACCOUNT, loc)
        copy = Copy(
            raw=_raw(1, "one@x"),
            folder="INBOX",
            source="/rescue/Inbox",
            position="0",
            flags=frozenset({Flag.SEEN, Flag.FLAGGED}),
            internal_date=WHEN,
        )
        assert store.save_copy(ws, loc, ACCOUNT, copy, summarize(copy.raw)) is True
        assert (
            store.save_copy(ws, loc, ACCOUNT, copy, summarize(copy.raw)) is False
        )  # the same copy gathered again
        blob = ws.db.execute("SELECT blob FROM copies").fetchone()[0]
        assert ws.raw(blob) == copy.raw
        assert store.copy_known(ws.db, ACCOUNT, "/rescue/Inbox", "0", blob)
        assert not store.copy_known(ws.db, "other@example.org", "/rescue/Inbox", "0", blob)
        assert store.location_has_copies(ws.db, ACCOUNT, loc) and store.count_copies(ws.db, ACCOUNT) == 1
        (row,) = store.copies_for_merge(ws.db, ACCOUNT, "message_id")
        assert row[1] == "one@x" and row[4] == "INBOX" and row[5] == "flagged,seen"
        assert list(store.copies_for_merge(ws.db, ACCOUNT, "whole_without_message_id")) == []


def test_a_copy_gathered_before_arrival_times_is_redated_and_its_account_merged_again(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        loc = ws.location("/rescue/Inbox", "mbox", ACCOUNT)
        copy = Copy(
            raw=_raw(2, "two@x"), folder="INBOX", source="/rescue/Inbox", position="0", internal_date=WHEN
        )
        store.save_copy(ws, loc, ACCOUNT, copy, summarize(copy.raw))
        store.mark_merged(ws.db, ACCOUNT)
        ws.db.execute("UPDATE copies SET arrival = NULL, arrival_source = 'legacy'")  # as 006 left it
        assert store.save_copy(ws, loc, ACCOUNT, copy, summarize(copy.raw)) is False
        assert ws.db.execute("SELECT arrival_source FROM copies").fetchone()[0] == "store"
        assert dict(store.merge_states(ws.db)) == {ACCOUNT: None}


def test_messages_verdicts_and_aliases(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        db = ws.db
        loc = ws.location("/rescue", "eml", ACCOUNT)
        for n in (1, 2):
            copy = Copy(raw=_raw(n, "same@x"), folder="INBOX", source=f"/rescue/{n}.eml", position="")
            store.save_copy(ws, loc, ACCOUNT, copy, summarize(copy.raw))
        ids = [r[0] for r in store.copies_for_merge(db, ACCOUNT, "message_id")]
        with store.transaction(db):
            message = store.save_message(
                db, ACCOUNT, "k1", ids[0], "INBOX", "seen", None, "none", "same@x", 2
            )
            store.link_copies(db, [(message, i) for i in ids])
        assert sorted(r[0] for r in store.copies_of_message(db, message)) == ids
        assert [r[0] for r in store.copy_places(db, message)] == ["/rescue/1.eml", "/rescue/2.eml"]
        assert store.has_unchecked(db, ACCOUNT)
        store.set_verdicts(db, [("quarantined", "delivered to other@example.org", ids[1], message)])
        assert not store.has_unchecked(db, ACCOUNT)
        assert [r[0] for r in store.quarantined(db, ACCOUNT)] == [message]
        assert list(store.quarantined_messages(db, ACCOUNT)) == [
            ("same@x", "mail 2", "delivered to other@example.org", "INBOX", "seen", None)
        ]  # and where it would go, and when it arrived: a selective restore holds back only what it takes
        with store.transaction(db):
            store.save_aliases(db, ACCOUNT, ["info@example.co.jp"])
        assert store.aliases(db, ACCOUNT) == ("info@example.co.jp",)
        assert store.has_unchecked(db, ACCOUNT)  # a new alias: every verdict is made again


def test_a_transaction_that_fails_leaves_nothing(db):
    with pytest.raises(RuntimeError), store.transaction(db):
        store.save_skipped(db, "/a", "")
        raise RuntimeError("interrupted")
    assert store.count_skipped(db) == 0 and not db.in_transaction


def test_a_joined_transaction_is_the_callers_when_one_is_open(db):
    db.execute("BEGIN")
    with store.joined_transaction(db):
        store.save_skipped(db, "/a", "")
    assert db.in_transaction  # the caller's, still open: it decides
    db.execute("ROLLBACK")
    assert store.count_skipped(db) == 0
    with pytest.raises(RuntimeError), store.joined_transaction(db):
        store.save_skipped(db, "/b", "")
        raise RuntimeError("interrupted")
    assert store.count_skipped(db) == 0 and not db.in_transaction
    with store.joined_transaction(db):
        store.save_skipped(db, "/c", "")
    assert store.count_skipped(db) == 1 and not db.in_transaction
