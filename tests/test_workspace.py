"""The workspace: private files, migrations, content-addressed bytes, the restore journal."""

from __future__ import annotations

import stat

import pytest

from mailrecover.errors import WorkspaceError
from mailrecover.workspace import MIGRATIONS, Workspace


def test_created_private_whatever_the_umask(tmp_path):
    import os

    old = os.umask(0)
    try:
        with Workspace(tmp_path / "ws") as ws:
            blob_file = ws.blobs.path(ws.blobs.put(b"hello"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ws" / "workspace.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(blob_file.stat().st_mode) == 0o600


def test_identical_bytes_are_kept_once(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        a = ws.blobs.put(b"same")
        b = ws.blobs.put(b"same")
        assert a == b and ws.raw(a) == b"same"
        assert len([p for p in (tmp_path / "ws" / "blobs").rglob("*") if p.is_file()]) == 1


def test_migrations_run_once_and_newer_workspaces_are_refused(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        names = [r[0] for r in ws.db.execute("SELECT name FROM migrations")]
        assert names == [n for n, _ in MIGRATIONS]
        ws.db.execute("INSERT INTO migrations VALUES ('999_future', 'x')")
    with pytest.raises(WorkspaceError, match="newer"):
        Workspace(tmp_path / "ws")


def test_journal_states_survive_reopening(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        j = ws.journal("maildir:/x")
        j.mark("k1", "pending")
        j.mark_many([("k1", "done", "cur/a"), ("k2", "done", "cur/b")])
    with Workspace(tmp_path / "ws") as ws:
        j = ws.journal("maildir:/x")
        assert (j.state("k1"), j.ref("k1"), j.state("k2"), j.state("k3")) == ("done", "cur/a", "done", None)
        assert ws.journal("mbox:/y").state("k1") is None


def test_bytes_kept_one_file_each_by_older_workspaces_are_still_found(tmp_path):
    import hashlib
    import sqlite3

    from mailrecover.workspace import _m001_core

    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    db = sqlite3.connect(ws_dir / "workspace.db", isolation_level=None)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied TEXT)")
    _m001_core(db)
    db.execute("INSERT INTO migrations VALUES ('001_core', 'then')")
    db.close()
    old = b"From: old@example.com\n\nkept before packs\n"
    digest = hashlib.sha256(old).hexdigest()
    loose = ws_dir / "blobs" / digest[:2] / digest[2:4] / digest
    loose.parent.mkdir(parents=True)
    loose.write_bytes(old)
    with Workspace(ws_dir) as ws:
        assert ws.raw(digest) == old
        assert ws.blobs.put(old) == digest
        assert ws.blobs.path(digest) == loose
        new = ws.blobs.put(b"new bytes")
        assert ws.raw(new) == b"new bytes"
    assert [p.stat().st_size for p in (ws_dir / "blobs" / "packs").iterdir()] == [len(b"new bytes")]


def test_a_batch_that_never_commits_leaves_no_name_without_bytes(tmp_path):
    with Workspace(tmp_path / "ws") as ws:
        ws.db.execute("BEGIN")
        digest = ws.blobs.put(b"in an unfinished batch")
        ws.db.execute("ROLLBACK")
        assert ws.db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
        with pytest.raises(WorkspaceError):
            ws.raw(digest)
        ws.db.execute("BEGIN")
        assert ws.blobs.put(b"in an unfinished batch") == digest  # written again, now named
        ws.commit()
    with Workspace(tmp_path / "ws") as ws:
        assert ws.raw(digest) == b"in an unfinished batch"


def test_bytes_that_cannot_be_written_leave_no_name_and_the_next_go_to_a_new_pack(tmp_path, monkeypatch):
    import errno
    import os

    import mailrecover.workspace as workspace

    with Workspace(tmp_path / "ws") as ws:
        ws.db.execute("BEGIN")
        first = ws.blobs.put(b"written before the disk filled")
        real_write = os.write

        def full(fd: int, data: bytes) -> int:
            real_write(fd, bytes(data[:5]))  # a part reaches the pack, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(workspace.os, "write", full)
        with pytest.raises(OSError):
            ws.blobs.put(b"lost to a full disk")
        monkeypatch.setattr(workspace.os, "write", real_write)
        later = ws.blobs.put(b"written once there was room")
        ws.commit()
        names = {r[0] for r in ws.db.execute("SELECT digest FROM blobs")}
        assert names == {first, later}
        assert ws.raw(first) == b"written before the disk filled"
        assert ws.raw(later) == b"written once there was room"
    assert len(list((tmp_path / "ws" / "blobs" / "packs").iterdir())) == 2


def _index_names(path) -> set[str]:
    import sqlite3

    with sqlite3.connect(path / "workspace.db") as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_bulk_writes_leave_reader_indexes_out_and_build_them_at_the_end_or_the_next_open(tmp_path):
    import subprocess
    import sys

    readers = {"messages_by_status", "messages_by_folder", "journal_by_key"}
    with Workspace(tmp_path / "ws") as ws:
        with ws.rewriting_messages():
            assert not _index_names(tmp_path / "ws") & {"messages_by_status", "messages_by_folder"}
        with ws.restoring():
            assert "journal_by_key" not in _index_names(tmp_path / "ws")
        assert readers <= _index_names(tmp_path / "ws")
    killed = (
        "import os, sys\n"
        "from mailrecover.workspace import Workspace\n"
        "ws = Workspace(sys.argv[1])\n"
        "held = [ws.rewriting_messages(), ws.restoring()]\n"
        "for block in held:\n"
        "    block.__enter__()\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", killed, str(tmp_path / "ws")], check=False)
    assert not readers & _index_names(tmp_path / "ws")
    # Opened while another process writes, the workspace does not wait to build them ...
    import sqlite3

    busy = sqlite3.connect(tmp_path / "ws" / "workspace.db", isolation_level=None)
    busy.execute("BEGIN IMMEDIATE")
    with Workspace(tmp_path / "ws") as reader:
        assert reader.db.execute("SELECT count(*) FROM journal").fetchone() == (0,)
    assert not readers & _index_names(tmp_path / "ws")
    busy.execute("ROLLBACK")
    busy.close()
    # ... and builds them at the next open that finds nobody writing.
    with Workspace(tmp_path / "ws"):
        pass
    assert readers <= _index_names(tmp_path / "ws")
