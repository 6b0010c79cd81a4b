"""The IMAP source plugin against a real Dovecot: everything gathered, nothing changed."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import mailrecover_imap.imap as imap_module
import pytest
from mailrecover_imap.imap import ImapPlugin

from mailrecover.imapconn import ConnectionSettings
from mailrecover.model import Copy, Flag, Problem
from mailrecover.plugin import ReadContext

from ..support.dovecot import Account
from ..support.mailgen import JST, message
from ..support.tcpproxy import Proxy
from .contract import Sample, SourcePluginContract

#: (server folder, message number, flags, INTERNALDATE)
SEED = [
    ("INBOX", 1, (), datetime(2012, 6, 1, 9, 30, tzinfo=JST)),
    ("INBOX", 2, ("\\Seen", "\\Answered"), datetime(2012, 6, 2, 10, 0, tzinfo=JST)),
    ("INBOX", 3, ("\\Flagged", "$Forwarded", "project-x"), datetime(2012, 6, 3, 0, 0, tzinfo=UTC)),
    ("仕事", 4, ("\\Seen",), datetime(2011, 12, 31, 23, 59, 59, tzinfo=JST)),
    ("仕事.見積もり", 5, (), datetime(2012, 1, 5, 8, 0, tzinfo=timezone(timedelta(hours=-5)))),
    ("Sent", 6, ("\\Seen",), datetime(2012, 6, 4, 12, 0, tzinfo=JST)),
]


def _seed(account: Account) -> dict[tuple[str, bytes], tuple[frozenset[Flag], tuple[str, ...], datetime]]:
    client = account.client()
    expected = {}
    for folder, n, flags, date in SEED:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        raw = message(n, japanese=n % 2 == 0, attachment=3000 if n == 5 else 0)
        client.append(folder, raw, flags, date)
        mine = frozenset(
            {
                "\\Seen": Flag.SEEN,
                "\\Answered": Flag.ANSWERED,
                "\\Flagged": Flag.FLAGGED,
                "$Forwarded": Flag.FORWARDED,
            }[f]
            for f in flags
            if f != "project-x"
        )
        keywords = ("project-x",) if "project-x" in flags else ()
        expected[(folder.replace(".", "/"), raw)] = (mine, keywords, date)
    client.logout()
    return expected


def _gather(account: Account, url: str | None = None, **context: object) -> list[Copy | Problem]:
    ctx = ReadContext(account=account.user, password=lambda prompt: account.password, **context)  # type: ignore[arg-type]
    settings = ConnectionSettings(ca_file=str(account.server.cert) if account.server.cert else None)
    return list(ImapPlugin(settings).read(url or account.url(), ctx))


def test_gathers_every_folder_with_exact_bytes_flags_and_dates(imap_account: Account) -> None:
    expected = _seed(imap_account)
    found = _gather(imap_account)
    assert [f for f in found if not isinstance(f, Copy)] == []
    got = {(c.folder, c.raw): (c.flags, c.keywords, c.internal_date) for c in found if isinstance(c, Copy)}
    assert len(found) == len(SEED)
    assert got == expected
    assert {c.folder for c in found if isinstance(c, Copy)} == {"INBOX", "仕事", "仕事/見積もり", "Sent"}
    assert all(c.account_hints == (imap_account.user,) for c in found if isinstance(c, Copy))
    assert all(
        c.source.startswith("imap://user") and "%40example.co.jp@127.0.0.1" in c.source
        for c in found
        if isinstance(c, Copy)
    )


def test_gathering_changes_nothing_on_the_server_not_even_seen(imap_account: Account) -> None:
    _seed(imap_account)
    before = imap_account.messages()
    assert any(b"\\Seen" not in flags for msgs in before.values() for _raw, flags, _date in msgs)
    _gather(imap_account)
    _gather(imap_account, state={})
    assert imap_account.messages() == before


def test_the_url_can_name_one_folder(imap_account: Account) -> None:
    _seed(imap_account)
    found = _gather(imap_account, imap_account.url(folder="仕事/見積もり"))
    assert [(c.folder, c.raw) for c in found if isinstance(c, Copy)] == [
        ("仕事/見積もり", message(5, attachment=3000))
    ]
    missing = _gather(imap_account, imap_account.url(folder="Nowhere"))
    assert len(missing) == 1 and isinstance(missing[0], Problem) and "no such folder" in missing[0].reason


def test_a_rerun_fetches_only_what_is_new(imap_account: Account) -> None:
    _seed(imap_account)
    state: dict[str, str] = {}
    assert len(_gather(imap_account, state=state)) == len(SEED)
    assert _gather(imap_account, state=state) == []
    client = imap_account.client()
    client.append("INBOX", message(100), (), datetime(2012, 7, 1, tzinfo=JST))
    client.append("仕事", message(101), (), datetime(2012, 7, 1, tzinfo=JST))
    client.logout()
    again = _gather(imap_account, state=state)
    assert sorted((c.folder, c.raw) for c in again if isinstance(c, Copy)) == [
        ("INBOX", message(100)),
        ("仕事", message(101)),
    ]


def test_a_new_uidvalidity_fetches_the_folder_again(imap_account: Account) -> None:
    _seed(imap_account)
    state: dict[str, str] = {}
    _gather(imap_account, state=state)
    client = imap_account.client()
    client.delete_folder("Sent")
    client.create_folder("Sent")
    client.append("Sent", message(6), ("\\Seen",), datetime(2012, 6, 4, 12, 0, tzinfo=JST))
    client.logout()
    again = _gather(imap_account, state=state)
    assert [(c.folder, c.raw) for c in again if isinstance(c, Copy)] == [("Sent", message(6))]


def test_a_wrong_password_is_one_problem_without_the_password(imap_account: Account) -> None:
    ctx = ReadContext(password=lambda prompt: "wrong-Secret-123")
    found = list(ImapPlugin().read(imap_account.url(), ctx))
    assert len(found) == 1 and isinstance(found[0], Problem)
    assert "login" in found[0].reason and "wrong-Secret-123" not in repr(found[0])


def test_a_password_in_the_url_is_refused_and_not_repeated() -> None:
    found = list(ImapPlugin().read("imap://taro%40example.co.jp:hunter2@127.0.0.1:1/", ReadContext()))
    assert len(found) == 1 and isinstance(found[0], Problem)
    assert "hunter2" not in repr(found[0]) and "password does not belong" in found[0].reason


def test_imaps_refuses_an_unknown_certificate_and_accepts_it_with_the_ca_file(
    imap_tls_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(imap_tls_account)
    ctx = ReadContext(password=lambda prompt: imap_tls_account.password)
    refused = list(ImapPlugin(ConnectionSettings()).read(imap_tls_account.url(secure=True), ctx))
    assert len(refused) == 1 and isinstance(refused[0], Problem) and "not trusted" in refused[0].reason
    monkeypatch.setenv("MAILRECOVER_CA_FILE", str(imap_tls_account.server.cert))
    for url in (imap_tls_account.url(secure=True), imap_tls_account.url()):  # imaps, then STARTTLS
        found = list(ImapPlugin().read(url, ReadContext(password=lambda prompt: imap_tls_account.password)))
        assert len(found) == len(SEED) and all(isinstance(c, Copy) for c in found)


def test_the_command_line_takes_the_ca_file(
    imap_tls_account: Account, dovecot_tls, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """``--ca-file`` is a value handed to the connections of that one command, gather's and
    restore's: it leaves the environment as it was, so the next command in this process trusts
    the server no more than before; ``MAILRECOVER_CA_FILE`` is the fallback it overrides."""
    import os

    from mailrecover.cli import main

    _seed(imap_tls_account)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", imap_tls_account.password)
    monkeypatch.delenv("MAILRECOVER_CA_FILE", raising=False)
    url = imap_tls_account.url(secure=True)
    ws = str(tmp_path / "ws")
    ca = str(imap_tls_account.server.cert)
    gather = ["--workspace", ws, "gather", "--account", imap_tls_account.user, url]
    assert main(gather) == 3
    assert "not trusted" in capsys.readouterr().err
    assert main(["--ca-file", ca, *gather]) == 0
    assert "MAILRECOVER_CA_FILE" not in os.environ
    assert main(gather) == 3  # trusted for that command only
    assert "not trusted" in capsys.readouterr().err

    target = dovecot_tls.account()
    target_url = target.url(secure=True)
    monkeypatch.setenv("MAILRECOVER_PASSWORD", target.password)
    restore = ["--workspace", ws, "restore", "--account", imap_tls_account.user, "--to", target_url]
    assert main(restore) == 1 and "not trusted" in capsys.readouterr().err
    monkeypatch.setenv("MAILRECOVER_CA_FILE", str(tmp_path / "nope.pem"))  # the fallback, overridden
    assert main(["--ca-file", ca, *restore]) == 0
    assert sum(len(v) for v in target.messages().values()) == len(SEED)
    assert os.environ["MAILRECOVER_CA_FILE"] == str(tmp_path / "nope.pem")
    monkeypatch.setenv("MAILRECOVER_CA_FILE", ca)  # without the option, the environment decides
    assert main(restore) == 0
    assert main(["--workspace", ws, "--ca-file", str(tmp_path / "nope.pem"), "report"]) == 2


def test_starttls_with_an_untrusted_certificate_is_refused(imap_tls_account: Account) -> None:
    ctx = ReadContext(password=lambda prompt: pytest.fail("no password may be sent"))  # type: ignore[arg-type,return-value]
    found = list(ImapPlugin(ConnectionSettings()).read(imap_tls_account.url(), ctx))
    assert len(found) == 1 and isinstance(found[0], Problem) and "not trusted" in found[0].reason


def _outward_address() -> str | None:
    """This machine's non-loopback address, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_no_password_in_clear_to_a_remote_host_unless_allowed(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to stand for a remote server")
    _seed(imap_account)
    asked: list[str] = []
    ctx = ReadContext(password=lambda prompt: asked.append(prompt) or imap_account.password)  # type: ignore[func-returns-value]
    with Proxy(imap_account.server.port, listen=address) as proxy:
        url = imap_account.url().replace(f"127.0.0.1:{imap_account.server.port}", f"{address}:{proxy.port}")
        refused = list(ImapPlugin().read(url, ctx))
        assert len(refused) == 1 and isinstance(refused[0], Problem)
        assert "refusing to send the password in clear" in refused[0].reason and asked == []
        monkeypatch.setenv("MAILRECOVER_ALLOW_CLEARTEXT", "1")
        assert len([c for c in ImapPlugin().read(url, ctx) if isinstance(c, Copy)]) == len(SEED)


