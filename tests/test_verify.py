"""Damage in the workspace and on targets: found by ``verify``, repaired by ``restore``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.workspace import Workspace

from .support.builders import ACCOUNT, build_scenario


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
    return {
        p.name.split(".M", 1)[1].split(".mailrecover")[0]: p.read_bytes()
        for p in target.rglob("*")
        if p.parent.name in ("cur", "new") and p.is_file()
    }


def _blobs_of(ws: Path, key: str) -> set[str]:
    with Workspace(ws) as w:
        return {
            r[0]
            for r in w.db.execute(
                "SELECT c.blob FROM copies c JOIN messages m ON m.id = c.message WHERE m.key = ?", (key,)
            )
        }


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
    assert (
        f": {planned - 1} messages written" in captured.out
        and "1 message could not be restored" in captured.out
    )


def test_restore_json_lists_the_damaged_blob(tmp_path, capsys):
    ws = _gathered(tmp_path)
    _key, _mid, blob = _canonical(ws, other_copies=True)
    _flip(ws, blob)
    capsys.readouterr()
    code = main(
        [
            "--workspace",
            str(ws),
            "--json",
            "restore",
            "--account",
            ACCOUNT,
            "--to",
            f"maildir:{tmp_path / 'Maildir'}",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 3 and data["unrestorable"] == 0
    assert [p["source"] for p in data["damaged"]] == [f"workspace blob {blob}"]


def _verify(ws: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["--workspace", str(ws), "--json", "verify"])
    return code, json.loads(capsys.readouterr().out)


def test_verify_finds_nothing_wrong_in_a_sound_workspace(tmp_path, capsys):
    ws = _gathered(tmp_path)
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "-q",
                "restore",
                "--account",
                ACCOUNT,
                "--to",
                f"maildir:{tmp_path / 'M'}",
            ]
        )
        == 0
    )
    code, data = _verify(ws, capsys)
    with Workspace(ws) as w:
        blobs = w.db.execute("SELECT count(*) FROM blobs").fetchone()[0]
        planned = w.db.execute("SELECT count(*) FROM messages WHERE status = 'ok'").fetchone()[0]
    assert (code, data["ok"], data["database"], data["blobs"]) == (
        0,
        True,
        ["ok"],
        {"checked": blobs, "bad": []},
    )
    [target] = data["targets"]
    assert (target["planned"], target["present"], target["missing"]) == (planned, planned, 0)


def test_verify_finds_a_flipped_byte_and_names_its_copy(tmp_path, capsys):
    ws = _gathered(tmp_path)
    key, message_id, blob = _canonical(ws, other_copies=True)
    _flip(ws, blob)
    code, data = _verify(ws, capsys)
    assert code == 3 and not data["ok"]
    [bad] = data["blobs"]["bad"]
    assert bad["blob"] == blob and "damaged" in bad["reason"]
    canonical = [c for c in bad["copies"] if c["canonical"]]
    assert canonical and canonical[0]["message_id"] == message_id and "uses copy" in canonical[0]["restore"]
    assert main(["--workspace", str(ws), "verify"]) == 3
    assert blob in capsys.readouterr().out


@pytest.mark.parametrize("loss", ["pack-cut", "loose-deleted", "row-lost"])
def test_verify_finds_bytes_the_database_names_but_that_are_gone(tmp_path, capsys, loss):
    ws = _gathered(tmp_path)
    _key, _mid, blob = _canonical(ws, other_copies=False)
    with Workspace(ws) as w:
        pack, offset, length = w.db.execute(
            "SELECT pack, offset, length FROM blobs WHERE digest = ?", (blob,)
        ).fetchone()
        if loss == "pack-cut":  # the disk filled, a copy of the workspace stopped short
            last = w.db.execute("SELECT max(offset) FROM blobs WHERE pack = ?", (pack,)).fetchone()[0]
            w.db.execute(
                "UPDATE blobs SET offset = ?, length = ? WHERE digest = ?", (last + 10**6, length, blob)
            )
        elif loss == "loose-deleted":  # an older workspace kept it in a file of its own, since deleted
            w.db.execute("UPDATE blobs SET pack = NULL, offset = 0 WHERE digest = ?", (blob,))
        else:
            w.db.execute("DELETE FROM blobs WHERE digest = ?", (blob,))
    code, data = _verify(ws, capsys)
    assert code == 3
    assert [b["blob"] for b in data["blobs"]["bad"]] == [blob]
    assert "lost" in data["blobs"]["bad"][0]["reason"] or "cut" in data["blobs"]["bad"][0]["reason"]
    assert "leaves the message out" in data["blobs"]["bad"][0]["copies"][0]["restore"]


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_verify_finds_a_restored_message_gone_from_the_target(tmp_path, capsys, kind):
    ws = _gathered(tmp_path)
    target = tmp_path / kind
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"{kind}:{target}"]) == 0
    )
    if kind == "maildir":
        next(p for p in target.rglob("*") if p.parent.name == "cur").unlink()
    else:
        (target / "INBOX").unlink()
    code, data = _verify(ws, capsys)
    [check] = data["targets"]
    assert code == 3 and check["missing"] >= 1 and check["present"] == check["planned"] - check["missing"]
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"{kind}:{target}"]) == 0
    )
    code, data = _verify(ws, capsys)
    assert code == 0 and data["targets"][0]["missing"] == 0


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_blob_damaged_after_its_restore_leaves_the_restored_message_alone(tmp_path, capsys, kind):
    """The target still holds the intact bytes: a rerun says the blob is bad, writes nothing,
    and verify finds the target whole."""
    ws = _gathered(tmp_path)
    target = tmp_path / kind
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"{kind}:{target}"]) == 0
    )
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    _key, _mid, blob = _canonical(ws, other_copies=True)
    _flip(ws, blob)
    capsys.readouterr()
    assert (
        main(["--workspace", str(ws), "--json", "restore", "--account", ACCOUNT, "--to", f"{kind}:{target}"])
        == 3
    )
    data = json.loads(capsys.readouterr().out)
    assert data["written"] == 0 and [p["source"] for p in data["damaged"]] == [f"workspace blob {blob}"]
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    code, data = _verify(ws, capsys)
    assert code == 3 and [b["blob"] for b in data["blobs"]["bad"]] == [blob]
    assert data["targets"][0]["missing"] == 0


def test_verify_checks_a_read_only_workspace_and_leaves_it_as_it_was(tmp_path, capsys):
    from .support.builders import snapshot
    from .test_workspace import _read_only_run

    ws = _gathered(tmp_path)
    target = tmp_path / "Maildir"
    assert (
        main(["--workspace", str(ws), "-q", "restore", "--account", ACCOUNT, "--to", f"maildir:{target}"])
        == 0
    )
    next(p for p in target.rglob("*") if p.parent.name == "cur").unlink()
    before = snapshot(ws)
    run = _read_only_run(ws, "--json", "verify")
    assert run.returncode == 3, run.stderr
    data = json.loads(run.stdout)
    assert data["database"] == ["ok"] and data["blobs"]["bad"] == [] and data["targets"][0]["missing"] == 1
    assert snapshot(ws) == before
