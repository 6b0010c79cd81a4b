"""Telling one message from an mbox or any other file by its first bytes, whatever its name.

Part of the plugin kit (``mailrecover.pluginkit``): the eml and maildir readers use it.
"""

from __future__ import annotations

import os

from .mboxsplit import looks_like_headers, mbox_start, one_message_name
from .readonly import read_head
from .rfc822 import header_end

__all__ = ["BY_CONTENT", "SNIFF_BYTES", "file_score", "first_line", "looks_like_message", "message_score"]

SNIFF_BYTES = 32 << 10  # enough for the header block of nearly every message
BY_CONTENT = 70  # a header block of mail fields: above mbox's guess for an extensionless file
_DOUBTFUL = 5  # a header block whose body holds mbox separators: mbox's, unless no one else reads it


def first_line(head: bytes) -> int:
    """Where the first line that is not blank starts (some exporters put empty lines in front)."""
    at = 0
    while (nl := head.find(b"\n", at)) >= 0 and not head[at:nl].strip():
        at = nl + 1
    return at


def message_score(head: bytes) -> int:
    """How surely ``head`` (a file's first bytes) is one message without a From_ line."""
    at = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    at += first_line(head[at:])
    if head.startswith(b"From ", at) or not looks_like_headers(head, at, min_fields=2, min_known=2):
        return 0
    body = at + header_end(head[at:])
    if body >= len(head):
        return BY_CONTENT  # a header block longer than what was read
    try:
        first = mbox_start(head[body:])
    except ValueError:
        return BY_CONTENT
    # the "header" right before a From_ line was junk in front of an mbox; From_ lines deeper
    # in the body are left to mbox, which keeps what stands before them as a message too
    return 0 if not head[body : body + first].strip() else _DOUBTFUL


def file_score(path: str) -> int:
    """``message_score`` of a file; a From_ line in front counts only where the file's name
    says it holds one message (``05:2,S``): elsewhere such a file is an mbox."""
    try:
        head = read_head(path, SNIFF_BYTES)
    except OSError:
        return 0
    if head.startswith(b"From ") and one_message_name(os.path.basename(path)):
        head = head[head.find(b"\n") + 1 :] if b"\n" in head else b""
    return message_score(head)


def looks_like_message(path: str) -> bool:
    """Whether the file at ``path`` is one message (by its content, or its name and content)."""
    return file_score(path) >= BY_CONTENT
