"""The ``becky`` plugin: Becky! Internet Mail data folders, mailboxes and ``.bmf`` files.

Layout: a data folder (``Documents\\Becky`` or ``C:\\Becky!\\<user>``) lists its mailboxes
in ``Folder.lst``; each mailbox (``xxxxxxxx.mb``) has ``Mailbox.ini`` (``[Account]``
``MailAddress=`` tells whose it is) and a folder tree: ``!!!!Inbox``, ``!!!!Outbox``
(sent mail), ``!!!!Unsent``, ``!Trash`` and the user's own folders, nested as
directories, each holding ``*.bmf`` files.  Directories starting with ``#`` hold no mail.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    documents,
    enclosing,
    existing_dirs,
    file_name_text,
    header_fields,
    is_url,
    list_names,
    mapped,
    subdirs,
    tree_size,
)

from .bmf import put_attachments, read_ini, split_bmf

__all__ = ["BeckyPlugin", "folder_name"]

_SPECIAL = {"!!!!inbox": "INBOX", "!!!!outbox": "Sent", "!!!!unsent": "Unsent", "!trash": "Trash"}


def folder_name(directory: str) -> str:
    """The folder a Becky! directory stands for: special names mapped, sort marks removed."""
    name = file_name_text(directory)
    return _SPECIAL.get(name.lower(), name.lstrip("!") or name)


def _is_mailbox(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "Mailbox.ini"))


def _mailboxes(root: str) -> list[str]:
    return [d for d in subdirs(root) if _is_mailbox(d)]


def _has_bmf(path: str) -> bool:
    try:
        return any(n.lower().endswith(".bmf") for n in list_names(path))
    except OSError:
        return False


def _addresses(mailbox: str) -> tuple[str, ...]:
    try:
        account = read_ini(os.path.join(mailbox, "Mailbox.ini")).get("account", {})
    except OSError:
        return ()
    address = account.get("mailaddress", "").strip().lower()
    return (address,) if "@" in address else ()


def _becky_roots() -> list[str]:
    roots = [d / "Becky" for d in documents()]
    if os.name == "nt":
        roots.append(Path(os.environ.get("SystemDrive", "C:") + "\\") / "Becky!")
    found: list[str] = []
    for root in existing_dirs(roots):
        found += [str(root), *(d for d in subdirs(root) if _mailboxes(d))]
    return found


class BeckyPlugin:
    name = "becky"
    description = "Becky! Internet Mail data folders, mailboxes (*.mb) and .bmf folder files"

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isfile(location):
            return 90 if location.lower().endswith(".bmf") else 0
        if not os.path.isdir(location):
            return 0
        if _is_mailbox(location) or _mailboxes(location):
            return 95
        return 85 if _has_bmf(location) else 0

    def discover(self) -> Iterable[Store]:
        for root in _becky_roots():
            for mailbox in _mailboxes(root):
                yield Store(self.name, mailbox, tree_size(mailbox), _addresses(mailbox))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if not os.path.exists(location):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such file or folder")
            return
        if not os.path.isfile(location) and (_is_mailbox(location) or _mailboxes(location)):
            for mailbox in [location] if _is_mailbox(location) else _mailboxes(location):
                yield from self._read_tree(mailbox, (), _addresses(mailbox), context)
            return
        directory = location if os.path.isdir(location) else os.path.dirname(os.path.abspath(location))
        placed = enclosing(directory, _is_mailbox)
        if placed is not None:
            mailbox, names = placed
            folders = tuple(folder_name(n) for n in names) or ("INBOX",)
            hints = _addresses(mailbox)
        else:
            folders, hints = (context.folder,), ()
        if os.path.isfile(location):
            yield from self._read_bmf(location, "/".join(folders), hints, context)
        else:
            yield from self._read_tree(location, folders, hints, context, here=True)

    def _read_tree(
        self,
        directory: str,
        prefix: tuple[str, ...],
        hints: tuple[str, ...],
        context: ReadContext,
        here: bool = False,
    ) -> Iterator[Finding]:
        """Every folder under ``directory``; ``here``: the directory is itself a folder."""
        if here:
            try:
                names = sorted(n for n in list_names(directory) if n.lower().endswith(".bmf"))
            except OSError as e:
                yield Problem(ProblemKind.UNREADABLE, directory, "", f"cannot list: {e.strerror or e}")
                return
            for name in names:
                yield from self._read_bmf(os.path.join(directory, name), "/".join(prefix), hints, context)
        for path in subdirs(directory):
            name = os.path.basename(path)
            if name.startswith("#"):  # #Attach is read with its messages; #Templates is no mail
                context.leave(path, "a Becky! '#' folder (templates, attachments): not mail of its own")
            else:
                yield from self._read_tree(path, (*prefix, folder_name(name)), hints, context, here=True)

    def _read_bmf(
        self, path: str, folder: str, hints: tuple[str, ...], context: ReadContext
    ) -> Iterator[Finding]:
        attach_dir = os.path.join(os.path.dirname(path), "#Attach")
        try:
            with mapped(path) as data:
                done = 0
                for message in split_bmf(data):
                    context.advance(message.offset - done)
                    done = message.offset
                    position = str(message.offset)
                    if not header_fields(message.raw):
                        yield Problem(ProblemKind.NOT_MAIL, path, position, "no message header found")
                        continue
                    raw, missing = put_attachments(message.raw, attach_dir)
                    if missing:
                        reason = f"attachment file(s) missing from #Attach: {', '.join(missing)}"
                        yield Problem(ProblemKind.DAMAGED, path, position, reason)
                    if message.cut_off:
                        reason = "file ends before the message's closing '.'; kept as found"
                        yield Problem(ProblemKind.TRUNCATED, path, position, reason)
                    yield Copy(
                        raw=raw,
                        folder=folder,
                        source=path,
                        position=position,
                        flags=message.flags,
                        partial=message.cut_off or bool(missing),
                        account_hints=hints,
                    )
                context.advance(len(data) - done)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")
