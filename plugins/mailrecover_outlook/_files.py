"""What the Microsoft-store plugins share about the files they are handed."""

from __future__ import annotations

import os

from mailrecover.readonly import read_head

__all__ = ["file_head"]


def file_head(location: str, size: int) -> bytes | None:
    """The first ``size`` bytes of a local file; None for URLs, directories, unreadable files."""
    if "://" in location or not os.path.isfile(location):
        return None
    try:
        return read_head(location, size)
    except OSError:
        return None