# --- the plugin contract -----------------------------------------------------------------


class TestImapContract(SourcePluginContract):
    """The contract for a plugin that reads URLs, against the Dovecot fixture: the store is an
    account, "untouched" is every message's bytes, flags and date on the server."""

    reads_urls = True
    _new_account: Callable[..., Account]
    _account: Account | None = None

    @pytest.fixture(autouse=True)
    def _accounts(self, new_imap_account: Callable[..., Account], monkeypatch: pytest.MonkeyPatch) -> None:
        self._new_account = new_imap_account  # an account only for the checks that use the server
        # memory is bounded by one batch (8 MB): smaller batches show it on an 8 MB account
        monkeypatch.setattr(imap_module, "_BATCH_BYTES", 1 << 19)

    @property
    def account(self) -> Account:
        if self._account is None:
            self._account = self._new_account()
        return self._account

    def make_plugin(self):
        return ImapPlugin(ConnectionSettings())

    def read_context(self) -> ReadContext:
        account = self.account
        return ReadContext(account=account.user, password=lambda prompt: account.password)

    def source_state(self, root, sample):  # type: ignore[no-untyped-def]
        return self.account.messages()

    def missing_location(self, root) -> str:  # type: ignore[no-untyped-def]
        return self.account.url(folder="Nowhere")

    def assert_from_store(self, sample, finding) -> None:  # type: ignore[no-untyped-def]
        assert finding.source.startswith(sample.location.split("@")[0])  # the account, without a password
        assert "@127.0.0.1:" in finding.source and self.account.password not in finding.source

    def build_store(self, root):  # type: ignore[no-untyped-def]
        return Sample(self.account.url(), len(_seed(self.account)))

    def build_damaged(self, root):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def build_large(self, root, nbytes):  # type: ignore[no-untyped-def]
        client = self.account.client()
        body = "i" * 75 + "\n"
        total, n = 0, 0
        while total < nbytes:
            n += 1
            raw = message(n) + (body * 600).encode()
            client.append("INBOX", raw)
            total += len(raw)
        client.logout()
        return self.account.url()

    def test_bad_input_costs_a_problem_not_the_run(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        pytest.skip("a real server sends no damaged store; a hostile one is tests/test_hostile_imap.py's")
