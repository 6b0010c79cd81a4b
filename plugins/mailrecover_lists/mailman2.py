"""Mailman 2.1: ``logs/subscribe`` (rotated), ``list_members`` output, ``config.pck`` pickles.

``config.pck`` is a Python 2 pickle.  Loading a pickle plainly runs whatever it names, so it
is read only through an unpickler that hands out one inert stand-in (for the bounce record
Mailman keeps per member) and refuses every other global: such a file costs a problem line.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from mailrecover.model import Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import is_url, list_names, normalize_address

from ._common import (
    ListEvidence,
    address_lines,
    file_time,
    guarded,
    parse_entry,
    peek,
    read_lines,
    read_small,
    resolve_list,
)
from ._sniff import head, mailman_pickle

__all__ = ["Mailman2Plugin", "load_config"]

_LOG_LINE = re.compile(
    r"^(?P<stamp>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}) \(\d+\) (?P<list>[^\s:]+): (?P<rest>.*)$"
)
_NEW = re.compile(r"^new(?P<digest> \(digest\))? (?P<who>.+?)(?:, (?P<how>[^,<>@]*))?$")
_DELETED = re.compile(r"^deleted (?P<who>.+?)(?:; (?P<how>.*))?$")
_CHANGED = re.compile(r"^changed member address from (?P<old>\S+) to (?P<new>[^\s,]+)(?P<how>.*)$")
_AUTO = re.compile(r"^(?P<who>\S+) auto-unsubscribed(?: \[reason: (?P<how>[^\]]*)\])?")
_LOG_NAME = re.compile(r"^subscribe(?:[.-]\d+)*(?:\.gz)?$")
_CONFIG_NAMES = ("config.pck", "config.pck.last")

_ALLOWED = {("Mailman.Bouncer", "_BounceInfo")}
# Mailman's delivery_status codes (MemberAdaptor: ENABLED 0, UNKNOWN 1, BYUSER 2, BYADMIN 3,
# BYBOUNCE 4): why delivery to a member was switched off.
_DISABLED = {1: "unknown", 2: "by user", 3: "by admin", 4: "by bounce"}
# user_options flag values (mm_cfg): DisableDelivery is the old way of saying "by user".
_DISABLE_DELIVERY, _MODERATE = 1, 128


class _InertRecord:
    """Stands in for Mailman's per-member bounce record: keeps its state as data, runs nothing."""

    def __init__(self, *args: object) -> None:
        self.state: dict[Any, Any] = {}

    def __setstate__(self, state: object) -> None:
        self.state = state if isinstance(state, dict) else {}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _InertRecord
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def _globals_named(data: bytes) -> list[str]:
    """The globals a pickle would ask for, listed without running anything."""
    names: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                names.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL":
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a damaged pickle: whatever was listed so far is all we can say
        pass
    return names


def load_config(data: bytes) -> dict[str, Any]:
    """A Mailman 2 list's configuration from ``config.pck`` bytes, without running anything.

    Raises ``ValueError`` naming what the pickle asked for when it is refused or damaged.
    """
    foreign = sorted({n for n in _globals_named(data) if tuple(n.rsplit(".", 1)) not in _ALLOWED})
    if foreign:
        raise ValueError(f"refused: the pickle asks for {', '.join(foreign[:5])}")
    try:
        value = _RestrictedUnpickler(io.BytesIO(data), encoding="latin-1").load()
    except Exception as e:  # any damage at all is a problem line, never a crash
        raise ValueError(f"not a readable pickle: {e}") from e
    if not isinstance(value, dict):
        raise ValueError(f"holds a {type(value).__name__}, not a list configuration")
    return value


def _mapping(config: dict[str, Any], name: str) -> dict[Any, Any]:
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else ""


