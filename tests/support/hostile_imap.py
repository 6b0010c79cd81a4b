"""A small scripted IMAP server on 127.0.0.1 that serves some mail honestly, then misbehaves.

For tests of anything that reads IMAP: the ``imap`` gather plugin and the IMAP restore target.
It speaks just enough IMAP4rev1 for imaplib and IMAPClient (CAPABILITY, LOGIN, LIST, SELECT,
EXAMINE, STATUS, SEARCH, FETCH and their UID forms, NOOP, LOGOUT), serves the first ``good``
messages of each folder correctly and then does what ``behaviour`` says:

``honest``          nothing bad
``short-literal``   announces a literal larger than it sends, then goes silent
``huge-literal``    announces a literal of ~100 GB and streams filler until its own cap
``endless``         answers with untagged lines that never end
``endless-line``    answers with one line that never ends (no CRLF)
``lying-size``      announces a literal half the message's size and sends it whole: the
                    rest of the message reads as garbage responses
``bad-utf7``        LIST also names folders with invalid modified UTF-7 and raw 8-bit bytes;
                    those folders hold one message each, served honestly

The server bounds itself, whatever the client does: it sends at most ``cap_bytes`` and
serves at most ``cap_seconds`` per connection, then hangs up and records ``gave_up``.
``liars`` names the messages (by number) that misbehave instead of all after ``good``; the
others are served honestly, and the server keeps talking after a ``lying-size`` lie.  A
client that stops on its own first leaves ``gave_up`` false: that is what tests assert.
"""

from __future__ import annotations

import re
import socket
import socketserver
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field

__all__ = ["BEHAVIOURS", "BAD_UTF7_FOLDERS", "HostileIMAP"]

BEHAVIOURS = ("honest", "short-literal", "huge-literal", "endless", "endless-line", "lying-size", "bad-utf7")

#: Folder names no modified-UTF-7 decoder should accept as they are.
BAD_UTF7_FOLDERS = (b"&Jjo", b"&AGE-", b"Caf&AOk", b"&&&-broken", b"Bin\xff\xfe\x80ry", b"&2D3eAA-")


@dataclass
class _State:
    sent: int = 0
    connections: int = 0
    gave_up: bool = False  # the server hit its own cap: the client did not stop by itself
    client_closed: bool = False
    commands: list[str] = field(default_factory=list)
    misbehaved: bool = False


