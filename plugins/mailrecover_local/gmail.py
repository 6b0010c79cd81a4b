"""Google Takeout's Gmail export: one mbox whose messages carry ``X-Gmail-Labels``.

Gmail has labels, not folders: a message labelled ``Inbox,Work/Clients,Important`` is one
message seen in two places.  It is filed once, in its most specific folder (Trash and Spam
first, as Gmail shows such mail nowhere else; then Drafts, the deepest user label, Sent,
Inbox, Chats; ``Archive`` for mail with none of these), and its other labels are kept as
keywords so that nothing Gmail knew is lost.  ``Opened``/``Unread`` and ``Starred`` are
flags; ``Important``, ``Archived`` and ``Category …`` labels are never folders.
The file is recognised by its content, whatever Takeout (or the user) named it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Flag, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    Buffer,
    decode_header_value,
    documents,
    existing_dirs,
    from_line_date,
    header_end,
    header_fields,
    home,
    mapped,
    mbox_start,
    read_head,
    read_mbox,
    remove_fields,
)

__all__ = ["GmailTakeoutPlugin", "file_labels", "label_folders", "parse_labels"]

_SNIFF_BYTES = 64 << 10
_LABEL_FIELDS = {"x-gmail-labels"}  # turned into folder, flags and keywords: state, not mail

#: System labels that are folders of their own, by Gmail's spelling (lower-case).
_SPECIAL = {
    "inbox": "INBOX",
    "sent": "Sent",
    "draft": "Drafts",
    "drafts": "Drafts",
    "trash": "Trash",
    "spam": "Spam",
    "chat": "Chats",
}
#: The order in which a folder is chosen among a message's labels (user labels at "user").
_PRECEDENCE = ("Trash", "Spam", "Drafts", "user", "Sent", "INBOX", "Chats")
#: Labels that say state, never a place.
_NOT_FOLDERS = {"opened", "unread", "starred", "important", "archived"}
#: Labels fully carried by a flag: not kept again as keywords.
_AS_FLAGS = {"opened", "unread", "starred"}


def parse_labels(value: bytes) -> list[str]:
    """The labels of an ``X-Gmail-Labels`` value, in order: comma-separated, a label
    holding a comma in double quotes (``Inbox,"Clients, old"``), encoded words decoded."""
    text = decode_header_value(value)
    labels: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            labels.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    labels.append("".join(current).strip())
    return [label for label in labels if label]


def file_labels(labels: list[str]) -> tuple[str, frozenset[Flag], tuple[str, ...]]:
    """The folder a message with these labels is filed in, its flags, and the labels
    kept beside the folder as keywords."""
    folders: dict[str, str] = {}  # precedence slot -> (label that fills it)
    user: list[str] = []
    flags: set[Flag] = set()
    lowered = {label.casefold() for label in labels}
    if "unread" not in lowered:
        flags.add(Flag.SEEN)  # older exports mark only unread mail; newer ones say Opened too
    if "starred" in lowered:
        flags.add(Flag.FLAGGED)
    for label in labels:
        key = label.casefold()
        if key in ("draft", "drafts"):
            flags.add(Flag.DRAFT)
        if key in _SPECIAL:
            folders.setdefault(_SPECIAL[key], label)
        elif key not in _NOT_FOLDERS and not key.startswith("category "):
            user.append(label)
    if user:  # the deepest user label, the first of equals: the most specific place
        folders["user"] = max(user, key=lambda label: (label.count("/"), -user.index(label)))
    slot = next((s for s in _PRECEDENCE if s in folders), None)
    chosen = folders[slot] if slot is not None else None
    folder = "Archive" if slot is None else folders[slot] if slot == "user" else slot
    kept = tuple(label for label in labels if label != chosen and label.casefold() not in _AS_FLAGS)
    return folder, frozenset(flags), kept


def label_folders(labels: list[str], folder: str) -> tuple[str, ...]:
    """The folders other than ``folder`` that these labels also put a message in (Inbox, Sent,
    user labels…; never a state label): where a restore to Gmail labels it too."""
    places = []
    for label in labels:
        key = label.casefold()
        if key in _SPECIAL:
            places.append(_SPECIAL[key])
        elif key not in _NOT_FOLDERS and not key.startswith("category "):
            places.append(label)
    return tuple(dict.fromkeys(p for p in places if p != folder))


def _is_takeout(head: Buffer) -> bool:
    """Whether the first message of an mbox buffer carries Gmail's label field."""
    try:
        start = mbox_start(head)
    except ValueError:
        return False
    nl = head.find(b"\n", start)
    if nl < 0:
        return False
    block = bytes(head[nl + 1 : nl + 1 + _SNIFF_BYTES])
    names = {name for name, _ in header_fields(block[: header_end(block)])}
    return "x-gmail-labels" in names or "x-gm-thrid" in names


class GmailTakeoutPlugin:
    name = "gmail-takeout"
    description = "Gmail exported by Google Takeout: one mbox whose labels become folders and flags"

    def detect(self, location: str) -> int:
        if "://" in location or not os.path.isfile(location):
            return 0
        try:
            head = read_head(location, _SNIFF_BYTES)
        except OSError:
            return 0
        return 95 if _is_takeout(head) else 0  # above mbox's 90 for any From_ line

    def discover(self) -> Iterable[Store]:
        # Takeout arrives as takeout-*.zip, unpacked where browsers save: Downloads, Documents,
        # Desktop, on every system alike; the mbox sits in Takeout/<localised "Mail">/.
        roots = [home() / "Downloads", home() / "Desktop", *documents()]
        for root in existing_dirs(roots):
            for takeout in sorted(root.glob("Takeout*")):
                for path in sorted(takeout.glob("*/*.mbox")):
                    if self.detect(str(path)) >= 50:
                        yield Store(self.name, str(path), path.stat().st_size)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            with mapped(location) as data:
                yield from self._read(location, data, context)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, location, "", f"cannot read: {e.strerror or e}")

    def _read(self, location: str, data: Buffer, context: ReadContext) -> Iterator[Finding]:
        try:
            for entry in read_mbox(location, data, context):
                if isinstance(entry, Problem):
                    yield entry
                    continue
                offset, sep, raw, cut_off = entry
                labels = [
                    label
                    for name, value in header_fields(raw)
                    if name == "x-gmail-labels"
                    for label in parse_labels(value)
                ]
                folder, flags, keywords = file_labels(labels)
                yield Copy(
                    raw=remove_fields(raw, _LABEL_FIELDS),
                    folder=folder,
                    source=location,
                    position=str(offset),
                    flags=flags,
                    partial=cut_off,
                    keywords=keywords,
                    labels=label_folders(labels, folder),
                    internal_date=from_line_date(sep),
                )
        except ValueError as e:
            yield Problem(ProblemKind.NOT_MAIL, location, "", f"not a Gmail Takeout mbox: {e}")
