"""A throwaway Cyrus IMAP server (Debian's ``cyrus-imapd``) for tests.

Everything lives in one temporary directory: ``imapd.conf`` and ``cyrus.conf``, the
configuration directory (mailbox list), the mail partition, the lock/proc directories and
sockets, and a SASL password database made offline with ``saslpasswd2 -f``.  Nothing of the
package's own service (``/etc/imapd.conf``, ``/var/lib/cyrus``, port 143) is used or touched.

Cyrus's master refuses to run as any user but its ``cyrus_user``: as root (CI) it starts as
root, binds the port and drops to the package's ``cyrus`` user, so the tree is owned by
``cyrus``; otherwise ``cyrus_user`` is the current user and everything runs as that user.

Users are ``userN@example.co.jp`` (``virtdomains: userid``, as hosting providers run Cyrus);
``ADMIN`` is a global admin (``admins:``), unqualified, which may act as any user through SASL
PLAIN's authorization identity.  The namespace is Debian's default unless asked otherwise:
``altnamespace: no`` and ``unixhierarchysep: no``, so a user's folders are ``INBOX.Work``,
``INBOX.Work.2012`` ('.' between levels, everything under ``INBOX.``); with ``upstream=True``
it is Cyrus 3's own default, ``altnamespace: yes`` and ``unixhierarchysep: yes`` (``Work/2012``
beside INBOX).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import imapclient

from .dovecot import Account, free_port, stop_server, wait_for_greeting

__all__ = ["ADMIN", "DOMAIN", "Cyrus", "cyrus_missing"]

#: The admin (``admins:`` in imapd.conf) and its password.
ADMIN = ("cyrusadmin", "cyrus-admin-pw-4#K")

_MASTER = ("/usr/sbin/cyrmaster", "/usr/libexec/cyrus-imapd/master")  # Debian, Fedora
_TOOLS = ("/usr/lib/cyrus/bin", "/usr/libexec/cyrus-imapd")  # ctl_cyrusdb (Debian: cyrus-common)
#: imapd: installed, or (CI) unpacked beside Dovecot by .ci/cyrus-imapd, since Debian's cyrus-imapd
#: package conflicts with dovecot-imapd
_IMAPD = (*(f"{d}/imapd" for d in _TOOLS), "/opt/mailrecover-cyrus-imapd/usr/lib/cyrus/bin/imapd")
DOMAIN = "example.co.jp"


def _first(paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if os.path.exists(p)), None)


def cyrus_missing() -> str | None:
    """Why no Cyrus can be started here, or None."""
    if _first(_MASTER) is None or _first(tuple(f"{d}/ctl_cyrusdb" for d in _TOOLS)) is None:
        return "Cyrus IMAP is not installed (Debian: cyrus-common)"
    if _first(_IMAPD) is None:
        return "Cyrus's imapd is not there (Debian: cyrus-imapd, or .ci/cyrus-imapd beside dovecot-imapd)"
    if shutil.which("saslpasswd2") is None:
        return "saslpasswd2 is not installed (Debian: sasl2-bin)"
    return None


def _password(n: int) -> str:
    return f"cy-{n}-Wm3#p"


class Cyrus:
    """One Cyrus with a pool of accounts ``userN@example.co.jp``, each with its mailbox made."""

    tls, cert, tls_port = False, None, 0  # what `Account` asks of a server

    def __init__(
        self,
        *,
        accounts: int = 10,
        upstream: bool = False,
        folders: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mailrecover-cyrus-"))
        self.root.chmod(0o755)  # the server runs as another user and must reach its files
        self.port = free_port()
        self.upstream = upstream
        self.separator = "/" if upstream else "."
        self.prefix = "" if upstream else "INBOX."  # the personal namespace
        self.folders = (
            folders  # (name below the personal namespace, special-use flag or ""), in every account
        )
        self.config = self.root / "imapd.conf"
        self._pool = accounts
        self._free = list(range(1, accounts + 1))
        self._user = "cyrus" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self._master = _first(_MASTER) or "cyrmaster"
        self._tools = _first(_TOOLS) or ""
        self._imapd = _first(_IMAPD) or "imapd"

    def account(self) -> Account:
        """A fresh account: its INBOX (and ``folders``) made, empty."""
        if not self._free:
            raise RuntimeError("the test server ran out of prepared accounts; raise its pool size")
        n = self._free.pop(0)
        return Account(self, f"user{n}@{DOMAIN}", _password(n))  # type: ignore[arg-type]

    def admin_client(self) -> imapclient.IMAPClient:
        client = imapclient.IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(*ADMIN)
        return client

    def start(self) -> Cyrus:
        for sub in ("conf/socket", "partition", "run", "socket"):  # conf/socket: imapd's own idle sockets
            (self.root / sub).mkdir(parents=True)
        self.config.write_text(self._imapd_conf())
        (self.root / "cyrus.conf").write_text(self._cyrus_conf())
        sasldb = self.root / "sasldb2"
        users = [(ADMIN[0], "cyrus.test", ADMIN[1])]  # unqualified: a global admin, in the server's realm
        users += [(f"user{n}", DOMAIN, _password(n)) for n in range(1, self._pool + 1)]
        for name, realm, password in users:
            subprocess.run(
                ["saslpasswd2", "-p", "-c", "-f", str(sasldb), "-u", realm, name],
                input=password.encode(),
                check=True,
                capture_output=True,
            )
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self._user)
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        # -d: the master daemonizes once its port is bound; -L keeps what it and its children print
        subprocess.run(
            [
                self._master,
                "-C",
                str(self.config),
                "-M",
                str(self.root / "cyrus.conf"),
                "-p",
                str(self.root / "run" / "master.pid"),
                "-d",
                "-L",
                str(self.root / "master.log"),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        self._wait_listening()
        self._make_mailboxes()
        return self

    def stop(self) -> None:
        stop_server(self.root / "run" / "master.pid", self.root)

    def log(self) -> str:
        path = self.root / "master.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _make_mailboxes(self) -> None:
        """Each user's INBOX, made by the admin as a provider does; ``folders`` made by the user."""
        admin = self.admin_client()
        try:
            for n in range(1, self._pool + 1):
                admin.create_folder(f"user{self.separator}user{n}@{DOMAIN}")
        finally:
            admin.logout()
        if not self.folders:
            return
        for n in range(1, self._pool + 1):
            client = imapclient.IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
            client.login(f"user{n}@{DOMAIN}", _password(n))
            for name, use in self.folders:
                quoted = '"' + imapclient.imap_utf7.encode(self.prefix + name).decode("ascii") + '"'
                # CREATE-SPECIAL-USE (RFC 6154), as Cyrus's own autocreate does it
                typ, data = client._imap._simple_command(
                    "CREATE", quoted, *([f"(USE ({use}))"] if use else [])
                )
                if typ != "OK":
                    raise RuntimeError(f"cyrus refused CREATE {name}: {data}")
            client.logout()

    def _wait_listening(self) -> None:
        wait_for_greeting(self.port, "cyrus", self.log)

    def _imapd_conf(self) -> str:
        r = self.root
        yes_no = "yes" if self.upstream else "no"
        return "\n".join(
            [
                f"configdirectory: {r}/conf",
                "defaultpartition: default",
                f"partition-default: {r}/partition",
                f"proc_path: {r}/run/proc",
                f"mboxname_lockpath: {r}/run/lock",
                f"lmtpsocket: {r}/socket/lmtp",
                f"idlesocket: {r}/socket/idle",
                f"notifysocket: {r}/socket/notify",
                f"cyrus_user: {self._user}",
                "servername: cyrus.test",
                "syslog_prefix: mailrecover-test-cyrus",
                f"admins: {ADMIN[0]}",
                "virtdomains: userid",
                f"altnamespace: {yes_no}",
                f"unixhierarchysep: {yes_no}",
                "allowplaintext: yes",  # loopback only; mailrecover itself refuses cleartext elsewhere
                "sasl_pwcheck_method: auxprop",
                "sasl_auxprop_plugin: sasldb",
                f"sasl_sasldb_path: {r}/sasldb2",
                "sasl_mech_list: PLAIN LOGIN",
                "failedloginpause: 0",  # Cyrus waits 3 s after a refused login by default
                "",
            ]
        )

    def _cyrus_conf(self) -> str:
        conf = f"-C {self.config}"
        return (
            f'START {{\n  recover cmd="{self._tools}/ctl_cyrusdb {conf} -r"\n}}\n'
            f'SERVICES {{\n  imap cmd="{self._imapd} {conf}" listen="127.0.0.1:{self.port}" '
            "prefork=0 maxchild=50\n}\n"
            "EVENTS {\n}\n"
        )
