"""``batch`` run again with a changed manifest: each account's workspace follows what the
sorted pile now files under it (a copy a weak hint filed under the wrong account leaves it)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mailrecover.cli import main

from .support.builders import Provider, build_provider
from .test_batch import _pc, _want
from .test_byowner import _markers

MOVED = "misplaced-0-sent"  # the first customer's Sent mail in the second's area: no delivery fields


def _manifest(tmp_path: Path, provider: Provider, accounts: list[str], name: str) -> Path:
    """A manifest for ``accounts`` of the provider (client copies made once per account)."""
    rows = [f'[job]\nworkspace = "{tmp_path / "job"}"\nmixed = ["{provider.root}"]\n']
    for account in accounts:
        pc = tmp_path / "pc" / account / "Maildir"
        if not pc.exists():
            _pc(tmp_path, provider, account)
        rows.append(
            f'\n[[account]]\naddress = "{account}"\naliases = {json.dumps(list(provider.accounts[account]))}\n'
            f'sources = ["{pc}"]\ntarget = "maildir:{tmp_path / "new" / account}"\n'
        )
    path = tmp_path / name
    path.write_text("".join(rows))
    return path


def _job(tmp_path: Path) -> tuple[Provider, str, str, str, Path, Path]:
    """The writer (first customer), the area's owner (second), an onlooker (third); a short
    manifest without the writer (its Sent mail in the second's area is filed there by the area
    alone) and the whole one."""
    provider = build_provider(tmp_path / "restore" / "home")
    writer, area, onlooker = provider.accounts
    short = _manifest(tmp_path, provider, [area, onlooker], "short.toml")
    whole = _manifest(tmp_path, provider, [writer, area, onlooker], "whole.toml")
    return provider, writer, area, onlooker, short, whole


def _held(tmp_path: Path, account: str) -> list[str]:
    """The subjects (markers) of the copies the account's own workspace holds."""
    with sqlite3.connect(tmp_path / "job" / "accounts" / account / "workspace.db") as db:
        return sorted(r[0] for r in db.execute("SELECT subject FROM copies WHERE account = ?", (account,)))


def _got(tmp_path: Path, account: str) -> list[str]:
    return sorted(_markers(tmp_path / "new" / account))


def _runs(monkeypatch) -> list[str]:
    """The accounts a batch hands to its engine (records them, runs them as usual)."""
    from mailrecover import batch

    ran: list[str] = []
    submit = batch._Engine.submit

    def recording(self, fn, job, row):
        ran.append(row.address)
        return submit(self, fn, job, row)

    monkeypatch.setattr(batch._Engine, "submit", recording)
    return ran


def _last_gathered(tmp_path: Path, account: str) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "job" / "accounts" / account / "workspace.db") as db:
        return db.execute("SELECT location, last_gathered FROM locations ORDER BY location").fetchall()


def test_a_longer_manifest_moves_a_weakly_filed_copy_and_reports_the_one_already_restored(
    tmp_path, capsys, monkeypatch
):
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    assert main(["batch", str(short)]) == 3  # the writer's delivered mail is unassigned in this job
    assert MOVED in _got(tmp_path, area) and MOVED in _held(tmp_path, area)  # the area was its only hint
    capsys.readouterr()
    assert main(["--json", "batch", "--dry-run", str(whole)]) == 0  # the sort must run again first
    plan = json.loads(capsys.readouterr().out)["accounts"]
    assert {a: p["state"] for a, p in plan.items()} == {
        writer: "to do",
        area: "done unless re-sorted",
        onlooker: "done unless re-sorted",
    }

    ran = _runs(monkeypatch)
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert sorted(ran) == sorted([writer, area])  # the onlooker's share did not change: not run again
    want = _want(provider)
    assert _got(tmp_path, writer) == want[writer]  # MOVED reached its owner, once
    assert MOVED not in _held(tmp_path, area)  # and left the area's workspace
    assert _got(tmp_path, area) == sorted(want[area] + [MOVED])  # restored before: left there, once
    assert _got(tmp_path, onlooker) == want[onlooker]
    assert data[area]["status"] == "problems" and data[area]["problems"] == 1
    (line,) = data[area]["problem_lines"]
    assert "misfiled" in line and MOVED in line and str(tmp_path / "new" / area) in line
    assert data[writer]["status"] == "done" and data[onlooker]["status"] == "done"
    capsys.readouterr()
    main(["--workspace", str(tmp_path / "job" / "accounts" / area), "--json", "report", "--account", area])
    misfiled = [p for p in json.loads(capsys.readouterr().out)["problems"] if p["kind"] == "misfiled"]
    assert len(misfiled) == 1 and str(tmp_path / "new" / area) in misfiled[0]["reason"]

    # again, the same manifest: only the account with a problem runs, reads nothing again, says it once
    ran.clear()
    gathered = _last_gathered(tmp_path, area)
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert ran == [area]
    assert _last_gathered(tmp_path, area) == gathered
    assert data[area]["status"] == "problems" and len(data[area]["problem_lines"]) == 1
    assert _got(tmp_path, area) == sorted(want[area] + [MOVED]) and _got(tmp_path, writer) == want[writer]


