"""The shared token bucket behind ``restore --max-rate``: its arithmetic on an injected clock
(no test here waits or times anything), and the rate's spelling."""

from __future__ import annotations

import random

import pytest

from mailrecover.errors import UsageError
from mailrecover.throttle import Throttle, parse_rate


class _Clock:
    """Time that passes only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _bucket(rate: float, **kw: float) -> tuple[Throttle, _Clock]:
    clock = _Clock()
    return Throttle(rate, clock=clock, sleep=clock.sleep, **kw), clock


def test_it_starts_empty_so_the_first_bytes_wait_their_time() -> None:
    bucket, clock = _bucket(1000)
    bucket.take(500)
    assert clock.slept == [0.5]
    bucket.take(1500)
    assert clock.slept == [0.5, 1.5] and clock.now == 1002.0


def test_connections_taking_at_once_queue_behind_each_other() -> None:
    bucket, clock = _bucket(1000)
    # three upload connections reserve at the same instant: each waits for all before it
    assert [bucket.reserve(1000) for _ in range(3)] == [1.0, 2.0, 3.0]
    clock.now += 3.0  # all three have sent; the bucket is empty again, not in credit
    assert bucket.reserve(1000) == 1.0


def test_idle_time_earns_at_most_one_burst() -> None:
    bucket, clock = _bucket(1000)
    clock.now += 3600  # an hour of nothing (a slow folder scan) earns one second's worth only
    assert bucket.reserve(1000) == 0.0
    assert bucket.reserve(1000) == 1.0
    bucket, clock = _bucket(1000, burst=4000)
    clock.now += 60
    assert bucket.reserve(3000) == 0.0 and bucket.reserve(2000) == 1.0


def test_a_message_larger_than_a_burst_waits_its_whole_time() -> None:
    bucket, clock = _bucket(1000)
    clock.now += 10
    assert bucket.reserve(5000) == 4.0  # one second's worth was there; four more to earn


def test_over_a_run_the_average_never_exceeds_the_rate() -> None:
    rng = random.Random(7)
    bucket, clock = _bucket(64 * 1024)
    start, sent = clock.now, 0
    for _ in range(2000):
        size = rng.choice([300, 2_000, 40_000, 900_000])
        bucket.take(size)
        sent += size
        assert sent <= 64 * 1024 * (clock.now - start) + 1e-6  # by the time each batch goes out
        clock.now += rng.choice([0.0, 0.0, 0.01, 2.0])  # the server's answer, a pause
    assert sent / (clock.now - start) <= 64 * 1024


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Throttle(0)


@pytest.mark.parametrize(
    "text, rate",
    [
        ("100000", 100_000),
        ("500K", 500 * 1024),
        ("2M", 2 << 20),
        ("2m", 2 << 20),
        ("1G", 1 << 30),
        ("64KiB/s", 65536),
    ],
)
def test_rates_are_written_with_k_and_m(text: str, rate: int) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "0", "-5K", "1.5M", "2T", "K"])
def test_a_bad_rate_is_refused_with_what_is_expected(text: str) -> None:
    with pytest.raises(UsageError, match=r"--max-rate .*expected bytes per second.*500K or 2M"):
        parse_rate(text)
