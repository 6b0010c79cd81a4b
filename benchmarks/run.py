"""One command: gather, merge, restore and report on a generated corpus, beside mdedup.

``python3 -m benchmarks.run --size 10k`` generates the corpus if it is not there yet
(``benchmarks/data/10k``), installs mail-deduplicate from PyPI into its own venv
(``benchmarks/data/mdedup-venv``, never into the project's environment), then runs each
stage as its own process and prints wall time, copies/s, MB/s and peak memory of the whole
process tree, pool workers included (summed resident sets, and summed proportional sets),
and checks what each tool restored against the corpus' ``expected.tsv``.  Results are also written to ``benchmarks/data/results-SIZE.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .corpus import ACCOUNT, generate

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
MDEDUP = "mail-deduplicate==9.4.0"


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_mb: float  # the whole process tree at its largest, shared pages counted per process
    items: int  # copies read, or messages written
    megabytes: float
    status: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def _tree_memory(pid: int) -> tuple[int, int]:
    """Resident bytes of ``pid`` and all its descendants: the sum of their resident sets
    (shared pages counted in each process), and of their proportional sets (each shared
    page divided among the processes that share it: what the tree really holds)."""
    rss = pss = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return rss, pss


def _run(name: str, argv: list[str], env: dict[str, str], items: int, megabytes: float, log: Path) -> Stage:
    peak = peak_pss = 0
    os.sync()  # no stage is charged for flushing another's writes
    # The kernel's peak for a child counts the memory of the process it was forked from
    # (Popen's vfork hands the child this runner's until exec): trusted only above that.
    inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with open(log, "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak, peak_pss
            while not stop.is_set():
                rss, pss = _tree_memory(proc.pid)
                peak, peak_pss = max(peak, rss), max(peak_pss, pss)
                stop.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
        stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if usage.ru_maxrss * 1024 > inherited:
        peak = max(peak, usage.ru_maxrss * 1024)
    return Stage(
        name,
        seconds,
        peak / 1e6,
        items,
        megabytes,
        proc.returncode,
        {"cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_pss_mb": round(peak_pss / 1e6, 1)},
    )


def _read_through(paths: list[str]) -> None:
    """Read every source file once, untimed, so both tools and every size start from the
    page cache: a 1M gather otherwise met a cold disk (4.7 GB, read one Maildir file at a
    time) where the 10k rounds found it warm, and the two no longer measured the same work."""
    for top in paths:
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    while f.read(1 << 20):
                        pass


def _checkout_env() -> dict[str, str]:
    """An environment where ``python3 -m mailrecover`` is this checkout with its plugins."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = DATA / ".checkout-dist"
    info = dist / "mailrecover-0+checkout.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mailrecover\nVersion: 0+checkout\n")
    lines = []
    for group, eps in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{n} = {t}" for n, t in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(dist), str(REPO), str(REPO / "plugins")])
    env.pop("MAILRECOVER_PLUGINS", None)
    # An installed mailrecover runs from the bytecode its installer compiled; with
    # PYTHONDONTWRITEBYTECODE set (as in some shells and CI) every stage compiled the
    # checkout's modules from source again, 0.1-0.15 CPU s each at any size.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = [str(REPO / "mailrecover"), str(REPO / "plugins")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *code], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return env


def _mdedup() -> Path:
    venv = DATA / "mdedup-venv"
    exe = venv / "bin" / "mdedup"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", MDEDUP], check=True)
    return exe


def _header_value(path: Path, name: bytes) -> bytes | None:
    with open(path, "rb") as f:
        head = f.read(65536)
    m = re.search(rb"(?im)^" + name + rb":[ \t]*(\S+)", head.split(b"\r\n\r\n")[0].split(b"\n\n")[0])
    return m.group(1) if m else None


def _restored(root: Path) -> tuple[dict[int, list[tuple[str, str]]], int]:
    """Bench id -> [(Maildir++ folder, flags)] for every message under a Maildir++ root."""
    found: dict[int, list[tuple[str, str]]] = {}
    files = 0
    for dirpath, _dirs, names in os.walk(root):
        here = Path(dirpath)
        if here.name not in ("cur", "new"):
            continue
        folder = "INBOX" if here.parent == root else here.parent.name[1:]
        for name in names:
            files += 1
            flags = name.rsplit(":2,", 1)[1] if ":2," in name else ""
            value = _header_value(here / name, b"X-Bench-Id")
            if value is not None:
                found.setdefault(int(value), []).append((folder, "".join(sorted(flags))))
    return found, files


