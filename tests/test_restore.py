"""Restores that are interrupted and run again: every message exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.pluginkit import split_mbox
from mailrecover.restore import restore
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, build_scenario


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
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"])
        == 0
    )
    assert len([p for p in target.rglob("*") if p.parent.name == "cur"]) == total


_KILLED = """
import os, signal, sys
import mailrecover.targets.maildir as maildir
from mailrecover.restore import restore
from mailrecover.workspace import Workspace

maildir._BATCH = 4  # several batches, so the kill finds some journalled and one in flight
ws_path, spec, account, moment, after = sys.argv[1:6]
seen = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def counting(real):
    def wrapper(*args, **kwargs):
        seen[0] += 1
        if seen[0] == int(after):
            die()
        return real(*args, **kwargs)
    return wrapper

if moment == "synced":  # the batch's files in tmp/, synced, none renamed yet
    maildir._sync_files = counting(maildir._sync_files)
elif moment == "journalled":  # right after a batch's journal entries were committed
    from mailrecover.workspace import _Journal
    real = _Journal.mark_many
    def mark_many(self, entries):
        real(self, entries)
        seen[0] += 1
        if seen[0] == int(after):
            die()
    _Journal.mark_many = mark_many
progress = (lambda n: (seen.__setitem__(0, seen[0] + n), seen[0] == int(after) and die())) if moment == "renamed" else (lambda n: None)
with Workspace(ws_path) as ws:
    restore(ws, account, spec, progress=progress)
