"""Plugin loading and the directory walk that hands stores to plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mailrecover import plugin
from mailrecover.cli import main

from .conftest import install_distribution


@pytest.fixture(autouse=True)
def _fresh_plugins():
    plugin.reset()
    yield
    plugin.reset()


def test_builtin_plugins_are_listed(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("mbox", "maildir", "mh", "eml"):
        assert f"\n{name} " in "\n" + out


def test_environment_restricts_plugins(monkeypatch):
    monkeypatch.setenv("MAILRECOVER_PLUGINS", "eml,mbox")
    plugin.reset()
    assert list(plugin.load_plugins()) == ["eml", "mbox"]


_BROKEN = {  # every way a third-party entry point can fail to give a plugin, and the reason shown
    "missing-module": ("no_such_module_for_mailrecover:Plugin", "No module named"),
    "raises-on-import": ("extra_raises:Plugin", "extra_raises is broken"),
    "exits-on-import": ("extra_exits:Plugin", "SystemExit"),
    "missing-attribute": ("extra_fine:NoSuchClass", "NoSuchClass"),
    "constructor-raises": ("extra_fine:Refuses", "no licence key"),
    "not-a-plugin": ("extra_fine:NotAPlugin", "does not have the plugin methods"),
}
_EXTRA_MODULES = {
    "extra_raises": "raise RuntimeError('extra_raises is broken')\n",
    "extra_exits": "import sys\nsys.exit(4)\n",
    "extra_fine": (
        "class Refuses:\n"
        "    def __init__(self):\n"
        "        raise ValueError('no licence key')\n"
        "class NotAPlugin:\n"
        "    name = 'not-a-plugin'\n"
    ),
}


def test_broken_third_party_plugins_are_skipped_and_named(third_party, tmp_path, capsys):
    third_party({name: target for name, (target, _) in _BROKEN.items()}, **_EXTRA_MODULES)
    assert main(["plugins"]) == 0
    out = capsys.readouterr()
    listed = {line.split()[0]: line for line in out.out.splitlines()}
    assert {"mbox", "maildir", "eml", "imap"} <= set(listed)  # the built-ins all still load
    warned = [line for line in out.err.splitlines() if line]
    assert len(warned) == len(_BROKEN)  # one line each on standard error
    for name, (target, reason) in _BROKEN.items():
        assert "not loaded" in listed[name] and reason in listed[name]
        assert any(f"plugin {name} " in line and target in line and reason in line for line in warned)
    assert set(plugin.load_plugins()).isdisjoint(_BROKEN)
    assert [n.name for n in plugin.not_loaded()] == sorted(_BROKEN)

    assert main(["--json", "plugins"]) == 0
    assert {p["name"] for p in json.loads(capsys.readouterr().out)}.isdisjoint(_BROKEN)

    mail = tmp_path / "saved.eml"
    mail.write_bytes(b"From: a@example.org\nMessage-ID: <1@x>\nSubject: s\n\nbody\n")
    assert (
        main(
            ["--workspace", str(tmp_path / "ws"), "--json", "gather", "--account", "a@example.org", str(mail)]
        )
        == 0
    )
    out = capsys.readouterr()
    assert json.loads(out.out)["copies"] == 1
    assert len([line for line in out.err.splitlines() if "not loaded" in line]) == len(_BROKEN)


def test_the_test_suite_loads_only_this_checkouts_plugins(tmp_path, monkeypatch):
    """An installed third-party plugin stays out of the suite, in its own process and in the
    commands it starts, unless a test asks for it (``third_party``)."""
    site = tmp_path / "site"
    install_distribution(site, monkeypatch, {"extra": "extra_plugin:Extra"}, extra_plugin=_EXPLODING)
    assert "extra" not in plugin.load_plugins() and "mbox" in plugin.load_plugins()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ["PYTHONPATH"]])}
    listed = subprocess.run(
        [sys.executable, "-m", "mailrecover", "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "mbox" in listed and "extra" not in listed
    monkeypatch.delenv("MAILRECOVER_BUILTIN_PLUGINS_ONLY")
    plugin.reset()
    assert "extra" in plugin.load_plugins()  # it was installed: the restriction kept it out
    env.pop("MAILRECOVER_BUILTIN_PLUGINS_ONLY")
    listed = subprocess.run(
        [sys.executable, "-m", "mailrecover", "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "extra" in listed


_EXPLODING = """
from mailrecover.model import Copy


class Exploding:
    name = "exploding"
    description = "raises half-way"

    def detect(self, location):
        return 99 if location.endswith(".boom") else 0

    def discover(self):
        return ()

    def read(self, location, context):
        yield Copy(raw=b"From: a@b\\nSubject: before\\n\\nx\\n", folder="", source=location, position="1")
        raise RuntimeError("kaboom")


Extra = Exploding
"""


def test_a_plugin_that_raises_costs_one_problem_and_keeps_what_it_found(tmp_path, third_party, capsys):
    (tmp_path / "x.boom").write_bytes(b"?")
    third_party({"exploding": "extra_exploding:Exploding"}, extra_exploding=_EXPLODING)
    status = main(
        [
            "--workspace",
            str(tmp_path / "ws"),
            "--json",
            "gather",
            "--account",
            "a@b",
            str(tmp_path / "x.boom"),
        ]
    )
    assert status == 3
    out = capsys.readouterr().out
    assert '"copies": 1' in out and "kaboom" in out
