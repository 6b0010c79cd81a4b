"""``mailrecover batch``: a provider's customers in one job, mixed-up areas sorted, each restored."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailrecover.cli import main

from .support.builders import Provider, build_provider, snapshot
from .test_byowner import _expected, _markers


def _pc(root: Path, provider: Provider, account: str) -> Path:
    """A customer's own mail client copy: one mail only it holds, one the server also had
    (as a POP client keeps it: without the server's delivery fields)."""
    md = root / "pc" / account / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    i = account.removeprefix("user").partition("@")[0]
    (md / "cur" / "1.M1P1.pc:2,S").write_bytes(
        f"From: {account}\nTo: friend@example.net\nSubject: sent\nMessage-ID: <pc-{i}@example.org>\n"
        f"Date: 01 Jun 2012 08:00:00 +0000\n\nBody of pc-{i}.\n".encode()
    )
    server = next(
        f.read_bytes()
        for f in (provider.root / f"user{i}").rglob("*:2,S")
        if f"Body of own-{i}-0.".encode() in f.read_bytes()
    )
    head, _, body = server.partition(b"\n\n")
    kept = [
        line
        for line in head.split(b"\n")
        if line.startswith((b"From:", b"To:", b"Subject:", b"Date:", b"Message-ID:"))
    ]
    (md / "cur" / "2.M2P1.pc:2,S").write_bytes(b"\n".join(kept) + b"\n\n" + body)
    return md


def _job(tmp_path: Path, customers: int = 3, per_account: int = 4) -> tuple[Provider, Path]:
    provider = build_provider(tmp_path / "restore" / "home", customers, per_account)
    rows = [f'[job]\nworkspace = "{tmp_path / "job"}"\nmixed = ["{provider.root}"]\n']
    for account, aliases in provider.accounts.items():
        rows.append(
            f'\n[[account]]\naddress = "{account}"\naliases = {json.dumps(list(aliases))}\n'
            f'sources = ["{_pc(tmp_path, provider, account)}"]\ntarget = "maildir:{tmp_path / "new" / account}"\n'
        )
    manifest = tmp_path / "job.toml"
    manifest.write_text("".join(rows))
    return provider, manifest


def _want(provider: Provider) -> dict[str, list[str]]:
    want = _expected(provider)
    for account in provider.accounts:
        want[account] = sorted(want[account] + [f"pc-{account.removeprefix('user').partition('@')[0]}"])
    return want


def _got(tmp_path: Path, provider: Provider) -> dict[str, list[str]]:
    return {a: sorted(_markers(tmp_path / "new" / a)) for a in provider.accounts}


def test_a_job_restores_every_account_from_its_sources_and_the_sorted_areas(tmp_path, capsys):
    provider, manifest = _job(tmp_path)
    before = snapshot(provider.root)
    status = main(["--json", "batch", str(manifest)])
    data = json.loads(capsys.readouterr().out)
    assert status == 3  # the unassigned pile is for the administrator to read
    assert _got(tmp_path, provider) == _want(provider)  # 0 lost, 0 duplicated, 0 in a wrong account
    unowned = [m for m, who in provider.owners.items() if not who]
    assert data["unassigned"] == len(unowned)
    for account, want in _want(provider).items():
        row = data["accounts"][account]
        assert (row["status"], row["messages"], row["restored"], row["quarantined"], row["problems"]) == (
            "done",
            len(want),
            len(want),
            0,
            0,
        )
        assert row["copies"] == len(want) + 1  # own-N-0 is on the customer's PC and in the area
    assert snapshot(provider.root) == before

    # a rerun does nothing again and changes no target
    assert main(["batch", str(manifest)]) == 3
    out = capsys.readouterr().out
    assert "3 of 3 accounts done" in out and f"{len(unowned)} unassigned" in out
    assert _got(tmp_path, provider) == _want(provider)


def test_one_failing_account_does_not_stop_the_others(tmp_path, capsys):
    provider, manifest = _job(tmp_path)
    broken = list(provider.accounts)[1]
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / broken).write_text("a file where the Maildir should go\n")
    assert main(["--json", "batch", str(manifest)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert data[broken]["status"] == "failed" and data[broken]["error"]
    want = _want(provider)
    for account in provider.accounts:
        if account != broken:
            assert data[account]["status"] == "done"
            assert sorted(_markers(tmp_path / "new" / account)) == want[account]
    # the target fixed, the rerun restores only the failed account: its gathered workspace was kept
    (tmp_path / "new" / broken).unlink()
    gathered = _last_gathered(tmp_path / "job" / "accounts" / broken)
    assert main(["--json", "batch", str(manifest)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert data[broken]["status"] == "done"
    assert _got(tmp_path, provider) == want
    assert _last_gathered(tmp_path / "job" / "accounts" / broken) == gathered  # not read again


def _last_gathered(workspace: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(workspace / "workspace.db") as db:
        return db.execute("SELECT location, last_gathered FROM locations ORDER BY location").fetchall()


def _mail_log(path: Path, deliveries: list[tuple[str, str]]) -> None:
    """A Postfix log of (Message-ID, recipient) local deliveries."""
    lines = []
    for n, (mid, rcpt) in enumerate(deliveries):
        q = f"Q{n}AAAAAAAA"
        lines += [
            f"Jun 18 10:00:0{n} mx postfix/cleanup[2]: {q}: message-id=<{mid}>",
            f"Jun 18 10:00:0{n} mx postfix/qmgr[3]: {q}: from=<sender@example.org>, size=1000, nrcpt=1 (queue active)",
            f"Jun 18 10:00:0{n} mx postfix/local[4]: {q}: to=<{rcpt}>, relay=local, delay=1, "
            "delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
            f"Jun 18 10:00:0{n} mx postfix/qmgr[3]: {q}: removed",
        ]
    path.write_text("\n".join(lines) + "\n")


def test_what_the_sort_finds_beside_mail_reaches_the_accounts_it_concerns(tmp_path, capsys):
    """A damaged file in an area is its customer's problem (in the table, and on every rerun);
    a delivery log in a mixed area tells each customer's report what never came back."""
    provider, manifest = _job(tmp_path)
    first, second, third = provider.accounts
    empty = provider.root / "user1" / "Maildir" / "cur" / "9.M9P1.mx:2,S"
    empty.write_bytes(b"")
    (provider.root / "logs").mkdir()
    _mail_log(
        provider.root / "logs" / "mail.log",
        [("gone-0@example.org", first), ("x@example.org", "a@else.example")],
    )
    for _ in range(2):  # and again: the account with problems runs again and still shows them
        assert main(["--json", "batch", str(manifest)]) == 3
        data = json.loads(capsys.readouterr().out)["accounts"]
        assert {a: (r["status"], r["problems"]) for a, r in data.items()} == {
            first: ("done", 0),
            second: ("problems", 1),
            third: ("done", 0),
        }
        assert _got(tmp_path, provider) == _want(provider)
    reports = {}
    for account in provider.accounts:
        ws = tmp_path / "job" / "accounts" / account
        main(["--workspace", str(ws), "--json", "report", "--account", account])
        reports[account] = json.loads(capsys.readouterr().out)
    assert [m["message_id"] for m in reports[first]["accounts"][first]["missing"]] == ["gone-0@example.org"]
    assert [p["source"] for p in reports[second]["problems"]] == [str(empty)]
    assert "missing" not in reports[third]["accounts"][third] and not reports[third]["problems"]


def test_a_sorted_workspace_made_by_an_older_version_is_updated_before_the_accounts_read_it(tmp_path, capsys):
    provider, manifest = _job(tmp_path)
    assert main(["batch", str(manifest)]) == 3
    with sqlite3.connect(tmp_path / "job" / "sorted" / "workspace.db") as db:  # as made before 012_items
        db.execute("DROP TABLE items")
        db.execute("DELETE FROM migrations WHERE name = '012_items'")
    for result in (tmp_path / "job" / "results").iterdir():
        result.unlink()  # every account runs again, reading the sorted workspace
    capsys.readouterr()
    assert main(["--json", "batch", str(manifest)]) == 3
    assert {a["status"] for a in json.loads(capsys.readouterr().out)["accounts"].values()} == {"done"}
    assert _got(tmp_path, provider) == _want(provider)


def test_each_account_task_carries_its_own_row_not_the_whole_job(tmp_path, monkeypatch):
    """What travels to a worker per account stays the same size whatever the job's size."""
    from mailrecover import batch

    provider, manifest = _job(tmp_path)
    sent: list[int] = []
    submit = batch._Engine.submit

    def recording(self, fn, job, row):
        sent.append(len(job.accounts))
        assert job.accounts == (row,)
        return submit(self, fn, job, row)

    monkeypatch.setattr(batch._Engine, "submit", recording)
    assert main(["batch", str(manifest)]) == 3
    assert sent == [1, 1, 1]
    assert _got(tmp_path, provider) == _want(provider)


def test_bad_manifest_rows_are_named_by_line_before_anything_is_written(tmp_path, capsys):
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    secret.chmod(0o644)  # others could read it
    (tmp_path / "ok").mkdir()
    manifest = tmp_path / "job.toml"
    manifest.write_text(f"""[job]
workspace = "{tmp_path / "job"}"

[[account]]
address = "a@example.jp"
sources = ["{tmp_path / "missing"}"]
target = "maildir:{tmp_path / "a"}"

[[account]]
address = "b@example.jp"
sources = ["{tmp_path / "ok"}"]
target = "ftp://b@example.jp/"

[[account]]
address = "c@example.jp"
sources = []
target = "imap://c@mail.example.jp/"
password_file = "{secret}"

[[account]]
address = "A@example.jp"
target = "mbox:{tmp_path / "a2"}"
""")
    assert main(["batch", str(manifest)]) == 2
    err = capsys.readouterr().err
    assert f"job.toml line 6: source {tmp_path / 'missing'}: no such file or folder" in err
    assert "job.toml line 12: target 'ftp://b@example.jp/'" in err
    assert "job.toml line 18: password file" in err and "mode 0644" in err
    assert "job.toml line 20: a@example.jp has a row already (line 4)" in err
    assert not (tmp_path / "job").exists() and not (tmp_path / "a").exists()
    assert main(["batch", "--dry-run", str(manifest)]) == 2


def test_dry_run_shows_the_plan_and_writes_nothing(tmp_path, capsys):
    provider, manifest = _job(tmp_path)
    assert main(["--json", "batch", "--dry-run", str(manifest)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert list(plan["accounts"]) == list(provider.accounts)
    assert {a["state"] for a in plan["accounts"].values()} == {"to do"}
    assert plan["mixed"] == [str(provider.root)]
    assert not (tmp_path / "job").exists() and not (tmp_path / "new").exists()


def _sorting(tmp_path: Path) -> bool:
    return (tmp_path / "job" / "sorted" / "workspace.db").exists()


def _started(tmp_path: Path) -> bool:
    accounts = tmp_path / "job" / "accounts"
    return accounts.exists() and any(accounts.iterdir())


def _restoring(tmp_path: Path) -> bool:
    return any((tmp_path / "new").glob("*/cur/*"))


@pytest.mark.parametrize(
    "moment",
    [_sorting, _started, _restoring],
    ids=["sorting-mixed-areas", "accounts-gathering", "targets-half-written"],
)
def test_a_killed_batch_finishes_on_rerun_without_loss_or_duplicates(tmp_path, moment):
    provider, manifest = _job(tmp_path, customers=4, per_account=150)
    command = [sys.executable, "-m", "mailrecover", "batch", str(manifest)]
    job = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while job.poll() is None and not moment(tmp_path):
            time.sleep(0.005)
        assert job.poll() is None, "the batch ended before the moment to kill it"
        os.killpg(job.pid, signal.SIGKILL)  # the batch and its pool's workers, at once
    finally:
        job.wait()
    assert job.returncode == -signal.SIGKILL
    assert _got(tmp_path, provider) != _want(provider)  # it was killed mid-job
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 3, rerun.stderr  # 3: the unassigned pile
    assert "4 of 4 accounts done" in rerun.stdout
    assert _got(tmp_path, provider) == _want(provider)  # 0 lost, 0 duplicated, 0 in a wrong account


@pytest.fixture
def cluster():
    """A real Dask scheduler with two worker processes on this machine."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
    ) as c:
        yield c


def test_a_job_runs_on_a_dask_cluster_and_survives_a_killed_worker(tmp_path, cluster, capsys):
    """kill -9 of a worker process while it runs an account (its target half written): the
    scheduler runs that account again elsewhere, the job ends with every account done, and a
    rerun through the cluster changes nothing."""
    import threading

    from distributed import Client

    provider, manifest = _job(tmp_path, customers=4, per_account=300)
    ended: list[int] = []
    command = ["--json", "batch", "--scheduler", cluster.scheduler_address, str(manifest)]
    batch = threading.Thread(target=lambda: ended.append(main(command)))
    with Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)  # worker address -> its process
        assert len(pids) == 2 and os.getpid() not in pids.values()
        batch.start()
        busy: list[str] = []
        while batch.is_alive() and not busy:
            if _restoring(tmp_path):
                busy = [w for w, tasks in client.processing().items() if tasks and w in pids]
            time.sleep(0.005)
        assert busy, "the job ended before a worker could be killed mid-account"
        os.kill(pids[busy[0]], signal.SIGKILL)
        batch.join()
    assert ended == [3]  # the unassigned pile
    data = json.loads(capsys.readouterr().out)
    assert {a["status"] for a in data["accounts"].values()} == {"done"}
    assert _got(tmp_path, provider) == _want(provider)  # 0 lost, 0 duplicated, 0 in a wrong account
    assert main(command) == 3  # the rerun
    assert {a["status"] for a in json.loads(capsys.readouterr().out)["accounts"].values()} == {"done"}
    assert _got(tmp_path, provider) == _want(provider)


def test_a_refused_login_fails_one_account_and_a_rerun_with_the_right_password_only_restores(
    new_imap_account, tmp_path, capsys
):
    import re

    dest = new_imap_account()
    provider, manifest = _job(tmp_path, customers=2)
    first = list(provider.accounts)[0]
    secret = tmp_path / "first.pw"
    secret.write_text("not-the-password\n")
    secret.chmod(0o600)
    text = manifest.read_text().replace(
        f'target = "maildir:{tmp_path / "new" / first}"',
        f'target = "{dest.url()}"\npassword_file = "{secret}"',
    )
    manifest.write_text(text)
    assert main(["--json", "batch", str(manifest)]) == 3
    data = json.loads(capsys.readouterr().out)["accounts"]
    assert data[first]["status"] == "failed" and data[first]["error"]
    assert dest.password not in json.dumps(data) and "not-the-password" not in json.dumps(data)
    assert [s["status"] for a, s in data.items() if a != first] == ["done"]
    gathered = _last_gathered(tmp_path / "job" / "accounts" / first)

    secret.write_text(dest.password + "\n")
    assert main(["--json", "batch", str(manifest)]) == 3
    assert json.loads(capsys.readouterr().out)["accounts"][first]["status"] == "done"
    on_server = [
        m
        for msgs in dest.messages().values()
        for raw, _f, _d in msgs
        for m in re.findall(r"^Body of (.+)\.\r?$", raw.decode(), re.M)
    ]
    assert sorted(on_server) == _want(provider)[first]
    assert _last_gathered(tmp_path / "job" / "accounts" / first) == gathered  # only restored
