"""Every registered plugin, fed damaged and hostile versions of real samples.

The plugins are whatever ``load_plugins()`` finds (pyproject's entry points), so a plugin
that lands later is fuzzed without changing this file.  Samples come from the shared
corpus and the core's test scenario (see ``harness.seeds``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrecover.plugin import load_plugins

from .harness import Seed, baseline, lost_before_damage, prepare, read_checked, seeds, tried
from .mutate import GZIP_MUTATION, MUTATIONS, Mutated, regions
from .profiles import PROFILE, SETTINGS

PLUGINS = sorted(load_plugins())
_OPS = [*MUTATIONS, "gzip"]


def _check(name: str, seed: Seed, file_index: int, mutation: Mutated, gz: bool = False) -> list[str]:
    """Read one damaged copy of ``seed``; every broken promise, as lines."""
    plugin = load_plugins()[name]
    root = Path(tempfile.mkdtemp(prefix="mailrecover-fuzz-"))
    try:
        prepared = prepare(seed, root, file_index, mutation, gzip_name=gz)
        label = f"{seed} [{prepared.target}: {mutation.what}]"
        got = tried(read_checked(plugin, name, prepared.location, root), label)
        failures = got.failures()
        if seed.own and not gz and not got.crash and not got.hang:
            base, base_root = baseline(name, seed)
            failures += lost_before_damage(
                base, base_root, got, root, prepared.target, prepared.original, mutation.damage
            )
        return [f"{label}: {f}" for f in failures]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _seeds(name: str) -> list[Seed]:
    found = seeds()[name]
    if not found:
        pytest.skip(
            f"no sample is a location the {name} plugin reads (it reads URLs or kinds not in the corpus)"
        )
    return found


@pytest.mark.parametrize("name", PLUGINS)
@SETTINGS
@given(data=st.data())
def test_mutated_samples_cost_at_most_a_problem(name: str, data: st.DataObject) -> None:
    found = _seeds(name)
    seed = data.draw(st.sampled_from(found), label="seed")
    files = seed.files() or [seed.path]
    index = data.draw(st.integers(0, len(files) - 1), label="file")
    op = data.draw(st.sampled_from(_OPS), label="mutation")
    pos = data.draw(st.integers(0, 1 << 24), label="pos")
    arg = data.draw(st.integers(0, 1 << 16), label="arg")
    original = files[index].read_bytes() if files[index].is_file() else b""
    if op == "gzip":
        mutation = GZIP_MUTATION(original, pos, arg)
    else:
        mutation = MUTATIONS[op](original, pos, arg)
    failures = _check(name, seed, index, mutation, gz=op == "gzip")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", PLUGINS)
def test_truncation_at_every_region_keeps_what_came_before(name: str) -> None:
    own = [s for s in _seeds(name) if s.own][: PROFILE.truncated_seeds]
    if not own:
        pytest.skip(f"no sample of the {name} plugin's own kind")
    failures: list[str] = []
    for seed in own:
        files = seed.files()
        if not files:
            continue
        index = max(range(len(files)), key=lambda i: files[i].stat().st_size)  # the main file
        data = files[index].read_bytes()
        for cut in regions(data, PROFILE.cuts):
            failures += _check(name, seed, index, Mutated(data[:cut], cut, f"cut at {cut} of {len(data)}"))
    assert not failures, "\n".join(failures[:40])
