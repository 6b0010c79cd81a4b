"""A real Postfix delivers mail into Maildirs; its log must tell exactly what landed on disk.

The server runs with its own configuration, queue and log file, listens only on 127.0.0.1
on a free port and delivers through the ``virtual`` agent to Maildirs under a temporary
folder.  Needs root and Debian's ``postfix`` (installed by .ci/apt-packages.txt).
"""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailrecover_logs.postfix import PostfixPlugin

from mailrecover.cli import main
from mailrecover.model import Evidence
from mailrecover.plugin import ReadContext

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(POSTFIX) or not _has_user("postfix"),
    reason="needs root and Debian's postfix package (.ci/apt-packages.txt)",
)

_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
myhostname = mail.example.jp
mydomain = example.jp
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file_prefixes = {root}/log
maillog_file = {root}/log/mail.log
virtual_mailbox_domains = example.jp
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/conf/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
"""

TARO, JIRO = "taro@example.jp", "jiro@example.jp"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postfix(conf: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([POSTFIX, "-c", str(conf), *args], capture_output=True, text=True, timeout=60)


def _wait(condition, what: str, limit: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def server() -> Iterator[tuple[Path, int]]:
    # under /tmp, not pytest's 0700 folder, and with a usual umask (mailrecover's own is 077):
    # the postfix and mailbox users must reach the queue and the Maildirs
    umask = os.umask(0o022)
    root = Path(tempfile.mkdtemp(prefix="mailrecover-postfix-", dir="/tmp"))
    os.chmod(root, 0o755)
    nobody = pwd.getpwnam("nobody")
    port = _free_port()
    for sub in ("conf", "queue", "data", "mail", "log"):
        (root / sub).mkdir()
    shutil.chown(root / "data", "postfix")
    os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    (root / "conf" / "main.cf").write_text(_MAIN_CF.format(root=root, uid=nobody.pw_uid, gid=nobody.pw_gid))
    (root / "conf" / "master.cf").write_text(_MASTER_CF.format(port=port))
    (root / "conf" / "vmailbox").write_text(f"{TARO} taro/Maildir/\n{JIRO} jiro/Maildir/\n")
    started = _postfix(root / "conf", "start")
    pidfile = root / "queue" / "pid" / "master.pid"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        _wait(lambda: _listening(port), "postfix to listen")
        yield root, port
    finally:
        _postfix(root / "conf", "stop")
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0] or 0)
            _wait(lambda: not _alive(pid), "postfix to stop", 30)
        shutil.rmtree(root, ignore_errors=True)
        os.umask(umask)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _send(port: int) -> list[tuple[str, str, list[str]]]:
    """Mail a few messages; returns (message_id, sender, accepted recipients)."""
    plan = [
        ("a1@example.net", "alice@example.net", [TARO]),
        ("a2@example.net", "alice@example.net", [TARO, JIRO]),
        ("b1@example.org", "bob@example.org", [TARO]),
        ("b2@example.org", "bob@example.org", [JIRO, "nobody@example.jp"]),  # one refused
        ("c1@example.com", "carol@example.com", [TARO]),
        ("t1@example.jp", TARO, [JIRO]),
    ]
    sent = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for mid, sender, rcpts in plan:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(rcpts), f"test {mid}"
            msg["Message-ID"] = f"<{mid}>"
            msg.set_content(f"body of {mid}\n")
            refused = smtp.send_message(msg, from_addr=sender, to_addrs=rcpts)
            sent.append((mid, sender, [r for r in rcpts if r not in refused]))
    return sent


def _on_disk(mail: Path) -> set[tuple[str, str]]:
    """What the Maildirs hold: new/ and cur/ only, since tmp/ holds files still being written."""
    found = set()
    for path in [*mail.glob("*/Maildir/new/*"), *mail.glob("*/Maildir/cur/*")]:
        parsed = email.message_from_bytes(path.read_bytes())
        found.add((parsed["Message-ID"].strip("<>"), parsed["Delivered-To"]))
    return found


def test_log_matches_what_postfix_delivered(server: tuple[Path, int], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    root, port = server
    sent = _send(port)
    expected = {(mid, r) for mid, _s, rcpts in sent for r in rcpts}
    assert len(expected) == 7
    log = root / "log" / "mail.log"
    _wait(lambda: _on_disk(root / "mail") == expected, "every message in its Maildir")
    _wait(lambda: log.read_text().count(": removed") == len(sent), "the log to show every message leave")
    logs = tmp_path / "logs"
    shutil.copytree(root / "log", logs)  # the server's folder goes away with the fixture
    digest = hashlib.sha256((logs / "mail.log").read_bytes()).hexdigest()
    evidence = [f for f in PostfixPlugin().read(str(logs), ReadContext()) if isinstance(f, Evidence)]
    assert {(e.fields["message_id"], e.fields["recipient"]) for e in evidence} == expected
    assert {(e.fields["status"], e.fields["relay"], e.fields["dsn"]) for e in evidence} == {
        ("sent", "virtual", "2.0.0")
    }
    senders = {mid: s for mid, s, _ in sent}
    assert all(e.fields["sender"] == senders[e.fields["message_id"]] for e in evidence)
    assert all(int(e.fields["size"]) > 0 for e in evidence)
    assert ": reject: RCPT from localhost" in log.read_text()  # the refused recipient joins nothing
    assert hashlib.sha256((logs / "mail.log").read_bytes()).hexdigest() == digest

    # taro's mailbox survives only in part: two of his four messages are gone
    survivors = tmp_path / "survivors"
    shutil.copytree(root / "mail" / "taro" / "Maildir", survivors)
    for path in survivors.glob("*/*"):
        if email.message_from_bytes(path.read_bytes())["Message-ID"] in (
            "<b1@example.org>",
            "<c1@example.com>",
        ):
            path.unlink()
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", TARO, str(survivors)]) == 0
    assert main(["--workspace", str(ws), "gather", str(logs)]) == 0
    capsys.readouterr()
    assert main(["--workspace", str(ws), "--json", "report", "--account", TARO]) == 0
    taro = json.loads(capsys.readouterr().out)["accounts"][TARO]
    assert [(m["message_id"], m["from"]) for m in taro["missing"]] == [
        ("b1@example.org", "bob@example.org"),
        ("c1@example.com", "carol@example.com"),
    ]
    assert (taro["delivered"], taro["recovered_of_delivered"]) == (4, 2)
    assert [m["message_id"] for m in taro["missing_sent"]] == ["t1@example.jp"]
    assert main(["--workspace", str(ws), "report", "--account", TARO, "--senders"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[:2] for r in rows] == [
        ["sender", "count"],
        ["bob@example.org", "1"],
        ["carol@example.com", "1"],
    ]
