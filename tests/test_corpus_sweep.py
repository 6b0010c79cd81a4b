"""Every plugin over every real file of the shared corpus, through the gather stage.

Invariants: no plugin crashes (gather turns a crash into a 'plugin … stopped' problem, which
is counted here as a failure); the corpus is byte-for-byte and time-for-time untouched; and
in the ordinary, detected run every file is accounted for: it gave copies or evidence, it
gave a problem line, or it is listed as skipped (with the reason).
"""

from __future__ import annotations

from pathlib import Path

from mailrecover.gather import gather, storable
from mailrecover.plugin import load_plugins
from mailrecover.workspace import Workspace

from .support.builders import snapshot

ACCOUNT = "sweep@example.com"
LIST = "sweep-list@example.com"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def _crashes(problems: list, plugin: str | None = None) -> list[str]:
    return [
        f"{p.source}: {p.reason}"
        for p in problems
        if p.reason.startswith(f"plugin {plugin or ''}") and " stopped: " in p.reason
    ]


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
    """Issue 16's invariant over real files: for every regular file under the gathered
    location, copies, evidence or items (contacts, calendar) from it + problems naming it +
    skips naming it >= 1."""
    corpus = corpus.resolve()  # a plugin may name files by their resolved path
    before = snapshot(corpus)
    with Workspace(tmp_path / "ws") as ws:
        result = gather(ws, [str(corpus)], account=ACCOUNT, list_address=LIST)
        db = ws.db
        named = {
            s
            for (s,) in db.execute(
                "SELECT source FROM copies UNION SELECT source FROM evidence UNION SELECT source FROM problems "
                "UNION SELECT source FROM items UNION SELECT path FROM skipped"
            )
        }
    assert snapshot(corpus) == before
    assert not _crashes(result.problems), "\n".join(_crashes(result.problems))
    assert set(result.skipped) <= named
    files = [storable(str(p)) for p in corpus.rglob("*") if p.is_file() and not p.is_symlink()]
    silent = sorted(f for f in files if f not in named)
    assert not silent, "neither found, reported nor skipped:\n" + "\n".join(silent)
    assert result.copies > 150
