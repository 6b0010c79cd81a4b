"""The restore stage alone, several times over one gathered and merged workspace.

``python3 -m benchmarks.restore --size 10k --rounds 5`` gathers and merges the corpus once
(``benchmarks/data/restore-SIZE/template``), then for each round copies the template's
database (the blob packs are hard-linked: restore only reads them), restores the account to a
fresh Maildir++ tree in its own process, and prints wall time, messages/s and the CPU seconds
of that process (user and system apart: the system part is mostly creating files), with the
load average. The code runs from its bytecode cache, as installed code does. Each tree is checked against the corpus' ``expected.tsv``. ``--profile FILE``
runs one more round under cProfile; ``--under /dev/shm`` puts the copies and the trees in
memory, to time the tool without the disk's file creation (its sync calls then cost nothing
either).

The trees are deleted only when the run ends, and a run waits out the inode quarantine the
last one left (see ``run._clear``): creating files right after deleting as many is several
times slower on this machine's file system, whatever the tool.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .corpus import ACCOUNT, generate
from .run import DATA, SIZES, _checkout_env, _clear, _load, _sources, _tidy, check

__all__ = ["main"]


def _template(size: str, env: dict[str, str]) -> Path:
    corpus = DATA / size
    if not (corpus / "corpus.txt").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        generate(corpus, SIZES[size])
    template = DATA / f"restore-{size}-template"
    if not (template / "merged").exists():
        shutil.rmtree(template, ignore_errors=True)
        ours, _ = _sources(corpus)
        mr = [sys.executable, "-m", "mailrecover", "--workspace", str(template / "ws"), "-q"]
        subprocess.run([*mr, "gather", "--account", ACCOUNT, *ours], env=env, check=False)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.stage", "merge", str(template / "ws")], env=env, check=True
        )
        (template / "merged").touch()
    return template


def _workspace(template: Path, into: Path) -> Path:
    """A copy of the template's workspace: its database copied, its blob packs hard-linked."""
    ws = into / "ws"
    same_fs = os.stat(template).st_dev == os.stat(into.parent).st_dev
    link = os.link if same_fs else shutil.copy2
    shutil.copytree(template / "ws", ws, copy_function=link, ignore=shutil.ignore_patterns("workspace.db*"))
    for db in (template / "ws").glob("workspace.db*"):
        shutil.copy2(db, ws / db.name)
    return ws


def _one(ws: Path, out: Path, env: dict[str, str], profile: Path | None = None) -> dict[str, float]:
    argv = [sys.executable]
    if profile is not None:
        argv += ["-m", "cProfile", "-o", str(profile)]
    argv += ["-m", "mailrecover", "--workspace", str(ws), "-q", "restore", "--account", ACCOUNT]
    argv += ["--to", f"maildir:{out}"]
    os.sync()
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"restore failed: {status}")
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="10k")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--under",
        type=Path,
        help="put the workspace copies and restored trees there (say /dev/shm, to time the tool "
        "without the disk's file creation; default benchmarks/data)",
    )
    p.add_argument("--profile", type=Path, help="one more round under cProfile, its stats written here")
    args = p.parse_args(argv)
    env = _checkout_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # timed as installed code runs: from its bytecode cache
    template = _template(args.size, env)
    work = (args.under or DATA) / f"restore-{args.size}"
    if args.under:  # no inode quarantine to wait out off the disk
        shutil.rmtree(work, ignore_errors=True)
    else:
        _clear(work)
    work.mkdir(parents=True)
    print(f"load {_load()} before")
    rows = []
    for k in range(1, args.rounds + 1):
        here = work / f"round-{k}"
        ws = _workspace(template, here)
        row = _one(ws, here / "restored", env)
        c = check(DATA / args.size, here / "restored")
        row["messages"] = c["distinct"]
        rows.append(row)
        print(
            f"round {k}: {row['wall']:.2f} s wall, {c['distinct'] / row['wall']:,.0f} msg/s; "
            f"cpu {row['user'] + row['sys']:.2f} s (user {row['user']:.2f}, sys {row['sys']:.2f}); "
            f"{c['distinct']:,} of {c['expected']:,} restored, {c['missing']} missing, "
            f"{c['extra_copies']} twice, folder right {c['folder_right']:,}, flags right {c['flags_right']:,}; "
            f"load {_load()}",
            flush=True,
        )
    if args.profile:
        here = work / "profiled"
        _one(_workspace(template, here), here / "restored", env, args.profile)
    wall = statistics.median(r["wall"] for r in rows)
    cpu = statistics.median(r["user"] + r["sys"] for r in rows)
    n = rows[0]["messages"]
    print(
        f"median of {len(rows)}: {wall:.2f} s wall ({n / wall:,.0f} msg/s), {cpu:.2f} CPU s "
        f"({n / cpu:,.0f} msg per CPU s); load {_load()} after"
    )
    if args.under:
        shutil.rmtree(work)
    else:
        _tidy(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
