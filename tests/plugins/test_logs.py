"""Mail server log plugins: exact delivery evidence from real and generated logs."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailrecover_logs._queue import Queue
from mailrecover_logs._stream import LogLine
from mailrecover_logs.dovecot import DovecotPlugin
from mailrecover_logs.exim import EximParser, EximPlugin
from mailrecover_logs.postfix import PostfixParser, PostfixPlugin
from mailrecover_logs.sendmail import SendmailPlugin

from mailrecover.model import Evidence, Problem, ProblemKind
from mailrecover.plugin import ReadContext
from tests.support.logbuilder import LOCAL, Mail, Outcome, scenario, write_log

from .contract import Sample, SourcePluginContract

PLUGINS = {"postfix": PostfixPlugin, "exim": EximPlugin, "sendmail": SendmailPlugin}
FIELDS = ["message_id", "sender", "recipient", "orig_to", "status", "size", "relay", "queue_id", "dsn"]


def _read(plugin, location: Path | str) -> tuple[list[dict[str, str]], list[Problem]]:
    found = list(plugin.read(str(location), ReadContext()))
    assert all(isinstance(f, (Evidence, Problem)) for f in found)
    deliveries = []
    for f in found:
        if isinstance(f, Evidence):
            assert f.kind == "delivery" and sorted(f.fields) == sorted(FIELDS)
            assert all(isinstance(v, str) for v in f.fields.values())
            deliveries.append(
                dict(
                    f.fields,
                    time=f.time.replace(tzinfo=None).isoformat(),
                    source=f.source,
                    position=f.position,
                )
            )
    return deliveries, [f for f in found if isinstance(f, Problem)]


def _feed(parser, texts: list[str], program: str = "postfix/x") -> list[Evidence]:  # type: ignore[no-untyped-def]
    """Evidence from lines fed one by one (a second apart), then what the parser still held."""
    start = datetime(2026, 3, 1, 10, 0).astimezone()
    out = []
    for n, text in enumerate(texts, 1):
        out += parser.feed(LogLine("mail.log", n, start + timedelta(seconds=n), "mail", program, text))
    return out + list(parser.close())


def _key(e: dict[str, str]) -> tuple[str, ...]:
    return (e["queue_id"], e["message_id"], e["recipient"], e["orig_to"])


def _snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
    }


def _delivered_mails(count: int) -> list[Mail]:
    """``count`` mails, each delivered locally and removed from the queue, ten seconds apart."""
    base = datetime(2026, 2, 1, 8, 0)
    return [
        Mail(
            {
                "postfix": f"{0xC00000 + i:X}0000",
                "exim": f"{i:06d}-{i:06d}-AA",
                "sendmail": f"6C{i:06d}Qx001",
            },
            f"d{i}@example.net",
            "s@example.net",
            100 + i,
            base + timedelta(seconds=10 * i),
            [Outcome(base + timedelta(seconds=10 * i + 1), LOCAL, "sent")],
        )
        for i in range(count)
    ]


class _MtaLogContract(SourcePluginContract):
    """The contract for one MTA's log plugin: its findings are delivery evidence, not copies."""

    yields = Evidence
    mta = ""

    def make_plugin(self):
        return PLUGINS[self.mta]()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        write_log(root, self.mta, garbage=False)
        return Sample(str(root), 12)

    def build_damaged(self, root: Path) -> str:
        root.mkdir(parents=True)
        write_log(root, self.mta)  # with binary junk and a line without a timestamp
        return str(root)

    def build_large(self, root: Path, nbytes: int) -> str:
        root.mkdir(parents=True)
        write_log(
            root / "..", self.mta, _delivered_mails(100), base="sample", noise=0, garbage=False, cuts=()
        )
        per_mail = (root / ".." / "sample").stat().st_size // 100
        (root / ".." / "sample").unlink()
        write_log(root, self.mta, _delivered_mails(nbytes // per_mail + 1), noise=0, garbage=False, cuts=())
        return str(root)

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "mail.log").write_bytes(data)
        return str(root / "mail.log")


class TestPostfixLogContract(_MtaLogContract):
    mta = "postfix"


class TestEximLogContract(_MtaLogContract):
    mta = "exim"


class TestSendmailLogContract(_MtaLogContract):
    mta = "sendmail"


def _dovecot_lines(count: int, start: int = 0) -> str:
    return "".join(
        f"Jan  5 10:{n // 60 % 60:02d}:{n % 60:02d} mail dovecot: lmtp(taro@example.jp)<{n}><S{n}>: "
        f"msgid=<d{n}@example.net>: saved mail to INBOX\n"
        for n in range(start, start + count)
    )


class TestDovecotLogContract(SourcePluginContract):
    yields = Evidence

    def make_plugin(self):
        return DovecotPlugin()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        (root / "dovecot.log").write_text(_dovecot_lines(5))
        return Sample(str(root / "dovecot.log"), 5)

    def build_damaged(self, root: Path) -> str:
        root.mkdir(parents=True)
        (root / "dovecot.log").write_bytes(
            _dovecot_lines(2).encode() + b"\x00\xff junk\n" + _dovecot_lines(2, 2).encode()
        )
        return str(root / "dovecot.log")

    def build_large(self, root: Path, nbytes: int) -> str:
        root.mkdir(parents=True)
        line = len(_dovecot_lines(1, 5000))
        (root / "dovecot.log").write_text(_dovecot_lines(nbytes // line + 1))
        return str(root / "dovecot.log")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "dovecot.log").write_bytes(data)
        return str(root / "dovecot.log")


@pytest.mark.parametrize("mta", sorted(PLUGINS))
@pytest.mark.parametrize("keep_times", [True, False], ids=["file-times", "times-lost"])
def test_rotated_directory_gives_every_delivery_exactly(tmp_path: Path, mta: str, keep_times: bool) -> None:
    written = write_log(tmp_path, mta, keep_times=keep_times)
    assert [p.name for p in written.files][-1] in ("mail.log", "mainlog", "maillog")
    assert written.files[0].suffix == ".gz"
    before = _snapshot(tmp_path)
    plugin = PLUGINS[mta]()
    assert plugin.detect(str(tmp_path)) >= 80
    got, problems = _read(plugin, tmp_path)
    assert sorted(got, key=_key) == sorted(written.expected, key=_key)
    assert len(got) == 12
    # the two garbage lines cost one problem line, nothing else
    assert [(p.kind, Path(p.source).name, p.reason) for p in problems] == [
        (ProblemKind.DAMAGED, written.files[-1].name, "2 line(s) without a timestamp skipped")
    ]
    assert _snapshot(tmp_path) == before


def test_year_boundary_and_split_message(tmp_path: Path) -> None:
    written = write_log(tmp_path, "postfix", keep_times=False)
    got, _ = _read(PostfixPlugin(), tmp_path)
    split = next(e for e in got if e["message_id"] == "m7@example.org")
    # arrived Dec 31 in mail.log.1, delivered Jan 1 in mail.log: joined, years right
    assert split["time"] == "2026-01-01T00:00:03"
    assert split["sender"] == "carol@example.org" and split["size"] == "2222"
    assert Path(split["source"]).name == "mail.log"
    first = next(e for e in got if e["message_id"] == "m1@hanako.example.net")
    assert first["time"] == "2025-12-30T09:00:02"
    assert Path(first["source"]).name == "mail.log.2.gz"
    text = written.files[1].read_bytes().decode("utf-8", "replace")
    assert "8F1A66B4D5: message-id=<m7@example.org>" in text and "8F1A66B4D5: to=" not in text


def test_reused_queue_id_and_retries(tmp_path: Path) -> None:
    write_log(tmp_path, "postfix")
    got, _ = _read(PostfixPlugin(), tmp_path)
    reused = sorted((e["message_id"], e["recipient"]) for e in got if e["queue_id"] == "7E0F55A3C4")
    assert reused == [("m5@example.net", LOCAL), ("m6@example.net", "jiro@example.jp")]
    jiro = [
        e for e in got if e["message_id"] == "m2@lists.example.org" and e["recipient"] == "jiro@example.jp"
    ]
    assert [(e["status"], e["time"]) for e in jiro] == [("sent", "2025-12-30T10:30:04")]
    expired = next(e for e in got if e["message_id"] == "m9@example.jp")
    assert (expired["status"], expired["dsn"]) == ("expired", "4.4.1")


def test_sendmail_line_with_several_recipients(tmp_path: Path) -> None:
    written = write_log(tmp_path, "sendmail")
    assert any(b"to=<taro@example.jp>,<jiro@example.jp>," in p.read_bytes() for p in written.files[1:])
    got, _ = _read(SendmailPlugin(), tmp_path)
    both = [e for e in got if e["message_id"] == "m10@example.net"]
    assert sorted(e["recipient"] for e in both) == ["jiro@example.jp", LOCAL]
    assert {e["position"] for e in both} == {both[0]["position"]}


def test_rfc3339_timestamps(tmp_path: Path) -> None:
    written = write_log(tmp_path, "postfix", rfc3339=True)
    got, _ = _read(PostfixPlugin(), tmp_path)
    assert sorted(got, key=_key) == sorted(written.expected, key=_key)
    evidence = [f for f in PostfixPlugin().read(str(tmp_path), ReadContext()) if isinstance(f, Evidence)]
    assert {e.time.utcoffset() for e in evidence} == {timedelta(hours=9)}


def test_single_file_is_detected_and_read_alone(tmp_path: Path) -> None:
    written = write_log(tmp_path, "postfix")
    newest = written.files[-1]
    assert PostfixPlugin().detect(str(newest)) == 90
    assert EximPlugin().detect(str(newest)) == 0
    assert SendmailPlugin().detect(str(newest)) == 0
    got, _ = _read(PostfixPlugin(), newest)
    # without the older file, the split message's delivery is still there, without its sender
    split = next(e for e in got if e["queue_id"] == "8F1A66B4D5")
    assert (split["recipient"], split["status"], split["message_id"], split["sender"]) == (
        LOCAL,
        "sent",
        "",
        "",
    )
    assert {e["source"] for e in got} == {str(newest)}


def test_directory_choice_and_claims(tmp_path: Path) -> None:
    logs = tmp_path / "log"
    logs.mkdir()
    written = write_log(logs, "postfix")
    (logs / "mail.info").write_bytes(written.files[-1].read_bytes())  # the same lines again
    (logs / "auth.log").write_text("Jan  2 10:00:00 mail sshd[1]: Accepted publickey for root\n")
    got, _ = _read(PostfixPlugin(), logs)
    assert len(got) == 12 and {Path(e["source"]).name for e in got} <= {p.name for p in written.files}
    assert EximPlugin().detect(str(logs)) == 0
    # a folder that also holds a Maildir is walked, not claimed
    (logs / "Maildir" / "cur").mkdir(parents=True)
    assert PostfixPlugin().detect(str(logs)) == 0
    assert PostfixPlugin().detect(str(tmp_path / "missing")) == 0


def test_truncated_gzip_keeps_what_came_before(tmp_path: Path) -> None:
    mails = scenario()[:3]
    written = write_log(
        tmp_path, "postfix", mails, cuts=(datetime(2025, 12, 31),), gzip_older_than=1, noise=0, garbage=False
    )
    older = written.files[0]
    assert older.name == "mail.log.1.gz"
    filler = "".join(
        f"Dec 30 {12 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d} mail postfix/smtpd[77]: "
        f"connect from host{i * 7919 % 100003}.example[198.51.100.{i % 250}]\n"
        for i in range(6000)
    )
    whole = gzip.compress(gzip.decompress(older.read_bytes()) + filler.encode(), mtime=0)
    older.write_bytes(whole[: len(whole) * 2 // 3])
    got, problems = _read(PostfixPlugin(), tmp_path)
    assert sorted(got, key=_key) == sorted(written.expected, key=_key)
    assert [(p.kind, p.source) for p in problems] == [(ProblemKind.TRUNCATED, str(older))]
    assert "cut off" in problems[0].reason


def test_a_gzip_bomb_stops_at_the_decompressed_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mails = scenario()[:3]
    written = write_log(
        tmp_path, "postfix", mails, cuts=(datetime(2025, 12, 31),), gzip_older_than=1, noise=0, garbage=False
    )
    older = written.files[0]
    plain = gzip.decompress(older.read_bytes())
    bomb = b"Dec 30 23:59:59 mail postfix/smtpd[77]: connect from x[198.51.100.1]\n" * 200_000  # 14 MB
    older.write_bytes(gzip.compress(plain + bomb, mtime=0))
    monkeypatch.setenv("MAILRECOVER_MAX_DECOMPRESSED_BYTES", str(len(plain) + (1 << 20)))
    got, problems = _read(PostfixPlugin(), tmp_path)
    assert sorted(got, key=_key) == sorted(written.expected, key=_key)  # what came before is kept
    assert [(p.kind, p.source) for p in problems] == [(ProblemKind.LIMIT, str(older))]
    assert "MAILRECOVER_MAX_DECOMPRESSED_BYTES" in problems[0].reason


def test_garbage_and_overlong_lines(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    good = "Mar  3 10:00:00 mail postfix/qmgr[1]: 0A1B2C3D4E: from=<a@example.net>, size=10, nrcpt=1 (queue active)\n"
    log.write_bytes(
        b"\xff\xfe\x00garbage\n"
        + good.encode()
        + b"x" * 300_000
        + b"\n"
        + b"Mar  3 10:00:01 mail postfix/virtual[2]: 0A1B2C3D4E: to=<b@example.jp>, relay=virtual, "
        b"delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)\n"
        + b"Mar  3 10:00:02 mail postfix/qmgr[1]: 0A1B2C3D4E: removed\n"
    )
    got, problems = _read(PostfixPlugin(), log)
    assert [(e["sender"], e["recipient"], e["status"], e["position"]) for e in got] == [
        ("a@example.net", "b@example.jp", "sent", "4")
    ]
    assert [p.reason for p in problems] == ["2 line(s) without a timestamp skipped"]


def test_content_filter_handback_inherits_message_id() -> None:
    lines = [
        "AAAA111111: client=mx.example.net[198.51.100.20]",
        "AAAA111111: message-id=<f1@example.net>",
        "AAAA111111: from=<s@example.net>, size=100, nrcpt=1 (queue active)",
        "BBBB222222: client=localhost[127.0.0.1]",
        "AAAA111111: to=<taro@example.jp>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBBB222222)",
        "AAAA111111: removed",
        "BBBB222222: from=<s@example.net>, size=180, nrcpt=1 (queue active)",
        "BBBB222222: to=<taro@example.jp>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered via dovecot service)",
        "BBBB222222: removed",
    ]
    out = _feed(PostfixParser(), lines)
    assert [(e.fields["queue_id"], e.fields["message_id"], e.fields["relay"]) for e in out] == [
        ("AAAA111111", "f1@example.net", "127.0.0.1[127.0.0.1]:10024"),
        ("BBBB222222", "f1@example.net", "dovecot"),
    ]


def test_postfix_recipient_expired_on_its_own_line() -> None:
    texts = [
        "C1C1C1C1C1: client=a[192.0.2.1]",
        "C1C1C1C1C1: message-id=<x1@example.net>",
        "C1C1C1C1C1: to=<far@remote.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (timeout)",
        "C1C1C1C1C1: to=<far@remote.example>, relay=none, delay=432000, delays=432000/0/0/0, dsn=4.4.1, status=expired, returned to sender",
        "C1C1C1C1C1: removed",
    ]
    out = _feed(PostfixParser(), texts)
    assert [(e.fields["status"], e.position) for e in out] == [("expired", "4")]


def _pending_mails(count: int) -> list[Mail]:
    base = datetime(2026, 2, 1, 8, 0)
    return [
        Mail(
            {
                "postfix": f"{0xC00000 + i:X}0000",
                "exim": f"1c{i:04d}-0000{i:02d}-AA"[:16],
                "sendmail": f"6C{i:06d}Qx001",
            },
            f"p{i}@example.net",
            "s@example.net",
            100 + i,
            base + timedelta(minutes=i),
            [Outcome(base + timedelta(minutes=i, seconds=1), LOCAL, "deferred")],
            removed=False,
        )
        for i in range(count)
    ]


def test_pending_table_stays_bounded_and_loses_nothing(tmp_path: Path) -> None:
    write_log(tmp_path, "postfix", _pending_mails(40), noise=0, garbage=False, cuts=())
    queue = Queue(limit=5)
    parser = PostfixParser(queue)
    plugin = PostfixPlugin()
    plugin.parser = lambda: parser  # type: ignore[assignment, method-assign]
    peak = 0
    got = []
    for finding in plugin.read(str(tmp_path), ReadContext()):
        peak = max(peak, len(queue))
        got.append(finding)
    assert peak <= 5
    assert sorted(f.fields["message_id"] for f in got) == sorted(f"p{i}@example.net" for i in range(40))
    assert {f.fields["status"] for f in got} == {"deferred"}


def test_quiet_messages_are_flushed_after_the_window() -> None:
    queue = Queue(window=timedelta(days=7), sweep_every=1)
    parser = PostfixParser(queue)
    t0 = datetime(2026, 2, 1, 8, 0).astimezone()
    feed = lambda n, at, text: list(parser.feed(LogLine("m", n, at, "mail", "postfix/x", text)))  # noqa: E731
    feed(1, t0, "D0D0D0D0D0: client=a[192.0.2.1]")
    feed(
        2,
        t0,
        "D0D0D0D0D0: to=<x@example.jp>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (timeout)",
    )
    assert feed(3, t0 + timedelta(days=6), "E0E0E0E0E0: client=a[192.0.2.1]") == []
    flushed = feed(4, t0 + timedelta(days=8), "F0F0F0F0F0: client=a[192.0.2.1]")
    assert [(e.fields["queue_id"], e.fields["status"]) for e in flushed] == [("D0D0D0D0D0", "deferred")]
    assert queue.get("D0D0D0D0D0") is None and len(queue) == 2


def test_exim_through_syslog() -> None:
    texts = [
        "2026-03-01 10:00:00 1xYzAb-000Abc-Zz <= a@example.net H=mx [198.51.100.1] P=esmtp S=1234 id=q1@example.net",
        "2026-03-01 10:00:01 1xYzAb-000Abc-Zz => taro <taro@example.jp> R=localuser T=local_delivery",
        "2026-03-01 10:00:01 1xYzAb-000Abc-Zz Completed",
    ]
    out = _feed(EximParser(), texts, program="exim")
    assert [(e.fields["recipient"], e.fields["message_id"], e.fields["size"]) for e in out] == [
        ("taro@example.jp", "q1@example.net", "1234")
    ]


# -- real logs from the corpus ----------------------------------------------------------------


def _corpus_read(corpus: Path, name: str, plugin) -> tuple[list[dict[str, str]], list[Problem]]:
    path = corpus / "maillog" / name
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = _read(plugin, path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    return result


def test_corpus_exim_lmtp_outcomes(corpus: Path) -> None:
    got, problems = _corpus_read(corpus, "exim_testsuite_0215_mainlog.log", EximPlugin())
    assert problems == []
    table = Counter((e["queue_id"][:6], e["status"]) for e in got)
    # by hand: 10HmaY delivers userx and userxz, bounces userxy and useryy, defers userxx
    # and useryx (removed by the admin, so they stay deferred); 10HmbC never completes
    assert table == Counter(
        {
            ("10HmaX", "sent"): 1,
            ("10HmaY", "sent"): 2,
            ("10HmaY", "bounced"): 2,
            ("10HmaY", "deferred"): 2,
            ("10HmaZ", "discarded"): 1,
            ("10HmbA", "sent"): 2,
            ("10HmbA", "bounced"): 2,
            ("10HmbA", "deferred"): 2,
            ("10HmbB", "discarded"): 1,
            ("10HmbC", "bounced"): 3,
            ("10HmbC", "sent"): 1,
            ("10HmbC", "deferred"): 2,
            ("10HmbD", "discarded"): 1,
            ("10HmbE", "sent"): 3,
            ("10HmbF", "sent"): 3,
            ("10HmbG", "deferred"): 1,
            ("10HmbH", "deferred"): 1,
        }
    )
    first = got[0]
    assert {k: first[k] for k in FIELDS} == {
        "message_id": "",
        "sender": "CALLER@myhost.test.ex",
        "recipient": "userx@myhost.test.ex",
        "orig_to": "",
        "status": "sent",
        "size": "sss",
        "relay": "lmtp",
        "queue_id": "10HmaX-000000005vi-0000",
        "dsn": "",
    }
    assert (first["time"], first["position"]) == ("1999-03-02T09:44:33", "2")


def test_corpus_exim_many_recipients_one_delivery(corpus: Path) -> None:
    got, problems = _corpus_read(corpus, "exim_testsuite_0216_mainlog.log", EximPlugin())
    assert sorted(e["recipient"] for e in got) == sorted(
        [f"a{i:03d}@test.ex" for i in range(500)] + ["b@test.ex"]
    )
    assert {e["status"] for e in got} == {"sent"}
    assert {e["relay"] for e in got} == {"127.0.0.1[127.0.0.1]"}
    assert [p.reason for p in problems] == ["1 line(s) without a timestamp skipped"]  # the banner


def test_corpus_exim_retry_timeouts(corpus: Path) -> None:
    got, _ = _corpus_read(corpus, "exim_testsuite_0322_mainlog.log", EximPlugin())
    assert Counter(e["status"] for e in got) == Counter({"bounced": 14, "discarded": 9})
    assert {e["relay"] for e in got if e["status"] == "discarded"} == {":blackhole:"}


@pytest.mark.parametrize(
    "name",
    [
        "fail2ban_postfix.log",
        "fail2ban_exim.log",
        "fail2ban_exim-spam.log",
        "fail2ban_sendmail-auth.log",
        "fail2ban_sendmail-reject.log",
        "fail2ban_courier-smtp.log",
        "fail2ban_dovecot.log",
        "fail2ban_domino-smtp.log",
        "fail2ban_qmail.log",
    ],
)
def test_corpus_rejects_and_auth_failures_are_no_deliveries(corpus: Path, name: str) -> None:
    path = corpus / "maillog" / name
    annotations = sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"#"))
    for plugin in PLUGINS.values():
        got, problems = _corpus_read(corpus, name, plugin())
        assert got == []
        # fail2ban's '#' annotations are not log lines: they are counted, never parsed
        assert all(p.kind is ProblemKind.DAMAGED for p in problems)
        if problems:
            assert int(problems[0].reason.split()[0]) >= annotations


def test_corpus_detection(corpus: Path) -> None:
    logs = corpus / "maillog"
    scores = {
        name: {mta: p().detect(str(logs / name)) for mta, p in PLUGINS.items()}
        for name in (
            "fail2ban_postfix.log",
            "exim_testsuite_0215_mainlog.log",
            "fail2ban_sendmail-reject.log",
            "fail2ban_qmail.log",
        )
    }
    assert scores == {
        "fail2ban_postfix.log": {"exim": 0, "postfix": 90, "sendmail": 0},
        "exim_testsuite_0215_mainlog.log": {"exim": 90, "postfix": 0, "sendmail": 0},
        "fail2ban_sendmail-reject.log": {"exim": 0, "postfix": 0, "sendmail": 90},
        "fail2ban_qmail.log": {"exim": 0, "postfix": 0, "sendmail": 0},
    }
    assert os.access(logs, os.R_OK)


def test_dovecot_delivery_lines(tmp_path: Path) -> None:
    log = tmp_path / "dovecot.log"
    log.write_text(
        "Jan  5 10:00:00 mail dovecot: lmtp(taro@example.jp)<4711><AbCd12>: msgid=<d1@example.net>: saved mail to INBOX\n"
        "Jan  5 10:00:01 mail dovecot: lmtp(4712, jiro@example.jp): msgid=<d2@example.net>: saved mail to INBOX\n"
        "Jan  5 10:00:02 lmtp(taro@example.jp)<4713><EfGh34>: Info: sieve: msgid=<d3@example.net>: stored mail into mailbox 'Lists'\n"
        "Jan  5 10:00:03 mail dovecot: lda(hanako): msgid=<d4@example.net>: save failed to INBOX: Quota exceeded (mailbox for user is full)\n"
        "Jan  5 10:00:04 mail dovecot: imap-login: Login: user=<taro@example.jp>, method=PLAIN\n"
    )
    plugin = DovecotPlugin()
    assert plugin.detect(str(log)) == 70
    got, problems = _read(plugin, log)
    assert problems == []
    assert [
        (e["message_id"], e["recipient"], e["status"], e["relay"], e["queue_id"], e["position"]) for e in got
    ] == [
        ("d1@example.net", "taro@example.jp", "sent", "dovecot-lmtp", "AbCd12", "1"),
        ("d2@example.net", "jiro@example.jp", "sent", "dovecot-lmtp", "", "2"),
        ("d3@example.net", "taro@example.jp", "sent", "dovecot-lmtp", "EfGh34", "3"),
        ("d4@example.net", "hanako", "failed", "dovecot-lda", "", "4"),
    ]


def test_a_postfix_log_with_dovecot_lines_is_postfix_s(tmp_path: Path) -> None:
    written = write_log(tmp_path, "postfix")
    with written.files[-1].open("a") as f:
        f.write(
            "Jan  2 12:00:00 mail dovecot: lmtp(taro@example.jp)<1><x>: msgid=<m10@example.net>: saved mail to INBOX\n"
        )
    assert PostfixPlugin().detect(str(tmp_path)) > DovecotPlugin().detect(str(tmp_path)) > 0
    assert PostfixPlugin().detect(str(written.files[-1])) > DovecotPlugin().detect(str(written.files[-1]))


def test_dated_rotation_names_give_the_years(tmp_path: Path) -> None:
    written = write_log(tmp_path, "sendmail", keep_times=False)
    oldest, middle, _live = written.files
    oldest.rename(tmp_path / "maillog-20251231.gz")  # rotated on the 31st: holds the 30th
    middle.rename(tmp_path / "maillog-20260101")
    got, _ = _read(SendmailPlugin(), tmp_path)
    strip = lambda e: {k: v for k, v in e.items() if k != "source"}  # noqa: E731
    assert sorted(map(strip, got), key=_key) == sorted(map(strip, written.expected), key=_key)
    assert {Path(e["source"]).name for e in got} == {"maillog-20251231.gz", "maillog-20260101", "maillog"}


def test_a_mailbox_quoting_log_lines_is_no_log(tmp_path: Path) -> None:
    quoted = "\n".join(
        f"2026-01-0{i} 10:00:00 1aB3cD-0001aB-Q{i} => taro@example.jp R=local_user T=local_delivery\n"
        f"Jan  {i} 10:00:00 mail postfix/qmgr[9]: 3F2A81C0A{i}: removed"
        for i in range(1, 8)
    )
    mbox = tmp_path / "Inbox"
    mbox.write_text(
        "From admin@example.jp Mon Jan  5 10:00:00 2026\nFrom: admin@example.jp\nTo: taro@example.jp\n"
        "Subject: logwatch\nDate: Mon, 5 Jan 2026 10:00:00 +0900\nMessage-ID: <lw@example.jp>\n\n"
        f"The log said:\n{quoted}\n"
    )
    assert [p().detect(str(mbox)) for p in PLUGINS.values()] == [0, 0, 0]


_FRAGMENTS = [
    "postfix/smtpd[1]: ",
    "postfix/qmgr[2]: ",
    "sm-mta[3]: ",
    "exim[4]: ",
    "dovecot: ",
    "0A1B2C3D4E: ",
    "1aB3cD-0001aB-Q1 ",
    "s1P819mk027713: ",
    "client=",
    "message-id=<",
    "from=<",
    "to=<",
    "orig_to=<",
    ">, ",
    "relay=",
    "status=",
    "stat=",
    "dsn=",
    "removed",
    "Completed",
    "<= ",
    "=> ",
    "== ",
    "** ",
    "-> ",
    "lmtp(",
    ")<1><x>: ",
    "msgid=<",
    ": saved mail to ",
    ",",
    "<",
    ">",
    " ",
    "(",
    ")",
    "=",
    ":",
    "x@example.jp",
    "\x00",
    "\udcff",
    "é",
]


def test_hostile_lines_cost_nothing_but_problems(tmp_path: Path) -> None:

    piece = st.sampled_from(_FRAGMENTS)
    line = st.lists(piece, max_size=14).map("".join)
    stamp = st.sampled_from(
        [
            "Dec 31 23:59:59 mail ",
            "Jan  1 00:00:00 mail ",
            "2026-01-01T00:00:00+09:00 mail ",
            "2026-01-01 00:00:00 ",
            "",
        ]
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(stamp, line), max_size=30), st.booleans())
    def check(lines: list[tuple[str, str]], gz: bool) -> None:
        data = "".join(f"{s}{text}\n" for s, text in lines).encode("utf-8", "surrogateescape")
        log = tmp_path / ("mail.log.1.gz" if gz else "mail.log")
        for old in tmp_path.iterdir():
            old.unlink()
        log.write_bytes(gzip.compress(data) if gz else data)
        for plugin in [*PLUGINS.values(), DovecotPlugin]:
            for finding in plugin().read(str(log), ReadContext()):
                assert isinstance(finding, (Evidence, Problem))
                if isinstance(finding, Evidence):
                    assert all(isinstance(v, str) for v in finding.fields.values())

    check()


def _second_host(mails: list[Mail]) -> list[Mail]:
    """The same traffic as another host logs it: its own Message-IDs."""
    return [dataclasses.replace(m, message_id="mx2." + m.message_id) for m in mails]


def _named_or_read(directory: Path, got: list[dict[str, str]], problems: list[Problem]) -> set[str]:
    """Files of ``directory`` that gave evidence or are named by a problem."""
    return {Path(e["source"]).name for e in got} | {Path(p.source).name for p in problems}


_DOVECOT_LOG = (
    "Jan  5 10:00:00 mail dovecot: lmtp(taro@example.jp)<4711><AbCd12>: msgid=<d1@example.net>: saved mail to INBOX\n"
    "Jan  5 10:00:04 mail dovecot: imap-login: Login: user=<taro@example.jp>, method=PLAIN\n"
)


@pytest.mark.parametrize("mta", sorted(PLUGINS))
def test_every_rotation_family_of_a_directory_is_read(tmp_path: Path, mta: str) -> None:
    base = {"postfix": "mail.log", "exim": "mainlog", "sendmail": "maillog"}[mta]
    one = write_log(tmp_path, mta, base=base)
    two = write_log(tmp_path, mta, _second_host(scenario()), base=f"mx2-{base}", seed=9)
    (tmp_path / "dovecot.log").write_text(_DOVECOT_LOG)
    (tmp_path / "README").write_text("copied from the old server on Friday\n")
    before = _snapshot(tmp_path)
    got, problems = _read(PLUGINS[mta](), tmp_path)
    deliveries = [e for e in got if e["relay"] != "dovecot-lmtp"]
    assert sorted(deliveries, key=_key) == sorted(one.expected + two.expected, key=_key)
    # Dovecot's own log in the same directory is a family of its own, read with its parser
    assert [(e["message_id"], e["recipient"]) for e in got if e["relay"] == "dovecot-lmtp"] == [
        ("d1@example.net", "taro@example.jp")
    ]
    readme = [p for p in problems if Path(p.source).name == "README"]
    assert [(p.kind, p.reason) for p in readme] == [(ProblemKind.SKIPPED, "not a mail server log")]
    assert _named_or_read(tmp_path, got, problems) == {p.name for p in tmp_path.iterdir()}
    assert _snapshot(tmp_path) == before


def test_exims_dated_mainlogs_are_one_family(tmp_path: Path) -> None:
    written = write_log(tmp_path, "exim", base="mainlog", gzip_older_than=9)
    for path, suffix in zip(written.files, ("1230", "1231", "0101"), strict=True):
        path.rename(tmp_path / f"mainlog-{suffix}")
    got, problems = _read(EximPlugin(), tmp_path)
    strip = lambda e: {k: v for k, v in e.items() if k != "source"}  # noqa: E731
    assert sorted(map(strip, got), key=_key) == sorted(map(strip, written.expected), key=_key)
    # the message split over the turn of the year is joined: the files are one stream
    split = next(e for e in got if e["message_id"] == "m7@example.org")
    assert (split["sender"], Path(split["source"]).name) == ("carol@example.org", "mainlog-0101")
    assert {Path(p.source).name for p in problems} == {"mainlog-0101"}  # the garbage lines only


def test_a_syslog_file_repeating_the_mail_log_is_named_not_read_twice(tmp_path: Path) -> None:
    written = write_log(tmp_path, "postfix")
    (tmp_path / "mail.info").write_bytes(written.files[-1].read_bytes())
    (tmp_path / "syslog").write_bytes(written.files[-1].read_bytes())
    got, problems = _read(PostfixPlugin(), tmp_path)
    assert sorted(got, key=_key) == sorted(written.expected, key=_key)
    repeats = sorted(
        (Path(p.source).name, p.kind, p.reason) for p in problems if p.kind == ProblemKind.SKIPPED
    )
    assert repeats == [
        (
            "mail.info",
            ProblemKind.SKIPPED,
            "repeats the lines of mail.log (another syslog file of the same host)",
        ),
        (
            "syslog",
            ProblemKind.SKIPPED,
            "repeats the lines of mail.log (another syslog file of the same host)",
        ),
    ]


def _june_2012(mails: list[Mail]) -> list[Mail]:
    """The scenario moved to 20-23 June 2012, when the provider's servers were wiped."""
    shift = datetime(2012, 6, 20) - datetime(2025, 12, 30)
    return [
        dataclasses.replace(
            m,
            arrived=m.arrived + shift,
            expired=m.expired + shift if m.expired else None,
            outcomes=[dataclasses.replace(o, at=o.at + shift) for o in m.outcomes],
        )
        for m in mails
    ]


def _copied_today(files: list[Path]) -> None:
    for path in files:
        os.utime(path)  # as cp without -p, a zip tool or a fresh clone leave them


def _evidence(plugin, location: Path, **context) -> list[Evidence]:  # type: ignore[no-untyped-def]
    return [f for f in plugin.read(str(location), ReadContext(**context)) if isinstance(f, Evidence)]


@pytest.mark.parametrize("mta", ["postfix", "sendmail"])
def test_rotated_2012_logs_copied_today_keep_2012(tmp_path: Path, mta: str) -> None:
    base = {"postfix": "mail.log", "sendmail": "maillog"}[mta]
    written = write_log(
        tmp_path,
        mta,
        _june_2012(scenario()),
        base=base,
        cuts=(datetime(2012, 6, 21), datetime(2012, 6, 23)),
        gzip_older_than=2,
    )
    oldest, middle, live = written.files
    names = {oldest.name: f"{base}-20120621.gz", middle.name: f"{base}-20120623"}
    for path in (oldest, middle):
        path.rename(tmp_path / names[path.name])
    _copied_today(list(tmp_path.iterdir()))
    got, _ = _read(PLUGINS[mta](), tmp_path)
    strip = lambda e: {k: v for k, v in e.items() if k != "source"}  # noqa: E731
    assert sorted(map(strip, got), key=_key) == sorted(map(strip, written.expected), key=_key)
    assert {e["time"][:7] for e in got} == {"2012-06"}
    # how each year was found: the rotation names, and the live file continuing the newest of them
    bases = {(Path(e.source).name, e.time_basis.split("/")[0]) for e in _evidence(PLUGINS[mta](), tmp_path)}
    assert bases == {
        (f"{base}-20120621.gz", "rotation-name"),
        (f"{base}-20120623", "rotation-name"),
        (base, "chain"),
    }


def test_a_chain_without_names_or_times_crosses_new_year_forward(tmp_path: Path) -> None:
    """Only the oldest file is dated: the newer ones continue it, into January of the next year."""
    written = write_log(tmp_path, "postfix", cuts=(datetime(2025, 12, 31),))
    oldest, live = written.files  # 30 Dec 2025 / 31 Dec 2025 to 2 Jan 2026
    oldest.rename(tmp_path / "mail.log-20251231")
    for path in tmp_path.iterdir():
        os.utime(path, (datetime(2031, 5, 5).timestamp(),) * 2)  # restored from a backup in 2031
    got, _ = _read(PostfixPlugin(), tmp_path)
    assert sorted(e["time"] for e in got)[0].startswith("2025-12-30")
    assert sorted(e["time"] for e in got)[-1].startswith("2026-01-02")


def test_the_mtime_counts_only_when_the_last_line_agrees(tmp_path: Path) -> None:
    written = write_log(
        tmp_path, "postfix", _june_2012(scenario()), noise=0, garbage=False, cuts=(), keep_times=True
    )
    (log,) = written.files
    assert {e.time.year for e in _evidence(PostfixPlugin(), log)} == {2012}
    assert {e.time_basis.split("/")[0] for e in _evidence(PostfixPlugin(), log)} == {"mtime"}
    _copied_today([log])  # now the mtime and the last line disagree: the current year, said so
    found = _evidence(PostfixPlugin(), log)
    assert {e.time_basis.split("/")[0] for e in found} == {"current-year"}
    assert {e.time.year for e in found} == {datetime.now().year - (datetime.now().month < 6)}


def test_times_are_read_in_the_servers_zone(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    write_log(tmp_path, "postfix", _june_2012(scenario()), noise=0, garbage=False, cuts=())
    tokyo = _evidence(PostfixPlugin(), tmp_path, timezone=ZoneInfo("Asia/Tokyo"))
    assert {e.time.utcoffset() for e in tokyo} == {timedelta(hours=9)}
    assert {e.time_basis.split("/")[1] for e in tokyo} == {"given"}
    first = min(tokyo, key=lambda e: e.time)
    assert first.time.isoformat() == "2012-06-20T09:00:02+09:00"  # the wall clock as logged
    local = _evidence(PostfixPlugin(), tmp_path)
    assert {e.time_basis.split("/")[1] for e in local} == {"local"}  # assumed, and said so
    assert {e.time.replace(tzinfo=None) for e in local} == {e.time.replace(tzinfo=None) for e in tokyo}


def test_a_syslog_file_of_another_host_is_read_not_called_a_repeat(tmp_path: Path) -> None:
    logs, other = tmp_path / "logs", tmp_path / "relay"
    logs.mkdir()
    other.mkdir()
    one = write_log(logs, "postfix", cuts=())
    two = write_log(other, "postfix", _second_host(scenario()), cuts=(), seed=9)
    # the relay's syslog, copied beside the mail host's mail.log: its lines name another host
    text = two.files[0].read_text(encoding="utf-8", errors="surrogateescape").replace(" mail ", " mx2 ")
    (logs / "syslog").write_text(text, encoding="utf-8", errors="surrogateescape")
    got, problems = _read(PostfixPlugin(), logs)
    assert {Path(e["source"]).name for e in got} == {"mail.log", "syslog"}
    assert len(got) == len(one.expected) + len(two.expected)
    assert not [p for p in problems if "repeats" in p.reason]


def test_subfolders_of_a_log_directory_are_read_and_mailboxes_there_named(tmp_path: Path) -> None:
    postfix = write_log(tmp_path, "postfix")
    (tmp_path / "exim4").mkdir()
    exim = write_log(tmp_path / "exim4", "exim", _second_host(scenario()))
    maildir = tmp_path / "backup" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1340013601.M1P2.mail:2,S").write_bytes(b"Subject: kept\n\nhello\n")
    (tmp_path / "outside").symlink_to(tmp_path.parent)
    got, problems = _read(PostfixPlugin(), tmp_path)
    assert sorted(got, key=_key) == sorted(postfix.expected + exim.expected, key=_key)
    assert sorted((p.source, p.reason) for p in problems if p.kind == ProblemKind.SKIPPED) == [
        (str(maildir), "a mailbox beside the logs: gather it as a location of its own"),
        (str(tmp_path / "outside"), "a link to a folder: not followed"),
    ]


def test_files_with_years_in_their_stamps_anchor_the_chain(tmp_path: Path) -> None:
    """rsyslog wrote RFC 3339 until the format was changed back: the classic file continues it."""
    dated, classic = tmp_path / "dated", tmp_path / "classic"
    dated.mkdir()
    classic.mkdir()
    mails = _june_2012(scenario())
    write_log(dated, "postfix", mails, cuts=(datetime(2012, 6, 22),), rfc3339=True)
    write_log(classic, "postfix", mails, cuts=(datetime(2012, 6, 22),))
    (dated / "mail.log").write_bytes((classic / "mail.log").read_bytes())
    _copied_today(list(dated.iterdir()))
    found = _evidence(PostfixPlugin(), dated)
    assert {(Path(e.source).name, e.time.year) for e in found} == {("mail.log.1", 2012), ("mail.log", 2012)}
    assert {e.time_basis.split("/")[0] for e in found if Path(e.source).name == "mail.log"} == {"chain"}


@pytest.mark.parametrize("suffix", ["bz2", "xz"])
def test_rotations_compressed_with_bzip2_or_xz_are_read(tmp_path: Path, suffix: str) -> None:
    import bz2
    import lzma

    written = write_log(tmp_path, "postfix", keep_times=False)
    oldest = written.files[0]  # mail.log.2.gz
    packed = tmp_path / f"mail.log.2.{suffix}"
    data = gzip.decompress(oldest.read_bytes())
    packed.write_bytes(bz2.compress(data) if suffix == "bz2" else lzma.compress(data))
    oldest.unlink()
    got, _ = _read(PostfixPlugin(), tmp_path)
    strip = lambda e: {k: v for k, v in e.items() if k != "source"}  # noqa: E731
    assert sorted(map(strip, got), key=_key) == sorted(map(strip, written.expected), key=_key)
    assert packed.name in {Path(e["source"]).name for e in got}


@pytest.mark.parametrize(
    "mail",
    [
        b"From hanako@example.net Wed Jun 20 09:00:00 2012\nSubject: hi\n\nx\n",
        b"Return-Path: <a@example.net>\nSubject: hi\n\nx\n",
    ],
    ids=["mbox", "message"],
)
def test_a_log_directory_holding_mail_is_walked_not_claimed(tmp_path: Path, mail: bytes) -> None:
    from mailrecover.gather import Task, plan

    write_log(tmp_path, "postfix")
    (tmp_path / "saved").write_bytes(mail)
    assert PostfixPlugin().detect(str(tmp_path)) == 0
    tasks = {Path(t.location).name: t.plugin.name for t in plan(str(tmp_path)) if isinstance(t, Task)}
    assert tasks["mail.log"] == "postfix-log" and tasks["saved"] not in ("postfix-log", "exim-log")


def test_subjects_the_mta_logged_are_kept_with_the_delivery() -> None:
    from email.header import Header

    encoded = Header("会議のお知らせ", "iso-2022-jp").encode()
    postfix = [
        "D1D1D1D1D1: client=mx.example.net[198.51.100.20]",
        "D1D1D1D1D1: message-id=<s1@example.net>",
        f"D1D1D1D1D1: warning: header Subject: {encoded} minutes from mx.example.net[198.51.100.20]; from=<s@example.net> to=<taro@example.jp> proto=ESMTP helo=<mx>",
        "D1D1D1D1D1: from=<s@example.net>, size=100, nrcpt=1 (queue active)",
        "D1D1D1D1D1: to=<taro@example.jp>, relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered via dovecot service)",
        "D1D1D1D1D1: removed",
    ]
    [e] = _feed(PostfixParser(), postfix)
    assert e.fields["subject"] == "会議のお知らせ minutes"
    exim = [
        '2026-03-01 10:00:00 1xYzAb-000Abc-Zz <= a@example.net H=mx [198.51.100.1] P=esmtp S=1234 id=q1@example.net T="Budget \\"draft\\" for May"',
        "2026-03-01 10:00:01 1xYzAb-000Abc-Zz => taro <taro@example.jp> R=localuser T=local_delivery",
        "2026-03-01 10:00:01 1xYzAb-000Abc-Zz Completed",
    ]
    [e] = _feed(EximParser(), exim, program="exim")
    assert e.fields["subject"] == 'Budget "draft" for May'
    [e] = _feed(EximParser(), exim[1:] and [exim[0].split(" T=")[0], *exim[1:]], program="exim")
    assert "subject" not in e.fields


def test_a_file_that_does_not_start_as_a_log_is_read_no_further(tmp_path: Path) -> None:
    """Detection stops after a file's first three lines when none is a log line: a walk asks
    of every mail file whether it is a log, and a mail quoting a log deeper down is none."""
    from mailrecover_logs._stream import first_lines

    quoted = b"Jun 18 10:30:00 mx postfix/smtpd[1]: connect from a[192.0.2.1]\n" * 50
    mail = tmp_path / "1.eml"
    mail.write_bytes(b"From: a@example.com\nTo: b@example.com\nSubject: the log\n\n" + quoted)
    assert first_lines(str(mail), 20) == ([], False)
    log = tmp_path / "mail.log"
    log.write_bytes(quoted)
    lines, starts_as_log = first_lines(str(log), 20)
    assert starts_as_log and len(lines) == 20
    assert not PostfixPlugin().detect(str(mail)) and PostfixPlugin().detect(str(log))
