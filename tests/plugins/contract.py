"""The promises every source plugin makes, as one test suite to subclass per plugin.

A subclass names its plugin, says what its family yields (``yields``: ``Copy`` for mail
stores, ``Evidence`` for logs and list files, whose findings are facts, not copies) and how
to build its kind of store::

    class TestMyPlugin(SourcePluginContract):
        def make_plugin(self): return MyPlugin()
        def build_store(self, root): ...      # -> Sample(location, findings of the kind it yields)
        def build_damaged(self, root): ...    # -> location with a bad part and good copies
        def build_large(self, root, nbytes): ...  # -> location of about nbytes, or None

and inherits the tests: it is a plugin, it recognises its store and nothing else, it reads
every copy (or piece of evidence), it never changes the source, it streams (lazily, without
holding the store in memory), bad input costs a problem and not the run, and every finding
says where it came from.  A plugin that reads URLs (IMAP) sets ``reads_urls`` and overrides
``source_state`` and ``missing_location``; what does not apply to it says so in a skip.
"""

from __future__ import annotations

import os
import re
import tracemalloc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailrecover.model import Copy, Evidence, Item, Problem, normalize_folder
from mailrecover.plugin import CLAIM, Plugin, ReadContext

from ..support.builders import snapshot

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
    copies: int  # how many findings of the family's kind (``yields``) a read must give


def _read_all(plugin: Plugin, location: str, context: ReadContext) -> list[Copy | Evidence | Problem]:
    return list(plugin.read(location, context))


class SourcePluginContract:
    """Mixed into a ``Test…`` class; the methods below are what a subclass provides."""

    #: Size of the store ``build_large`` writes; reading it may hold a quarter at most.
    large_bytes = 8 << 20
    #: What the plugin's family yields besides problems: copies of mail, or evidence.
    yields: type[Copy] | type[Evidence] = Copy
    #: How many findings the large store must give at least (a log line each, a copy each).
    large_findings = 50
    #: The plugin reads server URLs, not paths.
    reads_urls = False
    #: The plugin claims its store (detect >= CLAIM); False: it only names it as possible.
    claims = True

    def source_state(self, root: Path, sample: Sample) -> object:
        """What reading must leave unchanged: every file under ``root`` (content and mtime)."""
        return snapshot(root)

    def read_context(self) -> ReadContext:
        """What ``gather`` would pass (a list plugin may need ``--list``)."""
        return ReadContext()

    def missing_location(self, root: Path) -> str:
        """A location of the plugin's kind that is not there."""
        return str(root / "missing")

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
        score = self.make_plugin().detect(sample.location)
        assert score >= CLAIM if self.claims else 0 < score < CLAIM

    def test_declines_what_is_not_its_store(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        (tmp_path / "empty").mkdir()
        (tmp_path / "notes.txt").write_text("shopping list\n")
        others = [tmp_path / "empty", tmp_path / "notes.txt", tmp_path / "missing"]
        if not self.reads_urls:
            others.append("imaps://h.example/")
        before = snapshot(tmp_path)
        for other in others:
            assert plugin.detect(str(other)) < CLAIM, other
        assert snapshot(tmp_path) == before

    def test_reads_every_copy(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        found = _read_all(self.make_plugin(), sample.location, self.read_context())
        assert [f for f in found if isinstance(f, Problem)] == []
        assert sum(isinstance(f, self.yields) for f in found) == sample.copies
        assert all(isinstance(f, (self.yields, Problem)) for f in found), "a finding of another family"

    def test_leaves_the_source_untouched(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        before = self.source_state(tmp_path / "store", sample)
        plugin = self.make_plugin()
        plugin.detect(sample.location)
        _read_all(plugin, sample.location, self.read_context())
        assert self.source_state(tmp_path / "store", sample) == before

    def test_read_is_lazy(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        missing = self.missing_location(tmp_path)
        result = plugin.read(missing, self.read_context())  # nothing happens before iteration
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
            for n, finding in enumerate(plugin.read(location, self.read_context())):
                copies += isinstance(finding, self.yields)
                if n < 200 or n % 100 == 0:  # a log gives tens of thousands: smaps is read at intervals
                    mapped_peak = max(mapped_peak, _mapped_resident(location))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert copies >= self.large_findings
        assert peak < nbytes // 4, f"peak {peak:,} bytes while reading {nbytes:,}"
        assert mapped_peak < nbytes // 4, f"{mapped_peak:,} bytes of the store mapped and resident"

    def test_bad_input_costs_a_problem_not_the_run(self, tmp_path: Path) -> None:
        location = self.build_damaged(tmp_path / "damaged")
        found = _read_all(self.make_plugin(), location, self.read_context())
        problems = [f for f in found if isinstance(f, Problem)]
        assert problems, "damage must be reported"
        assert any(isinstance(f, self.yields) for f in found), "the good copies must survive"
        for p in problems:
            assert p.reason and "\n" not in p.reason and p.source

    def test_hostile_bytes_never_raise(self, tmp_path: Path) -> None:
        plugin = self.make_plugin()
        for i, data in enumerate(HOSTILE):
            location = self.build_hostile(tmp_path / f"hostile{i}", data)
            if location is None:
                pytest.skip("no single file to spoil for this plugin")
            for finding in plugin.read(location, self.read_context()):
                assert isinstance(finding, (Copy, Evidence, Problem, Item))

    def assert_from_store(self, sample: Sample, finding: Copy | Evidence) -> None:
        """A finding's ``source`` names a file of the store read (evidence may name a folder: a
        roster of ezmlm's ``subscribers/``); a URL plugin overrides this."""
        root = os.path.realpath(sample.location)
        real = os.path.realpath(finding.source)
        exists = os.path.isfile(real) or (isinstance(finding, Evidence) and os.path.isdir(real))
        assert exists and os.path.commonpath([root, real]) == root, finding.source

    def test_every_finding_says_where_it_came_from(self, tmp_path: Path) -> None:
        sample = self.build_store(tmp_path / "store")
        found = _read_all(self.make_plugin(), sample.location, self.read_context())
        assert found
        for f in found:
            assert isinstance(f, self.yields)
            self.assert_from_store(sample, f)
            assert isinstance(f.position, str)
            if isinstance(f, Copy):
                assert f.raw and f.folder == normalize_folder(f.folder)
                assert f.internal_date is None or f.internal_date.tzinfo is not None
                assert f.file_time is None or f.file_time.tzinfo is not None
            else:
                assert f.kind and f.kind == f.kind.strip() and "\n" not in f.kind
                assert f.time is None or f.time.tzinfo is not None
                assert isinstance(f.fields, Mapping)
                assert all(isinstance(k, str) and isinstance(v, str) for k, v in f.fields.items())


def _mapped_resident(under: str) -> int:
    """Resident bytes of the files below ``under`` that this process has mapped (memory the
    Python allocator never sees, so tracemalloc misses it); 0 where there is no /proc."""
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
            text = f.read()  # one read and one pattern: few allocations for tracemalloc to follow
    except OSError:
        return 0
    mapping = re.compile(
        r" " + re.escape(os.path.realpath(under)) + r"[^\n]*\n(?:\w+:[^\n]*\n)*?Rss:\s+(\d+) kB"
    )
    return sum(int(kb) for kb in mapping.findall(text)) * 1024