def check(corpus: Path, restored_root: Path) -> dict[str, int]:
    """How a restored Maildir++ tree compares with what the corpus says it must hold."""
    found, files = _restored(restored_root)
    expected: dict[int, tuple[str, str]] = {}
    with open(corpus / "expected.tsv", encoding="utf-8") as f:
        for line in f:
            n, folder, flags = line.rstrip("\n").split("\t")
            expected[int(n)] = (folder, flags)
    missing = sum(1 for n in expected if n not in found)
    restored_twice = sum(len(v) - 1 for v in found.values())
    folders_ok = sum(1 for n, v in found.items() if n in expected and v[0][0] == expected[n][0])
    flags_ok = sum(1 for n, v in found.items() if n in expected and v[0][1] == expected[n][1])
    return {
        "expected": len(expected),
        "files": files,
        "distinct": len(found),
        "missing": missing,
        "extra_copies": restored_twice,
        "folder_right": folders_ok,
        "flags_right": flags_ok,
    }


def _facts(corpus: Path) -> dict[str, int]:
    return {
        k: int(v) for k, v in (line.split("\t") for line in (corpus / "corpus.txt").read_text().splitlines())
    }


def _sources(corpus: Path) -> tuple[list[str], list[str]]:
    """Locations for mailrecover, and the same files named the way mdedup takes them."""
    src = corpus / "sources"
    tb = src / "thunderbird" / "Local Folders"
    ours = [str(tb), str(src / "backup" / "Maildir"), str(src / "saved-mail")]
    mboxes = sorted(str(p) for p in tb.rglob("*") if p.is_file() and p.suffix == "" and p.stat().st_size)
    return ours, [*mboxes, str(src / "backup" / "Maildir"), str(src / "saved-mail")]


#: How long ext4 without a journal keeps a deleted inode from being reused (the kernel's
#: ``recently_deleted``: 60 s, 360 s while the inode's table block is dirty, which creating
#: any file beside it makes it): until then each new file's inode search steps over them all.
_INODE_QUARANTINE = 361.0
_DELETED = DATA / ".deleted"  # its time is when a run last deleted its trees


def _clear(work: Path) -> None:
    """Delete what the last run of this size left, and wait out the quarantine on the inodes
    that it, or any other run, freed.

    Measured here (ext4 with no journal): 6,725 files created 45 s after deleting 13,600
    took 4.9 s of kernel time in ``recently_deleted``, 0.4 s once it had passed; a restore
    66 s after the deletion, with other files created in between, still took 4.8 s against
    1.2 s.  Both tools' restores swung by that much from run to run.  A finished run
    deletes its trees at its end (``_tidy``), so the wait overlaps whatever comes between.
    """
    if work.exists():
        if any(p.is_dir() for p in work.iterdir()):
            _DELETED.touch()  # an interrupted run left its trees
        shutil.rmtree(work)
        os.sync()
    freed_at = _DELETED.stat().st_mtime if _DELETED.exists() else 0.0
    wait = freed_at + _INODE_QUARANTINE - time.time()
    if wait > 0:
        print(
            f"waiting {wait:.0f} s: the file system still holds back the inodes the last run freed",
            flush=True,
        )
        time.sleep(wait)


def _tidy(work: Path) -> None:
    """Delete the run's trees once they are checked (its logs stay), flush, and say when."""
    for tree in work.iterdir():
        if tree.is_dir():
            shutil.rmtree(tree)
    os.sync()
    _DELETED.touch()


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(size: str, *, mdedup: bool = True, jobs: int | None = None, rounds: int = 1) -> dict[str, object]:
    """Every stage, and mdedup, ``rounds`` times one after the other; the medians, and each round."""
    corpus = DATA / size
    if not (corpus / "corpus.txt").exists():
        shutil.rmtree(corpus, ignore_errors=True)
        generate(corpus, SIZES[size])
    facts = _facts(corpus)
    work = DATA / f"run-{size}"
    _clear(work)
    work.mkdir(parents=True)
    load_before = _load()
    done = [_round(corpus, facts, work, k, mdedup=mdedup, jobs=jobs) for k in range(1, rounds + 1)]
    result: dict[str, object] = {
        "size": size,
        "corpus": facts,
        "cores": os.cpu_count(),
        "load_before": load_before,
        "stages": [_median([r["stages"][i] for r in done]) for i in range(len(done[0]["stages"]))],
        "mailrecover_check": done[-1]["mailrecover_check"],
        "rounds": done,
    }
    if mdedup:
        result["mdedup"] = _median([r["mdedup"] for r in done])
        result["mdedup_check"] = done[-1]["mdedup_check"]
    result["load_after"] = _load()
    _tidy(work)
    (DATA / f"results-{size}.json").write_text(json.dumps(result, indent=2))
    return result


