"""Memory and speed of the Postfix log reader on large generated logs.

Writes a Postfix log of SIZE MB and one of FACTOR x SIZE MB (rotated: the older half
gzipped), reads each in a fresh process with the ``postfix-log`` plugin, and prints the
peak resident memory, the time and the number of delivery records.  Flat memory means
the peak barely moves while the log grows tenfold.

    python3 benchmarks/log_parse.py [--mb 40] [--factor 10]

Generated files go to benchmarks/data/ (not committed) and are reused when present.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROOT = HERE.parent


def _stamp(t: datetime) -> str:
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S}"


def _messages(rng: random.Random, start: datetime):  # type: ignore[no-untyped-def]
    """Endless lines of a busy server: interleaved messages, retries, noise, 1% never removed."""
    t = start
    n = 0
    pending: list[tuple[str, str, datetime]] = []
    while True:
        n += 1
        t += timedelta(milliseconds=rng.randrange(2000, 18000))  # about 8,600 messages a day
        qid = f"{rng.getrandbits(40):010X}"
        ip = f"198.51.100.{n % 250}"
        user = f"user{rng.randrange(5000)}@example.jp"
        yield t, f"mail postfix/smtpd[{n % 30000}]: connect from mx{n % 97}.example.net[{ip}]"
        yield t, f"mail postfix/smtpd[{n % 30000}]: {qid}: client=mx{n % 97}.example.net[{ip}]"
        yield t, f"mail postfix/cleanup[{n % 30000}]: {qid}: message-id=<{n}.{qid}@example.net>"
        yield (
            t,
            f"mail postfix/qmgr[900]: {qid}: from=<s{n % 3000}@example.net>, size={rng.randrange(900, 90000)}, nrcpt=1 (queue active)",
        )
        if n % 100 == 0:
            pending.append((qid, user, t))  # deferred now, delivered in a later queue run
            yield (
                t,
                f"mail postfix/virtual[{n % 30000}]: {qid}: to=<{user}>, relay=virtual, delay=0.2, delays=0.1/0/0/0.1, dsn=4.2.2, status=deferred (mailbox full)",
            )
        elif n % 101 == 0:
            yield (
                t,
                f"mail postfix/virtual[{n % 30000}]: {qid}: to=<{user}>, relay=virtual, delay=0.2, delays=0.1/0/0/0.1, dsn=4.2.2, status=deferred (mailbox full)",
            )
            continue  # never removed: the table's window must let it go
        else:
            yield (
                t,
                f"mail postfix/virtual[{n % 30000}]: {qid}: to=<{user}>, relay=virtual, delay=0.2, delays=0.1/0/0/0.1, dsn=2.0.0, status=sent (delivered to maildir)",
            )
            yield t, f"mail postfix/qmgr[900]: {qid}: removed"
        yield (
            t,
            f"mail postfix/smtpd[{n % 30000}]: disconnect from mx{n % 97}.example.net[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
        )
        while pending and t - pending[0][2] > timedelta(hours=2):
            old, who, _ = pending.pop(0)
            yield (
                t,
                f"mail postfix/virtual[{n % 30000}]: {old}: to=<{who}>, relay=virtual, delay=1800, delays=1800/0/0/0.1, dsn=2.0.0, status=sent (delivered to maildir)",
            )
            yield t, f"mail postfix/qmgr[900]: {old}: removed"


def generate(directory: Path, megabytes: int) -> Path:
    """A rotated log of about ``megabytes`` MB in ``directory`` (reused when there)."""
    done = directory / ".complete"
    if done.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(megabytes)
    target = megabytes * 1_000_000
    lines = _messages(rng, datetime(2025, 12, 20, 0, 0))
    halves = [directory / "mail.log.1.gz", directory / "mail.log"]
    for i, path in enumerate(halves):
        out = gzip.open(path, "wt", compresslevel=1) if path.suffix == ".gz" else open(path, "w")
        written = 0
        with out:
            buf = []
            for t, text in lines:
                line = f"{_stamp(t)} {text}\n"
                buf.append(line)
                written += len(line)
                if len(buf) >= 10000:
                    out.write("".join(buf))
                    buf.clear()
                if written >= target // 2:
                    break
            out.write("".join(buf))
    done.touch()
    return directory


def _child(location: str) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
    from mailrecover_logs._queue import Queue
    from mailrecover_logs.postfix import PostfixParser, PostfixPlugin

    from mailrecover.model import Evidence
    from mailrecover.plugin import ReadContext

    queue = Queue()
    plugin = PostfixPlugin()
    plugin.parser = lambda: PostfixParser(queue)  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    count = statuses = pending = 0
    for finding in plugin.read(location, ReadContext()):
        if isinstance(finding, Evidence):
            count += 1
            statuses += finding.fields["status"] == "sent"
            pending = max(pending, len(queue))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{count} {statuses} {elapsed:.2f} {peak_kb} {pending} {cpu:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=40, help="size of the smaller log (uncompressed MB)")
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(
        f"{'log':>8} {'on disk':>9} {'records':>9} {'sent':>9} {'wall s':>7} {'CPU s':>7} "
        f"{'MB/CPU s':>8} {'pending':>8} {'peak RSS':>9}"
    )
    for mb in (args.mb, args.mb * args.factor):
        directory = generate(DATA / f"postfix-{mb}mb", mb)
        disk = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(directory)], capture_output=True, text=True, check=True
        ).stdout.split()
        count, sent, elapsed, peak_kb, pending, cpu = (
            int(out[0]),
            int(out[1]),
            float(out[2]),
            int(out[3]),
            int(out[4]),
            float(out[5]),
        )
        print(
            f"{mb:>6}MB {disk / 1e6:>7.0f}MB {count:>9} {sent:>9} {elapsed:>7.1f} {cpu:>7.1f} "
            f"{mb / cpu:>8.1f} {pending:>8} {peak_kb / 1024:>7.1f}MB"
        )


if __name__ == "__main__":
    main()
