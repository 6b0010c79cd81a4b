"""A one-line progress display on a terminal; silent in pipes and with -q."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, enabled: bool, stream: TextIO = sys.stderr, interval: float = 0.2) -> None:
        self.enabled = enabled and stream.isatty()
        self.stream = stream
        self.interval = interval
        self._last = 0.0
        self._shown = False

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
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
