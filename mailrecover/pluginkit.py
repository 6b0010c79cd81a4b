"""The plugin kit: every helper a plugin may use, stable for third-party plugins.

A plugin imports from this module, ``mailrecover.model`` (what it yields) and
``mailrecover.plugin`` (the protocol, ``ReadContext``, ``Store``) and from nothing else of
the core; plugins never import each other (``tests/test_pluginkit.py`` checks the built-in
ones).  Every name below keeps its meaning and signature across releases; anything else in
the core may change.

Recognising a location (``detect``):
    ``is_url(location)``               the location is a URL (``imaps://…``), not a path.
    ``local_file(location)`` / ``local_dir(location)``
                                       the guard most ``detect`` methods start with: a path
                                       (not a URL) to an existing file / directory.
    ``file_head(location, size)``      a local file's first bytes for magic-byte checks; None
                                       for URLs, directories, unreadable files.
    ``glance(what, path, compute)``    ``compute()`` once per walk step for every plugin whose
                                       ``detect`` asks the same of one path (``read_head`` and
                                       ``file_head`` are already read once so).

Reading sources without changing them (never through a symbolic link, no atime change):
    ``open_readonly(path)``            an O_RDONLY descriptor.
    ``open_source(location)``          a binary file object, or the ``Problem`` that stopped it.
    ``read_head(path, size)``          a file's first bytes.
    ``read_message_file(path)``        one message file's bytes and modification time.
    ``mapped(path)``                   a context manager giving the file as a read-only ``Buffer``.
    ``Buffer``                         what ``mapped`` gives (bytes-like, sliceable).
    ``Behind(buffer)``                 drops a mapped buffer's pages once a reader is past them.
    ``list_names(dir)`` / ``sorted_names(dir)``
                                       a directory's entries (sorted: in reading order).
    ``NotFollowed``                    the ``OSError`` raised where a symbolic link was refused.
    ``database_copy(path, companion=False)``
                                       a client's SQLite database (``sqlite3.Connection``) on a
                                       private copy, its WAL applied; ``companion``: a file the
                                       client keeps outside the store (KMail's Akonadi database).

mbox data (``mailrecover.mboxsplit``):
    ``split_mbox(data, start=None)``   (offset, From_ line, message bytes, cut_off) per message.
    ``mbox_start(data)``               where the first message starts; ``ValueError`` if none.
    ``mbox_entries(location, data)``   ``split_mbox`` with problems for junk and a cut-off end.
    ``read_mbox(location, data, context)``
                                       ``mbox_entries`` advancing the read's progress: the read
                                       loop of every mbox-reading plugin.
    ``from_line_date(line)``           when the store wrote a message, from its From_ line.
    ``client_flags(fields)``           flags, partial, keywords from clients' status fields.
    ``CLIENT_FIELDS``                  those fields' names (removed from the bytes kept).
    ``looks_like_headers(data, pos)``  whether a header block starts at ``pos``.
    ``one_message_name(name)``         whether a file name says it holds one message.
    ``BOM``                            the UTF-8 byte order mark some exporters write first.

One message per file (``mailrecover.sniff``):
    ``looks_like_message(path)``       whether a file is one RFC 5322 message by its content.
    ``file_score(path)`` / ``message_score(head)``
                                       how surely (0..100; ``BY_CONTENT`` and above: it is).
    ``first_line(head)``               where the first non-blank line starts.
    ``SNIFF_BYTES``                    how many first bytes the sniff reads.

Maildir (``mailrecover.maildirs``):
    ``read_maildir(location, context)``
                                       every copy of a Maildir / Maildir++ tree.
    ``is_maildir(path)``               a folder with ``cur/``.
    ``maildir_flags(name)`` / ``name_stamp(name)``
                                       flags and delivery time from a Maildir file name.

Windows clients' stores (``mailrecover.windows``):
    ``from_filetime(ticks)``           a FILETIME as an aware datetime, None for nonsense.
    ``default_ansi_codec()`` / ``codec_for_codepage(cp)`` / ``mime_charset(cp)`` / ``ANSI_ENV``
                                       the code page of ANSI stores, and code page names.
    ``folder_role(name)`` / ``DELETED_ROLE``
                                       special folders' roles by their (localised) names.

Header text (``mailrecover.rfc822``):
    ``header_end``, ``header_fields``, ``remove_fields``, ``decode_text``, ``decode_header_value``,
    ``normalize_address``, ``parse_date``: forgiving header, charset, address and date helpers.

Where clients keep their files (for ``discover``, ``mailrecover.places``):
    ``home``, ``documents``, ``mac_library``, ``windows_local``, ``windows_roaming``,
    ``xdg_config``, ``xdg_data``, ``existing_dirs``, ``subdirs``, ``enclosing``, ``tree_size``,
    ``file_name_text`` (a file name as text safe to show and to use as a folder name).

TNEF (``mailrecover.tnef``, Outlook's winmail.dat):
    ``TNEF_SIGNATURE``                 the four bytes a TNEF stream starts with.
    ``wrap_tnef(data, name)``          a TNEF file saved on its own as one plain MIME message;
                                       ``ValueError`` if it is no TNEF.

Words:
    ``counted(n, noun)``               ``1 message``, ``2 messages``: counts in problem lines.

Limits and times:
    ``current_limits()``, ``Limits``, ``LimitExceeded``, ``exceeded(…)``: the run's resource
    limits and the error a plugin raises (or reports) past one.
    ``wall_clock(naive)``              a naive local time as an aware one (the writer's clock).

IMAP sources (``mailrecover.imapconn``, ``mailrecover.passwords``, ``mailrecover.errors``):
    ``parse_imap_url``, ``ImapUrl``, ``ConnectionSettings``, ``open_reader``, ``ImapReader``,
    ``AnswerTooLong``, ``CommandFailed``, ``ConnectionLost``, ``flags_from_imap``,
    ``folder_from_server``, ``other_namespace`` (another user's or a shared folder),
    ``without_password`` (a URL safe to show), ``MailRecoverError``.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from .arrival import wall_clock
from .errors import MailRecoverError
from .imapconn import (
    AnswerTooLong,
    CommandFailed,
    ConnectionLost,
    ConnectionSettings,
    ImapReader,
    ImapUrl,
    flags_from_imap,
    folder_from_server,
    open_reader,
    other_namespace,
    parse_imap_url,
)
from .limits import LimitExceeded, Limits, exceeded
from .limits import current as current_limits
from .maildirs import is_maildir, maildir_flags, name_stamp, read_maildir
from .mboxsplit import (
    BOM,
    CLIENT_FIELDS,
    client_flags,
    from_line_date,
    looks_like_headers,
    mbox_entries,
    mbox_start,
    one_message_name,
    read_mbox,
    split_mbox,
)
from .model import Problem, ProblemKind
from .passwords import without_password
from .places import (
    documents,
    enclosing,
    existing_dirs,
    file_name_text,
    home,
    mac_library,
    subdirs,
    tree_size,
    windows_local,
    windows_roaming,
    xdg_config,
    xdg_data,
)
from .readonly import (
    Behind,
    Buffer,
    NotFollowed,
    database_copy,
    glance,
    list_names,
    mapped,
    open_readonly,
    read_head,
    read_message_file,
    sorted_names,
)
from .rfc822 import (
    decode_header_value,
    decode_text,
    header_end,
    header_fields,
    normalize_address,
    parse_date,
    remove_fields,
)
from .sniff import BY_CONTENT, SNIFF_BYTES, file_score, first_line, looks_like_message, message_score
from .tnef import TNEF_SIGNATURE
from .tnef import wrap as wrap_tnef
from .windows import (
    ANSI_ENV,
    DELETED_ROLE,
    codec_for_codepage,
    default_ansi_codec,
    folder_role,
    from_filetime,
    mime_charset,
)
from .words import counted

__all__ = [
    # recognising a location
    "file_head",
    "glance",
    "is_url",
    "local_dir",
    "local_file",
    # reading sources read-only
    "Behind",
    "Buffer",
    "NotFollowed",
    "database_copy",
    "list_names",
    "mapped",
    "open_readonly",
    "open_source",
    "read_head",
    "read_message_file",
    "sorted_names",
    # mbox data
    "BOM",
    "CLIENT_FIELDS",
    "client_flags",
    "from_line_date",
    "looks_like_headers",
    "mbox_entries",
    "mbox_start",
    "one_message_name",
    "read_mbox",
    "split_mbox",
    # one message per file
    "BY_CONTENT",
    "SNIFF_BYTES",
    "file_score",
    "first_line",
    "looks_like_message",
    "message_score",
    # maildir
    "is_maildir",
    "maildir_flags",
    "name_stamp",
    "read_maildir",
    # Windows clients' stores
    "ANSI_ENV",
    "DELETED_ROLE",
    "codec_for_codepage",
    "default_ansi_codec",
    "folder_role",
    "from_filetime",
    "mime_charset",
    # header text
    "decode_header_value",
    "decode_text",
    "header_end",
    "header_fields",
    "normalize_address",
    "parse_date",
    "remove_fields",
    # where clients keep their files
    "documents",
    "enclosing",
    "existing_dirs",
    "file_name_text",
    "home",
    "mac_library",
    "subdirs",
    "tree_size",
    "windows_local",
    "windows_roaming",
    "xdg_config",
    "xdg_data",
    # TNEF
    "TNEF_SIGNATURE",
    "wrap_tnef",
    # words
    "counted",
    # limits and times
    "LimitExceeded",
    "Limits",
    "current_limits",
    "exceeded",
    "wall_clock",
    # IMAP sources
    "AnswerTooLong",
    "CommandFailed",
    "ConnectionLost",
    "ConnectionSettings",
    "ImapReader",
    "ImapUrl",
    "MailRecoverError",
    "flags_from_imap",
    "folder_from_server",
    "other_namespace",
    "open_reader",
    "parse_imap_url",
    "without_password",
]


def is_url(location: str) -> bool:
    """Whether a location names a server (``imaps://host/``) rather than a path."""
    return "://" in location


def local_file(location: str) -> bool:
    """The guard ``detect`` starts with for file stores: a path, to an existing file."""
    return not is_url(location) and stat.S_ISREG(glance("mode", location, lambda: _mode(location)))


def local_dir(location: str) -> bool:
    """The guard ``detect`` starts with for folder stores: a path, to an existing directory."""
    return not is_url(location) and stat.S_ISDIR(glance("mode", location, lambda: _mode(location)))


def _mode(path: str) -> int:
    """What ``os.path.isfile`` and ``isdir`` look at (0: nothing there), asked once per walk
    step for every plugin's guard."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return 0


def file_head(location: str, size: int) -> bytes | None:
    """The first ``size`` bytes of a local file, for magic bytes; None for URLs, directories,
    unreadable files (``detect`` answers 0 for those rather than raising)."""
    if not local_file(location):
        return None
    try:
        return read_head(location, size)
    except OSError:
        return None


def open_source(location: str) -> BinaryIO | Problem:
    """The file opened read-only (no atime change where allowed), or the problem that stopped it."""
    try:
        fd = open_readonly(location)
    except OSError as e:
        return Problem(ProblemKind.UNREADABLE, location, "", f"cannot open: {e.strerror or e}")
    return os.fdopen(fd, "rb")