class _GiveUp(Exception):
    pass


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(1.0)
        # A FETCH answer goes out in several writes; without this, Nagle and the client's
        # delayed ACK hold each round trip for ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.deadline = time.monotonic() + self.server.hostile.cap_seconds
        self.pending = b""
        self.folder: list[bytes] = []
        self.folder_name = b""

    # --- sending, within the caps ----------------------------------------------------

    def send(self, data: bytes) -> None:
        h, state = self.server.hostile, self.server.hostile.state
        if h.closing:
            raise _GiveUp()
        if time.monotonic() > self.deadline or state.sent + len(data) > h.cap_bytes:
            state.gave_up = True
            raise _GiveUp()
        view = memoryview(data)
        while view:  # a slow reader only makes this wait, within the server's time
            if h.closing or time.monotonic() > self.deadline:
                state.gave_up = not h.closing
                raise _GiveUp()
            try:
                view = view[self.request.send(view) :]
            except TimeoutError:
                continue
            except OSError:
                state.client_closed = True
                raise _GiveUp() from None
        state.sent += len(data)

    def readline(self) -> bytes:
        """The client's next line (empty when it hung up), polling so the caps still hold.

        (A socket file object is unusable after one timeout, so lines are cut here.)"""
        while b"\n" not in self.pending:
            if self.server.hostile.closing:
                raise _GiveUp()
            if time.monotonic() > self.deadline:
                self.server.hostile.state.gave_up = True
                raise _GiveUp()
            try:
                chunk = self.request.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return b""
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line + b"\n"

    def stall(self) -> None:
        """Say nothing more until the client hangs up or the server's time is up."""
        while time.monotonic() < self.deadline and not self.server.hostile.closing:
            try:
                if not self.request.recv(65536):
                    self.server.hostile.state.client_closed = True
                    raise _GiveUp()
            except TimeoutError:
                continue
            except OSError:
                self.server.hostile.state.client_closed = True
                raise _GiveUp() from None
        self.server.hostile.state.gave_up = True
        raise _GiveUp()

    def flood(self, unit: bytes) -> None:
        while True:
            self.send(unit * 256)

    # --- the conversation -------------------------------------------------------------

    def handle(self) -> None:
        state = self.server.hostile.state
        state.connections += 1
        try:
            self.send(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS ID] hostile test server ready\r\n")
            while line := self.readline():
                self.command(line.rstrip(b"\r\n"))
            state.client_closed = True
        except (_GiveUp, OSError):
            return

    def command(self, line: bytes) -> None:
        h = self.server.hostile
        tag, _, rest = line.partition(b" ")
        verb, _, args = rest.partition(b" ")
        verb = verb.upper()
        uid = verb == b"UID"
        if uid:
            verb, _, args = args.partition(b" ")
            verb = verb.upper()
        h.state.commands.append(((b"UID " if uid else b"") + verb).decode("ascii", "replace"))
        ok = tag + b" OK " + verb + b" completed\r\n"
        if verb == b"CAPABILITY":
            self.send(b"* CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS ID\r\n" + ok)
        elif verb == b"LOGIN":
            words = re.findall(rb'"((?:[^"\\]|\\.)*)"|(\S+)', args)
            user, password = [(a or b).replace(b'\\"', b'"') for a, b in words[:2]] + [b""] * (
                2 - len(words[:2])
            )
            if (user.decode(), password.decode()) == (h.user, h.password):
                self.send(tag + b" OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS ID] LOGIN completed\r\n")
            else:
                self.send(tag + b" NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
        elif verb in (b"LIST", b"LSUB"):
            for name in h.folders:
                self.send(b"* " + verb + b' (\\HasNoChildren) "/" ' + _astring(name) + b"\r\n")
            self.send(ok)
        elif verb in (b"SELECT", b"EXAMINE", b"STATUS"):
            name = _unquote(args.split(b" (")[0] if verb == b"STATUS" else args)
            if name.upper() == b"INBOX":
                name = next((n for n in h.folders if n.upper() == b"INBOX"), name)
            if name not in h.folders:
                self.send(tag + b" NO [NONEXISTENT] no such folder\r\n")
                return
            msgs = h.folders[name]
            if verb == b"STATUS":
                self.send(
                    b"* STATUS "
                    + _astring(name)
                    + b" (MESSAGES %d UIDNEXT %d UIDVALIDITY 42)\r\n" % (len(msgs), len(msgs) + 1)
                    + ok
                )
                return
            self.folder, self.folder_name = msgs, name
            self.send(
                b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 42] ok\r\n* OK [UIDNEXT %d] ok\r\n"
                b"* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n" % (len(msgs), len(msgs) + 1)
            )
            mode = b"READ-ONLY" if verb == b"EXAMINE" else b"READ-WRITE"
            self.send(tag + b" OK [" + mode + b"] " + verb + b" completed\r\n")
        elif verb == b"SEARCH":
            asked = re.search(rb"UID (\S+)", args)  # UIDs are message numbers here
            found = _sequence(asked.group(1), len(self.folder)) if asked else range(1, len(self.folder) + 1)
            self.send(b"* SEARCH " + b" ".join(b"%d" % n for n in found) + b"\r\n" + ok)
        elif verb == b"FETCH":
            self.fetch(tag, args, ok)
        elif verb == b"LOGOUT":
            self.send(b"* BYE logging out\r\n" + ok)
            raise _GiveUp()  # not a cap: the client said goodbye
        elif verb in (b"NOOP", b"CHECK", b"CLOSE", b"UNSELECT", b"ID", b"ENABLE", b"NAMESPACE"):
            if verb == b"NAMESPACE":
                self.send(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
            if verb == b"ID":
                self.send(b"* ID NIL\r\n")
            self.send(ok)
        else:
            self.send(tag + b" BAD unknown command\r\n")

    def fetch(self, tag: bytes, args: bytes, ok: bytes) -> None:
        h = self.server.hostile
        which, _, items = args.partition(b" ")
        numbers = _sequence(which, len(self.folder))
        upper = items.upper()
        want_body = b"BODY" in upper.replace(b"BODYSTRUCTURE", b"") or re.search(rb"RFC822(?![.])", upper)
        header_only = b"HEADER" in upper
        name = (
            b"RFC822"
            if re.search(rb"RFC822(?![.])", upper)
            else b"BODY[HEADER]"
            if header_only
            else b"BODY[]"
        )
        hostile_here = h.behaviour not in ("honest", "bad-utf7") and self.folder_name.upper() == b"INBOX"
        for n in numbers:
            raw = self.folder[n - 1]
            if hostile_here and want_body and (n in h.liars if h.liars else n > h.good):
                h.state.misbehaved = True
                self.misbehave(n)
                continue  # only a lie the server survives gets here
            parts = [
                b"UID %d" % n,
                b"FLAGS (\\Seen)",
                b'INTERNALDATE "18-Jun-2012 10:00:00 +0900"',
                b"RFC822.SIZE %d" % len(raw),
            ]
            if want_body:
                data = raw[: raw.find(b"\r\n\r\n") + 4] if header_only else raw
                parts.append(name + b" {%d}\r\n" % len(data) + data)
            self.send(b"* %d FETCH (" % n + b" ".join(parts) + b")\r\n")
        self.send(ok)

    def misbehave(self, n: int) -> None:
        b = self.server.hostile.behaviour
        if b == "short-literal":
            self.send(b"* %d FETCH (UID %d BODY[] {%d}\r\nFrom: liar@example.com\r\n" % (n, n, 10_000_000))
            self.stall()
        elif b == "huge-literal":
            self.send(b"* %d FETCH (UID %d BODY[] {99999999999}\r\n" % (n, n))
            self.flood(b"X" * 1024)
        elif b == "endless":
            self.flood(b"* %d EXISTS\r\n* OK still thinking\r\n" % n)
        elif b == "endless-line":
            self.send(b"* OK ")
            self.flood(b"A" * 1024)
        elif b == "lying-size":
            raw = self.folder[n - 1]
            self.send(b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (n, n, len(raw) // 2) + raw + b")\r\n")


def _unquote(s: bytes) -> bytes:
    s = s.strip()
    if s.startswith(b'"') and s.endswith(b'"') and len(s) >= 2:
        return re.sub(rb"\\(.)", rb"\1", s[1:-1])
    return s


def _astring(name: bytes) -> bytes:
    if any(b > 0x7E or b < 0x20 for b in name):
        return b"{%d}\r\n" % len(name) + name  # 8-bit names only fit in a literal
    return b'"' + name.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _sequence(spec: bytes, count: int) -> list[int]:
    out: dict[int, None] = {}  # in order, once each
    for part in spec.split(b","):
        lo, _, hi = part.partition(b":")
        try:
            a = count if lo == b"*" else int(lo)
            b = a if not hi else count if hi == b"*" else int(hi)
        except ValueError:
            continue
        a, b = min(a, b), max(a, b)
        out.update(dict.fromkeys(range(max(a, 1), min(b, count) + 1)))
    return list(out)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    hostile: HostileIMAP


class HostileIMAP:
    """Use as a context manager: ``with HostileIMAP("endless", mails) as server: server.url``."""

    def __init__(
        self,
        behaviour: str,
        inbox: list[bytes],
        *,
        good: int = 2,
        user: str = "taro",
        password: str = "secret",
        cap_bytes: int = 256 << 20,
        cap_seconds: float = 60.0,
        other_folders: dict[bytes, list[bytes]] | None = None,
        liars: Collection[int] = (),
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        self.behaviour, self.good, self.user, self.password = behaviour, good, user, password
        self.cap_bytes, self.cap_seconds = cap_bytes, cap_seconds
        self.liars = set(liars)
        self.folders: dict[bytes, list[bytes]] = {b"INBOX": list(inbox), **(other_folders or {})}
        if behaviour == "bad-utf7":
            for i, name in enumerate(BAD_UTF7_FOLDERS):
                self.folders[name] = [inbox[i % len(inbox)]]
        self.state = _State()
        self.closing = False
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.hostile = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"imap://{self.user}@127.0.0.1:{self.port}/"

    def __enter__(self) -> HostileIMAP:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
