"""What the log plugins share: finding the log files, detecting them, and reading.

Each plugin brings a line test (is this my program's line?) and a parser that turns the
stream of lines into delivery evidence.  A directory is read family by family: files
sharing a base name (``mail.log``, ``mail.log.1``, ``mail.log.2.gz``; ``mainlog-0215``,
``mainlog-0216``) are one rotation family, read as one stream by the log kind whose lines
it holds; another host's files (``mx2-mail.log``) are a family of their own.  Syslog's
other views of the same host (``mail.info``, ``syslog`` beside ``mail.log``) repeat its
lines: they are named as skipped, not read twice.  Every other file is named too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import tzinfo

from mailrecover.model import Evidence, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import glance, is_url, list_names, read_head

from ._queue import Queue
from ._stream import LogLine, Stream, first_lines, log_files, rotation_base

__all__ = ["LogPlugin", "Parser", "unbracket"]

#: Syslog files that hold a host's mail lines, most specific first; the others of one host
#: repeat the first one's lines.
_PREFERRED = (
    "mail.log",
    "maillog",
    "mail",
    "mail.info",
    "syslog",
    "messages",
    "mail.warn",
    "mail.err",
    "daemon.log",
)
_SNIFF_LINES = 200
_SYSTEM_DIRS = ("/var/log", "/var/log/mail", "/var/log/exim4", "/var/log/exim")
_TAG_SEPARATORS = "-_."
_HEADER = re.compile(rb"[\w-]+:[ \t][^\n]*\n(?:[ \t][^\n]*\n)*[\w-]+:")  # two header fields: a message's head


def _view(name: str) -> tuple[str, str] | None:
    """(host tag, syslog file) of a family name: ``("mx2", "mail.log")`` for ``mx2-mail.log``."""
    if name in _PREFERRED:
        return "", name
    for view in sorted(_PREFERRED, key=len, reverse=True):  # "mx2-mail.info" is mail.info's, not mail's
        if len(name) > len(view) + 1 and name.endswith(view) and name[-len(view) - 1] in _TAG_SEPARATORS:
            return name[: -len(view) - 1], view
        if len(name) > len(view) + 1 and name.startswith(view) and name[len(view)] in _TAG_SEPARATORS:
            return name[len(view) + 1 :], view
    return None


@dataclass
class _Family:
    """The files of one rotated log and the log kind that reads it (None: not a mail log)."""

    name: str
    paths: list[str]
    kind: LogPlugin | None = None
    hosts: frozenset[str] = frozenset()


def _kinds() -> list[LogPlugin]:
    """Every kind of log this package reads; a directory holds any mix of them."""
    from .dovecot import DovecotPlugin  # the kinds import this module: look them up late
    from .exim import EximPlugin
    from .postfix import PostfixPlugin
    from .sendmail import SendmailPlugin

    kinds: list[LogPlugin] = [PostfixPlugin(), EximPlugin(), SendmailPlugin(), DovecotPlugin()]
    return sorted(kinds, key=lambda k: -k.file_score)  # an MTA's log before Dovecot's lines in it


class Parser:
    """Turns log lines into evidence; ``close`` reports what was still pending."""

    def __init__(self, queue: Queue | None = None) -> None:
        self.queue = queue if queue is not None else Queue()

    def feed(self, line: LogLine) -> Iterator[Evidence]:
        raise NotImplementedError

    def close(self) -> Iterator[Evidence]:
        yield from self.queue.close()


def unbracket(text: str) -> str:
    """An address or Message-ID as logged, without its angle brackets."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    return text


