"""The gather stage's storage: the same workspace whatever the pool size, batch by batch."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from mailrecover.gather import gather
from mailrecover.merged import ensure_merged
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, build_scenario


def _content(ws: Workspace) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    copies = ws.db.execute(
        "SELECT id, source, position, blob, folder, flags, message_id, head_fp, body_fp, "
        "content_fp, delivered_to, message FROM copies ORDER BY id"
    ).fetchall()
    messages = ws.db.execute(
        "SELECT id, key, canonical, folder, flags, copies, status FROM messages ORDER BY id"
    ).fetchall()
    return copies, messages


def test_same_workspace_whatever_the_pool_size(tmp_path: Path):
    s = build_scenario(tmp_path / "src")
    results = []
    for jobs, batch in ((1, 200), (2, 3), (3, 1)):
        with Workspace(tmp_path / f"ws-{jobs}") as ws:
            r = gather(ws, [str(p) for p in s.locations], account=ACCOUNT, jobs=jobs, batch=batch)
            ensure_merged(ws)
            results.append(((r.copies, r.new_copies, len(r.problems)), _content(ws)))
    assert results[0][0][0] == 19
    assert results[1] == results[0] and results[2] == results[0]


def test_gathering_again_adds_nothing_and_keeps_every_byte(tmp_path: Path):
    s = build_scenario(tmp_path / "src")
    with Workspace(tmp_path / "ws") as ws:
        first = gather(ws, [str(p) for p in s.locations], account=ACCOUNT, jobs=2, batch=2)
        again = gather(ws, [str(p) for p in s.locations], account=ACCOUNT, jobs=2, batch=2)
        assert (first.new_copies, again.copies, again.new_copies) == (19, 19, 0)
        blobs = ws.db.execute("SELECT DISTINCT blob FROM copies").fetchall()
        packed = ws.db.execute("SELECT count(*), sum(length) FROM blobs").fetchone()
        assert packed[0] == len(blobs)
        assert packed[1] == sum(len(ws.raw(b)) for (b,) in blobs)
        packs = list((tmp_path / "ws" / "blobs" / "packs").iterdir())
        assert sum(p.stat().st_size for p in packs) == packed[1]  # nothing written twice


def test_a_long_listing_is_sorted_in_runs_with_the_same_order(tmp_path, monkeypatch):
    """Directories bigger than one sort run are merged from sorted runs: the same names, in
    the same order as one sort, undecodable names included."""
    from mailrecover import readonly

    folder = tmp_path / "many"
    folder.mkdir()
    names = [f"{n:05d}.{'xyz'[n % 3]}" for n in range(0, 2500, 7)] + ["Z", "a", "é", "日本"]
    for name in names:
        (folder / name).write_bytes(b"")
    (folder / os.fsdecode(b"cp932-\x93\xfa")).write_bytes(b"")
    whole = sorted(os.listdir(folder))
    monkeypatch.setattr(readonly, "SORT_RUN", 7)
    assert list(readonly.sorted_names(folder)) == whole
    monkeypatch.setattr(readonly, "SORT_RUN", 50_000)
    assert list(readonly.sorted_names(folder)) == whole
    with pytest.raises(FileNotFoundError):
        readonly.sorted_names(tmp_path / "missing")  # at once, not when the names are read


def _lookup_plans(ws: Workspace) -> list[str]:
    """The index each of the merge's look-ups would use ('' for none, a scan)."""
    plans = []
    for where in (
        "account = 'a' AND message_id = 'm'",
        "account = 'a' AND content_fp = 'f'",
        "message = 1",
        "account = 'a' AND head_fp = 'h'",
    ):
        detail = " ".join(
            r[3] for r in ws.db.execute(f"EXPLAIN QUERY PLAN SELECT id FROM copies WHERE {where}")
        )
        plans.append(detail.split("INDEX ")[1].split()[0] if "INDEX " in detail else "")
    return plans


LOOKUPS = ["copies_by_message_id", "copies_by_content", "copies_by_message", "copies_by_head"]


