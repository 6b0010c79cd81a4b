"""How the core's modules depend on each other: stages in one direction, no two modules
importing each other (a cycle makes every change to one a change to both)."""

from __future__ import annotations

import ast
from pathlib import Path

import mailrecover

CORE = Path(mailrecover.__file__).parent


def _name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Each core module and the core modules it imports, at the top or inside a function."""
    modules = {_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                found.add(origin)
                found.update(f"{origin}.{alias.name}" for alias in node.names)  # from . import module
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Rings of core modules that reach each other.  A subpackage counts as one module: its
    ``__init__`` opening its own submodules, and they importing its protocol, is no cycle."""

    def top(name: str) -> str:
        return ".".join(name.split(".")[:2])

    merged: dict[str, set[str]] = {}
    for name, imported in graph.items():
        merged.setdefault(top(name), set()).update(top(m) for m in imported if top(m) != top(name))

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in merged.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    found = []
    for a in sorted(merged):
        ring = sorted(b for b in reach(a) if b != a and a in reach(b))
        if ring and a < ring[0]:
            found.append([a, *ring])
    return found


def test_no_two_core_modules_import_each_other() -> None:
    assert _cycles(_imports()) == []


def test_the_reports_read_the_workspace_without_the_restore_stage() -> None:
    """``report`` and ``report_html`` share their helpers through a module both import, and
    bring the merge up to date through ``merged``, beside the merge, not through ``restore``."""
    graph = _imports()
    assert "mailrecover.restore" not in graph["mailrecover.report"]
    assert "mailrecover.report_html" not in graph["mailrecover.report"]
    assert "mailrecover.report" not in graph["mailrecover.report_html"]
    assert (
        "mailrecover.merged" in graph["mailrecover.report"]
        and "mailrecover.merged" in graph["mailrecover.restore"]
    )


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"m.a": {"m.b"}, "m.b": {"m.c"}, "m.c": {"m.a"}, "m.d": {"m.a"}}) == [
        ["m.a", "m.b", "m.c"]
    ]
    assert _cycles({"m.t": {"m.t.x", "m.t.y"}, "m.t.x": {"m.t"}, "m.t.y": {"m.t"}}) == []