def test_an_unchanged_manifest_runs_no_done_account_again(tmp_path, capsys, monkeypatch):
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    assert main(["batch", str(whole)]) == 3
    stamps = {a: _last_gathered(tmp_path, a) for a in provider.accounts}
    ran = _runs(monkeypatch)
    assert main(["batch", str(whole)]) == 3
    assert "3 of 3 accounts done" in capsys.readouterr().out
    assert ran == []
    assert {a: _last_gathered(tmp_path, a) for a in provider.accounts} == stamps
    capsys.readouterr()
    assert main(["--json", "batch", "--dry-run", str(whole)]) == 0
    assert {p["state"] for p in json.loads(capsys.readouterr().out)["accounts"].values()} == {"done"}
    assert {a: _got(tmp_path, a) for a in provider.accounts} == _want(provider)


def test_a_copy_taken_back_before_its_account_restored_never_reaches_it(tmp_path, capsys):
    """The first run stopped before the area's owner restored (its target refused): the longer
    job takes the copy back with nothing to report, and the target never sees it."""
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / area).write_text("a file where the Maildir should go\n")
    assert main(["--json", "batch", str(short)]) == 3
    assert json.loads(capsys.readouterr().out)["accounts"][area]["status"] == "failed"
    assert MOVED in _held(tmp_path, area)  # gathered, never restored
    (tmp_path / "new" / area).unlink()
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert {a: r["status"] for a, r in data.items()} == {a: "done" for a in provider.accounts}
    assert {a: _got(tmp_path, a) for a in provider.accounts} == _want(provider)
    assert MOVED not in _held(tmp_path, area)


# A batch killed with SIGKILL at an exact point: the job's steps run in one process (as a worker
# runs them) with the step named replaced by one that kills the process.
_KILLER = """
import os, signal, sys
from dataclasses import replace
from mailrecover import batch, byowner, restore
from mailrecover.workspace import store

manifest, moment, account = sys.argv[1:4]
calls = [0]

def kill(real, after=0):
    def step(*args, **kwargs):
        calls[0] += 1
        if calls[0] > after:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return step

job = batch.read_manifest(manifest)
batch.sort_mixed(job)
if moment == "sorted":
    os.kill(os.getpid(), signal.SIGKILL)
for row in job.accounts:
    if row.address == account:
        if moment == "restoring":
            restore.restore = kill(restore.restore)
        elif moment == "importing":
            store.add_copy_row = kill(store.add_copy_row, after=2)
    batch.run_account(replace(job, accounts=(row,)), row)
"""


def _killed(manifest: Path, moment: str, account: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _KILLER, str(manifest), moment, account], capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


@pytest.mark.parametrize("moment", ["importing", "restoring"])
def test_a_first_run_killed_before_the_area_owner_restored_leaves_it_nothing_to_take_out(
    tmp_path, capsys, moment
):
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    _killed(short, moment, area)
    assert not _got(tmp_path, area)
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert {a: r["status"] for a, r in data.items()} == {a: "done" for a in provider.accounts}
    assert {a: _got(tmp_path, a) for a in provider.accounts} == _want(provider)
    assert MOVED not in _held(tmp_path, area)


@pytest.mark.parametrize(
    ("moment", "whose"),
    [("sorted", ""), ("importing", "area"), ("restoring", "area"), ("importing", "writer")],
    ids=["after-the-sort", "area-owner-importing", "area-owner-restoring", "writer-importing"],
)
def test_a_rerun_with_a_longer_manifest_killed_anywhere_converges(tmp_path, capsys, moment, whose):
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    assert main(["batch", str(short)]) == 3
    _killed(whole, moment, {"area": area, "writer": writer}.get(whose, ""))
    capsys.readouterr()
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    want = _want(provider)
    want[area] = sorted(want[area] + [MOVED])  # restored there by the first run: left, and said
    assert {a: _got(tmp_path, a) for a in provider.accounts} == want  # 0 lost, 0 twice, 0 astray
    assert MOVED not in _held(tmp_path, area)
    assert {a: r["status"] for a, r in data.items()} == {writer: "done", area: "problems", onlooker: "done"}
    (line,) = data[area]["problem_lines"]
    assert "misfiled" in line and str(tmp_path / "new" / area) in line


def test_a_job_sorted_and_run_by_a_version_before_016_follows_a_longer_manifest(tmp_path, capsys):
    """Its sorted copies carry no filing rule, its stamps no shares: the longer job still takes
    the weakly filed copy back, from the pile and from the account, and says where it went."""
    provider, writer, area, onlooker, short, whole = _job(tmp_path)
    assert main(["batch", str(short)]) == 3
    job = tmp_path / "job"
    for ws in [job / "sorted", *(job / "accounts").iterdir()]:
        with sqlite3.connect(ws / "workspace.db") as db:
            db.execute("UPDATE copies SET filed_by = ''")
            db.execute("DROP TABLE shares")
            db.execute("DELETE FROM migrations WHERE name = '017_sorted_share'")
    for stamp in [job / "sorted.json", *(job / "results").iterdir()]:
        data = json.loads(stamp.read_text())
        data.pop("shares", None), data.pop("share", None)
        stamp.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["--json", "batch", str(whole)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    want = _want(provider)
    want[area] = sorted(want[area] + [MOVED])
    assert {a: _got(tmp_path, a) for a in provider.accounts} == want
    assert MOVED not in _held(tmp_path, area)
    assert {a: r["status"] for a, r in data.items()} == {writer: "done", area: "problems", onlooker: "done"}
    (line,) = data[area]["problem_lines"]
    assert "misfiled" in line and str(tmp_path / "new" / area) in line
