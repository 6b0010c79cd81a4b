"""Telling list-manager files apart by their content, whatever survived beside them.

A list directory restored in part (an fml ``members`` and ``log`` without ``config.ph``, a
Majordomo ``Log`` without ``majordomo.cf``, a ``config.pck`` under another name) has no
sibling to name it: these tests read the first bytes instead.  Each is strict enough that a
mail message, an mbox or another manager's file never passes (mail starts with header
fields, these start with a header block, a time stamp or pickle opcodes).
"""

from __future__ import annotations

import functools
import os
import pickletools
import re

from ._common import peek

__all__ = [
    "SNIFF_BYTES",
    "ezmlm_log",
    "fml_log",
    "fml_member_file",
    "head",
    "kind_of",
    "mailman_pickle",
    "majordomo_log",
]

SNIFF_BYTES = 8192

_FML_LOG = re.compile(rb"^(?:\d\d|\d{4})/\d\d/\d\d \d\d:\d\d:\d\d \S")
_FML_STRONG = re.compile(
    rb"^(?:\d\d|\d{4})/\d\d/\d\d \d\d:\d\d:\d\d (?:Added: |(?:BYE|OFF|ON|CHADDR|MATOME)"
    rb" \[|(?:add|remove) \S+ (?:to|from) map=)"
)
_FML_ENTRY = re.compile(rb"^(?:##BYE\s+\S+@\S+|#\s+\S+@\S+|[^\s#@]+@[^\s@]+(?:\s+[rms]=\S*)*\s*)$")
_MAJORDOMO = re.compile(rb"^[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \S+ \S*majordomo\S*\[\d+\] \{[^}]*\} ")
_EZMLM = re.compile(rb"^\d{9,10} [+-]\S* \S+@\S+")
#: Attributes every Mailman 2 list pickle holds; three of them in the opening strings mark one.
_MAILMAN_NAMES = {
    "_internal_name",
    "host_name",
    "members",
    "digest_members",
    "user_options",
    "real_name",
    "web_page_url",
    "owner",
    "moderator",
    "delivery_status",
    "bounce_info",
    "data_version",
    "usernames",
    "passwords",
    "language",
}


#: Names no list manager gives its files: a walk over a million messages reads none of them here.
_NOT_LIST_SUFFIXES = {
    ".eml",
    ".emlx",
    ".msg",
    ".mbox",
    ".mbx",
    ".dbx",
    ".pst",
    ".ost",
    ".html",
    ".htm",
    ".pdf",
    ".jpg",
    ".png",
    ".gif",
    ".doc",
    ".xls",
    ".zip",
    ".msf",
    ".sqlite",
    ".db",
}


def head(path: str) -> bytes:
    """The first bytes of ``path`` for the tests below; '' for a name no list file has.  The
    four list plugins ask in turn: the bytes are read once per file version."""
    if os.path.splitext(path)[1].lower() in _NOT_LIST_SUFFIXES:
        return b""
    try:
        st = os.stat(path)
    except OSError:
        return b""
    return _head(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _head(path: str, mtime_ns: int, size: int) -> bytes:
    return peek(path, SNIFF_BYTES)


def _lines(head: bytes) -> list[bytes]:
    """The whole non-blank lines of a file's head (the last one may be cut short, so is left out)."""
    lines = head.split(b"\n")
    if len(lines) > 1:
        lines = lines[:-1]
    return [line.rstrip(b"\r") for line in lines if line.strip()]


def _mostly(lines: list[bytes], shape: re.Pattern[bytes], share: float = 0.8) -> bool:
    hits = sum(1 for line in lines if shape.match(line))
    return hits > 0 and hits >= share * len(lines)


def fml_member_file(head: bytes) -> bool:
    """An fml4 ``members`` / ``actives`` file: its ``#.FML HEADER`` block, or ``##BYE`` lines
    among plain entries."""
    if head.lstrip().startswith(b"#.FML HEADER"):
        return True
    lines = _lines(head)
    return any(line.startswith(b"##BYE") for line in lines) and _mostly(lines, _FML_ENTRY, 1.0)


def fml_log(head: bytes) -> bool:
    """An fml list ``log``: ``YY/MM/DD HH:MM:SS message`` lines, one of them a membership change."""
    lines = _lines(head)
    return _mostly(lines, _FML_LOG) and any(_FML_STRONG.match(line) for line in lines)


def majordomo_log(head: bytes) -> bool:
    """Majordomo's ``Log``: syslog-like stamps, then ``majordomo[pid] {requester} command``."""
    return _mostly(_lines(head), _MAJORDOMO)


def ezmlm_log(head: bytes) -> bool:
    """ezmlm's ``Log``: ``<epoch seconds> +|-<how> <address>`` lines."""
    return _mostly(_lines(head), _EZMLM)


def mailman_pickle(head: bytes) -> bool:
    """A Mailman 2 ``config.pck``: pickle opcodes whose first strings are Mailman's attribute names."""
    if head[:1] not in (b"}", b"(", b"\x80"):
        return False
    names: set[str] = set()
    try:
        for _, arg, _ in pickletools.genops(head):
            if isinstance(arg, (str, bytes)):
                text = arg.decode("latin-1") if isinstance(arg, bytes) else arg
                names.add(text)
            if len(names & _MAILMAN_NAMES) >= 3:
                return True
    except Exception:  # the head cuts the pickle short, or it is no pickle: judged on what was read
        pass
    return len(names & _MAILMAN_NAMES) >= 3


def kind_of(path: str) -> str:
    """Which list-manager file this is by content: ``fml-members``, ``fml-log``,
    ``majordomo-log``, ``ezmlm-log``, ``mailman2-config``, or '' when none."""
    data = head(path)
    for kind, test in (
        ("mailman2-config", mailman_pickle),
        ("fml-members", fml_member_file),
        ("fml-log", fml_log),
        ("majordomo-log", majordomo_log),
        ("ezmlm-log", ezmlm_log),
    ):
        if test(data):
            return kind
    return ""
