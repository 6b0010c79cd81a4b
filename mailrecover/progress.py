"""A one-line progress display on a terminal; silent in pipes and with -q.

Kept on the standard library rather than a progress-bar package: one line of done / total,
rate and time left is all it draws, and a rescue machine may have to install mailrecover
without reaching a package index.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from .clean import terminal_safe

__all__ = ["Progress", "progress_line"]


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def progress_line(
    what: str, done: int, total: int | None, elapsed: float, amount: Callable[[int], str], detail: str = ""
) -> str:
    """``gather: 12.0 MB of 47.0 MB (26%), 3.1 MB/s, about 0:11 left  INBOX``: done against
    the total counted first, the rate so far and the time left at that rate; without a
    total (an IMAP account), what is done and the rate."""
    parts = [f"{what}: {amount(done)}"]
    if total:
        parts[0] += f" of {amount(total)} ({min(100, 100 * done // total)}%)"
    if elapsed >= 1 and done:
        rate = done / elapsed
        parts.append(f"{amount(int(rate))}/s")
        if total and total > done:
            parts.append(f"about {_clock((total - done) / rate)} left")
    return ", ".join(parts) + (f"  {detail}" if detail else "")


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr  # the stream of now, not of import time
        self.enabled = enabled and self.stream.isatty()
        self.interval = interval
        self.total: int | None = None  # the work counted first, when it was cheap to count
        self._started = time.monotonic()
        self._last = 0.0
        self._shown = False
        self._width = 78

    def line(self, what: str, done: int, amount: Callable[[int], str], detail: str = "") -> str:
        """The progress line for ``done`` of ``total`` now (``progress_line``)."""
        return progress_line(what, done, self.total, time.monotonic() - self._started, amount, detail)

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
        width = self._width = max(40, shutil.get_terminal_size().columns - 1)
        line = text if len(text) <= width else text[: width - 1] + "…"  # the counts first, the name cut
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._shown = False
