"""One account's folder tree: mbox folder files or maildir folders, ``Name.sbd/`` for subfolders.

Thunderbird keeps its own state in the message header (``X-Mozilla-Status``,
``X-Mozilla-Status2``, ``X-Mozilla-Keys``); it becomes flags here and is removed from
the bytes handed on, together with ``X-Account-Key``, which only names the client's
account.  Expunged messages stay in an mbox file until it is compacted: they are kept,
marked deleted.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext
from mailrecover.pluginkit import (
    client_flags,
    file_name_text,
    from_line_date,
    header_fields,
    is_maildir,
    list_names,
    mapped,
    read_head,
    read_maildir,
    read_mbox,
    remove_fields,
)

__all__ = ["FolderTree", "is_folder_file", "read_mbox_folder", "read_tree"]

_IMAP_DELETED = 0x200000  # X-Mozilla-Status2: deleted on the IMAP server, not yet expunged
_CLIENT_EXTRA = {"x-account-key"}
_NOT_FOLDER_SUFFIXES = (
    ".msf",
    ".dat",
    ".html",
    ".htm",
    ".json",
    ".sqlite",
    ".sqlite-wal",
    ".sqlite-shm",
    ".log",
    ".bak",
    ".tmp",
    ".lock",
    ".mozlz4",
    ".js",
    ".txt",
    ".ini",
    ".xml",
    ".rdf",
)


@dataclass(frozen=True)
class FolderTree:
    """Where to read, the folder names it starts under, and whose mail it is."""

    directory: str
    prefix: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    maildir: bool = False  # the account uses the maildir store: plain files are not folders


def _client_state(raw: bytes) -> tuple[bytes, frozenset[Flag], bool, tuple[str, ...]]:
    """The message without Thunderbird's own fields, and the state they carried."""
    fields = header_fields(raw)
    mozilla = [(n, v) for n, v in fields if n.startswith("x-mozilla-")]
    flags, partial, keywords = client_flags(mozilla)
    if any(name == "x-mozilla-draft-info" for name, _ in mozilla):  # written only into drafts
        flags = flags | {Flag.DRAFT}
    for name, value in mozilla:
        if name == "x-mozilla-status2":
            try:
                if int(value.strip(), 16) & _IMAP_DELETED:
                    flags = flags | {Flag.DELETED}
            except ValueError:
                pass
    drop = {n for n, _ in mozilla} | (_CLIENT_EXTRA & {n for n, _ in fields})
    if drop:
        raw = remove_fields(raw, drop)
    return raw, flags, partial, keywords


def is_folder_file(path: str) -> bool:
    """Whether a file in an account tree may be an mbox folder (its content decides later)."""
    name = os.path.basename(path)
    if name.startswith(".") or name.lower().endswith(_NOT_FOLDER_SUFFIXES):
        return False
    return os.path.isfile(path) and not os.path.islink(path)


def read_mbox_folder(
    path: str, folder: str, hints: tuple[str, ...], context: ReadContext
) -> Iterator[Finding]:
    try:
        head = read_head(path, 4096)
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")
        return
    if not head.strip():
        return  # an empty folder
    try:
        with mapped(path) as data:
            try:
                entries = read_mbox(path, data, context)
                first = next(entries, None)  # junk in front of the first message is reported there
            except ValueError:
                if os.path.isfile(path + ".msf") or "." not in os.path.basename(path):  # named like a folder
                    reason = "not an mbox folder: no 'From ' line followed by a header"
                    yield Problem(ProblemKind.NOT_MAIL, path, "", reason)
                return  # some other file beside the folders
            for entry in itertools.chain([first] if first is not None else [], entries):
                if isinstance(entry, Problem):
                    yield entry
                    continue
                offset, sep, raw, cut_off = entry
                raw, flags, partial, keywords = _client_state(raw)
                yield Copy(
                    raw=raw,
                    folder=folder,
                    source=path,
                    position=str(offset),
                    flags=flags,
                    partial=partial or cut_off,
                    keywords=keywords,
                    account_hints=hints,
                    internal_date=from_line_date(sep),  # when Thunderbird filed it
                )
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")


def _read_maildir_folder(
    path: str, folder: str, hints: tuple[str, ...], context: ReadContext
) -> Iterator[Finding]:
    """A maildir-store folder: the Maildir reader's copies with Thunderbird's state taken out."""
    for found in read_maildir(path, replace(context, folder=folder)):
        if isinstance(found, Copy):
            raw = found.raw
            if raw.startswith(b"From "):  # a separator line, as some versions write it
                raw = raw[raw.find(b"\n") + 1 :] if b"\n" in raw else b""
            raw, flags, partial, keywords = _client_state(raw)
            found = replace(
                found,
                raw=raw,
                flags=found.flags | flags,
                partial=found.partial or partial,
                keywords=keywords,
                account_hints=hints,
            )
        yield found


def read_tree(tree: FolderTree, context: ReadContext) -> Iterator[Finding]:
    """Every folder under ``tree.directory``, named by its path with ``.sbd`` removed."""
    try:
        names = list_names(tree.directory)
    except OSError as e:
        yield Problem(ProblemKind.UNREADABLE, tree.directory, "", f"cannot list: {e.strerror or e}")
        return
    for name in names:
        path = os.path.join(tree.directory, name)
        if os.path.islink(path):
            continue
        label = file_name_text(name)
        if os.path.isdir(path):
            if name.endswith(".sbd"):
                sub = replace(tree, directory=path, prefix=(*tree.prefix, label[: -len(".sbd")]))
                yield from read_tree(sub, context)
            elif is_maildir(path):
                folder = "/".join((*tree.prefix, label))
                yield from _read_maildir_folder(path, folder, tree.hints, context)
            elif name.endswith(".mozmsgs"):  # one file per message of a folder read here
                context.leave(path, "Thunderbird's copies for Windows Search of a folder read as mbox")
        elif not tree.maildir and is_folder_file(path):
            yield from read_mbox_folder(path, "/".join((*tree.prefix, label)), tree.hints, context)
