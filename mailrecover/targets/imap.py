"""Restore to an IMAP server: ``imap://user@host[:port]/`` or ``imaps://…``.

Messages go up in MULTIAPPEND batches (one round trip for a whole batch with LITERAL+), on
several upload connections at once, falling back to one APPEND per message for a batch the
server refuses.  One control connection creates folders, looks at what they hold and settles
whatever is unsure; the journal is only ever written from the calling thread.  Every message is
journalled ``pending`` before its batch is sent and ``done`` after the server's OK; where
the journal says ``pending`` (a crash, a dropped connection) the server is asked whether
the message arrived before it is sent again, so a rerun ends with every message exactly once.
What the journal says is done is looked for on the server too (by the UID the server gave it,
else by Message-ID and size): a message a user expunged since, or an upload that was lost, is
sent again.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import imapclient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from ..errors import OperationError, TargetError
from ..imapconn import (
    ConnectionSettings,
    ImapUrl,
    ServerBusy,
    Unreachable,
    connect,
    fetch_many,
    flags_to_imap,
    folder_to_server,
    namespaces,
    other_namespace,
    parse_imap_url,
)
from ..model import JournalState
from ..passwords import password_source
from ..rfc822 import header_fields
from ..throttle import Throttle
from . import Journal, Outgoing, Verification, safe_parts, utf7_len

__all__ = ["FolderCheck", "ImapTarget", "open_imap_target"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Folder names (case-folded) that mean a SPECIAL-USE role, as mail clients and providers name
#: them: Gmail (under ``[Gmail]``/``[Google Mail]``), Microsoft 365/Outlook, German, French,
#: Spanish and Japanese clients.  Used both ways: which role a restored folder has, and, on a
#: server without SPECIAL-USE, which of its folders plays that role.
_ROLE_NAMES = {
    "\\sent": {
        "sent",
        "sent items",
        "sent messages",
        "sent mail",
        "送信済み",
        "送信済みアイテム",
        "送信済みメール",
        "送信済みトレイ",
        "送信トレイ",
        "gesendet",
        "gesendete objekte",
        "gesendete elemente",
        "envoyés",
        "éléments envoyés",
        "messages envoyés",
        "enviados",
        "elementos enviados",
        "correo enviado",
    },
    "\\drafts": {"drafts", "draft", "下書き", "entwürfe", "brouillons", "borradores"},
    "\\trash": {
        "trash",
        "bin",
        "deleted items",
        "deleted messages",
        "ごみ箱",
        "ゴミ箱",
        "削除済みアイテム",
        "papierkorb",
        "gelöschte elemente",
        "gelöschte objekte",
        "corbeille",
        "éléments supprimés",
        "papelera",
        "elementos eliminados",
    },
    "\\junk": {
        "junk",
        "spam",
        "junk e-mail",
        "junk email",
        "bulk mail",
        "迷惑メール",
        "junk-e-mail",
        "courrier indésirable",
        "pourriel",
        "indésirables",
        "correo no deseado",
    },
}
#: Parents that hold a provider's special folders (``[Gmail]/Sent Mail``): the name below counts.
_ROLE_PARENTS = {"[gmail]", "[google mail]"}
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)
_CONNECTION_ERRORS = (OSError, IMAPClientAbortError, EOFError)


def open_imap_target(
    spec: str,
    *,
    password: Callable[[str], str] | None = None,
    settings: ConnectionSettings | None = None,
    connections: int | None = None,
    max_rate: int | None = None,
) -> ImapTarget:
    """The target for ``spec``; nothing connects until ``write`` has something to send.

    ``connections``: at most this many upload connections (besides the control connection);
    ``max_rate``: at most this many bytes per second of mail, over all of them.
    """
    options: dict[str, Any] = {} if connections is None else {"connections": connections}
    return ImapTarget(
        parse_imap_url(spec), password=password, settings=settings, max_rate=max_rate, **options
    )


@dataclass(frozen=True)
class FolderCheck:
    """What the verification pass found for one folder."""

    folder: str  # the server's folder name
    planned: int
    on_server: int
    missing: int  # planned messages not found on the server
    extra: int  # messages on the server that were not in the plan (earlier mail, other tools)
    removed: int = 0  # late copies of a resent message, taken out again so it is there once


@dataclass
class _Item:
    key: str
    body: bytes  # CRLF line endings, as IMAP wants and the server will hand back
    flags: list[str]
    date: Any
    state: str | None
    sent: bool = False  # sent during this run (so it counts as written now once it is found)
    identity: tuple[bytes, int] = field(init=False)

    def __post_init__(self) -> None:
        self.identity = (_message_id(self.body), len(self.body))


@dataclass(frozen=True)
class _Labelled:
    """A message that goes into more folders than its own, where the server has labels:
    its journal key, folder, (Message-ID, size), and each other folder with its journal key."""

    key: str
    folder: str
    identity: tuple[bytes, int]
    labels: tuple[tuple[str, str], ...]


@dataclass
class _Run:
    """One ``write`` call's journal, progress callback and the refusals met so far."""

    journal: Journal
    progress: Callable[[int], None]
    refused: list[str] = field(default_factory=list)
    written: int = 0  # sent during this run and confirmed
    repaired: int = 0  # journalled as done, not found on the server, sent again
    # Sent again after an earlier attempt was not found: that attempt may still land late (a
    # killed client's last bytes reach the server after the rerun looked). Body -> copies wanted.
    resent: dict[str, Counter[bytes]] = field(default_factory=dict)
    inflight: list[tuple[str, list[_Item], Future[tuple[str, bytes]]]] = field(default_factory=list)
    labelled: list[_Labelled] = field(default_factory=list)  # only on a server with labels (Gmail)


