"""Gather from a live IMAP account without changing it.

Folders are opened with EXAMINE and messages fetched with ``BODY.PEEK[]``, so not even
``\\Seen`` moves.  What was fetched is remembered per folder as ``UIDVALIDITY`` and the
highest UID in ``context.state``: a rerun asks only for newer messages.

A hostile or broken server costs problems, not mail.  Each command's answer has a byte
budget (`mailrecover.limits`: ``max_response_bytes`` beyond the mail asked for), so an
endless answer is cut.  Messages come in batches; when a batch fails (a lying literal size,
garbage, a stall, a cut), the connection is reopened and that batch's messages are fetched
one by one, so only the bad ones are lost, each with a problem line.  After
``max_fetch_failures`` of those in one folder, or at once if a single message's answer is
endless, its remaining messages are left for a rerun, which starts again at the first batch
that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from imapclient import imap_utf7

from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store
from mailrecover.pluginkit import (
    AnswerTooLong,
    CommandFailed,
    ConnectionLost,
    ConnectionSettings,
    ImapReader,
    ImapUrl,
    LimitExceeded,
    Limits,
    MailRecoverError,
    counted,
    exceeded,
    flags_from_imap,
    folder_from_server,
    open_reader,
    other_namespace,
    parse_imap_url,
    without_password,
)
from mailrecover.pluginkit import (
    current_limits as current,
)

__all__ = ["ImapPlugin"]

_BATCH_MESSAGES = 500
_BATCH_BYTES = 8 << 20
_BODY = "BODY.PEEK[] FLAGS INTERNALDATE"
_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}
_FAILED = (CommandFailed, ConnectionLost, LimitExceeded)


class ImapPlugin:
    name = "imap"
    description = "IMAP accounts (imap:// and imaps:// URLs), read without changing them"

    def __init__(self, settings: ConnectionSettings | None = None) -> None:
        self._settings = settings

    def detect(self, location: str) -> int:
        return 100 if location.lower().startswith(("imap://", "imaps://")) else 0

    def discover(self) -> Iterable[Store]:
        return ()

    def read(self, location: str, context: ReadContext) -> Iterator[Finding]:
        try:
            url = parse_imap_url(location)
            session = _Session(
                url,
                _asked_once(context.password),
                self._settings or context.connection or ConnectionSettings.from_environ(),
                current(),
            )
        except MailRecoverError as e:
            yield _problem(e, without_password(location), "")
            return
        try:
            yield from _read_account(session, url, context)
        finally:
            session.reader.close()


def _asked_once(ask: Callable[[str], str]) -> Callable[[str], str]:
    """The password as first given: reconnecting must not prompt again."""
    given: list[str] = []

    def password(prompt: str) -> str:
        if not given:
            given.append(ask(prompt))
        return given[0]

    return password


class _Session:
    """One account's connection, reopened (and its folder re-examined) after a failure."""

    def __init__(
        self, url: ImapUrl, password: Callable[[str], str], settings: ConnectionSettings, limits: Limits
    ) -> None:
        self.url, self.password, self.settings, self.limits = url, password, settings, limits
        self.reader: ImapReader = open_reader(url, password, settings, limits)

    def reopen(self, folder: str | bytes | None = None, validity: int | None = None) -> None:
        self.reader.close()
        self.reader = open_reader(self.url, self.password, self.settings, self.limits)
        if folder is not None and self.reader.examine(folder)[1] != validity:
            raise ConnectionLost("the folder's UIDVALIDITY changed while it was read")


def _problem(e: MailRecoverError, source: str, position: str, prefix: str = "") -> Problem:
    if isinstance(e, LimitExceeded):
        return Problem(ProblemKind.LIMIT, source, position, prefix + e.reason)
    return Problem(ProblemKind.UNREADABLE, source, position, prefix + str(e))


def _decoded_name(raw: bytes | str | int) -> tuple[str, bool]:
    """A listed folder name decoded from modified UTF-7, and whether it was valid."""
    if not isinstance(raw, bytes):
        return str(raw), True
    try:
        name = imap_utf7.decode(raw)
        if imap_utf7.encode(name) == raw:  # the decoder is lenient: only a round trip proves it
            return name, True
    except (UnicodeError, ValueError):
        pass
    return raw.decode("utf-8", "replace"), False


