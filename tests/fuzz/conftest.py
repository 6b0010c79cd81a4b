"""The fuzz run's tally, printed at the end of every pytest run that fuzzed anything."""

from __future__ import annotations

import json
import os

import pytest

from .fixtures import NOTES
from .harness import STATS
from .profiles import NAME


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS.inputs:
        return
    terminalreporter.write_sep("-", f"fuzz run (profile {NAME})")
    for line in STATS.lines() + NOTES:
        terminalreporter.write_line(line)
    out = os.environ.get("MAILRECOVER_FUZZ_REPORT")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "profile": NAME,
                    "inputs": dict(STATS.inputs),
                    "copies": STATS.copies,
                    "problems": dict(STATS.problems),
                    "failures": list(STATS.failures),
                    "most_problems": STATS.most_problems,
                    "peak_bytes": STATS.peak,
                },
                f,
                indent=2,
            )
