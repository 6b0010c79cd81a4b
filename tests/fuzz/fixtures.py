"""Stores written by the project's own test builders, as extra fuzz samples.

Each family's tests keep a builder that writes realistic stores of its kind; the fuzz layer
borrows every builder that exists in this checkout (a family that has not landed yet is
simply absent) so each plugin gets samples of its own kind even where the corpus has none.
A builder that fails is noted in the run's summary, never a reason to stop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["NOTES", "build_all"]

NOTES: list[str] = []


def _core(m: Any, root: Path) -> None:
    m.build_scenario(root)


def _clients(m: Any, root: Path) -> None:
    m.build_thunderbird(root / "thunderbird")
    m.build_apple_mail(root / "apple" / "Library" / "Mail")
    m.build_becky(root / "becky")
    m.build_windows_mail(root / "windows" / "AppData" / "Local")


def _lists(m: Any, root: Path) -> None:
    m.build_mailman(root / "mailman")
    m.build_fml(root / "fml")


def _logs(m: Any, root: Path) -> None:
    for mta in ("postfix", "exim", "sendmail"):
        (root / mta).mkdir(parents=True)
        m.write_log(root / mta, mta)


def _dbx(m: Any, root: Path) -> None:
    from tests.support.builders import scenario_mails

    root.mkdir(parents=True)
    mails = [m.DbxMessage(mail.raw.replace(b"\n", b"\r\n")) for mail in scenario_mails()[:4]]
    (root / "Inbox.dbx").write_bytes(m.message_dbx(mails))


def _list_files(m: Any, root: Path) -> None:
    """Small list-manager files of the kinds no builder writes (written here, in their formats)."""
    home = root / "majordomo"
    (home / "lists").mkdir(parents=True)
    (home / "majordomo.cf").write_text('$whereami = "example.edu";\n')
    (home / "lists" / "chat").write_text("ann@example.com\nBob <bob@example.com>\n")
    (home / "lists" / "chat.config").write_text("admin_passwd = x\n")
    (home / "Log").write_text(
        "Dec 30 10:00:00 lists majordomo[100] {ann@example.com} subscribe chat ann@example.com\n"
        "Jan 02 11:00:00 lists majordomo[101] {eve@example.com} unsubscribe chat eve@example.com\n"
    )
    (root / "mailman3-roster.json").write_text(
        '{"entries": [{"email": "anne@example.com", "list_id": "dev.lists.example.org", '
        '"delivery_mode": "regular", "display_name": "Anne"}], "total_size": 1}\n'
    )
    (root / "members.csv").write_text("email,name\nanne@example.com,Anne\nbart@example.com,Bart\n")
    dovecot = root / "dovecot"
    dovecot.mkdir()
    (dovecot / "dovecot.log").write_text(
        "".join(
            f"Jun 18 10:{i:02d}:01 mx dovecot: lmtp(taro@example.co.jp)<{1000 + i}><s{i}>: "
            f"msgid=<m{i}@example.com>: saved mail to INBOX\n"
            for i in range(20)
        )
    )


def _gmail(m: Any, root: Path) -> None:
    m._takeout(root / m.TAKEOUT, [(1, "Inbox,Opened"), (2, 'Sent,"Clients, old",Starred')])


def _olm(m: Any, root: Path) -> None:
    m.build_olm(
        root / "archive.olm",
        {
            f"{m.ACCOUNT}/Inbox/message_00000.xml": m.item(1, attachment="com.microsoft.__Attachments/a1"),
            "com.microsoft.__Attachments/a1": b"%PDF-1.4\n",
            f"{m.ACCOUNT}/Sent Items/message_00000.xml": m.item(2),
        },
    )


def _foxmail(m: Any, root: Path) -> None:
    m._box(root / "in.box", range(1, 4))


def _tnef(m: Any, root: Path) -> None:
    root.mkdir(parents=True)
    (root / "winmail.dat").write_bytes(m.tnef_stream("Figures", "See the figures.", m.ATTACHMENTS))


def _evolution(m: Any, root: Path) -> None:
    m._store(root / "local")


def _kmail(m: Any, root: Path) -> None:
    from tests.support.unix_clients import build_akonadi, build_kmail

    local = build_kmail(root / "local-mail", m.MESSAGES)
    build_akonadi(root, local, m.MESSAGES).close()


_BUILDERS: list[tuple[str, str, Callable[[Any, Path], None]]] = [
    ("tests.support.builders", "core", _core),
    ("tests.plugins.client_stores", "clients", _clients),
    ("tests.support.lists_builders", "lists", _lists),
    ("tests.support.lists_builders", "list-files", _list_files),
    ("tests.support.logbuilder", "logs", _logs),
    ("tests.support.dbx_builder", "dbx", _dbx),
    ("tests.plugins.test_gmail", "gmail", _gmail),
    ("tests.plugins.test_outlook_mac", "olm", _olm),
    ("tests.plugins.test_foxmail", "foxmail", _foxmail),
    ("tests.plugins.test_tnef", "tnef", _tnef),
    ("tests.plugins.test_evolution", "evolution", _evolution),
    ("tests.plugins.test_kmail", "kmail", _kmail),
]


def build_all(root: Path) -> list[Path]:
    """Write every available builder's stores under ``root``; the folders written."""
    written = []
    for module, name, build in _BUILDERS:
        try:
            m = importlib.import_module(module)
        except ImportError:
            continue
        try:
            build(m, root / name)
            written.append(root / name)
        except Exception as e:  # another family's builder changed: fuzz the rest
            NOTES.append(f"fixture builder {module} failed: {type(e).__name__}: {e}")
    return written
