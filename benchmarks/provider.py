"""A generated provider through ``mailrecover batch``: speed, memory per worker, correctness.

``python3 -m benchmarks.provider --accounts 1000`` writes a provider whose restored areas are
mixed up as in 2012 (a few percent of each account's mail placed in 1-3 other accounts' areas,
some mail delivered to no customer of the job), plus each account's client copies, then runs
the job with the local pool and (``--cluster``) through a 2-worker Dask ``LocalCluster``, and
checks every target against the generator's truth.  The largest account is also
run alone (gather + restore) for the single-account throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .run import _checkout_env

DATA = Path(__file__).resolve().parent / "data" / "provider"
WHEN = "Tue, 19 Jun 2012 09:00:00 +0000"


def _mail(account: str, marker: str, delivered: bool) -> bytes:
    head = (
        (
            f"Delivered-To: {account}\nReceived: from mx.sender.example by mx.provider.example "
            f"with ESMTP id 1\n\tfor <{account}>; {WHEN}\n"
        )
        if delivered
        else ""
    )
    return (
        f"{head}From: sender@example.org\nTo: {account}\nSubject: {marker}\n"
        f"Date: Mon, 18 Jun 2012 10:00:00 +0000\nMessage-ID: <{marker}@example.org>\n\n"
        f"Body of {marker}.\n" + "Some text of an ordinary mail.\n" * 20
    ).encode()


def _write(folder: Path, n: int, raw: bytes) -> None:
    (folder / "cur").mkdir(parents=True, exist_ok=True)
    (folder / f"cur/{1340000000 + n}.M{n}P1.mx:2,S").write_bytes(raw)


def generate(root: Path, accounts: int, large: int, seed: int = 7) -> dict[str, Any]:
    """The provider's files, its manifest, and the truth: marker -> owner ('' : unassigned)."""
    rng = random.Random(seed)
    names = [f"u{i}@c{i % 50}.example" for i in range(accounts)]
    sizes = [rng.randint(50, 500) for _ in names]
    for i in range(max(1, accounts // 300) if large else 0):
        sizes[i] = large
    truth: dict[str, str] = {}
    n = 0
    for i, (account, size) in enumerate(zip(names, sizes, strict=True)):
        others = [j for j in rng.sample(range(accounts), min(3, accounts - 1) + 1) if j != i][
            : rng.randint(1, 3)
        ]
        for k in range(size):
            marker = f"m{i}-{k}"
            truth[marker] = account
            area = names[rng.choice(others)] if others and rng.random() < 0.03 else account
            _write(root / "restore" / area.partition("@")[0] / "Maildir", n, _mail(account, marker, True))
            if rng.random() < 0.2:  # also in the customer's own mail client, without delivery fields
                _write(root / "pc" / account / "Maildir", n, _mail(account, marker, False))
            n += 1
        for k in range(max(1, size // 200)):  # delivered to someone outside the job
            marker = f"x{i}-{k}"
            truth[marker] = ""
            _write(
                root / "restore" / account.partition("@")[0] / "Maildir",
                n,
                _mail(f"gone{i}@elsewhere.example", marker, True),
            )
            n += 1
    rows = [f'[job]\nworkspace = "{root / "job"}"\nmixed = ["{root / "restore"}"]\n']
    for account in names:
        pc = root / "pc" / account / "Maildir"
        if not pc.exists():
            _write(pc, n, _mail(account, f"pc{n}", False))
            truth[f"pc{n}"] = account
            n += 1
        rows.append(
            f'\n[[account]]\naddress = "{account}"\nsources = ["{pc}"]\n'
            f'target = "maildir:{root / "new" / account}"\n'
        )
    (root / "job.toml").write_text("".join(rows))
    return {"truth": truth, "sizes": dict(zip(names, sizes, strict=True))}


def check(root: Path, truth: dict[str, str], unassigned: int) -> dict[str, int]:
    """Every message in exactly its owner's target: lost, duplicated and misplaced counted."""
    seen: Counter[tuple[str, str]] = Counter()
    for target in (root / "new").iterdir():
        for path in target.rglob("cur/*"):
            found = re.search(rb"^Body of (\S+)\.$", path.read_bytes(), re.M)
            if found:
                seen[(target.name, found[1].decode())] += 1
    owned = {m: a for m, a in truth.items() if a}
    return {
        "messages": len(owned),
        "lost": sum(1 for m, a in owned.items() if not seen[(a, m)]),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "wrong_account": sum(1 for (a, m), _n in seen.items() if truth.get(m) != a),
        "unassigned": unassigned,
        "unassigned_expected": sum(1 for a in truth.values() if not a),
    }


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:")), 0)
    except OSError:
        return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(c) for c in f.read().split()]
                    found += kids
                    todo += kids
        except OSError:
            continue
    return found


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (its children are counted apart)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _timed(argv: list[str], env: dict[str, str], watch: int) -> tuple[float, int, dict[int, int], str, float]:
    """Wall seconds, exit status, the peak PSS of each process under ``watch`` (the command's
    own tree, or the cluster's), the command's output, and the CPU seconds the processes used."""
    peaks: dict[int, int] = {}
    used: dict[int, float] = {}  # pid -> CPU seconds, as last seen
    before = {p: _cpu(p) for p in _descendants(watch)}  # the cluster's workers' time so far is not this run's
    stop = threading.Event()
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def sample() -> None:
        while not stop.is_set():
            for p in [proc.pid, *_descendants(proc.pid), *_descendants(watch)]:
                peaks[p] = max(peaks.get(p, 0), _pss(p))
                used[p] = max(used.get(p, 0.0), _cpu(p))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    seconds = time.monotonic() - start
    stop.set()
    sampler.join()
    for p in _descendants(watch):  # a cluster's workers live on: their time until now
        used[p] = max(used.get(p, 0.0), _cpu(p))
    # every process seen, as last sampled (up to 0.2 s before it ended), less what a cluster's
    # workers had used before this run
    cpu = sum(t - before.get(p, 0.0) for p, t in used.items())
    return seconds, proc.returncode, peaks, out, cpu


def _fresh(root: Path) -> None:
    for name in ("job", "new", "single"):
        shutil.rmtree(root / name, ignore_errors=True)


def _job(
    root: Path, env: dict[str, str], truth: dict[str, str], extra: list[str], watch: int
) -> dict[str, Any]:
    _fresh(root)
    argv = [sys.executable, "-m", "mailrecover", "--json", "batch", *extra, str(root / "job.toml")]
    load = os.getloadavg()[0]
    seconds, status, peaks, out, cpu = _timed(argv, env, watch)
    data = json.loads(out[out.index("{") :])
    messages = sum(a["messages"] for a in data["accounts"].values())
    workers = sorted(peaks.values(), reverse=True)
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],  # at the start and the end
        "status": status,
        "messages": messages,
        "messages_per_second": round(messages / seconds, 1),
        "messages_per_cpu_second": round(messages / cpu, 1) if cpu else 0,
        "peak_pss_mb_largest_process": round(workers[0] / 1e6, 1) if workers else 0,
        "failed": sum(a["status"] == "failed" for a in data["accounts"].values()),
        **check(root, truth, data["unassigned"]),
    }


def _single(root: Path, env: dict[str, str], account: str) -> dict[str, Any]:
    """One account alone, its area and client copies: the single-account throughput."""
    _fresh(root)
    ws, area = root / "single" / "ws", root / "restore" / account.partition("@")[0] / "Maildir"
    start = time.monotonic()
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # gather's pool is reaped by gather
    run = [sys.executable, "-m", "mailrecover", "--workspace", str(ws), "-q"]
    for step in (
        ["gather", "--account", account, str(area), str(root / "pc" / account / "Maildir")],
        ["restore", "--account", account, "--to", f"maildir:{root / 'single' / 'new'}"],
    ):
        subprocess.run([*run, *step], env=env, check=False, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = children.ru_utime + children.ru_stime - reaped.ru_utime - reaped.ru_stime
    messages = sum(1 for _ in (root / "single" / "new").rglob("cur/*"))
    return {
        "account": account,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 1),
        "load_average": round(os.getloadavg()[0], 2),
        "messages": messages,
        "messages_per_second": round(messages / seconds, 1),
        "messages_per_cpu_second": round(messages / cpu, 1) if cpu else 0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="a generated provider through mailrecover batch")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--large", type=int, default=20000, help="messages of the few large accounts (0: none)")
    p.add_argument("--cluster", action="store_true", help="also through a 2-worker Dask LocalCluster")
    args = p.parse_args(argv)
    root = DATA / f"{args.accounts}-{args.large}"
    if not (root / "job.toml").exists():
        shutil.rmtree(root, ignore_errors=True)
        facts = generate(root, args.accounts, args.large)
        (root / "truth.json").write_text(json.dumps(facts))
    facts = json.loads((root / "truth.json").read_text())
    env = _checkout_env()
    sizes = facts["sizes"]
    largest = max(sizes, key=sizes.get)  # the single-account run least weighed by start-up
    result: dict[str, Any] = {
        "accounts": args.accounts,
        "cores": os.cpu_count(),
        "single": _single(root, env, largest),
        "pool": _job(root, env, facts["truth"], [], os.getpid()),
    }
    if args.cluster:
        from distributed import LocalCluster

        with LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
        ) as cluster:
            result["cluster"] = _job(
                root, env, facts["truth"], ["--scheduler", cluster.scheduler_address], os.getpid()
            )
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
