"""Every registered plugin takes the contract of ``contract.py`` in some test module here."""

from __future__ import annotations

import importlib
from pathlib import Path

from mailrecover.plugin import load_plugins

from .contract import SourcePluginContract


def _contracts(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_contracts(sub)]
    return found


def test_every_registered_plugin_has_a_contract_subclass() -> None:
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"{__package__}.{path.stem}")
    covered = set()
    for cls in _contracts(SourcePluginContract):
        if cls.__name__.startswith("Test"):
            try:
                covered.add(cls().make_plugin().name)
            except NotImplementedError:
                continue
    assert set(load_plugins()) - covered == set()
    assert len(covered) >= 22
