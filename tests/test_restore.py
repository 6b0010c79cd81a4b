"""Restores that are interrupted and run again: every message exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailrecover_local.mbox import split_mbox

from mailrecover.cli import main
from mailrecover.restore import restore
from mailrecover.workspace import Workspace

from .builders import ACCOUNT, build_scenario


class _Stop(Exception):
    pass


def _gathered(tmp_path: Path) -> tuple[Path, int]:
    s = build_scenario(tmp_path / "src")
    ws = tmp_path / "ws"
    main(["--workspace", str(ws), "-q", "gather", "--account", ACCOUNT, *map(str, s.locations)])
    return ws, len(s.mails)


def _interrupted(ws: Path, spec: str, after: int) -> None:
    def progress(n: int, seen=[0]) -> None:  # noqa: B006 - a counter for this one call
        seen[0] += n
        if seen[0] == after:
            raise _Stop

    with Workspace(ws) as w, pytest.raises(_Stop):
        restore(w, ACCOUNT, spec, progress=progress)


@pytest.mark.parametrize("after", [1, 5, 10])
def test_maildir_restore_resumes_without_duplicates(tmp_path, after):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    _interrupted(ws, f"maildir:{target}", after)
    assert len([p for p in target.rglob("*") if p.parent.name == "cur"]) == after
    assert main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 0
    assert len([p for p in target.rglob("*") if p.parent.name == "cur"]) == total


def test_maildir_file_written_but_not_journalled_is_recognised(tmp_path):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"])
    with Workspace(ws) as w:  # as if the process died after the rename, before the journal write
        w.db.execute("DELETE FROM journal")
    main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"])
    assert len([p for p in target.rglob("*") if p.parent.name == "cur"]) == total


@pytest.mark.parametrize("part", [1, 2])  # half of the message written, or all of it
def test_mbox_half_written_message_is_finished_on_rerun(tmp_path, monkeypatch, part):
    """A run killed inside a write leaves the start of its message; the rerun completes that
    same message instead of cutting anything or writing it twice."""
    import mailrecover.targets.mbox as mbox

    ws, total = _gathered(tmp_path)
    target = tmp_path / "mbox"
    real = mbox.write_all
    calls = []

    def dying_write(fd: int, data: bytes, *, sync: bool = True) -> None:
        calls.extend([len(data)] if sync else [])  # messages; the dot-lock's PID is written unsynced
        if len(calls) == 4 and sync:  # the 4th message: the process dies inside it
            real(fd, data[: len(data) * part // 2])
            raise _Stop
        real(fd, data, sync=sync)

    monkeypatch.setattr(mbox, "write_all", dying_write)
    with Workspace(ws) as w, pytest.raises(_Stop):
        restore(w, ACCOUNT, f"mbox:{target}")
    monkeypatch.setattr(mbox, "write_all", real)
    assert main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"mbox:{target}"]) == 0
    found = [m for p in target.rglob("*") if p.is_file() for m in split_mbox(p.read_bytes())]
    assert not any(cut for _at, _line, _raw, cut in found)
    assert len({raw for _at, _line, raw, _cut in found}) == len(found) == total


def test_existing_mbox_content_is_kept(tmp_path):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "mbox"
    target.mkdir()
    mine = b"From me Mon Jun 18 10:00:00 2012\nFrom: me@example.com\nSubject: mine\n\nkeep me\n\n"
    (target / "INBOX").write_bytes(mine)
    main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"mbox:{target}"])
    data = (target / "INBOX").read_bytes()
    assert data.startswith(mine)


def test_no_query_stays_open_while_messages_go_out(tmp_path):
    """The journal commits after every batch; a query left open meanwhile would keep SQLite
    from starting its write-ahead log over, and a long restore's log would grow without end."""
    from mailrecover.restore import ensure_merged, outgoing

    path, total = _gathered(tmp_path)
    with Workspace(path) as ws:
        ensure_merged(ws)
        messages = outgoing(ws, ACCOUNT)
        first = next(messages)
        ws.journal("maildir:/x").mark(first.key, "done", "cur/a")
        busy, log, _ = ws.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert (busy, log) == (0, 0)  # the whole log checkpointed and started over
        rest = list(messages)
        ok = ws.db.execute("SELECT count(*) FROM messages WHERE status = 'ok'").fetchone()[0]
        assert len(rest) + 1 == ok and len({first.key, *(m.key for m in rest)}) == ok
