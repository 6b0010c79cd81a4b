"""What the log plugins share: finding the log files, detecting them, and reading.

Each plugin brings a line test (is this my program's line?) and a parser that turns the
stream of lines into delivery evidence.  A directory is claimed when it holds a log of
the plugin's kind; only one log per directory is read (``mail.log`` and its rotations,
say), because ``mail.info`` or ``syslog`` beside it repeat the same lines.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator

from mailrecover.model import Evidence, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store

from ._queue import Queue
from ._stream import LogLine, Stream, first_lines, log_files, rotation_base

__all__ = ["LogPlugin", "Parser", "unbracket"]

#: Base names of logs that hold mail lines, most specific first.
_PREFERRED = ("mail.log", "maillog", "mainlog", "exim_mainlog", "mail", "mail.info",
              "syslog", "messages")  # fmt: skip
_LOGGISH = re.compile(r"(.*log|mail.*|messages)$", re.I)
_SNIFF_LINES = 200
_SYSTEM_DIRS = ("/var/log", "/var/log/mail", "/var/log/exim4", "/var/log/exim")


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
        lines, starts_as_log = first_lines(path, _SNIFF_LINES)
        return starts_as_log and any(self.owns(line) for line in lines)

    def _log_in(self, directory: str) -> list[str]:
        """The files of this plugin's log in ``directory`` (one log, all its rotations)."""
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return []
        groups: dict[str, list[str]] = {}
        for name in names:
            path = os.path.join(directory, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            groups.setdefault(rotation_base(name), []).append(path)
        order = sorted(groups, key=lambda b: (_PREFERRED.index(b) if b in _PREFERRED else 99, b))
        for base in order:
            if not _LOGGISH.match(base):
                continue
            paths = groups[base]
            newest = sorted(paths, key=lambda p: (os.path.basename(p) != base, p))
            if any(self._mine(p) for p in newest[:2]):
                return paths
        return []

    @staticmethod
    def _holds_mail_stores(directory: str) -> bool:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return False
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and os.path.isdir(os.path.join(entry.path, "cur")):
                return True
        return False

    # -- the plugin protocol ----------------------------------------------------------------
    def detect(self, location: str) -> int:
        if "://" in location:
            return 0
        if os.path.isdir(location):
            if self._holds_mail_stores(location):
                return 0  # let the walk find the mailboxes; the log files are read one by one
            return self.directory_score if self._log_in(location) else 0
        if os.path.isfile(location):
            return self.file_score if self._mine(location) else 0
        return 0

    def discover(self) -> Iterable[Store]:
        for directory in _SYSTEM_DIRS:
            paths = self._log_in(directory) if os.path.isdir(directory) else []
            if paths:
                yield Store(self.name, directory, sum(os.path.getsize(p) for p in paths))

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        if os.path.isdir(location):
            paths = self._log_in(location)
            if not paths:
                yield Problem(ProblemKind.NOT_MAIL, location, "", f"no {self.name} log found here")
                return
        elif os.path.isfile(location):
            paths = [location]
        else:
            yield Problem(ProblemKind.UNREADABLE, location, "", "no such file or directory")
            return
        for path in paths:
            if not os.access(path, os.R_OK):
                yield Problem(ProblemKind.UNREADABLE, path, "", "cannot read: permission denied")
        stream = Stream(log_files([p for p in paths if os.access(p, os.R_OK)]), context.advance, self.markers)
        parser = self.parser()
        for line in stream:
            if self.owns(line):
                yield from parser.feed(line)
        yield from parser.close()
        for source, position, reason, kind in stream.problems:
            yield Problem(kind, source, position, reason)
