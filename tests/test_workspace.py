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
        names = [r[0] for r in ws.db.execute("SELECT name FROM migrations ORDER BY rowid")]  # as they ran
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

    from mailrecover.workspace.migrations import _m001_core

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


# --- one writer at a time; readers on a read-only workspace -----------------------------------

_HOLD = """
import sys
from mailrecover.workspace import Workspace
with Workspace(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()
"""


def _mbox(folder, n: int = 3):
    import os

    os.makedirs(folder, exist_ok=True)
    path = folder / "saved.mbox"
    path.write_bytes(
        b"".join(
            b"From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nTo: taro@example.co.jp\n"
            b"Message-ID: <%d@example.org>\nSubject: n%d\nDate: Mon, 1 Jan 2024 00:00:0%d +0000\n\nbody %d\n\n"
            % (i, i, i, i)
            for i in range(n)
        )
    )
    return path


class _Holder:
    """Another process holding the workspace as a writer, until closed."""

    def __init__(self, ws) -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(ws)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "holding\n"

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        assert self.proc.wait() == 0
        self.proc.stdout.close()


def test_a_second_writer_exits_2_naming_the_holder_and_changes_nothing(tmp_path, capsys):
    from mailrecover.cli import main

    mbox = _mbox(tmp_path / "src")
    ws = tmp_path / "ws"
    holder = _Holder(ws)
    try:
        assert main(["--workspace", str(ws), "gather", "--account", "taro@example.co.jp", str(mbox)]) == 2
        err = capsys.readouterr().err
        assert f"process {holder.proc.pid}" in err and "Traceback" not in err
        assert (
            main(
                [
                    "--workspace",
                    str(ws),
                    "restore",
                    "--account",
                    "taro@example.co.jp",
                    "--to",
                    f"maildir:{tmp_path / 'out'}",
                ]
            )
            == 2
        )
        assert f"process {holder.proc.pid}" in capsys.readouterr().err
    finally:
        holder.close()
    with Workspace(ws) as w:
        assert w.db.execute("SELECT count(*) FROM copies").fetchone()[0] == 0
        assert w.db.execute("SELECT count(*) FROM locations").fetchone()[0] == 0
    assert not (tmp_path / "out").exists()
    assert main(["--workspace", str(ws), "gather", "--account", "taro@example.co.jp", str(mbox)]) == 0


def test_a_reader_reads_what_a_writer_has_committed_while_it_holds_the_workspace(tmp_path, capsys):
    import json

    from mailrecover.cli import main

    ws = tmp_path / "ws"
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "gather",
                "--account",
                "taro@example.co.jp",
                str(_mbox(tmp_path / "src")),
            ]
        )
        == 0
    )
    assert main(["--workspace", str(ws), "report"]) == 0  # merged and checked
    capsys.readouterr()
    holder = _Holder(ws)
    try:
        assert main(["--workspace", str(ws), "--json", "report"]) == 0
        out = capsys.readouterr()
        assert json.loads(out.out)["accounts"]["taro@example.co.jp"]["messages"] == 3
        assert f"process {holder.proc.pid}" in out.err
        assert main(["--workspace", str(ws), "members"]) == 0
    finally:
        holder.close()


def test_two_gathers_at_once_on_a_new_workspace_never_crash(tmp_path):
    """One gets the workspace; the other gathers too or exits 2 naming it, never a traceback."""
    import subprocess
    import sys

    mbox = _mbox(tmp_path / "src")
    for round_ in range(8):
        ws = tmp_path / f"ws{round_}"
        cmd = [
            sys.executable,
            "-m",
            "mailrecover",
            "--workspace",
            str(ws),
            "gather",
            "--account",
            "taro@example.co.jp",
            str(mbox),
        ]
        procs = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
        ]
        results = [(p.pid, p.wait(), p.communicate()[1]) for p in procs]
        assert {rc for _, rc, _ in results} <= {0, 2}, results
        assert 0 in {rc for _, rc, _ in results}, results
        for pid, rc, err in results:
            assert "Traceback" not in err
            if rc == 2:
                other = next(p for p, _, _ in results if p != pid)
                assert f"in use by process {other}" in err
        with Workspace(ws) as w:
            assert w.db.execute("SELECT count(*) FROM copies").fetchone()[0] == 3


