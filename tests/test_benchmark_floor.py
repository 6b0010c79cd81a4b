"""The benchmark's floor: every source byte read, the restored files written as sizes say."""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmarks import floor


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_floor_writes_one_file_per_size_cut_from_the_sources_and_leaves_them_alone(tmp_path: Path) -> None:
    src = tmp_path / "sources"
    (src / "Maildir" / "cur").mkdir(parents=True)
    (src / "Inbox").write_bytes(b"From a\n" + b"x" * 5000)
    (src / "Maildir" / "cur" / "1:2,S").write_bytes(b"y" * 300)
    (src / "empty").write_bytes(b"")
    before = _digests(src)
    sizes = [100, 4000, 2000, 250, 10]  # more bytes than one file holds: the next one is read
    (tmp_path / "sizes.txt").write_text("".join(f"{n}\n" for n in sizes))
    out = tmp_path / "out"
    assert floor.main([str(tmp_path / "sizes.txt"), str(out), str(src)]) == 0
    written = sorted(out.glob("cur/*"), key=lambda p: int(p.name.split(".")[0]))
    assert [p.stat().st_size for p in written] == sizes
    assert all(p.name.endswith(":2,") for p in written) and not any((out / "tmp").iterdir())
    assert set(b"".join(p.read_bytes() for p in written)) <= set(b"From a\nxy")
    assert _digests(src) == before
