"""What the Microsoft-store plugins share about the files they are handed."""

from __future__ import annotations

import os
from typing import BinaryIO

from mailrecover.model import Problem, ProblemKind
from mailrecover.readonly import open_readonly, read_head

__all__ = ["file_head", "open_source"]


def file_head(location: str, size: int) -> bytes | None:
    """The first ``size`` bytes of a local file; None for URLs, directories, unreadable files."""
    if "://" in location or not os.path.isfile(location):
        return None
    try:
        return read_head(location, size)
    except OSError:
        return None


def open_source(location: str) -> BinaryIO | Problem:
    """The file opened read-only (no atime change where allowed), or the problem that stopped it."""
    try:
        fd = open_readonly(location)
    except OSError as e:
        return Problem(ProblemKind.UNREADABLE, location, "", f"cannot open: {e.strerror or e}")
    return os.fdopen(fd, "rb")
