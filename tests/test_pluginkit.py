"""The plugin kit is the whole of what a plugin may import from mailrecover.

Each built-in plugin file's imports are read (not run) and judged as a third party's would
be: the kit, the model and the plugin protocol are allowed; any other core module, or
another plugin's package, is not.  A package may import its own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mailrecover.pluginkit as kit
from mailrecover import readonly

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
ALLOWED = {"mailrecover.pluginkit", "mailrecover.model", "mailrecover.plugin"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, at any depth."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mailrecover":  # ``from mailrecover import readonly``
                found += [(node.lineno, f"mailrecover.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def forbidden_imports(path: Path, package: str) -> list[str]:
    """What a plugin file imports that a third-party plugin could not rely on."""
    bad = []
    for line, module in _imports(path):
        top = module.split(".")[0]
        if top == "mailrecover" and module not in ALLOWED:
            bad.append(f"{path.name}:{line}: core module {module} (use mailrecover.pluginkit)")
        elif top.startswith("mailrecover_") and top != package:
            bad.append(f"{path.name}:{line}: another plugin's package {module}")
    return bad


def _plugin_files() -> list[tuple[str, Path]]:
    return [(pkg.name, f) for pkg in sorted(PLUGINS.glob("mailrecover_*")) for f in sorted(pkg.rglob("*.py"))]


def test_there_are_plugin_files_to_check() -> None:
    packages = {pkg for pkg, _ in _plugin_files()}
    assert len(packages) >= 10 and "mailrecover_local" in packages


@pytest.mark.parametrize(("package", "path"), _plugin_files(), ids=lambda v: getattr(v, "name", v))
def test_plugins_import_only_the_kit_and_never_each_other(package: str, path: Path) -> None:
    assert forbidden_imports(path, package) == []


@pytest.mark.parametrize(
    ("source", "complaint"),
    [
        ("from mailrecover.readonly import mapped\n", "core module mailrecover.readonly"),
        ("import mailrecover.rfc822\n", "core module mailrecover.rfc822"),
        ("from mailrecover import places\n", "core module mailrecover.places"),
        ("def f():\n    from mailrecover.workspace import Workspace\n", "core module mailrecover.workspace"),
        (
            "from mailrecover_local.mbox import MboxPlugin\n",
            "another plugin's package mailrecover_local.mbox",
        ),
        ("import mailrecover_outlook._mapi\n", "another plugin's package mailrecover_outlook._mapi"),
    ],
)
def test_the_check_catches_each_kind_of_forbidden_import(tmp_path: Path, source: str, complaint: str) -> None:
    path = tmp_path / "reader.py"
    path.write_text(source)
    assert [complaint in b for b in forbidden_imports(path, "mailrecover_mine")] == [True]


def test_the_check_allows_the_kit_the_model_the_protocol_and_the_own_package(tmp_path: Path) -> None:
    path = tmp_path / "reader.py"
    path.write_text(
        "from mailrecover.pluginkit import mapped\nfrom mailrecover.model import Copy\n"
        "from mailrecover.plugin import ReadContext\nfrom mailrecover_mine._x import y\nfrom . import _z\n"
    )
    assert forbidden_imports(path, "mailrecover_mine") == []


def test_every_exported_name_exists_and_is_documented() -> None:
    doc = kit.__doc__ or ""
    assert len(kit.__all__) == len(set(kit.__all__))
    for name in kit.__all__:
        assert hasattr(kit, name), name
        assert f"``{name}" in doc or f"{name}(" in doc or f"``{name}``" in doc, f"{name} is not documented"


def test_the_detect_guards(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"!BDN....")
    f, d = str(tmp_path / "f"), str(tmp_path)
    assert kit.local_file(f) and not kit.local_file(d) and not kit.local_file("imaps://h/")
    assert kit.local_dir(d) and not kit.local_dir(f) and not kit.local_dir(str(tmp_path / "missing"))
    assert kit.is_url("imap://h.example/INBOX") and not kit.is_url(f)
    assert kit.file_head(f, 4) == b"!BDN"
    assert kit.file_head(d, 4) is None and kit.file_head("imaps://h/", 4) is None


@pytest.mark.parametrize("length", [0, 3, 64, 65535, 65536, 65537, 200_000])
def test_what_plugins_read_of_a_path_in_one_look_is_what_they_read_without_it(
    tmp_path: Path, length: int
) -> None:
    """Every plugin's ``detect`` judges a path in one look of the walk, which reads it once:
    each answer, for heads asked in any order, short and whole files, is the plain one."""
    (tmp_path / "f").write_bytes(bytes(range(256)) * (length // 256) + b"x" * (length % 256))
    f, sizes = str(tmp_path / "f"), [8, 1, 70_000, 4096, 1 << 22, 2, 300_000]
    plain = [kit.read_head(f, n) for n in sizes]
    guards = [kit.local_file(f), kit.local_dir(f), kit.local_dir(str(tmp_path)), kit.local_file("/nowhere")]
    with readonly.one_look():
        assert [kit.read_head(f, n) for n in sizes] == plain
        assert [
            kit.local_file(f),
            kit.local_dir(f),
            kit.local_dir(str(tmp_path)),
            kit.local_file("/nowhere"),
        ] == guards
        assert [kit.file_head(f, n) for n in reversed(sizes)] == plain[::-1]


def test_one_look_computes_a_glance_once_and_keeps_no_failure(tmp_path: Path) -> None:
    asked: list[str] = []

    def compute(path: str) -> int:
        asked.append(path)
        if path == "bad":
            raise OSError("cannot read")
        return len(asked)

    with readonly.one_look():
        assert [kit.glance("n", p, lambda p=p: compute(p)) for p in ("a", "a", "b", "a")] == [1, 1, 2, 1]
        for _ in range(2):
            with pytest.raises(OSError):
                kit.glance("n", "bad", lambda: compute("bad"))
    assert asked == ["a", "b", "bad", "bad"]
    assert kit.glance("n", "a", lambda: compute("a")) == 5  # outside a look: every time
    with pytest.raises(FileNotFoundError):
        with readonly.one_look():
            kit.read_head(str(tmp_path / "missing"), 4)