def _read_account(session: _Session, url: ImapUrl, context: ReadContext) -> Iterator[Finding]:
    try:
        listing = session.reader.list_folders()
        prefix, foreign = session.reader.namespaces()
    except _FAILED as e:
        yield _problem(e, str(url), "", "cannot list folders: ")
        return
    folders: list[tuple[str | bytes, str]] = []
    not_own: list[str] = []  # listed, but in another user's or the shared namespace
    for flags, delimiter, raw_name in listing:
        if {f.lower() for f in flags} & _NOT_SELECTABLE:
            continue
        sep = delimiter.decode("ascii", "replace") if delimiter is not None else None
        name, valid = _decoded_name(raw_name)
        folder = folder_from_server(name, sep, prefix)
        if not valid:
            readable = isinstance(raw_name, bytes) and raw_name.isascii()  # selectable as sent
            yield Problem(
                ProblemKind.DAMAGED,
                str(replace(url, folder=folder)),
                "",
                f"the server names a folder {raw_name!r}, not valid modified UTF-7"
                + ("; read under the name shown" if readable else "; it cannot be selected"),
            )
            if not readable:
                continue
        if url.folder is not None and folder != url.folder:
            continue
        theirs = other_namespace(name, prefix, foreign)
        if theirs is not None:  # Cyrus lists what others share with the account beside its own
            not_own.append(folder)
            yield Problem(
                ProblemKind.SKIPPED,
                str(replace(url, folder=folder)),
                "",
                f"{name!r} is another user's or a shared folder (namespace {theirs!r}), not this "
                "account's own: not read (gather its owner's account for it)",
            )
            continue
        folders.append((raw_name if isinstance(raw_name, bytes) and not valid else name, folder))
    if url.folder is not None and not folders and not not_own:
        yield Problem(ProblemKind.UNREADABLE, str(url), url.folder, "no such folder on the server")
    hints = (url.user.lower(),) if "@" in url.user else ()  # whose account this is
    for selector, folder in folders:
        source = str(replace(url, folder=folder))
        try:
            if not session.reader.usable:
                session.reopen()
            yield from _read_folder(session, selector, folder, source, hints, context)
        except MemoryError:  # a literal announced larger than memory; what was fetched is kept
            yield Problem(
                ProblemKind.LIMIT,
                source,
                "",
                "reading stopped: the server announced a message larger than memory can hold",
            )
            return
        except CommandFailed as e:  # the server refused this folder; the others may be fine
            yield Problem(ProblemKind.UNREADABLE, source, "", f"the server refused: {e}")
        except (ConnectionLost, LimitExceeded) as e:  # this folder is left; the next reconnects
            yield _problem(e, source, "", "reading stopped: ")
        except MailRecoverError as e:  # reconnecting failed: the server is gone
            yield _problem(e, source, "", "reading stopped: ")
            return


def _read_folder(
    session: _Session,
    name: str | bytes,
    folder: str,
    source: str,
    hints: tuple[str, ...],
    context: ReadContext,
) -> Iterator[Finding]:
    exists, validity = session.reader.examine(name)
    if not exists:
        return
    key = f"folder:{folder}"
    last = 0
    seen_validity, _, seen_uid = context.state.get(key, "").partition(" ")
    if seen_validity == str(validity) and seen_uid.isdigit():
        last = int(seen_uid)
    uids = session.reader.uids_after(last)
    listed = session.reader.fetch(uids, "RFC822.SIZE")
    sizes: dict[int, int] = {}  # what each answer may bring, at most a message's limit
    for uid in uids:
        size = listed.get(uid, {}).get(b"RFC822.SIZE")
        sizes[uid] = min(size, session.limits.max_message_bytes) if isinstance(size, int) and size > 0 else 0
    failures = 0
    for batch in _batches(uids, sizes):
        try:
            fetched = session.reader.fetch(batch, _BODY, sum(sizes[u] for u in batch))
        except _FAILED:
            fetched = None  # which message lied is not known: ask for each alone
        if fetched is not None:
            yield from _copies(batch, fetched, folder, source, validity, hints, context)
            if not failures:
                context.state[key] = f"{validity} {batch[-1]}"
            continue
        for uid in batch:
            try:
                if not session.reader.usable:
                    session.reopen(name, validity)
                one = session.reader.fetch([uid], _BODY, sizes[uid])
            except _FAILED as e:
                failures += 1
                yield _problem(e, source, f"{validity}:{uid}", "the message could not be fetched: ")
                if isinstance(e, AnswerTooLong):  # a flood, not one bad message: asking again pays again
                    yield _left(source, len(uids) - uids.index(uid) - 1, "the server floods its answers")
                    return
                if failures > session.limits.max_fetch_failures:
                    why = exceeded(
                        "max_fetch_failures", failures, session.limits.max_fetch_failures, "no more are tried"
                    )
                    yield _left(source, len(uids) - uids.index(uid) - 1, why)
                    return
                continue
            yield from _copies([uid], one, folder, source, validity, hints, context)
        if not failures:
            context.state[key] = f"{validity} {batch[-1]}"


def _left(source: str, left: int, why: str) -> Problem:
    reason = f"{why}; the folder's other {counted(left, 'message')} {'was' if left == 1 else 'were'} not fetched; a rerun tries them again"
    return Problem(ProblemKind.LIMIT, source, "", reason)


def _copies(
    uids: list[int],
    fetched: dict[int, dict[bytes, Any]],
    folder: str,
    source: str,
    validity: int,
    hints: tuple[str, ...],
    context: ReadContext,
) -> Iterator[Finding]:
    for uid in uids:
        data = fetched.get(uid)
        if data is None:
            continue  # expunged since the listing: no longer there to gather
        position = f"{validity}:{uid}"
        raw = data.get(b"BODY[]")
        if not isinstance(raw, bytes):
            yield Problem(ProblemKind.UNREADABLE, source, position, "the server sent no message body")
            continue
        context.advance(len(raw))
        listed = data.get(b"FLAGS")
        flags, keywords = flags_from_imap(
            f for f in (listed if isinstance(listed, tuple) else ()) if isinstance(f, (bytes, str))
        )
        date = data.get(b"INTERNALDATE")  # aware, in the server's own zone
        yield Copy(
            raw=raw,
            folder=folder,
            source=source,
            position=position,
            flags=flags,
            internal_date=date if isinstance(date, datetime) else None,
            keywords=keywords,
            account_hints=hints,
        )


def _batches(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        if batch and (len(batch) >= _BATCH_MESSAGES or total + sizes[uid] > _BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += sizes[uid]
    if batch:
        yield batch
