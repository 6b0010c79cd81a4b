"""The plugin contract for the list managers' plugins: their findings are evidence of who was
subscribed (members, subscribe and unsubscribe lines, complete rosters), never copies."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailrecover_lists.address_list import AddressListPlugin
from mailrecover_lists.ezmlm import EzmlmPlugin
from mailrecover_lists.fml import FmlPlugin
from mailrecover_lists.mailman2 import Mailman2Plugin
from mailrecover_lists.mailman3 import Mailman3Plugin
from mailrecover_lists.majordomo import MajordomoPlugin

from mailrecover.model import Evidence
from mailrecover.plugin import ReadContext

from ..support.lists_builders import build_fml
from .contract import Sample, SourcePluginContract

LIST = "dev@lists.example.org"
_SUBSCRIBE = "Mar 01 10:00:00 2012 (1234) dev: new ann@example.com, admin mass sub\n"


_PAD = "x" * 80  # long addresses: bytes to read without a line (and tracemalloc's cost) per 25


def _addresses_of_size(nbytes: int) -> str:
    n = nbytes // len(f"member100000.{_PAD}@example.org\n") + 1
    return "".join(f"member{i}.{_PAD}@example.org\n" for i in range(n))


class _ListContract(SourcePluginContract):
    yields = Evidence
    large_bytes = 4 << 20  # about 40,000 addresses: a list file read line by line holds a few

    def read_context(self) -> ReadContext:
        return ReadContext(list_address=LIST)  # as ``gather --list`` gives it


class TestMailman2Contract(_ListContract):
    def make_plugin(self):
        return Mailman2Plugin()

    def _logs(self, root: Path, extra: str = "") -> Path:
        (root / "logs").mkdir(parents=True)
        with gzip.open(root / "logs" / "subscribe.1.gz", "wt") as f:
            f.write(_SUBSCRIBE)
        (root / "logs" / "subscribe").write_text(
            "Apr 02 10:00:00 2012 (1235) dev: new bob@example.com, via web confirmation\n"
            + extra
            + "Apr 03 10:00:00 2012 (1236) dev: deleted ann@example.com, via member options\n"
        )
        return root / "logs"

    def build_store(self, root: Path) -> Sample:
        return Sample(str(self._logs(root)), 3)

    def build_damaged(self, root: Path) -> str:
        logs = self._logs(root)
        (logs / "subscribe.2.gz").write_bytes(gzip.compress(_SUBSCRIBE.encode())[:20])  # cut short
        return str(logs)

    def build_large(self, root: Path, nbytes: int) -> str:
        root.mkdir(parents=True)
        (root / "dev.list_members.txt").write_text(_addresses_of_size(nbytes))
        return str(root / "dev.list_members.txt")

    def build_hostile(self, root: Path, data: bytes) -> str:
        (root / "logs").mkdir(parents=True)
        (root / "logs" / "subscribe").write_bytes(data)
        return str(root / "logs" / "subscribe")


class TestMailman3Contract(_ListContract):
    def make_plugin(self):
        return Mailman3Plugin()

    def _roster(self, root: Path, entries: list[object]) -> str:
        root.mkdir(parents=True)
        path = root / "roster.json"
        path.write_text(json.dumps({"entries": entries, "start": 0, "total_size": len(entries)}))
        return str(path)

    def build_store(self, root: Path) -> Sample:
        entries = [
            {"email": f"m{i}@example.com", "role": "member", "list_id": "dev.lists.example.org"}
            for i in range(3)
        ]
        return Sample(self._roster(root, entries), 4)  # three members and the roster they make

    def build_damaged(self, root: Path) -> str:
        entries = [
            {"email": "a@example.com", "role": "member", "list_id": "dev.lists.example.org"},
            {"email": "not an address", "role": "member", "list_id": "dev.lists.example.org"},
        ]
        return self._roster(root, entries)

    def build_large(self, root: Path, nbytes: int) -> None:
        return None  # a roster dump is JSON, read whole (refused above MAX_WHOLE_FILE), not streamed

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "roster.json").write_bytes(data)
        return str(root / "roster.json")


class TestFmlContract(_ListContract):
    def make_plugin(self):
        return FmlPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(build_fml(root)), 24)

    def build_damaged(self, root: Path) -> str:
        d = build_fml(root)
        with (d / "members").open("a") as f:
            f.write("broken-entry m=3u \n")  # a member line naming no address
        return str(d)

    def build_large(self, root: Path, nbytes: int) -> str:
        d = root / "elena"
        d.mkdir(parents=True)
        (d / "actives").write_text(_addresses_of_size(nbytes))
        return str(d / "actives")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "actives").write_bytes(data)
        return str(root / "actives")

    @pytest.mark.xfail(
        strict=True,
        reason="an fml member file is held whole (its snapshots are compared), several times its size",
    )
    def test_streams_without_holding_the_store(self, tmp_path: Path) -> None:
        super().test_streams_without_holding_the_store(tmp_path)


def _majordomo(root: Path) -> Path:
    lists = root / "lists"
    lists.mkdir(parents=True)
    (root / "majordomo.cf").write_text('$whereami = "example.edu";\n')
    (lists / "chat").write_text("ann@example.com\nBob <bob@example.com>\n")
    (lists / "chat.config").write_text("admin_passwd = x\n")
    (root / "Log").write_text(
        "Dec 30 10:00:00 lists majordomo[100] {ann@example.com} subscribe chat ann@example.com\n"
    )
    os.utime(root / "Log", (datetime(2001, 1, 5, tzinfo=UTC).timestamp(),) * 2)
    return root


class TestMajordomoContract(_ListContract):
    def make_plugin(self):
        return MajordomoPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(_majordomo(root)), 4)  # two members, their roster, one subscription

    def build_damaged(self, root: Path) -> str:
        home = _majordomo(root)
        with (home / "lists" / "chat").open("a") as f:
            f.write("not an address at all\n")
        return str(home)

    def build_large(self, root: Path, nbytes: int) -> str:
        home = _majordomo(root)
        (home / "lists" / "chat").write_text(_addresses_of_size(nbytes))
        return str(home / "lists" / "chat")

    def build_hostile(self, root: Path, data: bytes) -> str:
        home = _majordomo(root)
        (home / "lists" / "chat").write_bytes(data)
        return str(home / "lists" / "chat")


def _ezmlm(root: Path, garbage: bool = False) -> Path:
    (root / "subscribers").mkdir(parents=True)
    (root / "outlocal").write_text("test\n")
    (root / "outhost").write_text("lists.example.com\n")
    (root / "subscribers" / "@").write_bytes(
        b"TAnn@example.com\0Tbob@example.com\0" + (b"garbage\0" if garbage else b"")
    )
    (root / "Log").write_text("1485642996 +manual ann@example.com\n")
    return root


class TestEzmlmContract(_ListContract):
    def make_plugin(self):
        return EzmlmPlugin()

    def build_store(self, root: Path) -> Sample:
        return Sample(str(_ezmlm(root)), 4)  # two members, their roster, one subscription

    def build_damaged(self, root: Path) -> str:
        return str(_ezmlm(root, garbage=True))

    def build_large(self, root: Path, nbytes: int) -> str:
        d = _ezmlm(root)
        n = nbytes // len(f"Tmember100000.{_PAD}@example.org\0") + 1
        (d / "subscribers" / "A").write_bytes(
            "".join(f"Tmember{i}.{_PAD}@example.org\0" for i in range(n)).encode()
        )
        return str(d)

    def build_hostile(self, root: Path, data: bytes) -> str:
        d = _ezmlm(root)
        (d / "subscribers" / "@").write_bytes(data)
        (d / "Log").write_bytes(data)
        return str(d)

    @pytest.mark.xfail(
        strict=True, reason="ezmlm's subscribers/ files are held whole, several times their size"
    )
    def test_streams_without_holding_the_store(self, tmp_path: Path) -> None:
        super().test_streams_without_holding_the_store(tmp_path)


class TestAddressListContract(_ListContract):
    claims = False  # a kept list of addresses is read when asked for (``--plugin``), never claimed

    def make_plugin(self):
        return AddressListPlugin()

    def build_store(self, root: Path) -> Sample:
        root.mkdir(parents=True)
        (root / "kept.csv").write_text('Name,E-mail\n"Smith, Ann",Ann@Example.com\nBob,bob@example.com\n')
        return Sample(str(root / "kept.csv"), 2)

    def build_damaged(self, root: Path) -> str:
        root.mkdir(parents=True)
        (root / "kept.csv").write_text("Name,E-mail\nAnn,ann@example.com\n,not-an-address\n")
        return str(root / "kept.csv")

    def build_large(self, root: Path, nbytes: int) -> str:
        root.mkdir(parents=True)
        (root / "kept.txt").write_text(_addresses_of_size(nbytes))
        return str(root / "kept.txt")

    def build_hostile(self, root: Path, data: bytes) -> str:
        root.mkdir(parents=True)
        (root / "kept.csv").write_bytes(data)
        return str(root / "kept.csv")


def test_every_list_plugin_takes_the_contract() -> None:
    plugins = {cls().make_plugin().name for cls in _ListContract.__subclasses__()}
    assert plugins == {"mailman2", "mailman3", "fml", "majordomo", "ezmlm", "address-list"}


@pytest.mark.parametrize("cls", _ListContract.__subclasses__(), ids=lambda c: c.__name__)
def test_list_evidence_is_of_the_list_kinds(cls: type[_ListContract], tmp_path: Path) -> None:
    from mailrecover.model import LIST_EVIDENCE_KINDS, ListFields

    contract = cls()
    sample = contract.build_store(tmp_path / "store")
    for f in contract.make_plugin().read(sample.location, contract.read_context()):
        assert isinstance(f, Evidence) and f.kind in LIST_EVIDENCE_KINDS
        assert ListFields.check(f.fields) == dict(f.fields)
