"""Resource limits: configured from the environment, hit as LIMIT problems, copies kept whole."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from mailrecover.errors import ConfigError
from mailrecover.fingerprint import summarize
from mailrecover.gather import gather
from mailrecover.limits import LimitExceeded, Limits, bounded_chunks, current, mime_shape
from mailrecover.model import ProblemKind
from mailrecover.rfc822 import header_fields
from mailrecover.workspace import Workspace


def nested(depth: int, leaf: bytes = b"hello\n") -> bytes:
    """A message whose multiparts are nested ``depth`` deep."""
    out = [
        b"From: a@example.com\nMessage-ID: <deep@example.com>\nSubject: deep\n"
        b'Content-Type: multipart/mixed; boundary="b0"\n\n'
    ]
    for i in range(depth - 1):
        out.append(b'--b%d\nContent-Type: multipart/mixed;\n boundary="b%d"\n\n' % (i, i + 1))
    out.append(b"--b%d\nContent-Type: text/plain\n\n%s" % (depth - 1, leaf))
    out += [b"--b%d--\n" % i for i in reversed(range(depth))]
    return b"".join(out)


def many_parts(n: int) -> bytes:
    head = b'From: a@example.com\nSubject: parts\nContent-Type: multipart/mixed; boundary="x"\n\n'
    part = b"--x\nContent-Type: application/octet-stream\nContent-Disposition: attachment\n\nAAAA\n"
    return head + part * n + b"--x--\n"


def test_defaults_and_environment_overrides() -> None:
    assert Limits.from_env({}) == Limits()
    got = Limits.from_env(
        {
            "MAILRECOVER_MAX_MIME_DEPTH": "7",
            "MAILRECOVER_MAX_MESSAGE_BYTES": "3M",
            "MAILRECOVER_MAX_DECOMPRESSED_BYTES": "2GiB",
            "MAILRECOVER_MAX_LINE_BYTES": " ",
        }
    )
    assert got.max_mime_depth == 7
    assert got.max_message_bytes == 3 << 20
    assert got.max_decompressed_bytes == 2 << 30
    assert got.max_line_bytes == Limits().max_line_bytes  # blank: the default


@pytest.mark.parametrize("bad", ["-1", "0", "ten", "5T", "1.5M"])
def test_a_bad_limit_is_a_usage_error_naming_the_variable(bad: str) -> None:
    with pytest.raises(ConfigError, match="MAILRECOVER_MAX_HEADER_BYTES"):
        Limits.from_env({"MAILRECOVER_MAX_HEADER_BYTES": bad})


def test_mime_shape_counts_depth_and_parts_from_raw_bytes() -> None:
    assert mime_shape(b"Subject: plain\n\nbody\n") == (0, 0)
    assert mime_shape(nested(1)) == (1, 1)
    assert mime_shape(nested(12)) == (12, 12)
    assert mime_shape(many_parts(30)) == (1, 30)
    forwarded = (
        b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\n"
        b"Subject: inner\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nx\n--i--\n"
        b"--o\n\ntail\n--o--\n"
    )
    assert mime_shape(forwarded) == (3, 3)
    assert mime_shape(nested(500), stop_depth=20)[0] == 21


def test_summarize_keeps_deep_nesting_raw_and_says_why() -> None:
    limits = Limits(max_mime_depth=10)
    deep = summarize(nested(11), limits)
    assert len(deep.limits) == 1 and "MAILRECOVER_MAX_MIME_DEPTH" in deep.limits[0]
    assert deep.message_id == "deep@example.com" and deep.subject == "deep"
    assert summarize(nested(11), limits).body_fp == deep.body_fp  # same bytes still merge
    assert summarize(nested(11, b"other\n"), limits).body_fp != deep.body_fp
    assert summarize(nested(10), limits).limits == ()


def test_summarize_survives_nesting_far_past_the_limit() -> None:
    s = summarize(nested(20000))
    assert s.message_id == "deep@example.com"
    assert "mime depth" in s.limits[0]


def test_summarize_limits_parts_header_and_size() -> None:
    limits = Limits(max_mime_parts=50, max_header_bytes=4096, max_message_bytes=1 << 16)
    assert "MAILRECOVER_MAX_MIME_PARTS" in summarize(many_parts(51), limits).limits[0]
    assert summarize(many_parts(50), limits).limits == ()
    long_head = b"Subject: s\nX-Junk: " + b"j" * 5000 + b"\nMessage-ID: <late@x>\n\nbody\n"
    s = summarize(long_head, limits)
    assert "MAILRECOVER_MAX_HEADER_BYTES" in s.limits[0] and s.subject == "s"
    assert s.message_id is None  # past the limit: not read
    big = b"Subject: big\n\n" + b"x" * (1 << 16)
    assert "MAILRECOVER_MAX_MESSAGE_BYTES" in summarize(big, limits).limits[0]


def test_many_continuation_lines_are_read_in_linear_time() -> None:
    raw = b"Subject: x\n" + b" a\n" * 300_000 + b"\nbody\n"  # quadratic joining would take minutes
    assert summarize(raw).subject.startswith("x a a")
    [(name, value)] = header_fields(raw)
    assert name == "subject" and value.count(b"a") == 300_000


def test_gather_reports_a_limit_and_keeps_the_copy_whole(tmp_path: Path, monkeypatch) -> None:
    deep, plain = nested(30), b"From: b@example.com\nSubject: fine\nMessage-ID: <ok@x>\n\nok\n"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "deep.eml").write_bytes(deep)
    (tmp_path / "in" / "plain.eml").write_bytes(plain)
    monkeypatch.setenv("MAILRECOVER_MAX_MIME_DEPTH", "20")
    with Workspace(tmp_path / "ws") as ws:
        result = gather(ws, [str(tmp_path / "in")], account="a@example.com")
        assert result.copies == 2
        [p] = result.problems
        assert p.kind is ProblemKind.LIMIT and p.source.endswith("deep.eml")
        assert "mime depth 21 is over the limit of 20" in p.reason
        blobs = [ws.raw(b) for (b,) in ws.db.execute("SELECT blob FROM copies ORDER BY source")]
    assert blobs == [deep, plain]


def test_bounded_chunks_stops_a_gzip_bomb() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))
    assert len(bomb) < 20_000
    got = []
    with gzip.open(io.BytesIO(bomb)) as stream:
        with pytest.raises(LimitExceeded, match="MAILRECOVER_MAX_DECOMPRESSED_BYTES"):
            for chunk in bounded_chunks(stream, 1 << 20, chunk=1 << 16):
                got.append(chunk)
    assert sum(map(len, got)) == 1 << 20  # what came before the limit was handed on
    with gzip.open(io.BytesIO(gzip.compress(b"ok" * 10))) as stream:
        assert b"".join(bounded_chunks(stream, 20)) == b"ok" * 10


def test_current_reads_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("MAILRECOVER_MAX_MIME_PARTS", "9")
    assert current().max_mime_parts == 9


def test_a_list_log_gzip_bomb_stops_at_the_line_limit_and_keeps_the_lines_before(
    tmp_path: Path, monkeypatch
) -> None:
    from mailrecover.plugin import load_plugins

    if "mailman2" not in load_plugins():
        pytest.skip("the list plugins are not registered")
    logs = tmp_path / "logs"
    logs.mkdir()
    good = (
        b"Jan 10 09:00:00 2012 (2301) dev: new alice@example.com, admin mass sub\n"
        b"Jan 10 09:00:01 2012 (2301) dev: new bob@example.net, admin mass sub\n"
    )
    (logs / "subscribe.1.gz").write_bytes(gzip.compress(good + b"A" * (8 << 20) + b"\n"))
    monkeypatch.setenv("MAILRECOVER_MAX_LINE_BYTES", "1M")
    with Workspace(tmp_path / "ws") as ws:
        result = gather(ws, [str(logs)], list_address="dev@example.com", plugin="mailman2")
        found = [f for (f,) in ws.db.execute("SELECT fields FROM evidence ORDER BY position")]
    [p] = [p for p in result.problems if p.kind is ProblemKind.LIMIT]
    assert p.source.endswith("subscribe.1.gz") and "MAILRECOVER_MAX_LINE_BYTES" in p.reason
    assert "line 3" in p.reason
    assert len(found) == 2 and "alice@example.com" in found[0] and "bob@example.net" in found[1]


def test_a_garbage_list_file_costs_a_bounded_number_of_problem_lines(tmp_path: Path) -> None:
    from mailrecover.plugin import load_plugins

    if "majordomo" not in load_plugins():
        pytest.skip("the list plugins are not registered")
    from mailrecover_lists._common import MOST_PROBLEMS_LISTED

    home = tmp_path / "majordomo"
    home.mkdir()
    (home / "chat").write_bytes(b"".join(b"garbage line %d with no address\n" % i for i in range(5000)))
    (home / "chat.config").write_text("admin_passwd = x\n")
    with Workspace(tmp_path / "ws") as ws:
        result = gather(ws, [str(home / "chat")], list_address="chat@example.edu", plugin="majordomo")
    damaged = [p for p in result.problems if p.kind is ProblemKind.DAMAGED]
    assert len(damaged) == MOST_PROBLEMS_LISTED + 1
    assert damaged[-1].reason == f"{5000 - MOST_PROBLEMS_LISTED} more damaged lines, not listed one by one"


def test_a_copy_past_a_limit_is_reported_and_restored_whole(tmp_path: Path, monkeypatch, capsys) -> None:
    from mailrecover.cli import main

    deep = nested(40).replace(b"From: a@example.com", b"From: a@example.com\nTo: taro@example.co.jp")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "deep.eml").write_bytes(deep)
    monkeypatch.setenv("MAILRECOVER_MAX_MIME_DEPTH", "30")
    ws = str(tmp_path / "ws")
    assert main(["--workspace", ws, "gather", "--account", "taro@example.co.jp", str(tmp_path / "in")]) == 3
    err = capsys.readouterr().err
    assert "mailrecover: limit: " in err and "deep.eml" in err and "MAILRECOVER_MAX_MIME_DEPTH" in err
    target = tmp_path / "Maildir"
    assert (
        main(["--workspace", ws, "restore", "--account", "taro@example.co.jp", "--to", f"maildir:{target}"])
        == 0
    )
    [restored] = [p for p in target.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")]
    assert restored.read_bytes() == deep
