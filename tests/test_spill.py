"""Spilled sequences come back whole and in order, whatever their items."""

from __future__ import annotations

from mailrecover.spill import spilled


def test_items_come_back_in_order_with_their_types(tmp_path):
    items = [
        ("key", "INBOX/Sub", None, 3, 2.5, b"\x00\xff"),
        "x" * 300_000,  # more than any read buffer
        (),
        "",
        ("日本語", -(2**40)),
        *((n, str(n)) for n in range(2000)),
    ]
    assert list(spilled(iter(items), tmp_path)) == items
    assert list(tmp_path.iterdir()) == []  # the file never had a name


def test_nothing_spilled_gives_nothing(tmp_path):
    assert list(spilled([], tmp_path)) == []


def test_a_reader_that_stops_early_closes_the_file(tmp_path):
    run = spilled(range(10), tmp_path)
    assert next(run) == 0
    run.close()
    assert list(tmp_path.iterdir()) == []
