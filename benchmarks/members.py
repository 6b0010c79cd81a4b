"""How long ``members`` takes on a big list: a Mailman 2 subscribe log, delivery lines, list mail.

    python3 benchmarks/members.py [MEMBERS] [POSTS]

Writes a synthetic subscribe log (one ``new`` line per member, every tenth one leaving
again), ``POSTS`` list posts delivered to every remaining member as ``delivery`` evidence,
and one gathered copy of each post; then times ``gather`` and ``members --format mailman2``
and reports the peak memory of the process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailrecover.cli import main
from mailrecover.workspace import Workspace

LIST = "big@lists.example.org"


def build(root: Path, members: int, posts: int) -> tuple[Path, Path, list[str]]:
    start = datetime(2012, 1, 1, tzinfo=UTC)
    logs = root / "mailman" / "logs"
    logs.mkdir(parents=True)
    current = []
    with open(logs / "subscribe", "w") as log:
        for i in range(members):
            t = (start + timedelta(minutes=i)).strftime("%b %d %H:%M:%S %Y")
            log.write(f"{t} (1) big: new Member {i} <m{i}@example.com>, admin mass sub\n")
            if i % 10 == 9:
                log.write(f"{t} (1) big: deleted m{i}@example.com; via the member options page\n")
            else:
                current.append(f"m{i}@example.com")
    mbox = root / "owner.mbox"
    with open(mbox, "wb") as f:
        for p in range(posts):
            f.write(
                f"From a@example.com Mon Jun  4 10:00:00 2012\nFrom: m0@example.com\nTo: {LIST}\n"
                f"Delivered-To: owner@example.org\nList-Id: <big.lists.example.org>\n"
                f"X-BeenThere: {LIST}\nSubject: post {p}\nMessage-ID: <p{p}@example.com>\n"
                f"Date: Mon, 4 Jun 2012 10:00:00 +0000\n\nbody {p}\n\n".encode()
            )
    return logs.parent, mbox, current


def store_deliveries(ws_path: Path, current: list[str], posts: int) -> int:
    when = datetime(2012, 6, 4, 10, tzinfo=UTC)
    with Workspace(ws_path) as ws:
        loc = ws.location("mail.log", "synthetic")
        ws.db.execute("BEGIN")
        n = 0
        for p in range(posts):
            for address in current:
                n += 1
                fields = {
                    "sender": "big-bounces@lists.example.org",
                    "recipient": address,
                    "status": "sent",
                    "message_id": f"<p{p}@example.com>",
                    "queue_id": f"Q{p}",
                }
                ws.db.execute(
                    "INSERT INTO evidence (location_id, kind, source, position, time, fields) "
                    "VALUES (?, 'delivery', 'mail.log', ?, ?, ?)",
                    (loc, str(n), when.isoformat(), json.dumps(fields, sort_keys=True)),
                )
        ws.db.execute("COMMIT")
    return n


def run(members: int, posts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        var, mbox, current = build(root, members, posts)
        ws = root / "ws"
        t0 = time.perf_counter()
        main(["--workspace", str(ws), "-q", "gather", "--list", LIST, str(var)])
        main(["--workspace", str(ws), "-q", "gather", "--account", "owner@example.org", str(mbox)])
        lines = store_deliveries(ws, current, posts)
        t1 = time.perf_counter()
        out = root / "out.txt"
        saved = sys.stdout
        with open(out, "w") as sys.stdout:
            main(["--workspace", str(ws), "members", "--list", LIST, "--format", "mailman2"])
        sys.stdout = saved
        t2 = time.perf_counter()
        printed = out.read_text().splitlines()
        assert len(printed) == len(current) + 1, (len(printed), len(current))  # + the owner, by the copies
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{members:,} members, {posts} posts, {lines:,} delivery lines, {posts} copies: "
            f"gather {t1 - t0:.1f} s, members {t2 - t1:.1f} s, peak {peak:.0f} MB"
        )


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
