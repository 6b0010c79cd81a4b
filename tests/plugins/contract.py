"""The promises every source plugin makes, as one test suite to subclass per plugin.

A subclass names its plugin and says how to build its kind of store::

    class TestMyPlugin(SourcePluginContract):
        def make_plugin(self): return MyPlugin()
        def build_store(self, root): ...      # -> Sample(location, copies)
        def build_damaged(self, root): ...    # -> location with a bad part and good copies
        def build_large(self, root, nbytes): ...  # -> location of about nbytes, or None

and inherits the tests: it is a plugin, it recognises its store and nothing else, it reads
every copy, it never changes the source, it streams (lazily, without holding the store in
memory), bad input costs a problem and not the run, and every finding says where it came from.
"""

from __future__ import annotations

import os
import re
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailrecover.model import Copy, Evidence, Problem, normalize_folder
from mailrecover.plugin import CLAIM, Plugin, ReadContext

from ..builders import snapshot

__all__ = ["HOSTILE", "Sample", "SourcePluginContract"]

#: Bytes that must cost a problem at most, wherever a store's file is expected.
HOSTILE = [
    b"",
    b"\x00" * 4096,
    b"\xff\xfe\x00\x00garbage\r\n" * 100,
    b"From \n\n\n",
    b"Subject: " + b"A" * 200_000 + b"\n\nbody\n",
    bytes(range(256)) * 64,
]


@dataclass(frozen=True)
class Sample:
    location: str
    copies: int  # how many copies a read must yield


def _read_all(plugin: Plugin, location: str) -> list[Copy | Evidence | Problem]:
    return list(plugin.read(location, ReadContext()))


class SourcePluginContract:
    """Mixed into a ``Test…`` class; the methods below are what a subclass provides."""

    #: Size of the store ``build_large`` writes; reading it may hold a quarter at most.
    large_bytes = 8 << 20

    def make_plugin(self) -> Plugin:
        raise NotImplementedError

    def build_store(self, root: Path) -> Sample:
        raise NotImplementedError

    def build_damaged(self, root: Path) -> str:
        raise NotImplementedError

    def build_large(self, root: Path, nbytes: int) -> str | None:
        return None

    def build_hostile(self, root: Path, data: bytes) -> str | None:
        """A store whose main file holds ``data``; None if the plugin has no such file."""
        return None

    # -- the contract -------------------------------------------------------------------

    def test_is_a_plugin(self) -> None:
        plugin = self.make_plugin()
        assert isinstance(plugin, Plugin)
        assert plugin.name and plugin.name == plugin.name.strip() and " " not in plugin.name
        assert plugin.description and "\n" not in plugin.description

    def test_detects_its_store(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        assert self.make_plugin().detect(sample.location) >= CLAIM

    def test_declines_what_is_not_its_store(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        (tmp_path / "empty").mkdir()
        (tmp_path / "notes.txt").write_text("shopping list\n")
        others = [tmp_path / "empty", tmp_path / "notes.txt", tmp_path / "missing", "imaps://h.example/"]
        before = snapshot(tmp_path)
        for other in others:
            assert plugin.detect(str(other)) < CLAIM, other
        assert snapshot(tmp_path) == before

    def test_reads_every_copy(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        found = _read_all(self.make_plugin(), sample.location)
        assert [f for f in found if isinstance(f, Problem)] == []
        assert sum(isinstance(f, Copy) for f in found) == sample.copies

    def test_leaves_the_source_untouched(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        before = snapshot(tmp_path / "store")
        plugin = self.make_plugin()
        plugin.detect(sample.location)
        _read_all(plugin, sample.location)
        assert snapshot(tmp_path / "store") == before

    def test_read_is_lazy(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        missing = str(tmp_path / "missing")
        result = plugin.read(missing, ReadContext())  # nothing happens before iteration
        assert isinstance(result, Iterator)
        found = list(result)
        assert found and all(isinstance(f, Problem) for f in found)

    def test_streams_without_holding_the_store(self, tmp_path: Path) -> None:
        nbytes = self.large_bytes
        location = self.build_large(tmp_path / "large", nbytes)
        if location is None:
            pytest.skip("no large store for this plugin")
        plugin = self.make_plugin()
        copies = mapped_peak = 0
        tracemalloc.start()
        try:
            for finding in plugin.read(location, ReadContext()):
                copies += isinstance(finding, Copy)
                mapped_peak = max(mapped_peak, _mapped_resident(location))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert copies >= 50
        assert peak < nbytes // 4, f"peak {peak:,} bytes while reading {nbytes:,}"
        assert mapped_peak < nbytes // 4, f"{mapped_peak:,} bytes of the store mapped and resident"

    def test_bad_input_costs_a_problem_not_the_run(self, tmp_path: Path) -> None:
        location = self.build_damaged(tmp_path / "damaged")
        found = _read_all(self.make_plugin(), location)
        problems = [f for f in found if isinstance(f, Problem)]
        assert problems, "damage must be reported"
        assert any(isinstance(f, Copy) for f in found), "the good copies must survive"
        for p in problems:
            assert p.reason and "\n" not in p.reason and p.source

    def test_hostile_bytes_never_raise(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        for i, data in enumerate(HOSTILE):
            location = self.build_hostile(tmp_path / f"hostile{i}", data)
            if location is None:
                pytest.skip("no single file to spoil for this plugin")
            for finding in plugin.read(location, ReadContext()):
                assert isinstance(finding, (Copy, Evidence, Problem))

    def test_every_finding_says_where_it_came_from(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        root = os.path.realpath(sample.location)
        for f in _read_all(self.make_plugin(), sample.location):
            assert isinstance(f, Copy)
            source = os.path.realpath(f.source)
            assert os.path.isfile(source) and os.path.commonpath([root, source]) == root, f.source
            assert isinstance(f.position, str)
            assert f.raw and f.folder == normalize_folder(f.folder)
            assert f.internal_date is None or f.internal_date.tzinfo is not None
            assert f.file_time is None or f.file_time.tzinfo is not None


def _mapped_resident(under: str) -> int:
    """Resident bytes of the files below ``under`` that this process has mapped (memory the
    Python allocator never sees, so tracemalloc misses it); 0 where there is no /proc."""
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
            text = f.read()  # one read and one pattern: few allocations for tracemalloc to follow
    except OSError:
        return 0
    mapping = re.compile(r" " + re.escape(os.path.realpath(under)) + r"[^\n]*\n(?:\w+:[^\n]*\n)*?Rss:\s+(\d+) kB")
    return sum(int(kb) for kb in mapping.findall(text)) * 1024