def _epoch(value: object) -> str:
    """An epoch time from a pickle, as ISO 8601 UTC; '' when there is none."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(float(value), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return ""
    return ""


def _delivery(status: object, opts: int) -> tuple[str, str]:
    """(why delivery is off, since when) from ``delivery_status`` ``(code, time)`` and the options."""
    if isinstance(status, tuple) and status and isinstance(status[0], int) and status[0] in _DISABLED:
        return _DISABLED[status[0]], _epoch(status[1]) if len(status) > 1 else ""
    return ("by user", "") if opts & _DISABLE_DELIVERY else ("", "")


def _score(record: object) -> str:
    """The bounce score Mailman kept for a member, as text."""
    state = record.state if isinstance(record, _InertRecord) else {}
    score = next((v for k, v in state.items() if _text(k) == "score"), None)
    return f"{score:g}" if isinstance(score, (int, float)) else ""


def _save_marks(config: dict[str, Any]) -> dict[str, str]:
    """What in a config.pck grows with every save (``post_id``, ``last_post_time``): it orders
    two snapshots whose file times a copy made equal."""
    marks = {}
    post_id = config.get("post_id")
    if isinstance(post_id, (int, float)) and not isinstance(post_id, bool):
        marks["post_id"] = f"{post_id:g}"
    if last := _epoch(config.get("last_post_time")):
        marks["last_post_time"] = last
    return marks


def _log_time(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(" ".join(stamp.split()), "%b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _sniff(path: str) -> str:
    """``config``, ``log`` or ``members`` for a single file, from its name and first bytes."""
    base = os.path.basename(path)
    if base in _CONFIG_NAMES:
        return "config"
    if _LOG_NAME.match(base):
        return "log"
    start = peek(path, 512)
    if start[:1] in (b"}", b"(", b"\x80"):
        return "config"
    first = start.split(b"\n", 1)[0].decode("latin-1")
    return "log" if _LOG_LINE.match(first) else "members"


class Mailman2Plugin:
    name = "mailman2"
    description = "Mailman 2 subscribe logs, list_members output and config.pck (read safely)"

    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isdir(location):
            if any(os.path.exists(os.path.join(location, n)) for n in _CONFIG_NAMES):
                return 85
            if self._log_files(os.path.join(location, "logs")) or self._list_dirs(location):
                return 40  # a whole Mailman tree: walked, so its archive mboxes are read as mail too
            if os.path.basename(os.path.normpath(location)) == "logs" and self._log_files(location):
                return 70
            return 0
        base = os.path.basename(location)
        if base in _CONFIG_NAMES:
            return 90
        if _LOG_NAME.match(base) and _sniff(location) == "log":
            return 85
        if os.path.isfile(location) and mailman_pickle(head(location)):
            return 85  # a config.pck copied alone, under whatever name
        return 60 if "list_members" in base else 0

    def discover(self) -> Iterable[Store]:
        for root in ("/var/lib/mailman", "/usr/local/mailman", "/var/mailman"):
            if os.path.isdir(root) and self.detect(root):
                yield Store(self.name, root)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if not os.path.isdir(location):
            kind = _sniff(location)
            reader = {"config": self._config, "log": self._log, "members": self._members}[kind]
            yield from guarded(location, reader(location, context, {}))
            return
        if any(os.path.exists(os.path.join(location, n)) for n in _CONFIG_NAMES):
            list_dirs = [location]
        else:
            list_dirs = self._list_dirs(location)
        hosts: dict[str, str] = {}
        for d in list_dirs:
            for n in _CONFIG_NAMES:
                path = os.path.join(d, n)
                if os.path.isfile(path):
                    yield from guarded(path, self._config(path, context, hosts))
        logs = os.path.join(location, "logs")
        logs = logs if os.path.isdir(logs) else location
        for path in self._log_files(logs):
            yield from guarded(path, self._log(path, context, hosts))

    @staticmethod
    def _list_dirs(root: str) -> list[str]:
        lists = os.path.join(root, "lists")
        try:
            names = list_names(lists)
        except OSError:
            return []
        return [
            os.path.join(lists, n)
            for n in names
            if any(os.path.isfile(os.path.join(lists, n, c)) for c in _CONFIG_NAMES)
        ]

    @staticmethod
    def _log_files(logs: str) -> list[str]:
        try:
            names = list_names(logs)
        except OSError:
            return []
        return [os.path.join(logs, n) for n in sorted(names) if _LOG_NAME.match(n)]

    def _config(self, path: str, context: ReadContext, hosts: dict[str, str]) -> Iterator[Finding]:
        try:
            config = load_config(read_small(path, context))
        except ValueError as e:
            yield Problem(ProblemKind.DAMAGED, path, "", str(e))
            return
        short = _text(config.get("_internal_name")) or os.path.basename(os.path.dirname(path))
        host = _text(config.get("host_name"))
        found = f"{short}@{host}" if short and host else None
        if found:
            hosts[short.lower()] = found
        list_key = resolve_list(context, short=short, found=found)
        when = file_time(path)
        snapshot = f"{path}#config"
        make = ListEvidence(self.name, path)
        names, options = _mapping(config, "usernames"), _mapping(config, "user_options")
        status, bounces = _mapping(config, "delivery_status"), _mapping(config, "bounce_info")
        count = 0
        for field, digest in (("members", "no"), ("digest_members", "yes")):
            roster = _mapping(config, field)
            for key in sorted(roster, key=_text):
                lower = _text(key)
                written = _text(roster[key]) or lower
                if not parse_entry(written):
                    yield Problem(ProblemKind.DAMAGED, path, f"{field}:{lower}", "not an address")
                    continue
                opts = options.get(key, 0) if isinstance(options.get(key, 0), int) else 0
                nomail, since = _delivery(status.get(key), opts)
                record = bounces.get(key)
                count += 1
                yield make(
                    "member",
                    f"{field}:{lower}",
                    when,
                    list_key,
                    written,
                    _text(names.get(key)),
                    how="config.pck",
                    digest=digest,
                    snapshot=snapshot,
                    nomail=nomail,
                    nomail_since=since,
                    moderated="yes" if opts & _MODERATE else "",
                    bouncing="yes" if record is not None or nomail == "by bounce" else "",
                    bounce_score=_score(record),
                )
        for role in ("owner", "moderator"):
            value = config.get(role)
            for n, addr in enumerate(value if isinstance(value, list) else []):
                entry = parse_entry(_text(addr))
                if entry:
                    yield make("role", f"{role}:{n}", when, list_key, entry[0], role=role, how="config.pck")
        yield make(
            "roster",
            "roster",
            when,
            list_key,
            snapshot=snapshot,
            count=str(count),
            how="config.pck",
            **_save_marks(config),
        )

    def _log(self, path: str, context: ReadContext, hosts: dict[str, str]) -> Iterator[Finding]:
        make = ListEvidence(self.name, path)
        for n, line in read_lines(path, context):
            m = _LOG_LINE.match(line)
            if not m:
                if line.strip():
                    yield Problem(ProblemKind.DAMAGED, path, str(n), "not a subscribe log line")
                continue
            when = _log_time(m["stamp"])
            short, rest = m["list"], m["rest"]
            list_key = resolve_list(context, short=short, found=hosts.get(short.lower()), single=False)
            if mm := _NEW.match(rest):
                entry = parse_entry(mm["who"])
                if entry:
                    yield make(
                        "subscribe",
                        n,
                        when,
                        list_key,
                        entry[0],
                        entry[1],
                        how=(mm["how"] or "").strip(),
                        digest="yes" if mm["digest"] else "no",
                    )
                    continue
            elif mm := _DELETED.match(rest):
                entry = parse_entry(mm["who"])
                if entry:
                    yield make(
                        "unsubscribe", n, when, list_key, entry[0], entry[1], how=(mm["how"] or "").strip()
                    )
                    continue
            elif mm := _CHANGED.match(rest):
                old, new = parse_entry(mm["old"]), parse_entry(mm["new"])
                if old and new:
                    yield make(
                        "address-change",
                        n,
                        when,
                        list_key,
                        new[0],
                        old_address=normalize_address(old[0]),
                        how=mm["how"].strip(" ,") or "changed",
                    )
                    continue
            elif mm := _AUTO.match(rest):
                entry = parse_entry(mm["who"])
                if entry:
                    yield make(
                        "unsubscribe",
                        n,
                        when,
                        list_key,
                        entry[0],
                        how=f"auto-unsubscribed {mm['how'] or ''}".strip(),
                    )
                    continue
            elif rest.startswith("pending "):
                continue  # a request not yet confirmed changes nothing
            yield Problem(
                ProblemKind.DAMAGED, path, str(n), f"subscribe log line not understood: {rest[:80]}"
            )

    def _members(self, path: str, context: ReadContext, hosts: dict[str, str]) -> Iterator[Finding]:
        stem = os.path.splitext(os.path.basename(path))[0]
        short = stem.replace("list_members", "").strip("._-") or None
        return address_lines(
            self.name, path, context, resolve_list(context, short=short), "list_members output"
        )
