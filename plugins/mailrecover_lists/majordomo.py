"""Majordomo 1.x: list files (one subscriber a line) under ``lists/``, and its ``Log``.

A list ``NAME`` is the file beside ``NAME.config`` / ``NAME.info``; ``NAME-digest`` holds the
digest subscribers of ``NAME``.  ``Log`` lines: ``Mon DD HH:MM:SS host majordomo[pid]
{requester} subscribe NAME ADDR`` (no year: taken from the file's time, stepping back a year
where the months go backwards).  The domain comes from ``--list`` or ``$whereami`` in
``majordomo.cf``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from mailrecover.model import Evidence, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import is_url, list_names

from ._common import (
    ListEvidence,
    address_lines,
    file_time,
    guarded,
    infer_years,
    parse_entry,
    read_lines,
    read_small,
    resolve_list,
)
from ._sniff import head, majordomo_log

__all__ = ["MajordomoPlugin"]

_LOG = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) \S+ "
    r"\S*majordomo\S*\[\d+\] \{(?P<who>[^}]*)\} (?P<cmd>subscribe|unsubscribe) (?P<list>\S+) (?P<addr>.+)$"
)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_WHEREAMI = re.compile(r"""^\s*\$whereami\s*=\s*["']([^"']+)["']""", re.M)
_NOT_LISTS = (".config", ".info", ".intro", ".passwd", ".archive", ".old", ".new", ".bak", ".auto")


def _list_files(lists_dir: str) -> list[str]:
    try:
        names = set(list_names(lists_dir))
    except OSError:
        return []
    return sorted(
        n
        for n in names
        if not n.startswith(".")
        and not n.endswith(_NOT_LISTS)
        and os.path.isfile(os.path.join(lists_dir, n))
        and (f"{n}.config" in names or f"{n}.info" in names or (n.endswith("-digest") and n[:-7] in names))
    )


class MajordomoPlugin:
    name = "majordomo"
    description = "Majordomo list files and Log"

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isdir(location):
            if os.path.isfile(os.path.join(location, "majordomo.cf")):
                return 85
            return 75 if _list_files(location) else 0
        base = os.path.basename(location)
        d = os.path.dirname(location) or "."
        if os.path.isfile(os.path.join(d, f"{base}.config")) or os.path.isfile(
            os.path.join(d, f"{base}.info")
        ):
            return 70
        return 80 if os.path.isfile(location) and majordomo_log(head(location)) else 0

    def discover(self) -> Iterable[Store]:
        for root in ("/usr/local/majordomo", "/etc/majordomo", "/var/lib/majordomo"):
            if os.path.isdir(root) and self.detect(root):
                yield Store(self.name, root)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        home = location if os.path.isdir(location) else os.path.dirname(location) or "."
        domain = self._domain(home, context) or self._domain(os.path.dirname(os.path.normpath(home)), context)
        if not os.path.isdir(location):
            if os.path.basename(location).lower() == "log" or majordomo_log(head(location)):
                yield from guarded(location, self._log(location, context, domain))
            else:
                yield from guarded(location, self._list(location, context, domain))
            return
        lists_dir = os.path.join(location, "lists")
        lists_dir = lists_dir if os.path.isdir(lists_dir) else location
        for name in _list_files(lists_dir):
            path = os.path.join(lists_dir, name)
            yield from guarded(path, self._list(path, context, domain))
        log = os.path.join(location, "Log")
        if os.path.isfile(log):
            yield from guarded(log, self._log(log, context, domain))

    @staticmethod
    def _domain(home: str, context: ReadContext) -> str | None:
        path = os.path.join(home, "majordomo.cf")
        if not os.path.isfile(path):
            return None
        try:
            m = _WHEREAMI.search(read_small(path, context, 1 << 20).decode("latin-1"))
        except OSError:
            return None
        return m[1] if m else None

    def _key(
        self, context: ReadContext, name: str, domain: str | None, single: bool
    ) -> tuple[str | None, str]:
        digest = "no"
        if name.endswith("-digest"):
            name, digest = name[: -len("-digest")], "yes"
        found = f"{name}@{domain}" if domain else None
        return resolve_list(context, short=name, found=found, single=single), digest

    def _list(self, path: str, context: ReadContext, domain: str | None) -> Iterator[Finding]:
        list_key, digest = self._key(context, os.path.basename(path), domain, single=True)
        snapshot = f"{path}#list"
        count = 0
        for finding in address_lines(
            self.name, path, context, list_key, "majordomo list file", digest=digest, snapshot=snapshot
        ):
            count += isinstance(finding, Evidence)
            yield finding
        if digest == "no":
            make = ListEvidence(self.name, path)
            yield make(
                "roster",
                "roster",
                file_time(path),
                list_key,
                snapshot=snapshot,
                count=str(count),
                how="majordomo list file",
            )

    def _log(self, path: str, context: ReadContext, domain: str | None) -> Iterator[Finding]:
        make = ListEvidence(self.name, path)
        hits = []
        for n, line in read_lines(path, context):
            m = _LOG.match(line)
            if m and m["mon"] in _MONTHS:
                hits.append((n, m))
        stamps = [(_MONTHS[m["mon"]], int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"])) for _, m in hits]
        last = file_time(path)
        years = infer_years(stamps, last.year if last else datetime.now(UTC).year)
        for (n, m), stamp, year in zip(hits, stamps, years):
            try:
                when: datetime | None = datetime(year, *stamp, tzinfo=UTC)
            except ValueError:
                when = None
            entry = parse_entry(m["addr"])
            if entry is None:
                yield Problem(ProblemKind.DAMAGED, path, str(n), "not an address")
                continue
            list_key, digest = self._key(context, m["list"], domain, single=False)
            yield make(
                m["cmd"],
                n,
                when,
                list_key,
                entry[0],
                entry[1],
                how=f"majordomo Log, requested by {m['who']}",
                digest=digest,
            )
