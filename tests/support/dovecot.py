"""A throwaway Dovecot IMAP server for tests and benchmarks.

Everything lives in one temporary directory: configuration, passwd-file users, Maildir
storage, logs, a self-signed certificate when TLS is wanted.  As root (CI) the login and
mail processes run as the package's ``dovenull`` and ``dovecot`` users, as Dovecot insists;
otherwise everything runs as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import imapclient

__all__ = [
    "Account",
    "Dovecot",
    "dovecot_missing",
    "free_port",
    "make_certificate",
    "stop_server",
    "wait_for_greeting",
]


def dovecot_missing() -> str | None:
    """Why no Dovecot can be started here, or None."""
    if shutil.which("dovecot") is None and not os.path.exists("/usr/sbin/dovecot"):
        return "dovecot is not installed (Debian: dovecot-imapd)"
    if not os.path.exists("/usr/lib/dovecot/imap"):  # dovecot-core without dovecot-imapd
        return "Dovecot's imap program is missing from /usr/lib/dovecot (Debian: dovecot-imapd)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_greeting(port: int, server: str, log: Callable[[], str]) -> None:
    """Wait (15 s at most) until an IMAP server on 127.0.0.1:``port`` says ``* OK``."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(200).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server} did not start:\n" + log())
        time.sleep(0.05)


