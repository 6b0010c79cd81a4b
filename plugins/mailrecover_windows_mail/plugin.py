"""The ``windows-live-mail`` plugin: Windows Live Mail and Windows Mail (Vista) stores.

Both keep one ``.eml`` file per message in one directory per folder:
``…\\Windows Live Mail\\<account>\\<folder>[\\<subfolder>…]\\*.eml`` and
``…\\Windows Mail\\Local Folders\\<folder>\\*.eml``; the account directory is not part of
the folder name.  Account addresses come from the ``*.oeaccount`` settings files.

What this plugin cannot tell: read, replied and flagged state, and which folder a
message was really shown in, live only in the client's ESE database
(``Mail.MSMessageStore``), which is not read.  Copies come without flags and their
received time is the file's modification time.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    enclosing,
    existing_dirs,
    file_name_text,
    header_fields,
    list_names,
    local_dir,
    read_head,
    read_message_file,
    sorted_names,
    subdirs,
    tree_size,
    windows_local,
)

__all__ = ["WindowsMailPlugin", "oeaccount_addresses"]

_ROOT_NAMES = {"windows live mail", "windows mail"}
#: The client names its folders in the user's language; the inbox must still be INBOX.
_INBOX_NAMES = {"受信トレイ": "INBOX"}
_NOT_MAIL_DIRS = {"backup", "stationery", "contacts", "calendars", "feeds"}
_ADDRESS = re.compile(r"<(?:SMTP|POP3|IMAP|HTTPMail)_(?:Email_Address|User_Name)[^>]*>([^<]+@[^<]+)<", re.I)
_MAX_SETTINGS = 1 << 20


def _text(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    if len(data) > 1 and data[1:2] == b"\x00":
        return data.decode("utf-16-le", "replace")
    return data.decode("utf-8", "replace")


def oeaccount_addresses(directory: str) -> tuple[str, ...]:
    """The mail addresses named by the ``*.oeaccount`` files directly in ``directory``."""
    found: list[str] = []
    try:
        names = sorted(n for n in list_names(directory) if n.lower().endswith(".oeaccount"))
    except OSError:
        return ()
    for name in names:
        try:
            text = _text(read_head(os.path.join(directory, name), _MAX_SETTINGS))
        except OSError:
            continue
        found += [m.group(1).strip().lower() for m in _ADDRESS.finditer(text)]
    return tuple(dict.fromkeys(found))


def _is_root(path: str) -> bool:
    if os.path.basename(os.path.normpath(path)).lower() in _ROOT_NAMES:
        return True
    try:
        st = os.stat(path)
    except OSError:
        return False
    return _holds_store(path, st.st_ino, st.st_mtime_ns)


# Detection looks at every folder above a location: the parent of a thousand accounts' folders
# is listed once per process (until it changes), not once per account.
@functools.lru_cache(maxsize=4096)
def _holds_store(path: str, _inode: int, _changed: int) -> bool:
    try:
        return any(n.lower().endswith(".msmessagestore") for n in list_names(path))
    except OSError:
        return False


def _all_addresses(root: str) -> tuple[str, ...]:
    found = list(oeaccount_addresses(root))
    for directory in subdirs(root):
        found += oeaccount_addresses(directory)
    return tuple(dict.fromkeys(found))


def _under_root(path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """For a folder inside a store: the store root, the account folder and the folder names."""
    placed = enclosing(path, _is_root)
    if placed is None or not placed[1]:
        return None
    root, names = placed
    return root, os.path.join(root, names[0]), tuple(file_name_text(n) for n in names[1:])


class WindowsMailPlugin:
    name = "windows-live-mail"
    description = (
        "Windows Live Mail and Windows Mail (Vista) .eml folders; "
        "flags are in the client's ESE database, which is not read: copies come without flags"
    )

    def detect(self, location: str) -> int:
        if not local_dir(location):
            return 0
        if _is_root(location):
            return 95
        if oeaccount_addresses(location):
            return 90
        placed = _under_root(location)
        return 90 if placed else 0

    def discover(self) -> Iterable[Store]:
        base = windows_local() / "Microsoft"
        for root in existing_dirs([base / "Windows Live Mail", base / "Windows Mail"]):
            yield Store(self.name, str(root), tree_size(root), _all_addresses(str(root)))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if not os.path.isdir(location):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such folder")
            return
        if _is_root(location):
            everyone = _all_addresses(location)
            for path in subdirs(location):
                if os.path.basename(path).lower() in _NOT_MAIL_DIRS:
                    context.leave(path, "Windows Mail's own backup, stationery, contacts or feeds: not read")
                else:
                    yield from self._read_folder(path, (), oeaccount_addresses(path) or everyone, context)
        elif placed := _under_root(location):
            root, account, names = placed
            hints = oeaccount_addresses(account) or _all_addresses(root)
            yield from self._read_folder(location, names, hints, context)
        else:
            yield from self._read_folder(
                location, (), oeaccount_addresses(location), context, default=context.folder
            )

    def _read_folder(
        self,
        directory: str,
        names: tuple[str, ...],
        hints: tuple[str, ...],
        context: ReadContext,
        default: str = "INBOX",
    ) -> Iterator[Finding]:
        try:
            entries = sorted_names(directory)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, directory, "", f"cannot list: {e.strerror or e}")
            return
        folder = "/".join(_INBOX_NAMES.get(n, n) if i == 0 else n for i, n in enumerate(names)) or default
        for entry in entries:
            path = os.path.join(directory, entry)
            if entry.lower().endswith(".eml") and os.path.isfile(path) and not os.path.islink(path):
                yield from self._read_eml(path, folder, hints, context)
        for path in subdirs(directory):
            sub = (*names, file_name_text(os.path.basename(path)))
            yield from self._read_folder(path, sub, hints, context, default)

    def _read_eml(
        self, path: str, folder: str, hints: tuple[str, ...], context: ReadContext
    ) -> Iterator[Finding]:
        try:
            raw, saved = read_message_file(path)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")
            return
        context.advance(len(raw))
        if not header_fields(raw):
            yield Problem(ProblemKind.NOT_MAIL, path, "", "no message header found")
            return
        yield Copy(raw=raw, folder=folder, source=path, position="", account_hints=hints, file_time=saved)
