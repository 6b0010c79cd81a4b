"""The ``apple-mail`` plugin: Apple Mail's ``.emlx`` files anywhere under a folder."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    existing_dirs,
    file_name_text,
    is_url,
    list_names,
    mac_library,
    subdirs,
    tree_size,
)

from .emlx import parse_emlx, restore_parts

__all__ = ["AppleMailPlugin"]

_VERSION_DIR = re.compile(r"^V\d+$")


def _is_emlx(name: str) -> bool:
    return name.endswith(".emlx") and not name.startswith(".")


def _folder_of(path: str, default: str) -> str:
    """The mailbox a message file is in: the ``.mbox`` folder names on its path."""
    parts = os.path.dirname(os.path.abspath(path)).split(os.sep)
    boxes = [file_name_text(p)[: -len(".mbox")] for p in parts if p.endswith(".mbox")]
    return "/".join(boxes) if boxes else default


def _is_box(path: str) -> bool:
    """An Apple Mail mailbox: ``Name.mbox`` with ``Messages/``, ``Info.plist`` or ``<id>/Data/``
    (a mailing-list archive's ``list.mbox/`` folder is not one)."""
    if not os.path.basename(os.path.normpath(path)).endswith(".mbox"):
        return False
    if os.path.isdir(os.path.join(path, "Messages")) or os.path.isfile(os.path.join(path, "Info.plist")):
        return True
    return any(os.path.isdir(os.path.join(d, "Data")) for d in subdirs(path))


def _holds_boxes(path: str) -> bool:
    """An account folder, or ``Mailboxes/``: mailboxes directly inside."""
    return any(_is_box(d) for d in subdirs(path))


def _is_version_dir(path: str) -> bool:
    """``~/Library/Mail/V10`` and its kind."""
    if not _VERSION_DIR.match(os.path.basename(os.path.normpath(path))):
        return False
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return parent == "Mail" or any(_holds_boxes(d) for d in subdirs(path))


def _is_mail_dir(path: str) -> bool:
    """``~/Library/Mail`` itself, in any version, or from before versions were numbered."""
    if os.path.basename(os.path.normpath(path)) != "Mail":
        return False
    return any(_is_version_dir(d) or _holds_boxes(d) for d in subdirs(path))


def _attachments_dir(path: str) -> str:
    """``…/Messages/123.partial.emlx`` keeps its parts in ``…/Attachments/123``."""
    ident = os.path.basename(path).split(".", 1)[0]
    return os.path.join(os.path.dirname(os.path.dirname(path)), "Attachments", ident)


class AppleMailPlugin:
    name = "apple-mail"
    description = (
        "Apple Mail .emlx and .partial.emlx files (~/Library/Mail/V*), flags from the plist, "
        "left-out attachments put back from Attachments/"
    )

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isfile(location):
            return 90 if _is_emlx(os.path.basename(location)) else 0
        if not os.path.isdir(location):
            return 0
        if _is_version_dir(location) or _is_box(location) or _is_mail_dir(location):
            return 90
        if _holds_boxes(location):
            return 85
        messages = location if os.path.basename(os.path.normpath(location)) == "Messages" else None
        if messages is None and os.path.isdir(os.path.join(location, "Messages")):
            messages = os.path.join(location, "Messages")
        try:
            return 85 if messages and any(_is_emlx(n) for n in list_names(messages)) else 0
        except OSError:
            return 0

    def discover(self) -> Iterable[Store]:
        for mail in existing_dirs([mac_library() / "Mail"]):
            versions = [d for d in subdirs(mail) if _is_version_dir(d)]
            if not versions and _is_mail_dir(str(mail)):
                versions = [str(mail)]  # Mail before Lion keeps its accounts right here
            for path in versions:
                yield Store(self.name, path, tree_size(path))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if os.path.isfile(location):
            yield from self._read_file(location, _folder_of(location, context.folder), context)
            return
        if not os.path.isdir(location):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such file or folder")
            return
        errors: list[OSError] = []
        for root, dirs, files in os.walk(location, onerror=errors.append):
            if "Attachments" in dirs:  # read with the partial messages they belong to, not as mail
                dirs.remove("Attachments")
                kept_apart = os.path.join(root, "Attachments")
                context.leave(kept_apart, "Apple Mail's attachments kept apart from their messages")
            dirs.sort()
            for name in sorted(files):
                if _is_emlx(name):
                    path = os.path.join(root, name)
                    yield from self._read_file(path, _folder_of(path, context.folder), context)
            for e in errors:
                yield Problem(
                    ProblemKind.UNREADABLE, str(e.filename or location), "", f"cannot list: {e.strerror or e}"
                )
            errors.clear()

    def _read_file(self, path: str, folder: str, context: ReadContext) -> Iterator[Finding]:
        try:
            emlx = parse_emlx(path)
        except OSError as e:
            yield Problem(ProblemKind.UNREADABLE, path, "", f"cannot read: {e.strerror or e}")
            return
        except ValueError as e:
            yield Problem(ProblemKind.NOT_MAIL, path, "", f"not an emlx file: {e}")
            return
        context.advance(len(emlx.message))
        for reason in emlx.problems:
            yield Problem(ProblemKind.DAMAGED, path, "", reason)
        raw, partial = emlx.message, emlx.cut_off
        if emlx.cut_off:
            yield Problem(
                ProblemKind.TRUNCATED, path, "", "message shorter than its length line; kept as found"
            )
        if path.endswith(".partial.emlx"):
            try:
                raw, missing = restore_parts(raw, _attachments_dir(path))
            except OSError as e:
                missing = [f"? ({e.strerror or e})"]
            if missing:
                partial = True
                yield Problem(
                    ProblemKind.DAMAGED,
                    path,
                    "",
                    f"attachment part(s) {', '.join(missing)} not in Attachments/; kept without them",
                )
        yield Copy(
            raw=raw,
            folder=folder,
            source=path,
            position="",
            flags=emlx.flags,
            internal_date=emlx.received,
            partial=partial,
        )