_READ_ONLY = """set -e
mount --bind "$1" "$1"
mount -o remount,bind,ro "$1"
shift
exec "$@"
"""


def _read_only_run(ws, *args):
    """Run mailrecover on ``ws`` as it really is read-only: as root, inside a private mount
    namespace where the workspace is a read-only bind mount (root ignores permission bits but
    not a read-only mount); otherwise with its write permissions taken away.  Also checks, in the
    same conditions, that the database really cannot be opened for writing."""
    import os
    import shutil
    import subprocess
    import sys

    probe = [sys.executable, "-c", "import sys; open(sys.argv[1], 'r+b')", str(ws / "workspace.db")]
    command = [sys.executable, "-m", "mailrecover", "--workspace", str(ws), *args]
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "-m", "true"], capture_output=True).returncode:
            pytest.skip("running as root without a private mount namespace to make a read-only mount")
        wrap = [unshare, "-m", "--propagation", "private", "sh", "-c", _READ_ONLY, "sh", str(ws)]
        assert subprocess.run(wrap + probe, capture_output=True).returncode != 0  # truly read-only
        return subprocess.run(wrap + command, capture_output=True, text=True)
    for path in [ws, *ws.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        assert subprocess.run(probe, capture_output=True).returncode != 0
        return subprocess.run(command, capture_output=True, text=True)
    finally:
        for path in [ws, *ws.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_report_and_members_read_a_read_only_workspace_and_leave_it_as_it_was(tmp_path, capsys):
    import json

    from mailrecover.cli import main

    from .support.builders import snapshot
    from .support.lists_builders import MAILMAN_LIST, build_mailman

    ws = tmp_path / "ws"
    var, _owner = build_mailman(tmp_path / "lists")
    assert main(["--workspace", str(ws), "gather", "--list", MAILMAN_LIST, str(var)]) == 0
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "gather",
                "--account",
                "taro@example.co.jp",
                str(_mbox(tmp_path / "src")),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report"]) == 0  # merged and checked while writable
    expected = json.loads(capsys.readouterr().out)
    assert main(["--workspace", str(ws), "members", "--list", MAILMAN_LIST, "--format", "mailman2"]) == 0
    members = capsys.readouterr().out
    before = snapshot(ws)

    report = _read_only_run(ws, "--json", "report")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["accounts"] == expected["accounts"]
    listed = _read_only_run(ws, "members", "--list", MAILMAN_LIST, "--format", "mailman2")
    assert (listed.returncode, listed.stdout) == (0, members), listed.stderr
    gather = _read_only_run(ws, "gather", str(tmp_path / "src"))
    assert gather.returncode == 1 and "read-only" in gather.stderr and "Traceback" not in gather.stderr
    assert snapshot(ws) == before


def test_a_read_only_workspace_that_needs_merging_says_so(tmp_path):
    from mailrecover.cli import main

    ws = tmp_path / "ws"
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "gather",
                "--account",
                "taro@example.co.jp",
                str(_mbox(tmp_path / "src")),
            ]
        )
        == 0
    )
    report = _read_only_run(ws, "report")
    assert report.returncode == 1 and "Traceback" not in report.stderr
    assert "read-only" in report.stderr and "not merged" in report.stderr


@pytest.mark.parametrize("damage", ["flip", "cut", "lose-loose"])
def test_bytes_are_checked_against_their_hash_when_read(tmp_path, damage):
    import hashlib

    from mailrecover.errors import BlobError

    data = b"From: a@example.com\n\nbody\n"
    with Workspace(tmp_path / "ws") as ws:
        digest = ws.blobs.put(data)
        path = ws.blobs.path(digest)
        if damage == "lose-loose":  # an older workspace's own file, deleted
            loose = ws.blobs.loose_path(digest)
            loose.parent.mkdir(parents=True)
            loose.write_bytes(data)
            ws.db.execute("UPDATE blobs SET pack = NULL WHERE digest = ?", (digest,))
            assert ws.raw(digest) == data
            loose.unlink()
        elif damage == "flip":
            raw = bytearray(path.read_bytes())
            raw[5] ^= 0x20
            path.write_bytes(bytes(raw))
        else:
            path.write_bytes(data[:10])
        with pytest.raises(BlobError) as caught:
            ws.raw(digest)
        assert caught.value.digest == digest == hashlib.sha256(data).hexdigest()
