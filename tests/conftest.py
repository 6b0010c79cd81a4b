"""Shared fixtures: the real-file corpus beside the checkout, and only built-in plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Real files written by real programs; present beside a developer's checkout and in CI.
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is not beside this checkout")
    return CORPUS


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's own workspace, passwords or third-party plugins."""
    monkeypatch.setenv("MAILRECOVER_WORKSPACE", str(tmp_path / "default-workspace"))
    monkeypatch.delenv("MAILRECOVER_PASSWORD", raising=False)
    builtin = os.environ.get("MAILRECOVER_TEST_PLUGINS")
    if builtin:
        monkeypatch.setenv("MAILRECOVER_PLUGINS", builtin)
