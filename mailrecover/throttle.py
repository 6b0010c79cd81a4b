"""A cap on bytes per second shared by several connections (``restore --max-rate``).

Providers that throttle (or suspend) an account for uploading too fast count its bytes over
all of its connections; so does this token bucket: every upload connection takes from the one
bucket before it sends, and waits until the bytes it took are earned.  The bucket starts empty
and holds at most ``burst`` bytes (one second's worth unless told), so over any run the
average stays at or below the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import UsageError
from .limits import parse_size

__all__ = ["Throttle", "parse_rate"]


def parse_rate(text: str) -> int:
    """``--max-rate`` as bytes per second: ``500K``, ``2M``, ``100000`` (``/s`` may follow)."""
    value = parse_size(text.strip().removesuffix("/s"))
    if value is None:
        raise UsageError(
            f"--max-rate {text!r}: expected bytes per second, a whole number with K, M or G "
            "(powers of 1024), e.g. 500K or 2M"
        )
    return value


class Throttle:
    """A token bucket of ``rate`` bytes per second; ``clock`` and ``sleep`` are injectable so
    its arithmetic can be tested without waiting."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = float(rate)
        self.burst = float(rate if burst is None else burst)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = 0.0  # below zero: bytes taken ahead of the rate, still to be waited for
        self._last = clock()

    def reserve(self, nbytes: int) -> float:
        """Take ``nbytes`` now; how many seconds the caller must wait before sending them.

        Reservations queue up: a second connection taking right after the first waits for both.
        """
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= nbytes
            return max(0.0, -self._tokens / self.rate)

    def take(self, nbytes: int) -> None:
        """Wait until ``nbytes`` may be sent (the wait happens outside the lock)."""
        wait = self.reserve(nbytes)
        if wait > 0:
            self._sleep(wait)
