"""ezmlm / ezmlm-idx list directories: ``subscribers/`` (``T<address>\\0`` entries), ``Log``.

The list's address is ``outlocal@outhost`` (``inlocal``/``inhost`` as fallback); digest
subscribers live under ``digest/``.  ``Log`` lines are ``<epoch> <+|-><how> <address>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import is_url, list_names

from ._common import ListEvidence, guarded, parse_entry, read_lines, read_small, resolve_list
from ._sniff import ezmlm_log, head

__all__ = ["EzmlmPlugin"]


def _control(directory: str, name: str, context: ReadContext) -> str:
    path = os.path.join(directory, name)
    try:
        return read_small(path, context, 1 << 16).decode("latin-1").strip().splitlines()[0].strip()
    except (OSError, IndexError):
        return ""


def _is_list_dir(path: str) -> bool:
    return os.path.isdir(path) and (
        os.path.isdir(os.path.join(path, "subscribers"))
        or (
            os.path.isfile(os.path.join(path, "Log"))
            and any(os.path.isfile(os.path.join(path, n)) for n in ("outlocal", "inlocal"))
        )
    )


class EzmlmPlugin:
    name = "ezmlm"
    description = "ezmlm / ezmlm-idx list directories: subscribers/ and Log"

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if _is_list_dir(location):
            return 85
        if os.path.isdir(location) and os.path.basename(os.path.normpath(location)) == "subscribers":
            return 60
        if os.path.isfile(location) and ezmlm_log(head(location)):
            return 80  # a Log kept without its list directory
        return 0

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if os.path.isfile(location):
            yield from self._lone_log(location, context)
            return
        if not os.path.isdir(location):
            yield Problem(ProblemKind.NOT_MAIL, location, "", "not an ezmlm list directory")
            return
        if os.path.basename(os.path.normpath(location)) == "subscribers":
            root = os.path.dirname(os.path.normpath(location))
            parts = [(location, "no")]
            logs: list[tuple[str, str]] = []
        else:
            root = location
            parts = [
                (os.path.join(root, "subscribers"), "no"),
                (os.path.join(root, "digest", "subscribers"), "yes"),
            ]
            logs = [(os.path.join(root, "Log"), "no"), (os.path.join(root, "digest", "Log"), "yes")]
        local = _control(root, "outlocal", context) or _control(root, "inlocal", context)
        host = _control(root, "outhost", context) or _control(root, "inhost", context)
        short = local or os.path.basename(os.path.normpath(root))
        list_key = resolve_list(context, short=short, found=f"{local}@{host}" if local and host else None)
        for directory, digest in parts:
            if os.path.isdir(directory):
                yield from guarded(directory, self._subscribers(directory, digest, list_key, context))
        for path, digest in logs:
            if os.path.isfile(path):
                yield from guarded(path, self._log(path, digest, list_key, context))

    def _lone_log(self, path: str, context: ReadContext) -> Iterator[Finding]:
        """A ``Log`` read on its own: its list is ``--list``, else the directory it sits in."""
        directory = os.path.dirname(os.path.abspath(path))
        digest = "yes" if os.path.basename(directory) == "digest" else "no"
        root = os.path.dirname(directory) if digest == "yes" else directory
        local = _control(root, "outlocal", context) or _control(root, "inlocal", context)
        host = _control(root, "outhost", context) or _control(root, "inhost", context)
        short = local or os.path.basename(root)
        list_key = resolve_list(context, short=short, found=f"{local}@{host}" if local and host else None)
        yield from guarded(path, self._log(path, digest, list_key, context))

    def _subscribers(
        self, directory: str, digest: str, list_key: str | None, context: ReadContext
    ) -> Iterator[Finding]:
        names = sorted(n for n in list_names(directory) if not n.startswith("."))
        paths = [os.path.join(directory, n) for n in names if os.path.isfile(os.path.join(directory, n))]
        times = [os.stat(p).st_mtime for p in paths]
        when = datetime.fromtimestamp(max(times), UTC) if times else None
        snapshot = f"{directory}#subscribers"
        count = 0
        for path in paths:
            make = ListEvidence(self.name, path)
            data = read_small(path, context)
            offset = 0
            for chunk in data.split(b"\0"):
                here, offset = offset, offset + len(chunk) + 1
                if not chunk:
                    continue
                entry = parse_entry(chunk[1:].decode("utf-8", "replace")) if chunk[:1] == b"T" else None
                if entry is None:
                    yield Problem(ProblemKind.DAMAGED, path, str(here), "not a T<address> entry")
                    continue
                count += 1
                yield make(
                    "member",
                    here,
                    when,
                    list_key,
                    entry[0],
                    how="ezmlm subscribers",
                    digest=digest,
                    snapshot=snapshot,
                )
        if digest == "no":
            yield ListEvidence(self.name, directory)(
                "roster",
                "roster",
                when,
                list_key,
                snapshot=snapshot,
                count=str(count),
                how="ezmlm subscribers",
            )

    def _log(self, path: str, digest: str, list_key: str | None, context: ReadContext) -> Iterator[Finding]:
        make = ListEvidence(self.name, path)
        for n, line in read_lines(path, context):
            fields = line.split()
            if len(fields) < 3 or not fields[0].isdigit() or fields[1][:1] not in "+-":
                if line.strip():
                    yield Problem(ProblemKind.DAMAGED, path, str(n), "not an ezmlm Log line")
                continue
            entry = parse_entry(fields[2])
            if entry is None:
                yield Problem(ProblemKind.DAMAGED, path, str(n), "not an address")
                continue
            when = datetime.fromtimestamp(int(fields[0]), UTC)
            kind = "subscribe" if fields[1][0] == "+" else "unsubscribe"
            how = fields[1][1:] or ("subscribed" if kind == "subscribe" else "unsubscribed")
            yield make(kind, n, when, list_key, entry[0], how=f"ezmlm Log: {how}", digest=digest)
