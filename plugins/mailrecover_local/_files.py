"""Reading one whole message file without touching it."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from mailrecover.readonly import open_readonly

__all__ = ["read_message_file"]


def read_message_file(path: str) -> tuple[bytes, datetime]:
    """The file's bytes and its modification time (aware, UTC)."""
    fd = open_readonly(path)
    try:
        st = os.fstat(fd)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks), datetime.fromtimestamp(st.st_mtime, timezone.utc)
