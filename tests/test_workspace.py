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
            digest = ws.blobs.put(b"hello")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ws" / "workspace.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(ws.blobs.path(digest).stat().st_mode) == 0o600


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