class LogPlugin:
    """A plugin for one program's log; subclasses set ``name``, ``description``, ``owns``,
    ``parser`` and ``markers``."""

    name = ""
    description = ""
    owns: Callable[[LogLine], bool]
    parser: Callable[[], Parser]
    markers: tuple[bytes, ...] = ()  # a line without any of these cannot matter to the parser
    file_score = 90
    directory_score = 85

    # -- finding the files ------------------------------------------------------------------
    def _mine(self, path: str) -> bool:
        """A log of this plugin's kind: it starts with a timestamped line (a mailbox quoting a
        log does not) and holds this program's lines."""
        # each log plugin asks this of every file in a walk: read once for all of them
        lines, starts_as_log = glance("log lines", path, lambda: first_lines(path, _SNIFF_LINES))
        return starts_as_log and any(self.owns(line) for line in lines)

    @staticmethod
    def _families(directory: str) -> tuple[list[_Family], list[Problem]]:
        """The rotation families of the files directly in ``directory``, and the files that
        cannot be opened."""
        try:
            names = list_names(directory)
        except OSError as e:
            return [], [Problem(ProblemKind.UNREADABLE, directory, "", f"cannot list: {e.strerror or e}")]
        groups: dict[str, list[str]] = {}
        unreadable = []
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                continue
            if not os.access(path, os.R_OK):
                unreadable.append(Problem(ProblemKind.UNREADABLE, path, "", "cannot read: permission denied"))
                continue
            groups.setdefault(rotation_base(name), []).append(path)
        return [_Family(base, paths) for base, paths in sorted(groups.items())], unreadable

    @staticmethod
    def _kind_of(family: _Family, kinds: list[LogPlugin]) -> None:
        """Give ``family`` the first of ``kinds`` whose lines its newest files hold, and the
        hosts those lines name."""
        live_first = sorted(
            family.paths, key=lambda p: (rotation_base(os.path.basename(p)) != os.path.basename(p), p)
        )
        for path in live_first[:2]:
            lines, starts_as_log = first_lines(path, _SNIFF_LINES)
            if not starts_as_log:
                continue
            family.kind = next((k for k in kinds if any(k.owns(line) for line in lines)), None)
            family.hosts = frozenset(line.host for line in lines if line.host)
            if family.kind is not None:
                return

    def _sort_out(self, families: list[_Family], kinds: list[LogPlugin]) -> list[Problem]:
        """Give each family the kind that reads it; name the files of families that are no
        mail log, or that repeat another syslog file of the same host (those are not read)."""
        for family in families:
            self._kind_of(family, kinds)
        named = []
        chosen: dict[str, _Family] = {}
        views = [
            (_PREFERRED.index(v[1]), v[0], f) for f in families if f.kind is not None and (v := _view(f.name))
        ]
        for _rank, tag, family in sorted(views, key=lambda v: v[:2]):
            first = chosen.setdefault(tag, family)
            if first is not family and (not first.hosts or not family.hosts or first.hosts & family.hosts):
                family.kind = None
                reason = f"repeats the lines of {first.name} (another syslog file of the same host)"
                named += [Problem(ProblemKind.SKIPPED, path, "", reason) for path in family.paths]
                family.paths = []
        for family in families:
            if family.kind is None:
                named += [
                    Problem(ProblemKind.SKIPPED, path, "", "not a mail server log") for path in family.paths
                ]
        return named

    def _log_in(self, directory: str) -> list[str]:
        """The files of this plugin's kind of log directly in ``directory``."""
        families, _unreadable = self._families(directory)
        self._sort_out(families, [self])
        return [p for f in families if f.kind is self for p in f.paths]

    def _has_log(self, directory: str) -> bool:
        """Whether ``directory`` holds a log of this plugin's kind (stops at the first)."""
        families, _unreadable = self._families(directory)
        for family in families:
            self._kind_of(family, [self])
            if family.kind is self:
                return True
        return False

    @staticmethod
    def _is_mail_store(directory: str) -> bool:
        """A Maildir (or a tree of them) or a mail client's folder tree: mail, not logs."""
        return any(
            os.path.isdir(os.path.join(directory, sub)) for sub in ("cur", "new")
        ) or directory.endswith(".sbd")

    @staticmethod
    def _is_mail_file(path: str) -> bool:
        """An mbox or a single message: a ``From `` line or a header block at its start."""
        try:
            head = read_head(path, 1024)
        except OSError:
            return False
        return head.startswith(b"From ") or _HEADER.match(head) is not None

    @classmethod
    def _holds_mail_stores(cls, directory: str) -> bool:
        """Mail beside the logs: the walk must hand it to a mail plugin, so the directory is
        not claimed (each log file is then read on its own)."""
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return False
        for e in entries:
            if e.is_dir(follow_symlinks=False) and cls._is_mail_store(e.path):
                return True
            if e.is_file(follow_symlinks=False) and cls._is_mail_file(e.path):
                return True
        return False

    # -- the plugin protocol ----------------------------------------------------------------
    def detect(self, location: str) -> int:
        if is_url(location):
            return 0
        if os.path.isdir(location):
            if self._holds_mail_stores(location):
                return 0  # let the walk find the mailboxes; the log files are read one by one
            return self.directory_score if self._has_log(location) else 0
        if os.path.isfile(location):
            return self.file_score if self._mine(location) else 0
        return 0

    def discover(self) -> Iterable[Store]:
        for directory in _SYSTEM_DIRS:
            paths = self._log_in(directory) if os.path.isdir(directory) else []
            if paths:
                yield Store(self.name, directory, sum(os.path.getsize(p) for p in paths))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if os.path.isfile(location):
            if not os.access(location, os.R_OK):
                yield Problem(ProblemKind.UNREADABLE, location, "", "cannot read: permission denied")
                return
            yield from self._read_family(self, [location], context)
            return
        if not os.path.isdir(location):
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such file or directory")
            return
        kinds = [self, *(k for k in _kinds() if k.name != self.name)]
        found = False
        unlisted: list[OSError] = []
        for directory, subdirs, _files in os.walk(location, onerror=unlisted.append, followlinks=False):
            for error in unlisted:
                yield Problem(
                    ProblemKind.UNREADABLE, str(error.filename), "", f"cannot list: {error.strerror or error}"
                )
            unlisted.clear()
            subdirs.sort()
            for name in list(subdirs):
                path = os.path.join(directory, name)
                if os.path.islink(path):  # never walked (nothing outside the location is read)
                    subdirs.remove(name)
                    yield Problem(ProblemKind.SKIPPED, path, "", "a link to a folder: not followed")
                elif self._is_mail_store(path):
                    subdirs.remove(name)
                    yield Problem(
                        ProblemKind.SKIPPED,
                        path,
                        "",
                        "a mailbox beside the logs: gather it as a location of its own",
                    )
            families, problems = self._families(directory)
            yield from problems
            yield from self._sort_out(families, kinds)
            for family in families:
                if family.kind is not None:
                    found = True
                    yield from self._read_family(family.kind, family.paths, context)
        for error in unlisted:
            yield Problem(
                ProblemKind.UNREADABLE, str(error.filename), "", f"cannot list: {error.strerror or error}"
            )
        if not found:
            yield Problem(ProblemKind.NOT_MAIL, location, "", f"no {self.name} log found here")

    @staticmethod
    def _read_family(kind: LogPlugin, paths: list[str], context: ReadContext) -> Iterator[Finding]:
        """One rotation family as one stream, oldest first, by the parser of its ``kind``."""
        zone: tzinfo | None = context.timezone
        stream = Stream(log_files(paths, zone), context.advance, kind.markers, zone)
        parser = kind.parser()
        for line in stream:
            if kind.owns(line):
                yield from parser.feed(line)
        yield from parser.close()
        for source, position, reason, problem_kind in stream.problems:
            yield Problem(problem_kind, source, position, reason)
