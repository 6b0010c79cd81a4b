"""Handing freed memory back to the system during long runs.

Reading a million copies allocates and frees message-sized buffers all the time; glibc's
allocator keeps much of what is freed in the middle of its heap, so a long gather's main
process grew by about 10 MB every four minutes (measured on the 1M benchmark corpus) although
nothing stayed referenced.  ``give_back`` asks the allocator to return whole free pages.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["give_back"]


def _find_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the C library already loaded
        return trim
    except (OSError, AttributeError):  # another C library (musl has no malloc_trim)
        return None


_trim = _find_trim()


def give_back() -> None:
    """Return the allocator's free pages to the system (glibc); elsewhere nothing."""
    if _trim is not None:
        _trim(0)
