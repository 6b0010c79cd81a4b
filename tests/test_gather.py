"""The gather stage's storage: the same workspace whatever the pool size, batch by batch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailrecover.gather import gather
from mailrecover.restore import ensure_merged
from mailrecover.workspace import Workspace

from .builders import ACCOUNT, build_scenario


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
