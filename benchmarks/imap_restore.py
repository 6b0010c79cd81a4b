"""Restore throughput to a local Dovecot: MULTIAPPEND batches vs one APPEND per message,
on loopback and through a proxy adding latency each way (a server across the country); and,
beside the default, a run through an admin (master user) login, runs against a server
that allows 2 connections per user, and one under ``--max-rate`` (its achieved rate beside the cap).

    python3 benchmarks/imap_restore.py [--messages 2000] [--delay 0.010] [--single-messages 300]

Starts its own throwaway Dovecot (needs dovecot-imapd; as root it uses the dovecot users),
writes through the real workspace journal, and prints one line per run plus a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1]),
    str(Path(__file__).resolve().parents[1] / "plugins"),
]

from mailrecover.imapconn import ConnectionSettings, parse_imap_url  # noqa: E402
from mailrecover.model import Flag  # noqa: E402
from mailrecover.targets import Outgoing  # noqa: E402
from mailrecover.targets.imap import ImapTarget  # noqa: E402
from mailrecover.throttle import parse_rate  # noqa: E402
from mailrecover.workspace import Workspace  # noqa: E402
from tests.support.dovecot import Dovecot  # noqa: E402
from tests.support.mailgen import messages  # noqa: E402
from tests.support.tcpproxy import Proxy  # noqa: E402


def _plan(raws: list[bytes]) -> list[Outgoing]:
    base = datetime(2012, 6, 1, tzinfo=timezone(timedelta(hours=9)))
    folders = ["INBOX", "INBOX", "INBOX", "送信済み", "仕事/見積もり"]
    return [
        Outgoing(
            key=f"m{i}",
            folder=folders[i % len(folders)],
            flags=frozenset({Flag.SEEN}) if i % 2 else frozenset(),
            date=base + timedelta(minutes=i),
            raw=raw,
        )
        for i, raw in enumerate(raws)
    ]


_ADMIN = ("admin@example.co.jp", "bench-master-pw")


def _run(
    server: Dovecot,
    plan: list[Outgoing],
    *,
    delay: float,
    multiappend: bool,
    connections: int,
    admin: bool = False,
    max_rate: int | None = None,
) -> dict[str, float]:
    account = server.account()
    secret = _ADMIN[1] if admin else account.password
    settings = ConnectionSettings(admin_user=_ADMIN[0] if admin else None)
    with Proxy(server.port, delay=delay) if delay else _NoProxy(server.port) as proxy:
        url = parse_imap_url(account.url(port=proxy.port))
        target = ImapTarget(
            url,
            password=lambda prompt: secret,
            settings=settings,
            multiappend=multiappend,
            connections=connections,
            max_rate=max_rate,
        )
        with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "ws") as ws:
            start = time.perf_counter()
            written = target.write(plan, ws.journal(target.description))
            seconds = time.perf_counter() - start
    assert written == len(plan), (written, len(plan))
    megabytes = sum(len(o.raw) for o in plan) / 1e6
    return {
        "messages": len(plan),
        "MB": round(megabytes, 1),
        "seconds": round(seconds, 2),
        "msg_per_s": round(len(plan) / seconds, 1),
        "MB_per_s": round(megabytes / seconds, 2),
        **({"cap_MB_per_s": round(max_rate / 1e6, 2)} if max_rate else {}),
    }


def _show(name: str, r: dict[str, float]) -> None:
    print(
        f"{name:<44} {r['messages']:>5} msgs {r['MB']:>6} MB {r['seconds']:>7} s "
        f"{r['msg_per_s']:>8} msg/s {r['MB_per_s']:>6} MB/s"
        + (f" (cap {r['cap_MB_per_s']} MB/s)" if "cap_MB_per_s" in r else ""),
        flush=True,
    )


class _NoProxy:
    def __init__(self, port: int) -> None:
        self.port = port

    def __enter__(self) -> _NoProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument(
        "--single-messages",
        type=int,
        default=300,
        help="messages for one-APPEND-per-message runs through the proxy (they are slow)",
    )
    ap.add_argument("--delay", type=float, default=0.010, help="seconds the proxy adds each way")
    ap.add_argument(
        "--max-rate",
        default="1M",
        help="the cap of the --max-rate run (bytes/s, K/M suffixes): it should achieve just under it",
    )
    ap.add_argument(
        "--no-fsync", action="store_true", help="let Dovecot skip fsync, to see the client's own limit"
    )
    args = ap.parse_args()
    raws = messages(args.messages, seed=7)
    plan = _plan(raws)
    far = f"+{args.delay * 1000:.0f} ms each way"
    server = Dovecot(
        accounts=9, quota_accounts=0, quota=False, fsync=not args.no_fsync, masters=dict([_ADMIN])
    ).start()
    capped = Dovecot(
        accounts=2,
        quota_accounts=0,
        quota=False,
        fsync=not args.no_fsync,
        extra_config="protocol imap {\n  mail_max_userip_connections = 2\n}",
    ).start()
    results = {}
    try:
        runs = [
            ("loopback, MULTIAPPEND x4 connections", plan, 0.0, True, 4),
            ("loopback, MULTIAPPEND, one connection", plan, 0.0, True, 0),
            ("loopback, single APPEND", plan, 0.0, False, 0),
            (f"{far}, MULTIAPPEND x4 connections", plan, args.delay, True, 4),
            (f"{far}, MULTIAPPEND, one connection", plan, args.delay, True, 0),
            (f"{far}, single APPEND", plan[: args.single_messages], args.delay, False, 0),
        ]
        for name, items, delay, multi, connections in runs:
            results[name] = r = _run(server, items, delay=delay, multiappend=multi, connections=connections)
            _show(name, r)
        name = f"loopback, MULTIAPPEND x4, --max-rate {args.max_rate}"
        results[name] = r = _run(
            server, plan, delay=0.0, multiappend=True, connections=4, max_rate=parse_rate(args.max_rate)
        )
        _show(name, r)
        name = "loopback, MULTIAPPEND x4, admin login"
        results[name] = r = _run(server, plan, delay=0.0, multiappend=True, connections=4, admin=True)
        _show(name, r)
        for name, connections in (
            ("loopback, cap 2/user, x4 asked (shrinks)", 4),
            ("loopback, cap 2/user, --connections 1", 1),
        ):
            results[name] = r = _run(capped, plan, delay=0.0, multiappend=True, connections=connections)
            _show(name, r)
    finally:
        server.stop()
        capped.stop()
    base = results[f"{far}, single APPEND"]["msg_per_s"]
    for name, r in results.items():
        if name.startswith(far) and r["msg_per_s"] != base:
            print(f"{name}: {r['msg_per_s'] / base:.1f}x one APPEND round trip per message")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