"""


@pytest.mark.parametrize(
    ("moment", "after"), [("renamed", 1), ("renamed", 6), ("synced", 2), ("journalled", 1)]
)
def test_maildir_restore_killed_with_sigkill_finishes_on_rerun_exactly_once(tmp_path, moment, after):
    """kill -9 at any point of a batch (after a rename not yet journalled, with synced files
    still in tmp/, right after a journal commit): the rerun loses nothing and writes nothing
    twice, and leaves no file in tmp/."""
    import signal
    import subprocess
    import sys

    ws, total = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(ws), f"maildir:{target}", ACCOUNT, moment, str(after)],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    before = _maildir_files(target)  # fails on a key written twice
    assert 0 < len(before) < total
    assert _restore_to(ws, f"maildir:{target}") == 0
    after_rerun = _maildir_files(target)
    assert len(after_rerun) == total
    assert {k: p for k, p in after_rerun.items() if k in before} == before  # kept, not written again
    assert [p for p in target.rglob("*") if p.parent.name == "tmp" and p.is_file()] == []
    with Workspace(ws) as w:
        done = w.db.execute(
            "SELECT count(*) FROM journal WHERE target = ? AND state = 'done'", (f"maildir:{target}",)
        )
        assert done.fetchone()[0] == total


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
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"mbox:{target}"]) == 0
    )
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
    from mailrecover.merged import ensure_merged
    from mailrecover.restore import outgoing

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


def _restore_to(ws: Path, spec: str, *extra: str) -> int:
    return main(["--workspace", str(ws), "-q", *extra, "restore", "--account", ACCOUNT, "--to", spec])


def _maildir_files(target: Path, *, left: Path | None = None) -> dict[str, Path]:
    """Restored files by merge key; a key found twice fails the test (but for ``left``, a file
    changed by someone else, which stays where it is)."""
    found: dict[str, Path] = {}
    for p in target.rglob("*"):
        if p.parent.name in ("cur", "new") and p.is_file() and p != left:
            key = p.name.split(".M", 1)[1].split(".mailrecover")[0]
            assert key not in found, f"{key} restored twice"
            found[key] = p
    return found


@pytest.mark.parametrize(
    "change", ["deleted", "damaged", "emptied", "flags-renamed", "moved-to-new", "flags-renamed-journal-lost"]
)
def test_maildir_rerun_repairs_what_is_missing_whatever_the_journal_says(tmp_path, change):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    assert _restore_to(ws, f"maildir:{target}") == 0
    before = {k: p.read_bytes() for k, p in _maildir_files(target).items()}
    key, path = sorted(_maildir_files(target).items())[1]
    if change == "deleted":
        path.unlink()
    elif change == "damaged":
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n", 1)[:-3])
    elif change == "emptied":
        path.write_bytes(b"")
    elif change.startswith("flags-renamed"):  # a mail client marked it read and flagged it
        path.rename(path.with_name(path.name.split(":2,")[0] + ":2,FS"))
    else:
        path.rename(path.parent.parent / "new" / path.name.split(":2,")[0])
    if change.endswith("journal-lost"):
        with Workspace(ws) as w:
            w.db.execute("DELETE FROM journal")
    changed = path.read_bytes() if change in ("damaged", "emptied") else None
    assert _restore_to(ws, f"maildir:{target}") == 0
    after = _maildir_files(target, left=path if changed is not None else None)
    assert len(after) == total
    assert {k: p.read_bytes() for k, p in after.items()} == before
    if change.startswith("flags-renamed"):
        assert after[key].name.endswith(":2,FS")  # the user's flags stay
    if changed is not None:  # bytes this tool did not write: never overwritten, the message written beside
        assert path.read_bytes() == changed and after[key] != path
        assert after[key].name.split(":")[0] != path.name.split(":")[0]  # its own unique name
    files = sorted(target.rglob("*"))
    assert _restore_to(ws, f"maildir:{target}") == 0  # and the next run finds it all there
    assert sorted(target.rglob("*")) == files


def test_maildir_rerun_reports_what_it_repaired(tmp_path, capsys):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    assert _restore_to(ws, f"maildir:{target}") == 0
    for _key, path in sorted(_maildir_files(target).items())[:2]:
        path.unlink()
    capsys.readouterr()
    assert _restore_to(ws, f"maildir:{target}", "--json") == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["written"] == 2
    assert data["verification"] == {"planned": total, "present": total, "missing": 0, "repaired": 2}


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_rerun_reads_the_journal_with_its_plan_not_once_per_message(tmp_path, kind):
    """What the journal holds of each planned message comes with the plan (one query for the
    run); the rerun still finds what it says is there, and writes what is missing."""
    ws, total = _gathered(tmp_path)
    target = tmp_path / kind
    assert _restore_to(ws, f"{kind}:{target}") == 0
    if kind == "maildir":
        sorted(_maildir_files(target).values())[0].unlink()
    statements: list[str] = []
    with Workspace(ws) as w:
        w.db.set_trace_callback(statements.append)
        result = restore(w, ACCOUNT, f"{kind}:{target}")
    per_key = [s for s in statements if "FROM journal WHERE target" in s and "AND key = 'file:" not in s]
    assert per_key == []
    assert result.verification is not None
    assert (result.written, result.verification.present) == (kind == "maildir", total)
    if kind == "maildir":
        assert len(_maildir_files(target)) == total
    else:
        assert len(_mbox_messages(target)) == total


def _mbox_messages(target: Path) -> list[bytes]:
    return [m[2] for p in sorted(target.rglob("*")) if p.is_file() for m in split_mbox(p.read_bytes())]


def _bodies(messages: list[bytes]) -> list[bytes]:
    from mailrecover.rfc822 import header_end

    return sorted(m[header_end(m) :].rstrip(b"\n") for m in messages)


@pytest.mark.parametrize(
    "change", ["removed", "file-deleted", "cut-short", "headers-rewritten", "removed-journal-lost"]
)
def test_mbox_rerun_repairs_what_is_missing_whatever_the_journal_says(tmp_path, change):
    ws, total = _gathered(tmp_path)
    target = tmp_path / "mbox"
    assert _restore_to(ws, f"mbox:{target}") == 0
    before = _bodies(_mbox_messages(target))
    assert len(before) == total
    inbox = target / "INBOX"
    data = inbox.read_bytes()
    starts = [
        i
        for i in range(len(data))
        if data.startswith(b"From mailrecover ", i) and (i == 0 or data[i - 2 : i] == b"\n\n")
    ]
    assert len(starts) >= 3
    if change.startswith("removed"):  # a mail client expunged the second message and rewrote the file
        inbox.write_bytes(data[: starts[1]] + data[starts[2] :])
    elif change == "file-deleted":
        inbox.unlink()
    elif change == "cut-short":
        inbox.write_bytes(data[: starts[-1]])
    else:  # a server that serves the file adds its own headers to every message
        inbox.write_bytes(data.replace(b"\nStatus: ", b"\nX-UID: 7\nX-Keywords: $Seen\nStatus: "))
    if change.endswith("journal-lost"):
        with Workspace(ws) as w:
            w.db.execute("DELETE FROM journal")
    assert _restore_to(ws, f"mbox:{target}") == 0
    assert _bodies(_mbox_messages(target)) == before  # each message once again, none twice


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_message_whose_canonical_copy_changed_is_not_restored_twice(tmp_path, kind):
    """A later gather can bring a better copy of a mail already restored: the rerun must not
    add it beside the first (what was written stays)."""
    ws, total = _gathered(tmp_path)
    target = tmp_path / kind
    assert _restore_to(ws, f"{kind}:{target}") == 0
    with Workspace(ws) as w:
        message, other = w.db.execute(
            "SELECT m.id, o.id FROM messages m JOIN copies c ON c.id = m.canonical JOIN copies o "
            "ON o.message = m.id AND o.blob != c.blob AND NOT o.partial WHERE m.status = 'ok' LIMIT 1"
        ).fetchone()
        w.db.execute("UPDATE messages SET canonical = ? WHERE id = ?", (other, message))
        better = w.raw(w.db.execute("SELECT blob FROM copies WHERE id = ?", (other,)).fetchone()[0])
    assert _restore_to(ws, f"{kind}:{target}") == 0
    if kind == "maildir":
        files = _maildir_files(target)
        assert len(files) == total and better not in {p.read_bytes() for p in files.values()}
    else:
        assert len(_mbox_messages(target)) == total
