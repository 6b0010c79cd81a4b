"""fml (popular in Japan): fml4 ``members`` / ``actives`` and their ``.bak`` snapshots, fml8
``members`` / ``recipients``, and the list's ``log`` (both generations).

fml4 member files carry a ``#.FML HEADER`` block; an entry is ``addr [r=relay] [m=digest]
[s=skip]`` (or the old ``addr relay matome 3u``); ``##BYE addr`` marks who left and
``#<tab>addr`` who stopped delivery.  Every change first appends the old file to
``<file>.bak`` under a line ``----- Backup on DATE -----``: each such block is a snapshot.
``members`` lists everyone who belongs (and may post); ``actives`` only who receives, so only
``members`` snapshots are complete rosters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import is_url, list_names, normalize_address, parse_date

from ._common import ListEvidence, file_time, guarded, parse_entry, read_lines, read_small, resolve_list
from ._sniff import fml_log, fml_member_file, head

__all__ = ["FmlPlugin"]

_MEMBER_FILES = ("members", "actives", "recipients")
_STAMP = re.compile(r"^(\d{2}|\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)\s*(.*)$")
_BACKUP = re.compile(r"^----- Backup on (.+?) -----\s*$")
_BYE = re.compile(r"^##BYE\s+(\S+)")
_OFF = re.compile(r"^#\s+(\S+@\S+)(?:\s|$)")
_ADDED = re.compile(r"^Added: (\S+)(.*)$")
_ACCEPTED = re.compile(r"^(BYE|OFF|ON|CHADDR|MATOME|SKIP|NOSKIP) \[(\S+)\].*\baccepted")
_TRY_CHADDR = re.compile(r"^\S+: Try change address: (\S+) -> (\S+)")
_FML8 = re.compile(r"^(add|remove) (\S+) (?:to|from) map=(\S+)")
_MAIL_LIST = re.compile(r"""^\s*\$MAIL_LIST\s*=\s*["']([^"']+)["']""", re.M)
_PERL_VAR = re.compile(r"""^\s*\$(\w+)\s*=\s*["']([^"'$]*)["']\s*;""", re.M)
_COMMENT = re.compile(r"\s#")
_CF_VAR = re.compile(r"^\s*(ml_name|ml_domain)\s*=\s*(\S+)", re.M)


def _fml_time(text: str) -> datetime | None:
    m = _STAMP.match(text.strip())
    if not m:
        return parse_date(text)
    year = int(m[1])
    if year < 100:
        year += 2000 if year < 70 else 1900
    try:
        return datetime(year, int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), tzinfo=UTC)
    except ValueError:
        return None


def _list_address(directory: str, context: ReadContext) -> tuple[str | None, str]:
    """(address from config.ph / config.cf if any, the directory's name)."""
    short = os.path.basename(os.path.normpath(directory))
    for name in ("config.ph", "config.cf"):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            text = read_small(path, context, 1 << 20).decode("latin-1")
        except OSError:
            continue
        if name == "config.cf":
            cf = dict(_CF_VAR.findall(text))
            if "ml_name" in cf and "ml_domain" in cf:
                return f"{cf['ml_name']}@{cf['ml_domain']}", cf["ml_name"]
            continue
        m = _MAIL_LIST.search(text)
        if m:
            value = m[1].replace("\\@", "@")
            for var, val in _PERL_VAR.findall(text):
                value = value.replace(f"${var}", val).replace(f"${{{var}}}", val)
            if "$" not in value and "@" in value:
                return value, short
    return None, short


def _names(directory: str) -> set[str]:
    try:
        return set(list_names(directory))
    except OSError:
        return set()


def _entry(line: str) -> tuple[str, str] | None:
    """(address, options) of an active member line, or None for comments and blanks."""
    line = _COMMENT.split(line, 1)[0].strip()
    if not line or line.startswith("#") or line.startswith("+"):
        return None
    addr, *opts = line.split()
    return addr, " ".join(opts)


def _content(path: str) -> str:
    """``members`` or ``log`` when the file's content is fml's, whatever its name; else ''."""
    if not os.path.isfile(path):
        return ""
    data = head(path)
    return "members" if fml_member_file(data) else "log" if fml_log(data) else ""


class FmlPlugin:
    name = "fml"
    description = "fml4/fml8 list directories: members, actives, .bak snapshots, log"

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isdir(location):
            has = _names(location)
            if ({"config.ph", "config.cf"} & has) and ({"members", "actives", "recipients", "log"} & has):
                return 85
            if {"members", "actives"} <= has or ({"members", "log", "seq"} <= has):
                return 75
            if any(_content(os.path.join(location, n)) for n in ("members", "actives", "log") if n in has):
                return 80  # a list directory that lost its config: its files say what they are
            return 0
        base = os.path.basename(location)
        if base in ("actives", "actives.bak", "members.bak"):
            return 70
        if base in ("members", "recipients", "log") and {"config.ph", "config.cf", "seq"} & _names(
            os.path.dirname(location) or "."
        ):
            return 70
        return 80 if _content(location) else 0

    def discover(self) -> Iterable[Store]:
        for root in ("/var/spool/ml", "/usr/local/fml/ml"):
            if os.path.isdir(root):
                for name in list_names(root):
                    path = os.path.join(root, name)
                    if self.detect(path):
                        yield Store(self.name, path)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        directory = location if os.path.isdir(location) else (os.path.dirname(location) or ".")
        found, short = _list_address(directory, context)
        list_key = resolve_list(context, short=short, found=found)
        if os.path.isdir(location):
            paths = [
                os.path.join(location, n)
                for n in ("members.bak", "actives.bak", "members", "actives", "recipients", "log")
            ]
            paths = [p for p in paths if os.path.isfile(p)]
        else:
            paths = [location]
        for path in paths:
            base = os.path.basename(path)
            if base.endswith(".bak"):
                reader = self._backups(path, context, list_key)
            elif base == "log" or (base not in _MEMBER_FILES and _content(path) == "log"):
                reader = self._log(path, context, list_key)
            elif base in _MEMBER_FILES or _content(path) == "members":
                reader = self._members(path, context, list_key)
            else:
                yield Problem(ProblemKind.NOT_MAIL, path, "", "not an fml list file")
                continue
            yield from guarded(path, reader)

    def _members(self, path: str, context: ReadContext, list_key: str | None) -> Iterator[Finding]:
        base = os.path.basename(path)
        yield from self._snapshot(path, base, read_lines(path, context), list_key, file_time(path), "current")

    def _backups(self, path: str, context: ReadContext, list_key: str | None) -> Iterator[Finding]:
        base = os.path.basename(path)[: -len(".bak")]
        block: list[tuple[int, str]] = []
        when: datetime | None = None
        start = 0
        for n, line in read_lines(path, context):
            m = _BACKUP.match(line)
            if m:
                if start:
                    yield from self._snapshot(path, base, iter(block), list_key, when, str(start))
                block, when, start = [], _fml_time(m[1]), n
                continue
            if start:
                block.append((n, line))
        if start:
            yield from self._snapshot(path, base, iter(block), list_key, when, str(start))

    def _snapshot(
        self,
        path: str,
        base: str,
        lines: Iterator[tuple[int, str]],
        list_key: str | None,
        when: datetime | None,
        label: str,
    ) -> Iterator[Finding]:
        """One member file as it stood at ``when``: who was in, who had said goodbye."""
        make = ListEvidence(self.name, path)
        snapshot = f"{path}#{label}"
        present: set[str] = set()
        byes: list[tuple[int, str]] = []
        in_header = False
        count = 0
        for n, line in lines:
            if line.startswith("#.FML"):
                in_header = True
                continue
            if line.startswith("#.endFML"):
                in_header = False
                continue
            if in_header or not line.strip():
                continue
            if m := _BYE.match(line):
                byes.append((n, m[1]))
                continue
            if m := _OFF.match(line):
                entry, nomail, opts = parse_entry(m[1]), "off", ""
            elif (e := _entry(line)) is not None:
                entry, nomail, opts = parse_entry(e[0]), "", e[1]
                if "s=skip" in opts or re.search(r"(?:^|\s)skip\b", opts):
                    nomail = "skip"
            else:
                continue  # a comment
            if entry is None:
                yield Problem(ProblemKind.DAMAGED, path, str(n), "not an address")
                continue
            digest = "yes" if re.search(r"(?:^|\s)(?:m=|matome\s)", _COMMENT.split(line, 1)[0]) else "no"
            present.add(normalize_address(entry[0]))
            count += 1
            yield make(
                "member",
                n,
                when,
                list_key,
                entry[0],
                how=f"fml {base}",
                digest=digest,
                nomail=nomail,
                snapshot=snapshot,
                file=base,
                options=" ".join(o for o in opts.split() if re.fullmatch(r"[rm]=[\w.@-]+", o)),
            )
        for n, addr in byes:
            entry = parse_entry(addr)
            if entry and normalize_address(entry[0]) not in present:
                yield make("unsubscribe", n, when, list_key, entry[0], how=f"##BYE in fml {base}")
        if base == "members":
            yield make(
                "roster",
                f"roster:{label}",
                when,
                list_key,
                snapshot=snapshot,
                count=str(count),
                how=f"fml {base}",
            )

    def _log(self, path: str, context: ReadContext, list_key: str | None) -> Iterator[Finding]:
        make = ListEvidence(self.name, path)
        pending: dict[str, str] = {}
        for n, line in read_lines(path, context):
            m = _STAMP.match(line)
            if not m:
                continue
            when, message = _fml_time(line), m[7]
            if mm := _ADDED.match(message):
                entry = parse_entry(mm[1])
                if entry:
                    digest = "yes" if "m=" in mm[2] else "no"
                    yield make("subscribe", n, when, list_key, entry[0], how="fml log: Added", digest=digest)
            elif mm := _TRY_CHADDR.match(message):
                pending[normalize_address(mm[1])] = mm[2]
            elif mm := _ACCEPTED.match(message):
                cmd, addr = mm[1], mm[2]
                entry = parse_entry(addr)
                if entry is None:
                    continue
                if cmd == "BYE":
                    yield make("unsubscribe", n, when, list_key, entry[0], how="fml log: BYE")
                elif cmd == "CHADDR" and normalize_address(addr) in pending:
                    new = parse_entry(pending.pop(normalize_address(addr)))
                    if new:
                        yield make(
                            "address-change",
                            n,
                            when,
                            list_key,
                            new[0],
                            old_address=normalize_address(addr),
                            how="fml log: CHADDR",
                        )
                elif cmd in ("OFF", "ON", "SKIP", "NOSKIP", "MATOME"):
                    yield make(
                        "member",
                        n,
                        when,
                        list_key,
                        entry[0],
                        how=f"fml log: {cmd}",
                        nomail="off" if cmd in ("OFF", "SKIP") else "",
                    )
            elif mm := _FML8.match(message):
                target = mm[3].rstrip("/").rsplit("/", 1)[-1]
                if target not in ("members", "recipients"):
                    continue  # admin and moderator maps are not membership
                if mm[1] == "remove" and target == "recipients":
                    continue  # delivery stopped; only leaving ``members`` is leaving the list
                entry = parse_entry(mm[2])
                if entry:
                    kind = "subscribe" if mm[1] == "add" else "unsubscribe"
                    yield make(kind, n, when, list_key, entry[0], how=f"fml8 log: {mm[1]} {target}")
