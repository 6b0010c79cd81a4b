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
    from tests.builders import scenario_mails

    root.mkdir(parents=True)
    mails = [m.DbxMessage(mail.raw.replace(b"\n", b"\r\n")) for mail in scenario_mails()[:4]]
    (root / "Inbox.dbx").write_bytes(m.message_dbx(mails))


_BUILDERS: list[tuple[str, str, Callable[[Any, Path], None]]] = [
    ("tests.builders", "core", _core),
    ("tests.plugins.client_stores", "clients", _clients),
    ("tests.lists_builders", "lists", _lists),
    ("tests.logbuilder", "logs", _logs),
    ("tests.dbx_builder", "dbx", _dbx),
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
