"""Text from sources made safe for where it goes: a terminal, an export line, a CSV cell.

Subjects, names, folder and file names and addresses come from mail and from damaged or
hostile stores.  On a terminal a control character is an escape (a cursor move, a window
title, a bidi override that makes a line read backwards); in a list manager's input a line
break is a second entry; in a spreadsheet a cell that starts with ``=`` is a formula.  One
rule for "control character" serves all three.
"""

from __future__ import annotations

import csv
import string
import unicodedata
from collections.abc import Iterable
from typing import TextIO

__all__ = ["csv_cell", "is_addr_spec", "json_safe", "terminal_safe", "write_csv"]


#: Characters that reorder what follows them: a subject could make a line read backwards.
_BIDI = frozenset("\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: Control characters (C0, DEL, C1), lone surrogates, and the line and paragraph separators
#: U+2028/U+2029, which Python's ``splitlines`` and JavaScript take for line breaks.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _unsafe(ch: str) -> bool:
    return ch in _BIDI or unicodedata.category(ch) in _UNSAFE_CATEGORIES


def terminal_safe(text: str) -> str:
    """``text`` with control characters (terminal escapes, NUL, newlines, CR), lone surrogates,
    line separators and bidi overrides shown as ``?``; joiners and other invisible marks of
    real scripts stay."""
    if text.isascii() and text.isprintable():  # the common case, without a look per character
        return text
    return "".join("?" if _unsafe(ch) else ch for ch in text)


def json_safe(text: str) -> str:
    """JSON text (as ``json.dumps`` wrote it, without ``ensure_ascii``) with every character
    ``terminal_safe`` would hide written as a ``\\u`` escape: the same data, nothing a terminal
    acts on.  ``json.dumps`` escapes C0 controls itself, so a raw newline is layout."""
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(f"\\u{ord(ch):04x}" if ch != "\n" and _unsafe(ch) else ch for ch in text)


#: RFC 5322 ``atext``: what a dot-atom's parts may hold, besides UTF-8 beyond ASCII (RFC 6532).
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~")
_LABEL = frozenset(string.ascii_letters + string.digits + "-")


def _atom(text: str, allowed: frozenset[str]) -> bool:
    return bool(text) and all(
        ch in allowed or (not ch.isascii() and ch.isprintable() and not ch.isspace() and not _unsafe(ch))
        for ch in text
    )


def is_addr_spec(address: str) -> bool:
    """Whether ``address`` is a plain ``local@domain`` a list manager can take as one entry:
    a dot-atom local part (RFC 5322, UTF-8 allowed) and a domain of letter-digit-hyphen labels.

    Quoted local parts (``"a b"@x``) and domain literals are valid RFC 5322 yet left out:
    list managers' input formats split on white space and read ``"`` and ``<`` as syntax.
    """
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64:
        return False
    if not all(_atom(part, _ATEXT) for part in local.split(".")):
        return False
    return all(_atom(label, _LABEL) and label[0] != "-" and label[-1] != "-" for label in domain.split("."))


#: A spreadsheet reads a cell that starts with one of these as a formula (OWASP, CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One CSV cell as a spreadsheet may open it: no control character inside, and text that
    would start a formula prefixed with ``'`` (which the spreadsheet shows as text)."""
    text = str(value)
    risky = text.startswith(_FORMULA_START)
    text = terminal_safe(text)
    return "'" + text if risky else text


def write_csv(out: TextIO, header: Iterable[object], rows: Iterable[Iterable[object]]) -> None:
    """Every CSV mailrecover writes: one line per row, each cell through ``csv_cell``."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(v) for v in header])
    writer.writerows([csv_cell(v) for v in row] for row in rows)
