"""``mailrecover discover`` finds every desktop client's store in homes laid out per system."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailrecover.cli import main

from ..support.builders import snapshot
from .client_stores import OTHER, OWNER, build_apple_mail, build_becky, build_thunderbird, build_windows_mail

CLIENTS = {"thunderbird", "apple-mail", "becky", "windows-live-mail"}


def _fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "nobody-here")
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(home / "AppData" / "Local"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home


def _discovered(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, str, tuple[str, ...]]]:
    capsys.readouterr()
    assert main(["--json", "discover"]) == 0
    stores = json.loads(capsys.readouterr().out)
    assert all(isinstance(s["size"], int) and s["size"] > 0 for s in stores if s["plugin"] in CLIENTS)
    return {(s["plugin"], s["location"], tuple(s["hints"])) for s in stores if s["plugin"] in CLIENTS}


def test_empty_home_has_no_stores(tmp_path, monkeypatch, capsys):
    _fake_home(tmp_path, monkeypatch)
    assert _discovered(capsys) == set()


def test_windows_home(tmp_path, monkeypatch, capsys):
    home = _fake_home(tmp_path, monkeypatch)
    tb = build_thunderbird(home / "AppData" / "Roaming")
    wlm = build_windows_mail(home / "AppData" / "Local")
    becky = build_becky(home, legacy_names=False)
    before = snapshot(home)
    assert _discovered(capsys) == {
        ("thunderbird", str(tb.profile), (OWNER,)),
        ("windows-live-mail", str(wlm.live), (OWNER,)),
        ("windows-live-mail", str(wlm.vista), (OWNER,)),
        ("becky", str(becky.mailbox), (OWNER,)),
        ("becky", str(becky.other), (OTHER,)),
    }
    assert snapshot(home) == before


def test_macos_home(tmp_path, monkeypatch, capsys):
    home = _fake_home(tmp_path, monkeypatch)
    tb = build_thunderbird(home / "Library")
    apple = build_apple_mail(home / "Library")
    assert _discovered(capsys) == {
        ("thunderbird", str(tb.profile), (OWNER,)),
        ("apple-mail", str(apple.version), ()),
    }


def test_linux_home(tmp_path, monkeypatch, capsys):
    home = _fake_home(tmp_path, monkeypatch)
    tb = build_thunderbird(home)
    (tb.root).rename(home / ".thunderbird")
    profile = home / ".thunderbird" / tb.profile.relative_to(tb.root)
    seamonkey = build_thunderbird(home / ".mozilla")
    seamonkey.root.rename(home / ".mozilla" / "seamonkey")
    sm_profile = home / ".mozilla" / "seamonkey" / seamonkey.profile.relative_to(seamonkey.root)
    assert _discovered(capsys) == {
        ("thunderbird", str(profile), (OWNER,)),
        ("thunderbird", str(sm_profile), (OWNER,)),
    }
