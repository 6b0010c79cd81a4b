"""Every plugin over every real file of the shared corpus, through the gather stage.

Invariants: no plugin crashes (gather turns a crash into a 'plugin … stopped' problem, which
is counted here as a failure); the corpus is byte-for-byte and time-for-time untouched; and
in the ordinary, detected run every file is accounted for: it gave copies or evidence, it
gave a problem line, or it is listed as skipped (no plugin reads it).
"""

from __future__ import annotations

import os
from pathlib import Path

from mailrecover.gather import Skipped, Task, gather, plan
from mailrecover.plugin import load_plugins
from mailrecover.workspace import Workspace

from .builders import snapshot

ACCOUNT = "sweep@example.com"
LIST = "sweep-list@example.com"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def _crashes(problems: list, plugin: str | None = None) -> list[str]:
    return [f"{p.source}: {p.reason}" for p in problems
            if p.reason.startswith(f"plugin {plugin or ''}") and " stopped: " in p.reason]  # fmt: skip


def _names(path: str, sources: set[str]) -> bool:
    """Whether some finding's source is ``path`` or a part of it (a folder inside a store file)."""
    return path in sources or any(s.startswith(path + sep) for s in sources for sep in ("/", "#", ":", "@"))


def test_every_plugin_forced_over_every_file_crashes_nothing(corpus: Path, tmp_path: Path) -> None:
    before = snapshot(corpus)
    files = [str(p) for p in _files(corpus)]
    crashes: list[str] = []
    read = 0
    for name in load_plugins():
        with Workspace(tmp_path / f"ws-{name}") as ws:
            result = gather(ws, files, account=ACCOUNT, list_address=LIST, plugin=name)
        read += result.stores
        crashes += [f"{name}: {c}" for c in _crashes(result.problems, name)]
        assert all(p.source and p.reason.strip() and "\n" not in p.reason for p in result.problems), name
    assert read == len(files) * len(load_plugins())
    assert not crashes, "\n".join(crashes)
    assert snapshot(corpus) == before


def test_detected_gather_accounts_for_every_corpus_file(corpus: Path, tmp_path: Path) -> None:
    corpus = corpus.resolve()  # a plugin may name files by their resolved path
    before = snapshot(corpus)
    with Workspace(tmp_path / "ws") as ws:
        result = gather(ws, [str(corpus)], account=ACCOUNT, list_address=LIST)
        db = ws.db
        sources = {os.path.realpath(s) if s.startswith("/") else s for (s,) in db.execute(
            "SELECT source FROM copies UNION SELECT source FROM evidence UNION SELECT source FROM problems")}  # fmt: skip
    assert snapshot(corpus) == before
    assert not _crashes(result.problems), "\n".join(_crashes(result.problems))
    skipped = set(result.skipped)
    tasks = [t for t in plan(str(corpus)) if isinstance(t, Task)]
    assert {s.path for s in plan(str(corpus)) if isinstance(s, Skipped)} == skipped
    silent = []
    for f in map(str, _files(corpus)):
        if f in skipped or _names(f, sources):
            continue
        owner = next((t for t in tasks if f.startswith(t.location + os.sep)), None)
        if owner is not None and _names(owner.location, sources):
            continue  # a file of a store read whole (an Apple Mail attachment, a list's control file)
        silent.append(f)
    assert not silent, "read by a plugin, yet neither found nor reported:\n" + "\n".join(silent)
    assert result.copies > 150