def test_a_first_gather_builds_the_lookup_indexes_at_its_end_or_the_next_open(tmp_path: Path):
    s = build_scenario(tmp_path / "src")
    with Workspace(tmp_path / "ws") as ws:
        gather(ws, [str(p) for p in s.locations], account=ACCOUNT, jobs=1)
        assert _lookup_plans(ws) == LOOKUPS  # built once the copies were in
        ensure_merged(ws)
        gathered = _content(ws)
    # A gather killed inside the block leaves them out; the next open builds them again.
    killed = (
        "import os, sys\n"
        "from mailrecover.workspace import Workspace\n"
        "held = Workspace(sys.argv[1]).loading_copies()\n"
        "held.__enter__()\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", killed, str(tmp_path / "killed")], check=False)
    with sqlite3.connect(tmp_path / "killed" / "workspace.db") as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & set(LOOKUPS)
    with Workspace(tmp_path / "killed") as ws:
        assert _lookup_plans(ws) == LOOKUPS
        gather(ws, [str(p) for p in s.locations], account=ACCOUNT, jobs=1)
        ensure_merged(ws)
        assert _content(ws) == gathered


def test_a_giant_copy_is_fingerprinted_in_its_turn(tmp_path: Path):
    """A copy over a pool batch is summarised in the gathering process, not pickled to a worker:
    the workspace is the same as with one process, order included."""
    from mailrecover.gather import _BATCH_BYTES

    box = tmp_path / "src" / "Archive.mbox"
    box.parent.mkdir()
    sizes = [1, 1, _BATCH_BYTES + 5, 1, 1]
    with box.open("wb") as f:
        for n, size in enumerate(sizes):
            f.write(
                b"From a@b Mon Jun 11 09:00:00 2012\nFrom: a@example.com\nSubject: %d\n"
                b"Message-ID: <%d@example.com>\n\n" % (n, n) + b"y" * size + b"\n\n"
            )
    results = []
    for jobs, batch in ((1, 200), (2, 1)):
        with Workspace(tmp_path / f"ws-{jobs}") as ws:
            r = gather(ws, [str(box)], account=ACCOUNT, jobs=jobs, batch=batch)
            ensure_merged(ws)
            results.append(((r.copies, len(r.problems)), _content(ws)))
    assert results[0][0] == (5, 0) and results[1] == results[0]
    assert [row[6] for row in results[0][1][0]] == [f"{n}@example.com" for n in range(5)]


def _held_after_walk(tmp_path: Path, stores: int, monkeypatch: pytest.MonkeyPatch, *, by_owner: bool) -> int:
    """Python memory still held when the walk of ``stores`` one-message ``.eml`` files ends
    (measured as the gather closes its coverage, before anything it held is let go)."""
    from mailrecover.byowner import job_accounts
    from mailrecover.workspace import coverage

    src = tmp_path / f"src-{stores}" / ("a-folder-name-long-enough-to-count-" * 3)
    src.mkdir(parents=True)
    for i in range(stores):
        (src / f"saved-message-number-{i:06d}.eml").write_bytes(
            f"From: a@example.jp\r\nTo: {ACCOUNT}\r\nDelivered-To: {ACCOUNT}\r\n"
            f"Message-ID: <{i}@example.jp>\r\nSubject: {i}\r\n\r\nbody {i}\r\n".encode()
        )
    held: list[int] = []
    close = coverage.Coverage.close

    def measured(self: coverage.Coverage) -> None:
        held.append(tracemalloc.get_traced_memory()[0])
        close(self)

    monkeypatch.setattr(coverage.Coverage, "close", measured)
    with Workspace(tmp_path / f"ws-{stores}") as ws:
        accounts = job_accounts(ws, {ACCOUNT: ()}) if by_owner else None
        tracemalloc.start()
        try:
            r = gather(ws, [str(src)], account="" if by_owner else ACCOUNT, jobs=1, by_owner=accounts)
        finally:
            tracemalloc.stop()
    assert r.copies == stores
    return held[0]


@pytest.mark.parametrize("by_owner", [False, True], ids=["gather", "by-owner"])
def test_what_gather_holds_does_not_grow_with_the_number_of_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_owner: bool
):
    # A folder of saved .eml files is one store a file: a million of them must not cost a
    # million of anything kept in memory (each store's path once cost 190 bytes at 1M copies).
    _held_after_walk(tmp_path, 20, monkeypatch, by_owner=by_owner)  # every lazy import done first
    few = _held_after_walk(tmp_path, 200, monkeypatch, by_owner=by_owner)
    many = _held_after_walk(tmp_path, 2600, monkeypatch, by_owner=by_owner)
    per_store = (many - few) / 2400  # a path of ~200 characters kept a store cost 365 bytes; its id 120
    assert per_store < 80, f"{per_store:.0f} bytes held per store read"
