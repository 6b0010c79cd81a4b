"""A list of addresses somebody kept: plain text (``addr`` or ``Name <addr>`` a line) or CSV.

A CSV file's address column is the one headed ``email``, ``e-mail``, ``mail`` or ``address``
(else the first column holding an ``@``); a ``name`` column, if any, gives display names.
Such a list says who was a member when it was written, never that it was complete.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import decode_text, local_file

from ._common import (
    ListEvidence,
    address_lines,
    file_time,
    guarded,
    parse_entry,
    peek,
    read_lines,
    resolve_list,
)

__all__ = ["AddressListPlugin"]

_ADDRESS_HEADS = ("email", "e-mail", "mail", "address", "email address", "e-mail address", "mailaddress")
_NAME_HEADS = ("name", "display name", "display_name", "full name", "realname", "real name")


def _looks_like_addresses(head: bytes) -> bool:
    lines = [ln.strip() for ln in decode_text(head, None).splitlines()[:50]]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    return bool(lines) and sum(1 for ln in lines if parse_entry(ln)) >= 0.8 * len(lines)


class AddressListPlugin:
    name = "address-list"
    description = "a plain text or CSV list of a mailing list's addresses (needs --list)"

    def detect(self, location: str) -> int:
        if not local_file(location):
            return 0
        base = location.lower()
        if base.endswith(".csv"):
            head = peek(location)
            return 40 if b"@" in head else 0
        if base.endswith((".txt", ".lst", ".list")) and _looks_like_addresses(peek(location)):
            return 30
        return 0

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        list_key = resolve_list(context)
        if location.lower().endswith(".csv"):
            yield from guarded(location, self._csv(location, context, list_key))
        else:
            yield from guarded(
                location, address_lines(self.name, location, context, list_key, "address list")
            )

    def _csv(self, path: str, context: ReadContext, list_key: str | None) -> Iterator[Finding]:
        if list_key is None:
            yield Problem(ProblemKind.NEEDS_INPUT, path, "", "which list is this? give --list")
            return
        make = ListEvidence(self.name, path)
        when = file_time(path)
        address_col = name_col = None
        for n, line in read_lines(path, context):
            row = next(csv.reader(io.StringIO(line)), [])
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if address_col is None:
                heads = [c.lower() for c in cells]
                address_col = next((i for i, h in enumerate(heads) if h in _ADDRESS_HEADS), None)
                if address_col is not None:
                    name_col = next((i for i, h in enumerate(heads) if h in _NAME_HEADS), None)
                    continue  # a header row
                address_col = next((i for i, c in enumerate(cells) if parse_entry(c)), None)
                if address_col is None:
                    yield Problem(ProblemKind.DAMAGED, path, str(n), "no address in this row")
                    continue
            entry = parse_entry(cells[address_col]) if address_col < len(cells) else None
            if entry is None:
                yield Problem(ProblemKind.DAMAGED, path, str(n), "not an address")
                continue
            name = cells[name_col] if name_col is not None and name_col < len(cells) else entry[1]
            yield make("member", n, when, list_key, entry[0], name, how="address list (CSV)")