class ImapTarget:
    def __init__(
        self,
        url: ImapUrl,
        *,
        password: Callable[[str], str] | None = None,
        settings: ConnectionSettings | None = None,
        batch_messages: int = 200,
        batch_bytes: int = 16 << 20,
        multiappend: bool = True,
        retries: int = 6,
        backoff: float = 0.5,
        connections: int = 4,
        max_rate: int | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        if url.folder:
            raise TargetError(f"{url}: give the account only (imap://user@host/); folders come from the mail")
        self.url = url
        self.description = str(url)
        self._password = password
        self._secret: str | None = None
        self._settings = settings
        self.batch_messages, self.batch_bytes = batch_messages, batch_bytes
        # Shared by every upload connection; batches of about a second's worth keep the flow even.
        self._throttle = throttle or (Throttle(max_rate) if max_rate else None)
        if self._throttle is not None:
            self.batch_bytes = min(batch_bytes, max(int(self._throttle.rate), 64 << 10))
        self.multiappend, self.retries, self.backoff = multiappend, retries, backoff
        self._client: imapclient.IMAPClient | None = None
        self._delimiter: str | None = None
        self._prefix = ""  # the personal namespace ('INBOX.' on Courier and Cyrus)
        self._existing: set[str] = set()
        self._roles: dict[str, str] = {}  # role -> the server's folder: by SPECIAL-USE, else by name
        self._named_roles: set[str] = (
            set()
        )  # roles found by name only: a folder of the source's own name wins
        self._names: dict[str, str | None] = {}  # folder -> server name; None: the server refused it
        self._before: dict[str, tuple[int, dict[tuple[bytes, int], list[int]]]] = {}  # per connection
        self.checks: list[FolderCheck] = []  # filled by the verification pass
        self.problems: list[str] = []  # folders the server refused: not restored, the rest was
        self._refusals: dict[str, str] = {}  # folder -> the server's reason
        self._refused_count: Counter[str] = Counter()  # folder -> messages not restored for it
        self.verification = Verification()
        # per folder, what it held when first looked at in this run: UIDVALIDITY, (Message-ID,
        # size) -> UIDs, and the UIDs that already answer for a journalled message
        self._held: dict[
            str, tuple[int, dict[tuple[bytes, int], list[int]], dict[int, tuple[bytes, int]]]
        ] = {}
        self._claimed: dict[str, set[int]] = {}
        # Uploads run on up to ``connections`` extra connections at once: a server stores (and
        # fsyncs) messages one after another per connection, in parallel across connections.
        self.connections = connections
        self._uploaders: list[imapclient.IMAPClient] = []  # every upload connection opened
        self._idle: list[imapclient.IMAPClient] = []  # those free for the next batch
        self._lock = threading.Lock()
        self._uploader_failures = 0
        self._reached = False  # connected once: a refused port later is a restart, worth waiting for
        self._labels: bool | None = None  # whether the server keeps one message in several folders
        self.labelled = 0  # labels added (a COPY on Gmail) by the last ``write``

    # -- the Target protocol -------------------------------------------------------------

    def write(
        self,
        items: Iterable[Outgoing],
        journal: Journal,
        progress: Callable[[int], None] = lambda n: None,
    ) -> int:
        plan: dict[str, Counter[tuple[bytes, int]]] = {}
        buffers: dict[str, list[_Item]] = {}
        sizes: Counter[str] = Counter()
        run = _Run(journal, progress)
        self._held.clear()
        self._claimed.clear()
        self.verification = Verification()
        self.labelled = 0
        planned = refused = 0
        pool = ThreadPoolExecutor(max_workers=max(1, self.connections), thread_name_prefix="imap-append")
        try:
            for out in items:
                planned += 1
                name = self._server_name(out.folder)
                if name is None:  # refused by the server: a problem line, the other folders go on
                    self._refused_count[out.folder] += 1
                    refused += 1
                    continue
                item = _Item(
                    out.key, _crlf(out.raw), flags_to_imap(out.flags), out.date, journal.state(out.key)
                )
                if out.labels and self._keeps_labels():
                    self._plan_labels(out, name, item.identity, plan, run)
                if item.state == JournalState.DONE:
                    there = self._still_there(name, item, journal.ref(item.key) or "")
                    if there is not None:
                        plan.setdefault(name, Counter())[there] += 1
                        progress(1)
                        continue
                    item.state = None  # gone from the server: sent again, as a new message
                    run.repaired += 1
                plan.setdefault(name, Counter())[item.identity] += 1
                buffers.setdefault(name, []).append(item)
                sizes[name] += len(item.body)
                if len(buffers[name]) >= self.batch_messages or sizes[name] >= self.batch_bytes:
                    self._dispatch(name, buffers.pop(name), run, pool)
                    sizes[name] = 0
            for name, batch in buffers.items():
                self._dispatch(name, batch, run, pool)
            while run.inflight:
                self._collect(run)
            if run.labelled:
                self._add_labels(run)
            if plan:
                self._verify(plan, run)
        finally:
            self._report_refused_folders()
            self._drain(run)  # what the server confirmed is journalled even when stopping early
            pool.shutdown(wait=True)
            for client in self._uploaders:
                _close(client)
            self._uploaders.clear()
            self._idle.clear()
            self._disconnect()
        lost = sum(c.missing for c in self.checks) + refused
        self.verification = Verification(
            planned=planned, present=planned - lost, missing=lost, repaired=run.repaired
        )
        if run.refused:
            raise TargetError(
                f"{len(run.refused)} message(s) were refused by {self.url.host} and not restored "
                f"(first: {run.refused[0]}); the rest were written"
            )
        missing = [c for c in self.checks if c.missing]
        if missing:
            detail = ", ".join(f"{c.folder}: {c.missing} of {c.planned}" for c in missing)
            raise TargetError(f"verification: messages missing on the server after upload ({detail})")
        return run.written

    # -- connection ----------------------------------------------------------------------

    def _ask(self, prompt: str) -> str:
        if self._secret is None:  # once per run: reconnects must not prompt again
            source = self._password or password_source()
            self._secret = source(prompt)
        return self._secret

    def _connection(self) -> imapclient.IMAPClient:
        if self._client is None:
            settings = self._settings or ConnectionSettings.from_environ()
            self._client = connect(self.url, self._ask, settings)
            self._reached = True
            self._learn_folders(self._client)
        return self._client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _close(client)

    def _abandon(self) -> None:
        client, self._client = self._client, None
        self._before.clear()  # what reached the server before the drop must be looked at again
        if client is not None:
            try:
                client.shutdown()  # no LOGOUT: on a dead connection it would wait for the timeout
            except Exception:
                pass

    def _retrying(self, what: str, action: Callable[[imapclient.IMAPClient], _T]) -> _T:
        """Run ``action`` on a live connection, reconnecting with backoff when it drops."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return action(self._connection())
            except (*_CONNECTION_ERRORS, OperationError) as e:
                busy = isinstance(e, ServerBusy)
                if isinstance(e, Unreachable) and not self._reached:
                    raise  # a wrong port or host name: waiting will not change it
                if isinstance(e, OperationError) and not busy and not _dropped(e.__cause__):
                    raise  # refused login, untrusted certificate: trying again cannot help
                self._abandon()
                if attempt == self.retries:
                    raise TargetError(
                        f"{self.url.host}: {'refused for now' if busy else 'connection lost'} {attempt + 1} "
                        f"times while {what} ({e}); run restore again to continue where it stopped"
                    ) from e
                if busy:
                    log.warning(
                        "%s: the server refuses more connections for now (%s); waiting %.1fs",
                        self.url.host,
                        e,
                        delay,
                    )
                else:
                    log.warning(
                        "%s: connection lost while %s (%s); retrying in %.1fs", self.url.host, what, e, delay
                    )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    # -- folders -------------------------------------------------------------------------

    def _learn_folders(self, client: imapclient.IMAPClient) -> None:
        self._existing.clear()
        self._roles.clear()
        self._prefix, others = namespaces(client)
        named: dict[str, str] = {}
        for flags, delimiter, name in client.list_folders():
            if isinstance(delimiter, bytes):
                delimiter = delimiter.decode("ascii", "replace")
            self._delimiter = delimiter or self._delimiter
            self._existing.add(name)
            if other_namespace(name, self._prefix, others) is not None:
                continue  # a shared or another user's folder (Cyrus's shared ``Junk``): never one of this account's
            for f in flags:
                role = (f.decode("ascii", "replace") if isinstance(f, bytes) else f).lower()
                if role in _ROLE_NAMES:
                    self._roles.setdefault(role, name)  # the server's own name for it
            parts = (
                name[len(self._prefix) :].split(delimiter)
                if delimiter and name.startswith(self._prefix)
                else [name]
            )
            role = _role(parts)
            if role:
                named.setdefault(role, name)
        self._named_roles = {role for role in named if role not in self._roles}
        for role, name in named.items():  # no SPECIAL-USE for it: the folder whose name says so
            self._roles.setdefault(role, name)

    def _server_name(self, folder: str) -> str | None:
        """The server's name for a folder, created if missing; ``None`` if the server refused it."""
        if folder not in self._names:

            def prepare(client: imapclient.IMAPClient) -> int:
                server = self._to_server(folder)
                try:
                    self._names[folder] = self._ensure(client, server)
                except _FolderRefused as e:
                    self._names[folder] = None
                    self._refusals[folder] = f"{e.path!r} ({e.reason.rstrip('. ')})"
                return 0

            self._retrying(f"preparing folder {folder}", prepare)
        return self._names[folder]

    def preview(self, folders: Iterable[str]) -> dict[str, tuple[str, str]]:
        """For ``restore --dry-run``: each folder's name on the server and why (the server's
        special folder by SPECIAL-USE or by name, an existing or a new folder), found by LIST
        alone: nothing is created or written."""
        try:
            self._retrying("looking at the server's folders", lambda client: 0)
            placed = {}
            for folder in folders:
                name, why = self._placed(folder)
                there = name in self._existing or name.upper() == "INBOX"
                placed[folder] = (name, why or ("exists" if there else "new folder"))
            return placed
        finally:
            self._disconnect()

    def _to_server(self, folder: str) -> str:
        return self._placed(folder)[0]

    def _placed(self, folder: str) -> tuple[str, str]:
        """A folder path in the server's spelling: its parts cleaned by the rules every target
        shares (the server's delimiter inside a name is replaced and the name tagged, so ``a.b``
        stays apart from ``a_b``), special-use roles mapped to the server's own folders; and
        which role took it there, and how the server's folder was known, if one did."""
        parts = safe_parts(folder, forbidden=self._delimiter or "", measure=utf7_len)
        start = 1 if parts[0] == "INBOX" and len(parts) > 1 else 0
        if parts[start].casefold() in _ROLE_PARENTS and len(parts) > start + 1:
            start += 1  # [Gmail]/Sent Mail: the role is in the name below
        role = _role(parts[start : start + 1])
        own = folder_to_server("/".join(parts), self._delimiter, self._prefix)
        if role in self._roles and not (role in self._named_roles and own in self._existing):
            rest = parts[start + 1 :]
            if not (rest and not self._delimiter):  # else no hierarchy to put the rest under
                how = "by its name (no SPECIAL-USE)" if role in self._named_roles else "by SPECIAL-USE"
                shown = "\\" + role[1:].capitalize()
                return (self._delimiter or "").join(
                    [self._roles[role], *rest]
                ), f"the server's {shown} folder, {how}"
        return own, ""

    def _report_refused_folders(self) -> None:
        for folder, count in self._refused_count.items():
            self.problems.append(
                f"{self.url.host} refused folder {self._refusals[folder]}; its {count} message(s) "
                f"from {folder!r} were not restored"
            )
        self._refused_count.clear()

    def _ensure(self, client: imapclient.IMAPClient, name: str) -> str:
        if name in self._existing or name.upper() == "INBOX":
            return name
        parts = name.split(self._delimiter) if self._delimiter else [name]
        for i in range(1, len(parts) + 1):
            path = self._delimiter.join(parts[:i]) if self._delimiter else name
            if path in self._existing or path.upper() == "INBOX":
                continue
            try:
                client.create_folder(path)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as e:
                if not _listed(client, path):
                    raise _FolderRefused(path, _one_line(e)) from e
            try:
                client.subscribe_folder(path)
            except IMAPClientAbortError:
                raise
            except IMAPClientError:
                pass  # subscription only helps clients show it
            self._existing.add(path)
        return name

    # -- what is still there -------------------------------------------------------------

    def _still_there(self, name: str, item: _Item, ref: str) -> tuple[bytes, int] | None:
        """The (Message-ID, size) on the server of the message the journal says ``item`` became,
        or ``None`` when it is not there any more.

        Found by the UID the server gave it (``ref``), else by its Message-ID and size; each
        message on the server answers for one item only.
        """
        if name not in self._held:
            self._held[name] = self._retrying(f"looking into {name}", lambda client: _holding(client, name))
        validity, index, identity_of = self._held[name]
        claimed = self._claimed.setdefault(name, set())
        uid_validity, _, uid = ref.partition(":")
        if (
            uid_validity.isdigit()
            and uid.isdigit()
            and int(uid_validity) == validity
            and int(uid) in identity_of
        ):
            claimed.add(int(uid))
            return identity_of[int(uid)]
        for found in index.get(item.identity, ()):
            if found not in claimed:
                claimed.add(found)
                return item.identity
        return None

    # -- upload --------------------------------------------------------------------------

    def _dispatch(self, name: str, batch: list[_Item], run: _Run, pool: ThreadPoolExecutor) -> None:
        """Upload a batch: on an uploader connection when there are some, else on this one."""
        if self.connections < 1 or not self.multiappend or self._uploader_failures >= 3:
            self._flush(name, batch, run)
            return
        todo = self._retrying(f"preparing {name}", lambda client: self._prepare(client, name, batch, run))
        if not todo:
            return
        if not self._client or not self._client.has_capability("MULTIAPPEND"):
            self._flush(name, todo, run)
            return
        run.inflight.append((name, todo, pool.submit(self._upload, name, [_message(i) for i in todo])))
        while run.inflight and len(run.inflight) >= self.connections:
            self._collect(run)

    def _upload(self, name: str, messages: list[dict[str, Any]]) -> tuple[str, bytes]:
        """In an uploader thread: one MULTIAPPEND on a free upload connection (opened if none)."""
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = connect(self.url, self._ask, self._settings or ConnectionSettings.from_environ())
            with self._lock:
                self._uploaders.append(client)
        try:
            self._pace(sum(len(m["msg"]) for m in messages))
            typ, data = client.multiappend(name, messages)
        except BaseException:
            with self._lock:  # broken or in an unknown state: never reused
                self._uploaders.remove(client)
            _close(client)
            raise
        with self._lock:
            self._idle.append(client)
        return str(typ), b" ".join(d for d in data if isinstance(d, bytes))

    def _fewer_connections(self, e: ServerBusy) -> None:
        """The server caps connections: keep the upload connections it accepted, close the
        idle ones beyond that, and say so."""
        with self._lock:
            before, self.connections = self.connections, min(self.connections, len(self._uploaders))
            surplus = self._idle[self.connections :] if self.connections else list(self._idle)
            for client in surplus:
                self._idle.remove(client)
                self._uploaders.remove(client)
        for client in surplus:
            _close(client)
        if self.connections < before:
            log.warning(
                "%s: the server refuses more connections (%s); using %d upload connection(s) "
                "besides the main one from now on",
                self.url.host,
                e,
                self.connections,
            )

    def _collect(self, run: _Run) -> None:
        """Journal the oldest upload's outcome; what is unsure is settled on this connection."""
        name, batch, future = run.inflight.pop(0)
        try:
            typ, text = future.result()
        except TargetError:
            raise
        except ServerBusy as e:
            self._fewer_connections(e)
            self._flush(name, batch, run)
            return
        except (*_CONNECTION_ERRORS, IMAPClientError, OperationError) as e:
            self._uploader_failures += 1
            log.warning("%s: an upload connection failed (%s); finishing its batch here", self.url.host, e)
            self._before.pop(name, None)  # it may have stored part of the batch: look again
            self._flush(name, batch, run)
            return
        if typ == "OK":
            self._done(batch, text, run)
            return
        self._stop_if_full(text)
        self._before.pop(name, None)
        self._flush(name, batch, run, one_by_one=True)

    def _drain(self, run: _Run) -> None:
        while run.inflight:
            try:
                self._collect(run)
            except Exception as e:  # already stopping for another reason; pending entries stay pending
                log.warning("%s: %s", self.url.host, e)

    def _flush(self, name: str, batch: list[_Item], run: _Run, *, one_by_one: bool = False) -> None:
        """Upload a batch on this (the control) connection, reconnecting when it drops."""

        def attempt(client: imapclient.IMAPClient) -> int:
            todo = self._prepare(client, name, batch, run)
            self._append(client, name, todo, run, one_by_one=one_by_one)
            return 0

        self._retrying(f"uploading to {name}", attempt)

    def _prepare(
        self, client: imapclient.IMAPClient, name: str, batch: list[_Item], run: _Run
    ) -> list[_Item]:
        """Settle what may already be on the server, journal the rest as pending: what to send."""
        todo = [item for item in batch if item.state in (None, JournalState.PENDING)]
        if name not in self._before:
            self._before[name] = self._look(client, name)
        if any(item.state == JournalState.PENDING or item.identity in self._before[name][1] for item in todo):
            self._look(client, name, index=False)
            todo = self._settle(client, name, todo, run)
        fresh = [item for item in todo if item.state is None]
        run.journal.mark_many((item.key, JournalState.PENDING, "") for item in fresh)  # before a byte is sent
        for item in fresh:
            item.state = JournalState.PENDING
        for item in todo:
            item.sent = True
        return todo

    def _look(
        self, client: imapclient.IMAPClient, name: str, *, index: bool = True
    ) -> tuple[int, dict[tuple[bytes, int], list[int]]]:
        """The folder's UIDVALIDITY and its messages by (Message-ID, size), as found now.

        The folder is left selected only when ``index`` is false (to fetch from it next):
        appending into a selected folder makes the server report every new message.
        """
        info = client.select_folder(name, readonly=True)
        found = _index(client) if index and info.get(b"EXISTS") else {}
        if index:
            _unselect(client)
        return int(info.get(b"UIDVALIDITY", 0)), found

    def _settle(self, client: imapclient.IMAPClient, name: str, batch: list[_Item], run: _Run) -> list[_Item]:
        """Mark done what is already on the server, byte for byte; return what must be sent.

        Asked for what the journal left pending, and for anything that looks like mail the
        folder held before this connection (an earlier run under another URL, another tool).
        """
        validity, index = self._before[name]
        candidates = sorted({uid for item in batch for uid in index.get(item.identity, ())})
        bodies: dict[bytes, list[int]] = {}
        if candidates:
            for uid, data in sorted(fetch_many(client, candidates, ["BODY.PEEK[]"]).items()):
                bodies.setdefault(data.get(b"BODY[]", b""), []).append(uid)
        remaining, arrived = [], []
        for item in batch:
            uids = bodies.get(item.body)
            if uids:
                uid = uids.pop(0)
                index[item.identity].remove(uid)  # one server copy answers for one message
                arrived.append((item.key, JournalState.DONE, f"{validity}:{uid}"))
                item.state = JournalState.DONE
                run.written += item.sent
            else:
                remaining.append(item)
                if item.state == JournalState.PENDING:
                    run.resent.setdefault(name, Counter())[item.body] += 1
        _unselect(client)
        run.journal.mark_many(arrived)
        run.progress(len(arrived))
        return remaining

    def _append(
        self,
        client: imapclient.IMAPClient,
        name: str,
        batch: list[_Item],
        run: _Run,
        *,
        one_by_one: bool = False,
    ) -> None:
        if not batch:
            return
        if self.multiappend and not one_by_one and len(batch) > 1 and client.has_capability("MULTIAPPEND"):
            try:
                self._pace(sum(len(i.body) for i in batch))
                response = client.multiappend(name, [_message(i) for i in batch])
                typ, data = response if isinstance(response, tuple) else ("OK", [response])
                text = b" ".join(d for d in data if isinstance(d, bytes))
                if typ == "OK":
                    self._done(batch, text, run)
                    return
                self._stop_if_full(text)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as e:
                self._stop_if_full(str(e).encode())
            # All or nothing, says RFC 3502; a server that kept part of it anyway is caught here.
            self._before[name] = self._look(client, name)
            self._look(client, name, index=False)
            batch = self._settle(client, name, batch, run)
        for item in batch:
            try:
                text = self._append_one(client, name, item)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as e:
                self._stop_if_full(str(e).encode())
                run.refused.append(f"{name}: {_one_line(e)}")
                item.state = "refused"  # for this run only; the journal keeps it pending
                continue
            self._done([item], text, run)

    def _append_one(self, client: imapclient.IMAPClient, name: str, item: _Item) -> bytes:
        self._pace(len(item.body))
        if client.has_capability("LITERAL+") and client.has_capability("MULTIAPPEND"):
            typ, data = client.multiappend(name, [_message(item)])  # one round trip
            text = b" ".join(d for d in data if isinstance(d, bytes))
            if typ != "OK":
                raise IMAPClientError(text.decode("utf-8", "replace"))
            return text
        response = client.append(name, item.body, item.flags, item.date)
        return response if isinstance(response, bytes) else b""

    def _pace(self, nbytes: int) -> None:
        """Wait, under ``--max-rate``, until ``nbytes`` more may go out."""
        if self._throttle is not None:
            self._throttle.take(nbytes)

    def _done(self, batch: list[_Item], text: bytes, run: _Run) -> None:
        refs = [""] * len(batch)
        if m := _APPENDUID.search(text):
            uids = list(_uid_set(m.group(2).decode()))
            if len(uids) == len(batch):
                refs = [f"{int(m.group(1))}:{uid}" for uid in uids]
        run.journal.mark_many(
            (item.key, JournalState.DONE, ref) for item, ref in zip(batch, refs, strict=True)
        )
        for item in batch:
            item.state = JournalState.DONE
        run.written += len(batch)
        run.progress(len(batch))

    def _stop_if_full(self, text: bytes) -> None:
        if b"[OVERQUOTA]" in text.upper() or b"QUOTA EXCEEDED" in text.upper():
            raise TargetError(
                f"{self.url}: the mailbox is over its quota ({_one_line(text.decode('utf-8', 'replace'))}); "
                "nothing more was sent. Raise the quota or free space, then run restore again"
            )

    # -- labels (Gmail) ------------------------------------------------------------------

    def _keeps_labels(self) -> bool:
        """Gmail (``X-GM-EXT-1``): a folder is a label, and COPY gives the same message one more."""
        if self._labels is None:
            self._labels = self._retrying("connecting", lambda client: client.has_capability("X-GM-EXT-1"))
        return self._labels

    def _plan_labels(
        self,
        out: Outgoing,
        name: str,
        identity: tuple[bytes, int],
        plan: dict[str, Counter[tuple[bytes, int]]],
        run: _Run,
    ) -> None:
        """Note the other folders ``out`` goes into; they are checked like any folder's mail.

        Never into or out of Trash and Spam: on Gmail such mail has no other label, and a
        label added there would move the message, not label it."""
        binned = {self._roles[role] for role in ("\\trash", "\\junk") if role in self._roles}
        if name in binned:
            return
        labels: dict[str, str] = {}
        for folder in out.labels:
            label = self._server_name(folder)
            if label is None:
                self._refused_count[folder] += 1
            elif label != name and label not in labels and label not in binned:
                labels[label] = _label_key(out.key, folder)
                plan.setdefault(label, Counter())[identity] += 1
        if labels:
            run.labelled.append(
                _Labelled(out.key, name, identity, tuple((key, label) for label, key in labels.items()))
            )

    def _add_labels(self, run: _Run) -> None:
        """COPY each uploaded message into its other folders where it is not yet (one message
        with several labels on Gmail, never a second upload).  What each folder holds is looked
        at first, whatever the journal says: a rerun adds only the labels still missing."""
        by_folder: dict[str, list[_Labelled]] = {}
        for entry in run.labelled:
            if run.journal.state(entry.key) == JournalState.DONE:  # refused or lost: nothing to label
                by_folder.setdefault(entry.folder, []).append(entry)

        def label(client: imapclient.IMAPClient) -> int:
            held: dict[str, dict[tuple[bytes, int], list[int]]] = {}
            for name, entries in by_folder.items():
                validity, index, identity_of = _holding(client, name)
                wanted: dict[str, list[tuple[int, str]]] = {}  # label -> (UID in ``name``, journal key)
                there: list[tuple[str, JournalState, str]] = []
                for entry in entries:
                    uid = _uid_of(run.journal.ref(entry.key) or "", validity, identity_of, entry.identity)
                    uid = uid if uid is not None else next(iter(index.get(entry.identity, ())), None)
                    for key, folder in entry.labels:
                        if folder not in held:
                            held[folder] = _holding(client, folder)[1]
                        found = held[folder].get(entry.identity)
                        if found:
                            found.pop(0)  # one message there answers for one label
                            if run.journal.state(key) != JournalState.DONE:
                                there.append((key, JournalState.DONE, ""))
                        elif uid is not None:
                            wanted.setdefault(folder, []).append((uid, key))
                run.journal.mark_many(there)
                if wanted:
                    client.select_folder(name, readonly=True)  # COPY reads; nothing here changes
                    for folder, pairs in wanted.items():
                        run.journal.mark_many((key, JournalState.PENDING, "") for _uid, key in pairs)
                        client.copy([uid for uid, _key in pairs], folder)
                        run.journal.mark_many((key, JournalState.DONE, "") for _uid, key in pairs)
                        self.labelled += len(pairs)
                    _unselect(client)
            return 0

        self._retrying("adding labels", label)
        if self.labelled:
            log.info("%s: %d label(s) added to restored messages", self.url.host, self.labelled)

    # -- verification --------------------------------------------------------------------

    def _verify(self, plan: dict[str, Counter[tuple[bytes, int]]], run: _Run) -> None:
        """Compare each folder on the server with the plan by (Message-ID, size)."""

        def check(client: imapclient.IMAPClient) -> int:
            self.checks = []
            for name, wanted in plan.items():
                info = client.select_folder(name, readonly=True)
                index = _index(client) if info.get(b"EXISTS") else {}
                removed = self._remove_late_copies(client, name, index, run.resent.get(name))
                found = Counter({ident: len(uids) for ident, uids in index.items()})
                missing = sum((wanted - found).values())
                self.checks.append(
                    FolderCheck(
                        folder=name,
                        planned=sum(wanted.values()),
                        on_server=sum(found.values()),
                        missing=missing,
                        extra=sum((found - wanted).values()),
                        removed=removed,
                    )
                )
                if missing:
                    log.warning("%s: %d planned message(s) not found on the server", name, missing)
            return 0

        self._retrying("verifying", check)

    def _remove_late_copies(
        self,
        client: imapclient.IMAPClient,
        name: str,
        index: dict[tuple[bytes, int], list[int]],
        resent: Counter[bytes] | None,
    ) -> int:
        """Take out surplus byte-identical copies of messages this run had to send again.

        Only those: a message that was pending, not found on the server, and sent once more
        may also have arrived from the earlier attempt after the server was asked.  The
        earliest copy stays; without UIDPLUS nothing is removed (EXPUNGE could take others).
        """
        if not resent:
            return 0
        idents = {(_message_id(body), len(body)) for body in resent}
        uids = sorted(uid for ident in idents for uid in index.get(ident, ()) if len(index[ident]) > 1)
        if not uids:
            return 0
        copies: dict[bytes, list[int]] = {}
        for uid, data in sorted(fetch_many(client, uids, ["BODY.PEEK[]"]).items()):
            copies.setdefault(data.get(b"BODY[]", b""), []).append(uid)
        surplus = [uid for body, found in copies.items() if body in resent for uid in found[resent[body] :]]
        if not surplus:
            return 0
        if not client.has_capability("UIDPLUS"):
            log.warning(
                "%s: %d message(s) arrived twice; the server cannot remove just those", name, len(surplus)
            )
            return 0
        client.select_folder(name)  # read-write, for this one change
        client.delete_messages(surplus)
        client.uid_expunge(surplus)
        for ident in idents:
            if ident in index:
                index[ident] = [uid for uid in index[ident] if uid not in surplus]
        log.warning(
            "%s: removed %d copy(ies) that arrived twice after an interrupted upload", name, len(surplus)
        )
        return len(surplus)


def _label_key(key: str, folder: str) -> str:
    """The journal's key for message ``key``'s label ``folder`` (a COPY on Gmail)."""
    return f"{key} label:{folder}"


def _uid_of(
    ref: str, validity: int, identity_of: dict[int, tuple[bytes, int]], identity: tuple[bytes, int]
) -> int | None:
    """The UID the journal's ``ref`` names, if the folder still holds that message there."""
    uid_validity, _, uid = ref.partition(":")
    if uid_validity.isdigit() and uid.isdigit() and int(uid_validity) == validity:
        if identity_of.get(int(uid)) == identity:
            return int(uid)
    return None


def _role(parts: list[str]) -> str | None:
    """The SPECIAL-USE role a folder's name says it has (``Sent Items``, ``[Gmail]/Spam``), if any."""
    if len(parts) == 2 and parts[0].casefold() in _ROLE_PARENTS:
        parts = parts[1:]
    if len(parts) != 1:
        return None
    return next((role for role, names in _ROLE_NAMES.items() if parts[0].casefold() in names), None)


class _FolderRefused(Exception):
    """The server would not create a folder: that folder is left out, the restore goes on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.reason = path, reason


def _listed(client: imapclient.IMAPClient, path: str) -> bool:
    """Whether the folder exists after all (made meanwhile by another client)."""
    try:
        return any(n == path for _f, _d, n in client.list_folders("", path))
    except IMAPClientAbortError:
        raise
    except IMAPClientError:
        return False  # a name the server cannot even list


def _close(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # already broken; nothing depends on a clean goodbye
        try:
            client.shutdown()
        except Exception:
            pass


def _unselect(client: imapclient.IMAPClient) -> None:
    if client.has_capability("UNSELECT"):
        client.unselect_folder()
    else:
        client.close_folder()  # after EXAMINE, CLOSE expunges nothing


def _dropped(e: BaseException | None) -> bool:
    return isinstance(e, _CONNECTION_ERRORS) and not isinstance(e, ssl.SSLCertVerificationError)


def _holding(
    client: imapclient.IMAPClient, name: str
) -> tuple[int, dict[tuple[bytes, int], list[int]], dict[int, tuple[bytes, int]]]:
    """A folder's UIDVALIDITY, its messages by (Message-ID, size), and each UID's (Message-ID, size)."""
    info = client.select_folder(name, readonly=True)
    index = _index(client) if info.get(b"EXISTS") else {}
    _unselect(client)
    identity_of = {uid: ident for ident, uids in index.items() for uid in uids}
    return int(info.get(b"UIDVALIDITY", 0)), index, identity_of


def _index(client: imapclient.IMAPClient) -> dict[tuple[bytes, int], list[int]]:
    """The selected folder's messages by (Message-ID, size): one round trip."""
    index: dict[tuple[bytes, int], list[int]] = {}
    fetched = fetch_many(
        client, client.search("ALL"), ["RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
    )
    for uid, data in sorted(fetched.items()):
        header = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
        index.setdefault((_message_id(header), int(data.get(b"RFC822.SIZE", 0))), []).append(uid)
    return index


def _message_id(raw: bytes) -> bytes:
    for name, value in header_fields(raw):
        if name == "message-id":
            return value.strip()
    return b""


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _message(item: _Item) -> dict[str, Any]:
    return {"msg": item.body, "flags": item.flags, "date": item.date}


def _uid_set(text: str) -> Iterator[int]:
    for part in text.split(","):
        first, _, last = part.partition(":")
        yield from range(int(first), int(last or first) + 1)


def _one_line(e: object) -> str:
    return " ".join(str(e).split())[:200]
