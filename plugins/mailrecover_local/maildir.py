"""Maildir and Maildir++ trees: ``cur/``, ``new/`` (and stranded ``tmp/``), flags from ``:2,``.

The reading itself is the kit's (``mailrecover.pluginkit.read_maildir``): clients with a maildir
store read the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mailrecover.model import Finding
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import existing_dirs, home, is_maildir, local_dir, read_maildir, subdirs

__all__ = ["MaildirPlugin"]

#: Where Unix clients keep Maildirs, below the home: delivery and mutt, and mutt's mail
#: folders (Evolution 3 and KMail have plugins of their own, which read their flags too).
_CLIENT_ROOTS = (
    "Maildir",
    "mail",
    "Mail",
    ".mail",
)


class MaildirPlugin:
    name = "maildir"
    description = "Maildir and Maildir++ folders (Dovecot, Courier, mutt, Evolution 3)"

    def detect(self, location: str) -> int:
        if not local_dir(location):
            return 0
        return 90 if is_maildir(location) else 0

    def discover(self) -> Iterable[Store]:
        for path in existing_dirs(home() / rel for rel in _CLIENT_ROOTS):
            if is_maildir(str(path)):
                yield Store(self.name, str(path))
            elif path.name.lower() in ("mail", ".mail"):  # mutt's folder of Maildirs
                for sub in subdirs(path):
                    if is_maildir(sub):
                        yield Store(self.name, sub)

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        return read_maildir(location, context)
