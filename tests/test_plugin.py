"""Plugin loading and the directory walk that hands stores to plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailrecover import plugin
from mailrecover.cli import main
from mailrecover.gather import Skipped, Task, plan


@pytest.fixture(autouse=True)
def _fresh_plugins():
    plugin.load_plugins(refresh=True)
    yield
    plugin.load_plugins(refresh=True)


def test_builtin_plugins_are_listed(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("mbox", "maildir", "mh", "eml"):
        assert f"\n{name} " in "\n" + out


def test_environment_restricts_plugins(monkeypatch):
    monkeypatch.setenv("MAILRECOVER_PLUGINS", "eml,mbox")
    assert list(plugin.load_plugins(refresh=True)) == ["eml", "mbox"]


def test_walk_claims_stores_and_names_folders(tmp_path: Path):
    (tmp_path / "Mail" / "Inbox.sbd").mkdir(parents=True)
    (tmp_path / "Mail" / "Inbox.sbd" / "Work").write_bytes(b"From - x\nFrom: a@b\n\nx\n")
    (tmp_path / "Mail" / "Inbox.msf").write_bytes(b"mork")
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / ".Sub" / sub).mkdir(parents=True)
        (tmp_path / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
    items = list(plan(str(tmp_path)))
    tasks = {(t.plugin.name, Path(t.location).relative_to(tmp_path).as_posix(), t.folder)
             for t in items if isinstance(t, Task)}  # fmt: skip
    assert tasks == {("mbox", "Mail/Inbox.sbd/Work", "Mail/Inbox"), ("maildir", "Maildir", "Maildir")}
    assert [Path(s.path).name for s in items if isinstance(s, Skipped)] == ["Inbox.msf"]


class _Exploding:
    name = "exploding"
    description = "raises half-way"

    def detect(self, location: str) -> int:
        return 99 if location.endswith(".boom") else 0

    def discover(self):
        return ()

    def read(self, location, context):
        from mailrecover.model import Copy

        yield Copy(raw=b"From: a@b\nSubject: before\n\nx\n", folder="", source=location, position="1")
        raise RuntimeError("kaboom")


def test_a_plugin_that_raises_costs_one_problem_and_keeps_what_it_found(tmp_path, monkeypatch, capsys):
    (tmp_path / "x.boom").write_bytes(b"?")
    loaded = dict(plugin.load_plugins(refresh=True))
    loaded["exploding"] = _Exploding()
    monkeypatch.setattr(plugin, "_loaded", loaded)
    status = main(["--workspace", str(tmp_path / "ws"), "--json", "gather", "--account", "a@b",
                   str(tmp_path / "x.boom")])  # fmt: skip
    assert status == 3
    out = capsys.readouterr().out
    assert '"copies": 1' in out and "kaboom" in out