def _round(
    corpus: Path, facts: dict[str, Any], work: Path, k: int, *, mdedup: bool, jobs: int | None
) -> dict[str, Any]:
    """One round in ``work/round-K`` (never deleted before the run ends: see ``_clear``)."""
    copies, mb = facts["copies"], facts["bytes"] / 1e6
    env = _checkout_env()
    if jobs is not None:
        env["MAILRECOVER_JOBS"] = str(jobs)
    here = work / f"round-{k}"
    ws, out = here / "workspace", here / "restored"
    ours, theirs = _sources(corpus)
    mr = [sys.executable, "-m", "mailrecover", "--workspace", str(ws), "-q"]
    log = str(here)  # each stage's log sits beside the round's folder: round-K-STAGE.log
    _read_through(ours)
    stages = [
        _run(
            "gather", [*mr, "gather", "--account", ACCOUNT, *ours], env, copies, mb, Path(f"{log}-gather.log")
        ),
        _run(
            "merge",
            [sys.executable, "-m", "benchmarks.stage", "merge", str(ws)],
            env,
            copies,
            mb,
            Path(f"{log}-merge.log"),
        ),
        _run(
            "restore",
            [*mr, "restore", "--account", ACCOUNT, "--to", f"maildir:{out}"],
            env,
            0,
            0.0,
            Path(f"{log}-restore.log"),
        ),
        _run("report", [*mr, "--json", "report"], env, copies, mb, Path(f"{log}-report.log")),
    ]
    sizes = [p.stat().st_size for p in out.rglob("*") if p.parent.name == "cur"]  # one walk of the tree
    stages[2].items, stages[2].megabytes = len(sizes), sum(sizes) / 1e6
    # The floor: the same source bytes read once and the same files written, in plain Python.
    (here / "sizes.txt").write_text("".join(f"{n}\n" for n in sizes))
    _read_through(ours)
    stages.append(
        _run(
            "floor",
            [sys.executable, "-m", "benchmarks.floor", str(here / "sizes.txt"), str(here / "floor"), *ours],
            env,
            len(sizes),
            mb,
            Path(f"{log}-floor.log"),
        )
    )
    result: dict[str, Any] = {
        "stages": [asdict(s) | {"per_second": round(s.per_second)} for s in stages],
        "mailrecover_check": check(corpus, out),
    }
    if mdedup:
        exe = _mdedup()
        md_out = here / "mdedup"
        argv = [
            str(exe),
            "--no-config",
            "--no-progress",
            "--color=never",
            "-s",
            "select-one",
            "-a",
            "copy-selected",
            "-e",
            "maildir",
            "-E",
            str(md_out),
            *theirs,
        ]
        _read_through(ours)  # the same files, named the way mdedup takes them
        md = _run("mdedup", argv, dict(os.environ), copies, mb, Path(f"{log}-mdedup.log"))
        md.items = copies
        result["mdedup"] = asdict(md) | {"per_second": round(md.per_second)}
        result["mdedup_check"] = check(corpus, md_out) if md_out.exists() else {}
    return result


def _total(round_: dict[str, Any]) -> float:
    return sum(s["seconds"] for s in round_["stages"] if s["name"] in ("gather", "merge", "restore"))


def _cpu(round_: dict[str, Any]) -> float:
    return sum(
        s["extra"]["cpu_seconds"] for s in round_["stages"] if s["name"] in ("gather", "merge", "restore")
    )


def _floor(round_: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in round_["stages"] if s["name"] == "floor"), None)


def _median(stages: list[dict[str, Any]]) -> dict[str, Any]:
    """One stage over the rounds: the round of median wall time, with the largest memory of all."""
    ordered = sorted(stages, key=lambda s: s["seconds"])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["peak_rss_mb"] = max(s["peak_rss_mb"] for s in stages)
    middle["extra"] = dict(middle["extra"], peak_pss_mb=max(s["extra"]["peak_pss_mb"] for s in stages))
    return middle


