"""Damage in the workspace and on targets: found by ``verify``, repaired by ``restore``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.workspace import Workspace

from .builders import ACCOUNT, build_scenario


def _gathered(tmp_path: Path) -> Path:
    s = build_scenario(tmp_path / "src", damaged=False)
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "-q", "gather", "--account", ACCOUNT, *map(str, s.locations)]) == 0
    assert main(["--workspace", str(ws), "-q", "report"]) == 0  # merged and checked
    return ws


def _canonical(ws: Path, *, other_copies: bool) -> tuple[str, str, str]:
    """(message key, Message-ID, canonical blob) of a message with, or without, other whole
    copies whose bytes differ from the canonical one."""
    with Workspace(ws) as w:
        rows = w.db.execute(
            "SELECT m.key, m.message_id, c.blob, (SELECT count(DISTINCT o.blob) FROM copies o "
            "WHERE o.message = m.id AND o.blob != c.blob AND NOT o.partial) FROM messages m "
            "JOIN copies c ON c.id = m.canonical WHERE m.status = 'ok' ORDER BY m.key"
        ).fetchall()
    return next((k, mid or "", b) for k, mid, b, n in rows if (n > 0) == other_copies)


def _flip(ws: Path, digest: str) -> None:
    """Flip one bit in the middle of a stored blob, where the workspace keeps it."""
    with Workspace(ws) as w:
        pack, offset, length = w.db.execute(
            "SELECT pack, offset, length FROM blobs WHERE digest = ?", (digest,)
        ).fetchone()
        path = w.blobs.pack_path(pack)
    with open(path, "r+b") as f:
        f.seek(offset + length // 2)
        byte = f.read(1)
        f.seek(offset + length // 2)
        f.write(bytes([byte[0] ^ 0x01]))


def _restored(target: Path) -> dict[str, bytes]:
    """Restored Maildir files by merge key (from their names)."""
    return {p.name.split(".M", 1)[1].split(".mailrecover")[0]: p.read_bytes()
            for p in target.rglob("*") if p.parent.name in ("cur", "new") and p.is_file()}  # fmt: skip


def _blobs_of(ws: Path, key: str) -> set[str]:
    with Workspace(ws) as w:
        return {r[0] for r in w.db.execute(
            "SELECT c.blob FROM copies c JOIN messages m ON m.id = c.message WHERE m.key = ?", (key,))}  # fmt: skip


def test_a_flipped_byte_is_restored_from_another_copy_and_said(tmp_path, capsys):
    ws = _gathered(tmp_path)
    key, message_id, blob = _canonical(ws, other_copies=True)
    _flip(ws, blob)
    target = tmp_path / "Maildir"
    capsys.readouterr()
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 3
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if blob in line]
    assert len(lines) == 1 and message_id in lines[0] and "restored from copy" in lines[0]
    restored = _restored(target)[key]
    digest = hashlib.sha256(restored).hexdigest()
    assert digest != blob and digest in _blobs_of(ws, key)  # another whole copy, intact


def test_a_damaged_message_without_another_copy_is_not_written(tmp_path, capsys):
    ws = _gathered(tmp_path)
    key, message_id, blob = _canonical(ws, other_copies=False)
    _flip(ws, blob)
    target = tmp_path / "Maildir"
    capsys.readouterr()
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"]) == 3
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if blob in line and "not restored" in line]
    assert key not in _restored(target)
    with Workspace(ws) as w:
        planned = w.db.execute("SELECT count(*) FROM messages WHERE status = 'ok'").fetchone()[0]
    assert len(_restored(target)) == planned - 1
    assert f"restored {planned - 1} of {planned} messages" in captured.out


def test_restore_json_lists_the_damaged_blob(tmp_path, capsys):
    ws = _gathered(tmp_path)
    _key, _mid, blob = _canonical(ws, other_copies=True)
    _flip(ws, blob)
    capsys.readouterr()
    code = main(["--workspace", str(ws), "--json", "restore", "--account", ACCOUNT,
                 "--to", f"maildir:{tmp_path / 'Maildir'}"])  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert code == 3 and data["unrestorable"] == 0
    assert [p["source"] for p in data["damaged"]] == [f"workspace blob {blob}"]
