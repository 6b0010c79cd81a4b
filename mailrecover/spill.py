"""Sequences too long to hold in memory: written once to an unlinked temporary file, read back.

Used where a listing or a plan can grow with the mailbox (a Maildir ``cur/`` of a million
names, the order of a million messages to restore) but must be gone through in order.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections.abc import Generator, Iterable
from typing import IO, Any

__all__ = ["spilled"]


def spilled(
    items: Iterable[Any], directory: str | os.PathLike[str] | None = None
) -> Generator[Any, None, None]:
    """``items`` (strings, numbers, tuples of them) written out now, given back lazily in order.

    Everything is read from ``items`` before this returns, so a query they come from is
    finished.  The file (in ``directory``, else the system's temporary folder) has no name
    from the start and is closed when the reading ends or stops.
    """
    run = tempfile.TemporaryFile(dir=directory)
    try:
        for item in items:
            data = marshal.dumps(item)
            run.write(len(data).to_bytes(4, "little"))
            run.write(data)
        run.seek(0)
    except BaseException:
        run.close()
        raise
    return _read_back(run)


def _read_back(run: IO[bytes]) -> Generator[Any, None, None]:
    with run:  # each item read whole, then decoded: marshal.load on a file reads it in tiny pieces
        while size := run.read(4):
            yield marshal.loads(run.read(int.from_bytes(size, "little")))
