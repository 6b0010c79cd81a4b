"""Shared fixtures: the real-file corpus beside the checkout, and only built-in plugins."""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import json
import os
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    """Answers first for the distribution 'mailrecover', whatever sys.path holds (a stale
    ``mailrecover.egg-info`` in the checkout would otherwise win)."""

    def __init__(self, dist: importlib.metadata.Distribution) -> None:
        self._dist = dist

    def find_spec(self, *args: object, **kwargs: object) -> None:
        return None

    def find_distributions(
        self, context: importlib.metadata.DistributionFinder.Context | None = None
    ) -> list[importlib.metadata.Distribution]:
        name = getattr(context, "name", None)
        return [self._dist] if name in (None, "mailrecover") else []


def _register_checkout() -> None:
    """Make this checkout's plugin list the one ``entry_points`` sees, in-process and in
    subprocesses, whatever copy of mailrecover happens to be installed on the machine."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = Path(tempfile.mkdtemp(prefix="mailrecover-dist-"))
    info = dist / "mailrecover-0+checkout.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mailrecover\nVersion: 0+checkout\n")
    lines = []
    for group, eps in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in eps.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    paths = [str(dist), str(REPO), str(REPO / "plugins")]
    sys.path[:0] = paths
    sys.meta_path.insert(0, _CheckoutFinder(importlib.metadata.PathDistribution(info)))
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


_register_checkout()


def pytest_configure(config: pytest.Config) -> None:
    """Only this checkout's plugins load, here and in the commands tests start, whatever
    third-party plugins the machine has installed (llm's shape; a test that wants one lifts it)."""
    os.environ["MAILRECOVER_BUILTIN_PLUGINS_ONLY"] = "1"


#: Real files written by real programs; present beside a developer's checkout and in CI.
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not beside this checkout")
    return CORPUS


def install_distribution(
    site: Path, monkeypatch: pytest.MonkeyPatch, entry_points: dict[str, str], **modules: str
) -> None:
    """A third-party plugin distribution as pip leaves it: a dist-info and its modules in a
    folder put on sys.path, so ``entry_points`` finds it beside mailrecover's own."""
    from mailrecover import plugin

    info = site / "mailrecover_extra-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mailrecover-extra\nVersion: 1.0\n")
    lines = ["[mailrecover.plugins]", *(f"{name} = {target}" for name, target in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source, encoding="utf-8")
        monkeypatch.delitem(sys.modules, module, raising=False)  # gone again after the test
    monkeypatch.syspath_prepend(str(site))
    plugin.reset()


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``third_party({"name": "module:attr"}, module=source)`` installs a third-party plugin
    distribution (``install_distribution``) and lifts the suite's restriction to this
    checkout's plugins; plugins load afresh after the test."""
    from mailrecover import plugin

    monkeypatch.delenv("MAILRECOVER_BUILTIN_PLUGINS_ONLY", raising=False)
    yield lambda entry_points, **modules: install_distribution(
        tmp_path / "site", monkeypatch, entry_points, **modules
    )
    plugin.reset()


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own workspace, passwords or third-party plugins."""
    monkeypatch.setenv("MAILRECOVER_WORKSPACE", str(tmp_path / "default-workspace"))
    monkeypatch.delenv("MAILRECOVER_PASSWORD", raising=False)
    for name in ("MAILRECOVER_ADMIN_USER", "MAILRECOVER_OAUTH_TOKEN_FILE", "MAILRECOVER_OAUTH_TOKEN_COMMAND"):
        monkeypatch.setenv(name, "")  # the developer's own IMAP login settings never reach a test
    builtin = os.environ.get("MAILRECOVER_TEST_PLUGINS")
    if builtin:
        monkeypatch.setenv("MAILRECOVER_PLUGINS", builtin)


# --- A real IMAP server (Dovecot) for the IMAP plugin and target -------------------------

from .support.dovecot import Account, Dovecot, dovecot_missing  # noqa: E402


def _need_dovecot() -> None:
    why = dovecot_missing()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must run the IMAP tests (add it to .ci/apt-packages.txt)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A plain-text Dovecot on 127.0.0.1 (folder separator '.', no SPECIAL-USE folders)."""
    _need_dovecot()
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[Dovecot]:
    """A Dovecot with a self-signed certificate (imaps and STARTTLS) and SPECIAL-USE folders."""
    _need_dovecot()
    server = Dovecot(tls=True, special_use=True).start()
    yield server
    server.stop()


@pytest.fixture
def imap_account(dovecot: Dovecot) -> Account:
    """A fresh, empty account on the plain server."""
    return dovecot.account()


@pytest.fixture
def new_imap_account(dovecot: Dovecot) -> Callable[..., Account]:
    """More fresh accounts: ``new_imap_account()``, ``new_imap_account(small_quota=True)``."""
    return dovecot.account


@pytest.fixture
def imap_tls_account(dovecot_tls: Dovecot) -> Account:
    """A fresh account on the TLS server."""
    return dovecot_tls.account()


#: The admin (Dovecot master user) on `dovecot_master` and its password.
MASTER = ("admin@example.co.jp", "master-pw-9#Q")


@pytest.fixture(scope="session")
def dovecot_capped() -> Iterator[Dovecot]:
    """A Dovecot allowing 2 IMAP connections per user and IP, as small providers do."""
    _need_dovecot()
    server = Dovecot(
        accounts=10, extra_config="protocol imap {\n  mail_max_userip_connections = 2\n}"
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_master() -> Iterator[Dovecot]:
    """A Dovecot with a master user (``auth_master_user_separator = *``), SASL PLAIN offered."""
    _need_dovecot()
    server = Dovecot(accounts=10, masters=dict([MASTER])).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_master_no_plain() -> Iterator[Dovecot]:
    """A master user, but no SASL PLAIN: no authorization identity can be given, and the LOGIN
    command (PLAIN inside Dovecot) is disabled; ``customer*master`` goes by SASL LOGIN."""
    _need_dovecot()
    server = Dovecot(accounts=6, masters=dict([MASTER]), extra_config="auth_mechanisms = login").start()
    yield server
    server.stop()


#: Gmail's extension capability (a COPY adds a label) and Dovecot's log of each APPEND and COPY,
#: proof on the server's side of how a message got into each folder.
GMAIL_CONFIG = (
    "imap_capability = +X-GM-EXT-1\n"
    "mail_plugins = $mail_plugins notify mail_log\n"
    "plugin {\n  mail_log_events = save copy\n  mail_log_fields = uid box msgid\n}"
)


@pytest.fixture(scope="session")
def dovecot_gmail() -> Iterator[Dovecot]:
    """Gmail as IMAP shows it: ``X-GM-EXT-1``, '/' between levels, SPECIAL-USE folders under
    ``[Gmail]``; its log names every APPEND ('save') and COPY ('copy')."""
    _need_dovecot()
    folders = (
        ("[Gmail]/Sent Mail", "\\Sent"),
        ("[Gmail]/Drafts", "\\Drafts"),
        ("[Gmail]/Trash", "\\Trash"),
        ("[Gmail]/Spam", "\\Junk"),
    )
    server = Dovecot(accounts=10, separator="/", folders=folders, extra_config=GMAIL_CONFIG).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_m365() -> Iterator[Dovecot]:
    """Microsoft 365's folder names, without SPECIAL-USE (as older Exchange servers offer them)."""
    _need_dovecot()
    folders = (("Sent Items", ""), ("Drafts", ""), ("Deleted Items", ""), ("Junk Email", ""))
    server = Dovecot(accounts=6, folders=folders).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dovecot_m365_special() -> Iterator[Dovecot]:
    """Microsoft 365's folder names with SPECIAL-USE, as Exchange Online offers them."""
    _need_dovecot()
    folders = (
        ("Sent Items", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Deleted Items", "\\Trash"),
        ("Junk Email", "\\Junk"),
    )
    server = Dovecot(accounts=4, folders=folders).start()
    yield server
    server.stop()


class OAuthServer:
    """A token introspection endpoint on 127.0.0.1 (RFC 7662, as Dovecot's oauth2 passdb asks
    it): ``tokens`` maps each valid access token to its user; any other token is inactive."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                token = form.get("token", [""])[0]
                outer.asked.append(token)
                user = outer.tokens.get(token)
                body = json.dumps({"active": True, "email": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/introspect"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _oauth_dovecot(mechanisms: str) -> Iterator[tuple[Dovecot, OAuthServer]]:
    _need_dovecot()
    oauth = OAuthServer()
    server = Dovecot(accounts=6)
    settings = server.root / "oauth2.conf"
    settings.write_text(
        f"introspection_mode = post\nintrospection_url = {oauth.url}\n"
        "username_attribute = email\nactive_attribute = active\nactive_value = true\n"
    )
    settings.chmod(0o644)
    server.extra_config = (
        f"auth_mechanisms = plain login {mechanisms}\n"
        f"passdb {{\n  driver = oauth2\n  mechanisms = {mechanisms}\n  args = {settings}\n}}"
    )
    server.start()
    yield server, oauth
    server.stop()
    oauth.close()


@pytest.fixture(scope="session")
def dovecot_oauth() -> Iterator[tuple[Dovecot, OAuthServer]]:
    """A Dovecot whose oauth2 passdb (OAUTHBEARER and XOAUTH2) asks a local introspection endpoint."""
    yield from _oauth_dovecot("xoauth2 oauthbearer")


@pytest.fixture(scope="session")
def dovecot_xoauth2() -> Iterator[tuple[Dovecot, OAuthServer]]:
    """The same offering XOAUTH2 only, as Gmail and Microsoft 365 long did."""
    yield from _oauth_dovecot("xoauth2")
