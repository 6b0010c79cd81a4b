"""Gather from a live IMAP account without changing it.

Folders are opened with EXAMINE and messages fetched with ``BODY.PEEK[]``, so not even
``\\Seen`` moves.  What was fetched is remembered per folder as ``UIDVALIDITY`` and the
highest UID in ``context.state``: a rerun asks only for newer messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import timezone

import imapclient
from imapclient import imap_utf7
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mailrecover.errors import MailRecoverError
from mailrecover.imapconn import (
    ConnectionSettings,
    ImapUrl,
    connect,
    fetch_many,
    flags_from_imap,
    folder_from_server,
    parse_imap_url,
    personal_prefix,
)
from mailrecover.model import Copy, Finding, Problem, ProblemKind
from mailrecover.plugin import ReadContext, Store

__all__ = ["ImapPlugin"]

_BATCH_MESSAGES = 500
_BATCH_BYTES = 8 << 20
_NOT_SELECTABLE = {b"\\noselect", b"\\nonexistent"}


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
            client = connect(url, context.password, self._settings or ConnectionSettings.from_environ())
        except MailRecoverError as e:
            yield Problem(ProblemKind.UNREADABLE, location.split("@")[-1], "", str(e))
            return
        try:
            yield from _read_account(client, url, context)
        finally:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                pass


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


def _read_account(client: imapclient.IMAPClient, url: ImapUrl, context: ReadContext) -> Iterator[Finding]:
    client.folder_encode = False  # listed raw: one badly encoded name must not hide the others
    try:
        listing = client.list_folders()
    except (OSError, IMAPClientError) as e:
        yield Problem(ProblemKind.UNREADABLE, str(url), "", f"cannot list folders: {e}")
        return
    finally:
        client.folder_encode = True
    prefix = personal_prefix(client)
    folders: list[tuple[str | bytes, str]] = []
    for flags, delimiter, raw_name in listing:
        if {f.lower() for f in flags} & _NOT_SELECTABLE:
            continue
        sep = delimiter.decode("ascii", "replace") if isinstance(delimiter, bytes) else delimiter
        name, valid = _decoded_name(raw_name)
        folder = folder_from_server(name, sep, prefix)
        if not valid:
            readable = isinstance(raw_name, bytes) and raw_name.isascii()  # selectable as sent
            yield Problem(ProblemKind.DAMAGED, str(replace(url, folder=folder)), "",
                          f"the server names a folder {raw_name!r}, not valid modified UTF-7"
                          + ("; read under the name shown" if readable else "; it cannot be selected"))  # fmt: skip
            if not readable:
                continue
        if url.folder is None or folder == url.folder:
            folders.append((name if valid else raw_name, folder))
    if url.folder is not None and not folders:
        yield Problem(ProblemKind.UNREADABLE, str(url), url.folder, "no such folder on the server")
    hints = (url.user.lower(),) if "@" in url.user else ()  # whose account this is
    for selector, folder in folders:
        source = str(replace(url, folder=folder))
        client.folder_encode = isinstance(selector, str)  # a raw name goes back exactly as listed
        try:
            yield from _read_folder(client, selector, folder, source, hints, context)
        except MemoryError:  # a literal announced larger than memory; what was fetched is kept
            yield Problem(ProblemKind.LIMIT, source, "", "reading stopped: the server announced a "
                          "message larger than memory can hold")  # fmt: skip
            return
        except (OSError, IMAPClientAbortError) as e:
            # The connection is gone; what was fetched is kept and a rerun resumes.
            yield Problem(ProblemKind.UNREADABLE, source, "", f"reading stopped: {e}")
            return
        except IMAPClientError as e:  # the server refused this folder; the others may be fine
            yield Problem(ProblemKind.UNREADABLE, source, "", f"the server refused: {e}")
        finally:
            client.folder_encode = True


def _read_folder(
    client: imapclient.IMAPClient,
    name: str | bytes,
    folder: str,
    source: str,
    hints: tuple[str, ...],
    context: ReadContext,
) -> Iterator[Finding]:
    info = client.select_folder(name, readonly=True)
    if not info.get(b"EXISTS"):
        return
    validity = int(info.get(b"UIDVALIDITY", 0))
    key = f"folder:{folder}"
    last = 0
    seen_validity, _, seen_uid = context.state.get(key, "").partition(" ")
    if seen_validity == str(validity) and seen_uid.isdigit():
        last = int(seen_uid)
    uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)  # N:* names the last even below N
    sizes = fetch_many(client, uids, ["RFC822.SIZE"])
    for batch in _batches(uids, {u: sizes.get(u, {}).get(b"RFC822.SIZE", 0) for u in uids}):
        fetched = client.fetch(batch, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        for uid in batch:
            data = fetched.get(uid)
            if data is None:
                continue  # expunged since the listing: no longer there to gather
            position = f"{validity}:{uid}"
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                yield Problem(ProblemKind.UNREADABLE, source, position, "the server sent no message body")
                continue
            context.advance(len(raw))
            flags, keywords = flags_from_imap(data.get(b"FLAGS", ()))
            date = data.get(b"INTERNALDATE")
            if date is not None and date.tzinfo is None:
                date = date.replace(tzinfo=timezone.utc)
            yield Copy(
                raw=raw, folder=folder, source=source, position=position, flags=flags,
                internal_date=date, keywords=keywords, account_hints=hints,
            )  # fmt: skip
        context.state[key] = f"{validity} {batch[-1]}"


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
