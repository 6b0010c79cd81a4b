"""The gather stage's storage: the same workspace whatever the pool size, batch by batch."""

from __future__ import annotations

from pathlib import Path

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