def stop_server(pid_file: Path, root: Path) -> None:
    """End the server whose master's pid is in ``pid_file`` (it ends its children), wait up to
    10 s for it to go, and remove its throwaway folder."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pid = 0
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _password(n: int) -> str:
    return f"pw-{n}-Zq7#x"


class Dovecot:
    """One server with a pool of prepared accounts ``userN@example.co.jp``."""

    QUOTA_KB = 200

    def __init__(
        self,
        *,
        tls: bool = False,
        special_use: bool = False,
        separator: str = ".",
        accounts: int = 100,
        quota_accounts: int = 2,
        fsync: bool = True,
        quota: bool = True,
        prefix: str = "",
        extra_config: str = "",
        folders: tuple[tuple[str, str], ...] = (),
        masters: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mailrecover-dovecot-"))
        self.root.chmod(0o755)  # mail processes run as another user and must reach their files
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.cert: Path | None = None
        self.tls = tls
        self.special_use = special_use
        self.fsync = fsync
        self.quota = quota
        self.prefix = prefix  # the personal namespace, e.g. "INBOX." as Courier and Cyrus have it
        self.separator = separator
        self.folders = folders  # (name, special-use flag or ""): made in every account, as providers do
        self.extra_config = extra_config  # appended to the configuration (a cap, special-use names)
        self.masters = dict(masters or {})  # master user -> password: may log in as any account
        self.masters_file = self.root / "masters"
        self.users_file = self.root / "users"
        self._pool, self._quota_pool = accounts + quota_accounts, quota_accounts
        self._free = list(range(1, accounts + 1))
        self._quota_free = list(range(accounts + 1, accounts + quota_accounts + 1))
        self._process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            self._login_user, self._internal_user = "dovenull", "dovecot"
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            self._login_user = self._internal_user = me
        entry = pwd.getpwnam(self._internal_user)
        self._uid, self._gid = entry.pw_uid, entry.pw_gid

    def _write_users(self) -> None:
        # Written once before start: Dovecot notices a changed passwd-file only seconds later.
        lines = []
        for n in range(1, self._pool + 1):
            quota = (
                f"userdb_quota_rule=*:storage={self.QUOTA_KB}K" if n > self._pool - self._quota_pool else ""
            )
            lines.append(
                f"user{n}@example.co.jp:{{PLAIN}}{_password(n)}:{self._uid}:{self._gid}::"
                f"{self.root}/home/user{n}::{quota}"
            )
        self.users_file.write_text("".join(line + "\n" for line in lines))
        self.users_file.chmod(0o644)
        self.masters_file.write_text("".join(f"{u}:{{PLAIN}}{pw}\n" for u, pw in self.masters.items()))
        self.masters_file.chmod(0o644)

    def account(self, *, small_quota: bool = False) -> Account:
        """A fresh account (``small_quota``: storage limited to ``QUOTA_KB``)."""
        pool = self._quota_free if small_quota else self._free
        if not pool:
            raise RuntimeError("the test server ran out of prepared accounts; raise its pool size")
        n = pool.pop(0)
        return Account(self, f"user{n}@example.co.jp", _password(n))

    def mail_dir(self, user: str) -> Path:
        return self.root / "mail" / user

    def start(self) -> Dovecot:
        for sub in ("mail", "home", "run", "state"):
            (self.root / sub).mkdir(exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, self._uid, self._gid)
        self._write_users()
        if self.tls:
            self.cert, key = make_certificate(self.root)
            key.chmod(0o600)
        self.config = self.root / "dovecot.conf"
        self.config.write_text(self._config())
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        # The master daemonizes but keeps inherited descriptors: no pipes, or waiting never ends.
        with open(self.root / "start.log", "wb") as out:
            subprocess.run([binary, "-c", str(self.config)], check=True, stdout=out, stderr=out)
        self._wait_listening()
        return self

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        stop_server(pid_file, self.root)

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_listening(self) -> None:
        wait_for_greeting(self.port, "dovecot", self.log)

    def _config(self) -> str:
        r = self.root
        lines = [
            f"base_dir = {r}/run",
            f"state_dir = {r}/state",
            f"log_path = {r}/log",
            f"info_log_path = {r}/log",
            "protocols = imap",
            "listen = 127.0.0.1",
            f"default_login_user = {self._login_user}",
            f"default_internal_user = {self._internal_user}",
            "disable_plaintext_auth = no",
            f"first_valid_uid = {self._uid}",
            f"first_valid_gid = {self._gid}",
            "auth_mechanisms = plain login",
            f"mail_location = maildir:{r}/mail/%u",
            "mail_plugins = $mail_plugins quota" if self.quota else "",
            f"mail_fsync = {'optimized' if self.fsync else 'never'}",
            "plugin {\n  quota = maildir:User quota\n  quota_max_mail_size = 2M\n}",
            *(
                [
                    "auth_master_user_separator = *",
                    f"passdb {{\n  driver = passwd-file\n  master = yes\n  args = scheme=PLAIN username_format=%u "
                    f"{self.masters_file}\n}}",
                ]
                if self.masters
                else []
            ),
            f"passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {self.users_file}\n}}",
            f"userdb {{\n  driver = passwd-file\n  args = username_format=%u {self.users_file}\n}}",
            "service imap-login {",
            f"  inet_listener imap {{\n    address = 127.0.0.1\n    port = {self.port}\n  }}",
            f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {self.tls_port}\n    ssl = yes\n  }}",
            "}",
            "service anvil {\n  chroot =\n}",
            "service imap-login {\n  chroot =\n}",
        ]
        if self.tls:
            lines += ["ssl = yes", f"ssl_cert = <{r}/cert.pem", f"ssl_key = <{r}/key.pem"]
        else:
            lines += ["ssl = no"]
        namespace = ["namespace inbox {", "  inbox = yes", f"  separator = {self.separator}"]
        if self.prefix:
            namespace.append(f"  prefix = {self.prefix}")
        if self.special_use:
            for name, use in (
                ("Sent Messages", "\\Sent"),
                ("Drafts", "\\Drafts"),
                ("Deleted Messages", "\\Trash"),
                ("Junk", "\\Junk"),
            ):
                namespace.append(f'  mailbox "{name}" {{\n    special_use = {use}\n    auto = create\n  }}')
        for name, use in self.folders:
            special = f"\n    special_use = {use}" if use else ""
            namespace.append(f'  mailbox "{name}" {{{special}\n    auto = create\n  }}')
        namespace.append("}")
        lines += namespace
        lines.append(self.extra_config)
        return "\n".join(lines) + "\n"


class Account:
    """One user on a test server, with a direct client for seeding and inspecting."""

    def __init__(self, server: Dovecot, user: str, password: str) -> None:
        self.server, self.user, self.password = server, user, password

    def url(self, *, secure: bool = False, port: int | None = None, folder: str = "") -> str:
        from urllib.parse import quote

        scheme = "imaps" if secure else "imap"
        default = self.server.tls_port if secure else self.server.port
        return f"{scheme}://{quote(self.user, safe='')}@127.0.0.1:{port or default}/{quote(folder)}"

    def client(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=30)
        if self.server.tls:
            client.starttls(ssl.create_default_context(cafile=str(self.server.cert)))
        if client.has_capability("LOGINDISABLED") and client.has_capability("AUTH=LOGIN"):
            answers = [self.user.encode(), self.password.encode()]  # a server without PLAIN
            client.sasl_login("LOGIN", lambda challenge: answers.pop(0))
        else:
            client.login(self.user, self.password)
        client.normalise_times = False
        return client

    def messages(self) -> dict[str, list[tuple[bytes, frozenset[bytes], datetime]]]:
        """Every folder's messages (bytes, flags, INTERNALDATE) in UID order, read without changes."""
        client = self.client()
        try:
            result = {}
            for flags, _sep, name in client.list_folders():
                if {f.lower() for f in flags} & {b"\\noselect", b"\\nonexistent"}:
                    continue  # a level only ([Gmail]): it holds no mail
                client.select_folder(name, readonly=True)
                data = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
                result[name] = [
                    (d[b"BODY[]"], frozenset(d[b"FLAGS"]) - {b"\\Recent"}, d[b"INTERNALDATE"])
                    for _uid, d in sorted(data.items())
                ]
            return result
        finally:
            client.logout()
