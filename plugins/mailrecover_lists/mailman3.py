"""Mailman 3: ``mailman members LIST`` output and REST roster dumps (JSON).

``mailman members`` prints ``Name <addr>`` or ``addr`` a line.  A roster dump is what
``GET /3.1/lists/<list_id>/roster/member`` (or ``…/members``) returns: ``{"entries": [{"email",
"display_name", "delivery_mode", "role", "list_id", …}], "total_size": N}``; a JSON list of
entries or of such pages is read too.  Only ``role: member`` entries are members.  Without
``--list`` the list's address is taken from ``list_id`` (``name.host`` → ``name@host``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import local_file

from ._common import (
    ListEvidence,
    address_lines,
    file_time,
    guarded,
    parse_entry,
    peek,
    read_small,
    resolve_list,
)

__all__ = ["Mailman3Plugin"]


def _pages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value] if "entries" in value else []
    if isinstance(value, list):
        if all(isinstance(v, dict) and "entries" in v for v in value):
            return value
        return [{"entries": value}]
    return []


class Mailman3Plugin:
    name = "mailman3"
    description = "Mailman 3 'mailman members' output and REST roster JSON dumps"

    def detect(self, location: str) -> int:
        if not local_file(location):
            return 0
        head = peek(location, 4096).lstrip()
        if (
            head[:1] in (b"{", b"[")
            and b'"entries"' in head
            and (b'"list_id"' in head or b'"delivery_mode"' in head)
        ):
            return 85
        return 0

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if peek(location, 64).lstrip()[:1] in (b"{", b"["):
            yield from guarded(location, self._json(location, context))
        else:
            yield from guarded(location, self._text(location, context))

    def _json(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            value = json.loads(read_small(location, context))
        except (ValueError, UnicodeDecodeError) as e:
            yield Problem(ProblemKind.DAMAGED, location, "", f"not JSON: {e}")
            return
        pages = _pages(value)
        if not pages:
            yield Problem(ProblemKind.NOT_MAIL, location, "", "no roster entries in this JSON")
            return
        make = ListEvidence(self.name, location)
        when = file_time(location)
        snapshot = f"{location}#roster"
        seen = 0
        totals = {p.get("total_size") for p in pages}
        rosters: dict[str | None, int] = {}
        for p, page in enumerate(pages):
            for i, entry in enumerate(page.get("entries") or []):
                seen += 1
                if not isinstance(entry, dict):
                    yield Problem(ProblemKind.DAMAGED, location, f"{p}:{i}", "entry is not an object")
                    continue
                role = str(entry.get("role") or "member")
                parsed = parse_entry(str(entry.get("email") or ""))
                if parsed is None:
                    yield Problem(ProblemKind.DAMAGED, location, f"{p}:{i}", "entry without an address")
                    continue
                list_id = str(entry.get("list_id") or "")
                short, _, host = list_id.partition(".")
                list_key = resolve_list(
                    context, short=short or None, found=f"{short}@{host}" if short and host else None
                )
                if role != "member":
                    continue  # owners, moderators and nonmembers are not subscribers
                rosters[list_key] = rosters.get(list_key, 0) + 1
                mode = str(entry.get("delivery_mode") or "regular")
                yield make(
                    "member",
                    f"{p}:{i}",
                    when,
                    list_key,
                    parsed[0],
                    str(entry.get("display_name") or ""),
                    how="mailman3 REST roster",
                    digest="no" if mode == "regular" else "yes",
                    delivery_mode=mode,
                    list_id=list_id,
                    snapshot=snapshot,
                    nomail=""
                    if str(entry.get("delivery_status") or "enabled") == "enabled"
                    else str(entry.get("delivery_status")),
                )
        complete = len(totals) == 1 and None not in totals and seen == next(iter(totals))
        if complete:
            for list_key, count in rosters.items():
                yield make(
                    "roster",
                    "roster",
                    when,
                    list_key,
                    snapshot=snapshot,
                    count=str(count),
                    how="mailman3 REST roster",
                )

    def _text(self, location: str, context: ReadContext) -> Iterator[Finding]:
        return address_lines(self.name, location, context, resolve_list(context), "mailman members output")
