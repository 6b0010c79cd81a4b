"""A password given wrongly inside a URL is refused, and never stored, shown or logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrecover.cli import main
from mailrecover.passwords import without_password

SECRET = "Zq7secretPW"

#: Every way a password ends up in a location: plain, after a user that is an address (its @
#: not encoded), holding an @ or a / itself, percent-encoded, and in a URL no plugin reads.
LOCATIONS = [
    f"imap://taro:{SECRET}@127.0.0.1:1/",
    f"imaps://taro@example.co.jp:{SECRET}@127.0.0.1:1/INBOX",
    f"imap://taro%40example.co.jp:{SECRET}@127.0.0.1:1",
    f"imap://taro:{SECRET}@x@127.0.0.1:1/",
    f"imap://taro:{SECRET}/x@127.0.0.1:1/",
    f"imap://taro:{SECRET[:4]}%2F{SECRET[4:]}@127.0.0.1:1/",
    f"pop3://taro:{SECRET}@127.0.0.1:1/",
    f"IMAP://taro:{SECRET}@127.0.0.1:1/Archive@2011",
]


def _leaks(text: str | bytes) -> bool:
    data = text.encode() if isinstance(text, str) else text
    return any(part in data for part in (SECRET.encode(), SECRET[4:].encode(), SECRET[:4].encode()))


def _workspace_bytes(ws: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(ws.rglob("*")) if p.is_file())


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_password_in_a_gathered_url_is_refused_and_never_stored_or_shown(location, tmp_path, capsys):
    """Refused as bad usage (exit 2) before anything runs: nothing is gathered, nothing kept."""
    ws = tmp_path / "ws"
    for args in (["gather"], ["--json", "gather"], ["-v", "gather"]):
        assert main(["--workspace", str(ws), *args, "--account", "taro@example.co.jp", location]) == 2
        out = capsys.readouterr()
        assert not _leaks(out.out) and not _leaks(out.err), out
        assert "a password does not belong in the URL" in out.err + out.out
        assert without_password(location) in out.err + out.out  # the location still named
    assert not ws.exists()  # nothing stored anywhere


@pytest.mark.parametrize(
    "target",
    [
        f"imap://taro:{SECRET}@127.0.0.1:1/",
        f"pop3://taro:{SECRET}@127.0.0.1:1/",
        f"imaps://taro@example.co.jp:{SECRET}@127.0.0.1:1/",
    ],
)
def test_a_password_in_a_restore_target_is_refused_and_never_shown(target, tmp_path, capsys):
    ws = tmp_path / "ws"
    mbox = tmp_path / "saved.mbox"
    mbox.write_bytes(
        b"From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\n"
        b"Message-ID: <1@example.org>\nSubject: s\n\nbody\n"
    )
    assert main(["--workspace", str(ws), "gather", "--account", "taro@example.co.jp", str(mbox)]) == 0
    capsys.readouterr()
    for args in (["restore"], ["--json", "restore"]):
        assert main(["--workspace", str(ws), *args, "--account", "taro@example.co.jp", "--to", target]) == 2
        out = capsys.readouterr()
        assert not _leaks(out.out) and not _leaks(out.err), out
    assert not _leaks(_workspace_bytes(ws))


@pytest.mark.parametrize(
    "location, shown",
    [
        (f"imap://taro:{SECRET}@host/", "imap://taro@host/"),
        (f"imap://taro@example.co.jp:{SECRET}@host:993/", "imap://taro@example.co.jp@host:993/"),
        (f"imap://taro:{SECRET}/x@host/", "imap://taro@host/"),
        (f"imap://taro:{SECRET}@host/Archive@2011", "imap://taro@2011"),  # cut too much, never too little
        ("imap://taro@host:993/lists/dev@example.org", "imap://taro@host:993/lists/dev@example.org"),
        ("imaps://taro%40example.co.jp@host/", "imaps://taro%40example.co.jp@host/"),
        ("/srv/mail/a:b@c", "/srv/mail/a:b@c"),
    ],
)
def test_without_password_cuts_the_password_and_keeps_every_url_without_one(location, shown):
    assert without_password(location) == shown


def test_the_progress_line_on_a_terminal_shows_no_password(tmp_path, monkeypatch):
    import io

    class _Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    for location in LOCATIONS:  # refused before any progress is drawn
        assert (
            main(["--workspace", str(tmp_path / "ws"), "gather", "--account", "taro@example.co.jp", location])
            == 2
        )
    assert not _leaks(terminal.getvalue())
