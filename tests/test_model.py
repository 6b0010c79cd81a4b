"""The core's vocabularies: one enum each, holding the strings workspaces already store."""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import mailrecover
from mailrecover.cli import main
from mailrecover.model import JournalState, MessageStatus

from .support.builders import ACCOUNT, build_contaminated

CORE = Path(mailrecover.__file__).parent


def test_statuses_and_journal_states_are_the_strings_workspaces_hold(tmp_path: Path) -> None:
    """No migration: a workspace written before the enums reads the same, and vice versa."""
    assert {s.value for s in MessageStatus} == {"unchecked", "ok", "quarantined"}
    assert {s.value for s in JournalState} == {"pending", "done", "end"}
    ws = tmp_path / "ws"
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "gather",
                "--account",
                ACCOUNT,
                str(build_contaminated(tmp_path / "src").root),
            ]
        )
        == 0
    )
    assert (
        main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", f"mbox:{tmp_path / 'mbox'}"])
        == 3
    )
    db = sqlite3.connect(ws / "workspace.db")
    assert set(db.execute("SELECT status, typeof(status) FROM messages")) == {
        ("ok", "text"),
        ("quarantined", "text"),
    }
    assert set(db.execute("SELECT state, typeof(state) FROM journal")) == {("done", "text"), ("end", "text")}
    assert (
        main(
            [
                "--workspace",
                str(ws),
                "restore",
                "--account",
                ACCOUNT,
                "--alias",
                "taro@old.example",
                "--to",
                f"maildir:{tmp_path / 'Maildir'}",
                "--dry-run",
            ]
        )
        == 3
    )
    counts = dict(db.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    assert counts["quarantined"] == 4 and set(counts) == {
        "ok",
        "quarantined",
    }  # checked again after the alias


_VOCABULARY = {s.value for s in MessageStatus} | {s.value for s in JournalState}
#: SQL comparing a status or state column with a quoted literal, or writing one.
_SQL_LITERAL = re.compile(
    r"\b(?:status|state)\s*(?:=|!=|<>|IN)\s*\(?\s*'|(?=.*\b(?:INSERT|UPDATE)\b).*'(?:"
    + "|".join(_VOCABULARY)
    + ")'",
    re.IGNORECASE | re.DOTALL,
)


def _bare_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    frozen: set[int] = set()  # shipped migrations are never edited: their SQL keeps its literals
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and re.fullmatch(r"_m\d{3}_\w+", node.name):
            frozen.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))

    def bare(*nodes: ast.AST) -> bool:
        keys = {
            id(c)
            for n in nodes
            for s in ast.walk(n)
            if isinstance(s, ast.Subscript)
            for c in ast.walk(s.slice)
        }
        return any(
            isinstance(c, ast.Constant) and c.value in _VOCABULARY and id(c) not in keys
            for n in nodes
            for c in ast.walk(n)
        )  # (a["quarantined"] is a report's key)

    def named(*nodes: ast.AST) -> bool:
        return any(re.search(r"\b(?:status|state|statuses)\b", ast.unparse(n)) for n in nodes)

    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in frozen:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL_LITERAL.search(node.value):
            found.append(f"{path.name}:{node.lineno}: {node.value.strip()[:60]}")
        elif isinstance(node, ast.Compare) and named(node.left, *node.comparators) and bare(node):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Assign) and named(*node.targets) and bare(node.value):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Tuple) and any(
            isinstance(e, ast.Constant)
            and e.value in _VOCABULARY
            or isinstance(e, ast.IfExp)
            and bare(e.body)
            and bare(e.orelse)
            for e in node.elts
        ):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")  # a row written with a bare value
    return found


def test_statuses_and_journal_states_are_written_and_compared_through_the_enums() -> None:
    """One home for each vocabulary: a bare ``'quarantined'`` in a query or a comparison
    is how two modules come to disagree on a spelling."""
    found = [
        use for path in sorted(CORE.rglob("*.py")) if path.name != "model.py" for use in _bare_uses(path)
    ]
    assert found == []
