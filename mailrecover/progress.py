"""A one-line progress display on a terminal; silent in pipes and with -q."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from .clean import terminal_safe

__all__ = ["Progress"]


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr  # the stream of now, not of import time
        self.enabled = enabled and self.stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def show(self, text: str | Callable[[], str], force: bool = False) -> None:
        """Show ``text`` (or what it makes: called only when a line is due, as the line
        is asked for once per message or copy and shown a few times a second)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = terminal_safe(text if isinstance(text, str) else text())  # file names from sources
        width = 78
        line = text if len(text) <= width else "…" + text[-(width - 1) :]
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * 78 + "\r")
            self.stream.flush()
            self._shown = False