def _print(result: dict[str, object]) -> None:
    facts = result["corpus"]
    assert isinstance(facts, dict)
    print(
        f"corpus {result['size']}: {facts['copies']:,} copies of {facts['distinct']:,} mails, "
        f"{facts['bytes'] / 1e6:,.0f} MB; {result['cores']} cores; "
        f"load {result['load_before']} before, {result['load_after']} after"
    )
    rows = list(result["stages"])  # type: ignore[call-overload]
    rounds: list[dict[str, Any]] = list(result["rounds"])  # type: ignore[call-overload]
    totals = [_total(r) for r in rounds]
    total = statistics.median(totals)
    if len(rounds) > 1:
        print(f"{len(rounds)} rounds, one after the other; each stage's median round below")
    print(f"{'stage':<22}{'seconds':>9}{'per s':>9}{'MB/s':>8}{'peak RSS MB':>13}{'PSS MB':>8}{'cpu s':>8}")
    for s in rows:
        mbs = s["megabytes"] / s["seconds"] if s["seconds"] else 0
        label = "floor (plain Python)" if s["name"] == "floor" else f"mailrecover {s['name']}"
        print(
            f"{label:<22}{s['seconds']:>9.1f}{s['per_second']:>9,}{mbs:>8.1f}"
            f"{s['peak_rss_mb']:>13.0f}{s['extra']['peak_pss_mb']:>8.0f}{s['extra']['cpu_seconds']:>8}"
        )
    cpu = statistics.median(_cpu(r) for r in rounds)
    print(
        f"{'mailrecover total':<22}{total:>9.1f}{'':>38}{cpu:>8.1f}   (gather + merge + restore"
        + (f"; rounds {', '.join(f'{t:.1f}' for t in totals)})" if len(rounds) > 1 else ")")
    )
    floors = [_floor(r) for r in rounds]
    if all(floors):
        walls = [t / f["seconds"] for t, f in zip(totals, floors, strict=True) if f]
        cpus = [
            _cpu(r) / max(0.1, f["extra"]["cpu_seconds"]) for r, f in zip(rounds, floors, strict=True) if f
        ]
        print(
            f"over the floor: {statistics.median(walls):.2f}x wall, {statistics.median(cpus):.2f}x CPU "
            "(mailrecover gather+merge+restore / plain read of the sources and write of the restored files"
            + (f"; rounds {', '.join(f'{x:.2f}x' for x in walls)})" if len(rounds) > 1 else ")")
        )
    md = result.get("mdedup")
    if isinstance(md, dict):
        mbs = md["megabytes"] / md["seconds"] if md["seconds"] else 0
        print(
            f"{'mdedup copy-selected':<22}{md['seconds']:>9.1f}{md['per_second']:>9,}{mbs:>8.1f}"
            f"{md['peak_rss_mb']:>13.0f}{md['extra']['peak_pss_mb']:>8.0f}{md['extra']['cpu_seconds']:>8}"
        )
        ratios = [r["mdedup"]["seconds"] / t for r, t in zip(rounds, totals, strict=True)]
        print(
            f"speed-up: {statistics.median(ratios):.2f}x (mdedup wall time / mailrecover gather+merge+restore"
            + (f"; rounds {', '.join(f'{x:.2f}x' for x in ratios)})" if len(rounds) > 1 else ")")
        )
        cpu_ratios = [r["mdedup"]["extra"]["cpu_seconds"] / max(0.1, _cpu(r)) for r in rounds]
        print(
            f"speed-up in CPU seconds: {statistics.median(cpu_ratios):.2f}x"
            + (f" (rounds {', '.join(f'{x:.2f}x' for x in cpu_ratios)})" if len(rounds) > 1 else "")
        )
    for who in ("mailrecover_check", "mdedup_check"):
        if len({json.dumps(r.get(who), sort_keys=True) for r in rounds}) > 1:
            print(f"{who}: rounds differ: {[r.get(who) for r in rounds]}")
        c = result.get(who)
        if isinstance(c, dict) and c:
            print(
                f"{who.split('_')[0]}: {c['distinct']:,} of {c['expected']:,} mails restored "
                f"({c['missing']} missing, {c['extra_copies']} restored twice, {c['files']:,} files); "
                f"folder right {c['folder_right']:,}, flags right {c['flags_right']:,}"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="mailrecover speed and memory, beside mdedup")
    p.add_argument("--size", choices=sorted(SIZES), action="append", help="corpus size (repeatable)")
    p.add_argument("--no-mdedup", action="store_true", help="skip the mdedup comparison")
    p.add_argument("--jobs", type=int, help="fingerprinting processes (default: one per core)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run everything this many times and show the median (a shared machine's speed drifts)",
    )
    args = p.parse_args(argv)
    for size in args.size or ["10k"]:
        _print(run(size, mdedup=not args.no_mdedup, jobs=args.jobs, rounds=max(1, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
